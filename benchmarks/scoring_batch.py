"""Seconds to score validation windows at several batch sizes, side by side in one process, alternating.

    python -m benchmarks.scoring_batch [--project .] [--windows 1024] [--batches 8 32 64 128] [--repeats 3]

The model is the shipped base's shape (models/_base/config.json) with fresh weights: what the train stage validates
after every epoch (every position's probabilities, the window's last token scored, as jukebox.dataset's validation
data weighs it) and what evaluate predicts with the saved form (the last position only). Prints each batch size's
median seconds and its ratio to the first size's, and whether the saved form's probabilities differ between sizes.
SCORING_BATCH (jukebox/model.py) was chosen with it.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from jukebox.layout import Layout


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path("."))
    parser.add_argument("--windows", type=int, default=1024)
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32, 64, 128])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from jukebox.model import ModelConfig, build_model, next_token_model

    layout = Layout.of(args.project)
    config = ModelConfig.load(layout.base_model / "config.json")
    vocab_size = len(json.loads((layout.base_model / "vocab.json").read_text())["tokens"])
    every = build_model(vocab_size, config)
    last = next_token_model(every, config)
    x = np.random.default_rng(0).integers(1, vocab_size, (args.windows, config.seq_len)).astype("int32")
    y, weights = np.roll(x, -1, axis=1), np.zeros(x.shape, "float32")
    weights[:, -1] = 1.0  # validation scores the token after each window
    for batch in args.batches:  # each size's graph is traced before anything is timed
        every.evaluate(x[:batch], y[:batch], sample_weight=weights[:batch], batch_size=batch, verbose=0)
        last.predict(x[:batch], batch_size=batch, verbose=0)
    seconds = {kind: {b: [] for b in args.batches} for kind in ("validation", "predict")}
    probs = {}
    for _ in range(args.repeats):
        for batch in args.batches:
            began = time.perf_counter()
            every.evaluate(x, y, sample_weight=weights, batch_size=batch, verbose=0)
            seconds["validation"][batch].append(time.perf_counter() - began)
            began = time.perf_counter()
            probs[batch] = last.predict(x, batch_size=batch, verbose=0)
            seconds["predict"][batch].append(time.perf_counter() - began)
    first = args.batches[0]
    table = {kind: {b: float(np.median(v)) for b, v in runs.items()} for kind, runs in seconds.items()}
    print(f"{args.windows} windows of {config.seq_len} tokens, vocabulary {vocab_size}, median of {args.repeats}")
    print(f"{'batch':>6}  {'validation s':>12}  {'ratio':>5}  {'predict s':>9}  {'ratio':>5}")
    for b in args.batches:
        v, p = table["validation"][b], table["predict"][b]
        print(f"{b:>6}  {v:>12.2f}  {v / table['validation'][first]:>5.2f}  {p:>9.2f}  {p / table['predict'][first]:>5.2f}")
    differ = max(float(np.abs(probs[b] - probs[first]).max()) for b in args.batches)
    print(f"largest difference of the saved form's probabilities between batch sizes: {differ:g}")
    return {"seconds": table, "largest_difference": differ}


if __name__ == "__main__":
    main()
