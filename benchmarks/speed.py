"""Speed and memory of this project against the 2018 approach, measured side by side in one run.

    python -m benchmarks.speed [--genre GENRE] [--quick] [--json FILE]

Data: a genre's real tokens (default: the first genre of params.yaml), from data/sequences/<genre>/ when the
pipeline has built them, else built here from music21's corpus with the project's own functions (export,
parse, encode, split) under .jukebox-cache/benchmarks/. The model is the 2018 BiLSTM at its CPU size. Every
measurement runs in a fresh child process (benchmarks/measurements.py), so each peak memory (RSS) is that
measurement's alone. The race of architectures to a validation loss is benchmarks/models.py. --quick shrinks
every workload for a smoke run; its figures are not the ones to quote.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.measurements import RESULT
from jukebox.artifacts import write_json
from jukebox.dataset import Vocabulary, melody_key, split_pieces
from jukebox.encodings import END, encode
from jukebox.layout import Layout
from jukebox.params import Genre, Params, load_params
from jukebox.parsing import NoteCache, parse_files, parser_version

ROOT = Path(__file__).resolve().parents[1]
WORK = Layout.of(ROOT).benchmarks
SIZES = {
    "full": dict(parse_files=0, train_windows=2048, train_epochs=3, gen_notes=500, gen_notes_2018=30,
                 repeats=2),
    "quick": dict(parse_files=40, train_windows=256, train_epochs=2, gen_notes=60, gen_notes_2018=5,
                  repeats=1),
}


def child(task: str, **spec) -> dict:
    """Run one measurement in a fresh Python process and return its result."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "benchmarks.measurements", task, json.dumps(spec)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode or not lines:
        raise SystemExit(f"benchmark {task} failed:\n{done.stderr[-4000:]}")
    result = json.loads(lines[-1][len(RESULT):])
    shown = {k: v for k, v in spec.items() if k not in ("files", "train", "val", "cache")}
    print(f"  {task} {json.dumps(shown)} -> {json.dumps(result)[:200]}", flush=True)
    return result


def midi_files(genre: Genre, params: Params) -> list[Path]:
    """The genre's MIDI files: data/raw/<genre>/ if scraped, else exported from music21's corpus once."""
    from jukebox.sources import export_corpus

    for raw in (Layout.of(ROOT).raw(genre.name), WORK / genre.name / "raw"):
        if (raw / "manifest.json").is_file():
            manifest = json.loads((raw / "manifest.json").read_text())
            return [raw / r["file"] for r in manifest["files"] if r["status"] == "kept"]
    if genre.source != "corpus":
        raise SystemExit(f"genre {genre.name}: no data/raw/{genre.name}/ yet; run `dvc repro scrape@{genre.name}`")
    raw = WORK / genre.name / "raw"
    records = export_corpus(genre.collection, raw, genre.max_pieces, params.seed)
    write_json(raw / "manifest.json", {"genre": genre.name, "files": records})
    return [raw / r["file"] for r in records if r["status"] == "kept"]


def token_arrays(genre: Genre, params: Params, files: list[Path]) -> tuple[Path, Path, int]:
    """train.npy, val.npy and the vocabulary size: the pipeline's, or built here as the sequences stage does."""
    seq = Layout.of(ROOT).sequences(genre.name)
    if (seq / "train.npy").is_file():
        return seq / "train.npy", seq / "val.npy", len(json.loads((seq / "vocab.json").read_text())["tokens"])
    out = WORK / genre.name / f"{params.encoding}-{len(files)}"
    records, _ = parse_files(files, os.cpu_count() or 1, NoteCache(WORK / "notes", parser_version()))
    kept = [r for r in records if r["status"] == "kept"]
    pieces = [encode([tuple(n) for n in r["notes"]], params.encoding) + [END] for r in kept]
    train_idx, val_idx = split_pieces(len(pieces), params.val_fraction, params.seed,
                                      [melody_key(r["notes"]) for r in kept])
    vocab = Vocabulary.build([pieces[i] for i in train_idx], params.min_count)
    out.mkdir(parents=True, exist_ok=True)
    for name, idx in (("train", train_idx), ("val", val_idx)):
        np.save(out / f"{name}.npy", np.concatenate([vocab.ids(pieces[i]) for i in idx]))
    return out / "train.npy", out / "val.npy", len(vocab)


def run(genre: Genre, params: Params, size: dict) -> dict:
    """Every measurement; returns the raw results."""
    files = midi_files(genre, params)
    files = files[: size["parse_files"]] if size["parse_files"] else files
    train, val, vocab_size = token_arrays(genre, params, files)
    # The 2018 model at the CPU size of the README's BiLSTM line, whatever params.yaml's default network is.
    model = dict(vocab_size=vocab_size, units=64, embedding_dim=32, dropout=0.5, learning_rate=0.001, batch_size=256)
    n_train = len(np.load(train))
    print(f"genre {genre.name}: {len(files)} files, {n_train} training tokens, vocabulary {vocab_size}", flush=True)
    results: dict = {"genre": genre.name, "files": len(files), "train_tokens": n_train, "vocab_size": vocab_size,
                     "model": model, "training": {}, "generation": {}, "parsing": {}}

    # Other processes share the cores: runs alternate between the two sides and the faster of each pair counts.
    runs: dict[str, list[dict]] = {}
    for repeat in range(size["repeats"]):
        with tempfile.TemporaryDirectory() as scratch:
            paths = [str(f) for f in files]
            for name, jobs, cache in (("cold_1", 1, "one"), ("cold_2", 2, "two"), ("warm_2", 2, "two")):
                runs.setdefault(name, []).append(child("parsing", files=paths, jobs=jobs, cache=f"{scratch}/{cache}",
                                                       timeout=params.parse_timeout))  # as the parse stage does
        for seq_len in (100, 200):
            for approach in ("this", "2018"):
                runs.setdefault(f"{approach}_{seq_len}", []).append(child(
                    "training", approach=approach, seq_len=seq_len, train=str(train), windows=size["train_windows"],
                    epochs=size["train_epochs"], **model))
    best = {name: max(results_, key=lambda r: r.get("windows_per_second") or r["files_per_second"])
            for name, results_ in runs.items()}
    results["parsing"] = {k: v for k, v in best.items() if k.startswith(("cold", "warm"))}
    results["training"] = {k: v for k, v in best.items() if k not in results["parsing"]}
    results["all_runs"] = runs
    for architecture, layers, notes in (("bilstm", 1, size["gen_notes"]), ("lstm", 2, size["gen_notes"]),
                                        ("2018", 1, size["gen_notes_2018"])):
        results["generation"][architecture] = child(
            "generation", architecture=architecture, layers=layers, val=str(val), seq_len=params.seq_len,
            n_samples=params.n_samples, n_notes=notes, **model)
    return results


def table(r: dict) -> str:
    """The results as a markdown table of ratios against the goals of issue 6."""
    t, g, p = r["training"], r["generation"], r["parsing"]
    rows = [("| measure | this project | 2018 approach | ratio | goal |"), "|---|---|---|---|---|"]
    for seq_len in (100, 200):
        ours, old = t[f"this_{seq_len}"], t[f"2018_{seq_len}"]
        rows.append(f"| training windows/s, seq_len {seq_len} | {ours['windows_per_second']:.0f} | "
                    f"{old['windows_per_second']:.0f} | {ours['windows_per_second'] / old['windows_per_second']:.2f}x"
                    f" | >= 1x |")
        rows.append(f"| training peak RSS, seq_len {seq_len} | {ours['peak_rss_mb']:.0f} MB | "
                    f"{old['peak_rss_mb']:.0f} MB | {old['peak_rss_mb'] / ours['peak_rss_mb']:.2f}x lower | "
                    f"{'>= 10x lower' if seq_len == 200 else ''} |")
        rows.append(f"| training input data, seq_len {seq_len} | {ours['input_mb']:.2f} MB | {old['input_mb']:.0f} MB"
                    f" | {old['input_mb'] / ours['input_mb']:.0f}x lower | |")
    for architecture in ("bilstm", "lstm"):
        rows.append(f"| generation notes/s, {architecture}, {r['n_samples']} samples | "
                    f"{g[architecture]['notes_per_second']:.0f} | {g['2018']['notes_per_second']:.1f} | "
                    f"{g[architecture]['notes_per_second'] / g['2018']['notes_per_second']:.0f}x | >= 20x |")
    one, two, warm = p["cold_1"]["files_per_second"], p["cold_2"]["files_per_second"], p["warm_2"]["files_per_second"]
    cores = f"{p['cold_2'].get('cores_used', 0):.1f} vs {p['cold_1'].get('cores_used', 0):.1f} cores busy"
    rows.append(f"| parsing files/s, 2 workers vs 1 ({cores}) | {two:.1f} | {one:.1f} | {two / one:.2f}x | >= 1.7x |")
    rows.append(f"| parsing files/s, warm cache vs cold (2 workers) | {warm:.0f} | {two:.1f} | {warm / two:.0f}x |"
                f" >= 20x |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run every measurement and print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__.splitlines()[0])
    parser.add_argument("--genre", help="a genre of params.yaml (default: the first)")
    parser.add_argument("--quick", action="store_true", help="small workloads, for a smoke run")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    params = load_params(Layout.of(ROOT).params)
    genre = params.genre(args.genre or next(iter(params.genres)))
    results = run(genre, params, SIZES["quick" if args.quick else "full"])
    results["n_samples"] = params.n_samples
    profile = results["training"]
    print(f"\nRSS profile in MB (python, +tensorflow, +model, +data, +training), seq_len 200:\n"
          f"  this project {profile['this_200']['profile_mb']}\n  2018 approach {profile['2018_200']['profile_mb']}")
    print("\n" + table(results))
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
