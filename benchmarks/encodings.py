"""`rhythm` against `remi` at the same small model settings, per genre: what issue 12's closing note reports.

    nice -n 10 python -m benchmarks.encodings [--pieces 100] [--genres celtic classical folk] [--json FILE]

For each genre, `--pieces` real pieces (data/raw/<genre>/ when scraped, else exported from music21's corpus under
.jukebox-cache/benchmarks/), parsed with the project's parser, encoded both ways, split by piece as the sequences
stage does. A small bilstm is trained on each encoding with the same settings (SETTINGS), then:

- cross-entropy per note: the sum of the token cross-entropies over the validation targets divided by the number
  of note tokens among them (bar, position and shift tokens are easy to predict and would flatter a per-token figure);
- distinct 8-grams (distinct ÷ all, mean over samples) of the samples, and of as long stretches of held-out tokens;
- strong-beat overlap: the per-stretch share of onsets on a beat, samples against held-out pieces (their meters);
- for remi, the share of the samples' bars that hold exactly their meter (jukebox.encodings.remi.bar_report).
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from jukebox.artifacts import write_json
from jukebox.dataset import Vocabulary, melody_key, split_pieces, training_dataset, window_starts, windows
from jukebox.encodings import END, get_encoding, group_onsets, piece_tokens
from jukebox.encodings.remi import bar_report
from jukebox.evaluation import (cross_entropy, cross_entropy_per_note, distinct_ngram_ratio, distribution_overlap,
                                meter_features)
from jukebox.layout import Layout
from jukebox.params import load_params
from jukebox.parsing import NoteCache, parse_files, parser_version

ROOT = Path(__file__).resolve().parents[1]
WORK = Layout.of(ROOT).benchmarks
SETTINGS = dict(seq_len=64, embedding_dim=32, units=64, dropout=0.3, learning_rate=0.003, batch_size=128,
                windows_per_epoch=4096, epochs=5, val_windows=1024, n_samples=4, n_notes=200, temperature=1.0,
                top_p=0.95, min_count=3)


def genre_files(name: str, collection: str, pieces: int, seed: int) -> list[Path]:
    """`pieces` MIDI files of a genre: the scraped ones when there are enough, else exported once from the corpus."""
    from jukebox.sources import export_corpus

    scraped = sorted(Layout.of(ROOT).raw(name).glob("*.mid"))
    if len(scraped) >= pieces:
        return scraped[:pieces]
    out = WORK / name / f"raw-{pieces}"
    if not out.is_dir():
        export_corpus(collection, out, pieces, seed)
    return sorted(out.glob("*.mid"))


def measure(records: list[dict], encoding: str, seed: int) -> dict:
    """Train, score and sample one encoding of a genre's pieces."""
    import keras

    from jukebox.generation import Composer, Sampling
    from jukebox.model import ModelConfig, build_model

    s = SETTINGS
    coder = get_encoding(encoding)
    tokens = [piece_tokens(coder, r, "keep") + [END] for r in records]
    train_idx, val_idx = split_pieces(len(tokens), 0.1, seed, [melody_key(r["notes"]) for r in records])
    vocab = Vocabulary.build([tokens[i] for i in train_idx], s["min_count"])
    train = np.concatenate([vocab.ids(tokens[i]) for i in train_idx])
    val = np.concatenate([vocab.ids(tokens[i]) for i in val_idx])
    keras.utils.set_random_seed(seed)
    config = ModelConfig(architecture="bilstm", seq_len=s["seq_len"], encoding=encoding,
                         embedding_dim=s["embedding_dim"], units=s["units"], dropout=s["dropout"],
                         learning_rate=s["learning_rate"])
    model = build_model(len(vocab), config)
    starts = window_starts(len(val), s["seq_len"], s["val_windows"])
    x, y = windows(val, starts, s["seq_len"])
    model.fit(training_dataset(train, s["seq_len"], s["batch_size"], s["windows_per_epoch"], seed),
              epochs=s["epochs"], verbose=0)
    probs = model.predict(x, batch_size=256, verbose=0)
    target_probs = probs[np.arange(len(y)), y]
    notes = np.array([coder.is_note(vocab.tokens[t]) for t in y])

    composer = Composer(model, vocab, config)
    primer_starts = np.random.default_rng(seed).choice(window_starts(len(val), s["seq_len"], len(val)),
                                                       size=s["n_samples"])
    primers, _ = windows(val, primer_starts, s["seq_len"])
    samples = composer.compose(primers, Sampling(s["n_notes"], s["temperature"], top_p=s["top_p"], seed=seed))
    sample_ids = [vocab.ids(t) for t in samples]
    length = min(max(len(t) for t in sample_ids), len(val) - 1)
    held_ids = [val[a:a + length] for a in window_starts(len(val), length, len(sample_ids))]
    held = [records[i] for i in val_idx]
    generated_beats = meter_features([coder.decode(t) for t in samples], [coder.meters(t) for t in samples])
    held_beats = meter_features([group_onsets([tuple(n) for n in r["notes"]]) for r in held],
                                [[tuple(m) for m in r.get("meters", ())] for r in held])
    bars, well = map(sum, zip(*[bar_report(t) for t in samples])) if encoding == "remi" else (0, 0)
    return {
        "vocabulary": len(vocab), "train_tokens": int(len(train)), "val_tokens": int(len(val)),
        "tokens_per_note": round(len(val) / max(1, sum(coder.is_note(vocab.tokens[t]) for t in val)), 3),
        "cross_entropy_per_token": round(cross_entropy(target_probs), 4),
        "cross_entropy_per_note": round(cross_entropy_per_note(target_probs, notes), 4),
        "distinct_8grams": {"generated": round(float(np.mean([distinct_ngram_ratio(t, 8) for t in sample_ids])), 4),
                            "held_out": round(float(np.mean([distinct_ngram_ratio(t, 8) for t in held_ids])), 4)},
        "strong_beat_share": {"generated": round(float(generated_beats["strong_beat_share"].mean()), 4),
                              "held_out": round(float(held_beats["strong_beat_share"].mean()), 4),
                              "overlap": round(distribution_overlap(generated_beats["strong_beat_share"],
                                                                    held_beats["strong_beat_share"]), 4)},
        **({"bars": int(bars), "well_formed_bars": round(well / max(1, bars), 4)} if encoding == "remi" else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=100)
    parser.add_argument("--genres", nargs="+", default=["celtic", "classical", "folk"])
    parser.add_argument("--json", type=Path, default=WORK / "encodings.json")
    args = parser.parse_args()
    params = load_params(Layout.of(ROOT).params)
    results = {"settings": {**SETTINGS, "pieces": args.pieces}, "genres": {}}
    for name in args.genres:
        genre = params.genre(name)
        files = genre_files(name, genre.collection, args.pieces, params.seed)
        records, _ = parse_files(files, min(2, os.cpu_count() or 1), NoteCache(WORK / "notes", parser_version()))
        kept = [r for r in records if r["status"] == "kept"]
        results["genres"][name] = {"pieces": len(kept)}
        for encoding in ("rhythm", "remi"):
            results["genres"][name][encoding] = measure(kept, encoding, params.seed)
            print(name, encoding, json.dumps(results["genres"][name][encoding]), flush=True)
        write_json(args.json, results)


if __name__ == "__main__":
    main()
