"""The 2018 BiLSTM, a causal LSTM and the transformer trained side by side on one genre, in one run.

    python -m benchmarks.models [--genre GENRE] [--minutes M] [--quick] [--json FILE]

Each model trains in its own child process (benchmarks/measurements.py) for the same wall-clock budget on the
genre's real tokens (data/sequences/<genre>/, or built from music21's corpus as benchmarks.speed does), with
validation after every quarter epoch. Printed: validation loss against training seconds for each, the time each
takes to reach the BiLSTM's best loss and its ratio to the BiLSTM's, and each model's achieved GFLOP/s (its
analytic FLOPs per training window x windows per second) against the matmul peak measured in the same run.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from benchmarks.speed import child, midi_files, token_arrays
from jukebox.artifacts import write_json
from jukebox.model import ModelConfig
from jukebox.layout import Layout
from jukebox.params import load_params

ROOT = Path(__file__).resolve().parents[1]


def contenders(params) -> dict[str, ModelConfig]:
    """The 2018 BiLSTM at the CPU size the README documents, a causal LSTM, and the pipeline's transformer."""
    base = ModelConfig(seq_len=params.seq_len, encoding=params.encoding)
    return {
        "bilstm": dataclasses.replace(base, architecture="bilstm", layers=1, embedding_dim=32, units=64, dropout=0.5,
                                      optimizer="rmsprop", learning_rate=0.001),
        "lstm": dataclasses.replace(base, architecture="lstm", layers=2, embedding_dim=64, units=128, dropout=0.2,
                                    optimizer="adam", learning_rate=0.002, warmup_steps=100),
        "transformer": dataclasses.replace(
            base, architecture="transformer", layers=params.layers, units=params.units, heads=params.heads,
            token_conv=params.token_conv,
            dropout=params.dropout, optimizer=params.optimizer, learning_rate=params.learning_rate,
            warmup_steps=params.warmup_steps, precision=params.precision),
    }


def flops_per_window(config: ModelConfig, vocab_size: int) -> float:
    """Multiply-adds x 2 of one training window (forward + backward = 3 x forward), dense layers and attention."""
    s, u, e = config.seq_len, config.units, config.embedding_dim
    if config.architecture == "transformer":
        # Per position and layer: q, k, v, out (4 u^2), feed-forward (8 u^2), scores and mixing (2 s u); the token
        # convolution (token_conv u^2) once.
        forward = s * (config.layers * (12 * u * u + 2 * s * u) + (config.token_conv > 1) * config.token_conv * u * u + u * vocab_size)
    else:
        inputs = [e] + [u * (2 if config.architecture == "bilstm" else 1)] * (config.layers - 1)
        gates = 4 if config.architecture in ("lstm", "bilstm") else 3
        directions = 2 if config.architecture == "bilstm" else 1
        forward = s * directions * sum(gates * (i + u) * u for i in inputs)
        positions = 1 if config.architecture == "bilstm" else s
        width = u * directions if config.architecture == "bilstm" else u
        forward += positions * (width * u + u * vocab_size)
    return 3 * 2 * forward


def run(genre_name: str, minutes: float, quick: bool) -> dict:
    params = load_params(Layout.of(ROOT).params)
    genre = params.genre(genre_name)
    seq_dir = Layout.of(ROOT).sequences(genre.name)
    if (seq_dir / "train.npy").is_file():
        train, val = seq_dir / "train.npy", seq_dir / "val.npy"
        vocab_size = len(json.loads((seq_dir / "vocab.json").read_text())["tokens"])
    else:
        train, val, vocab_size = token_arrays(genre, params, midi_files(genre, params))
    print(f"genre {genre.name}: {len(np.load(train))} training tokens, vocabulary {vocab_size}, "
          f"{minutes:g} min per model", flush=True)
    peak = child("peak", size=1024 if quick else 2048, repeats=3 if quick else 10)
    windows = 256 if quick else max(256, params.windows_per_epoch // 4)
    results = {"genre": genre.name, "minutes": minutes, "peak_gflops": peak, "models": {}}
    for name, config in contenders(params).items():
        spec = {**dataclasses.asdict(config), "vocab_size": vocab_size, "train": str(train), "val": str(val),
                "batch_size": params.batch_size if name == "transformer" else 256, "windows_per_epoch": windows,
                "val_windows": 256 if quick else params.val_windows, "epochs": 10_000, "patience": 10_000,
                "budget": minutes * 60}
        if name == "transformer":  # trained as the pipeline trains it, windows moved by up to `transpose`
            spec.update(transpose=params.transpose, vocab=str(seq_dir / "vocab.json"))
        result = child("race", **spec)
        result["gflops"] = flops_per_window(config, vocab_size) * result["windows_per_second"] / 1e9
        results["models"][name] = result
    target = min(loss for _, loss in results["models"]["bilstm"]["curve"])
    for result in results["models"].values():
        reached = [seconds for seconds, loss in result["curve"] if loss <= target]
        result["seconds_to_bilstm_best"] = reached[0] if reached else None
    results["bilstm_best"] = target
    return results


def table(results: dict) -> str:
    base = results["models"]["bilstm"]["seconds_to_bilstm_best"]
    peak = results["peak_gflops"]["float32"]
    rows = [f"BiLSTM's best validation loss: {results['bilstm_best']:.3f}; matmul peak "
            f"{peak:.0f} GFLOP/s float32, {results['peak_gflops']['bfloat16']:.0f} bfloat16",
            "| model | parameters | best val_loss | seconds to BiLSTM's best | ratio to BiLSTM | windows/s | "
            "GFLOP/s (share of f32 peak) |", "|---|---|---|---|---|---|---|"]
    for name, r in results["models"].items():
        seconds = r["seconds_to_bilstm_best"]
        ratio = f"{seconds / base:.2f}" if seconds is not None else "not reached"
        rows.append(f"| {name} | {r['parameters']:,} | {min(l for _, l in r['curve']):.3f} | "
                    f"{seconds if seconds is not None else '-'} | {ratio} | {r['windows_per_second']:.0f} | "
                    f"{r['gflops']:.1f} ({r['gflops'] / peak:.0%}) |")
    rows.append("\nvalidation loss against training seconds:")
    for name, r in results["models"].items():
        rows.append(f"  {name}: " + ", ".join(f"{s:.0f}s {l:.3f}" for s, l in r["curve"]))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genre", default=None, help="genre of params.yaml (default: the first)")
    parser.add_argument("--minutes", type=float, default=4.0, help="training budget per model")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small workloads, figures not to quote")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    genre = args.genre or next(iter(load_params(Layout.of(ROOT).params).genres))
    results = run(genre, 0.2 if args.quick else args.minutes, args.quick)
    print(table(results))
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
