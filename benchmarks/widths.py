"""Training speed of the transformer at several widths and head counts, and of the default shape without XLA and in
bfloat16, side by side in one process and one run.

    python -m benchmarks.widths [--genre celtic] [--batches 80]

On the genre's real tokens (data/sequences/<genre>/, so run `dvc repro` first) with the pipeline's transposition,
each variant trains `batches` batches of params.yaml's batch size; the first quarter is warm-up and not timed.
Printed: windows per second for each, and its ratio to the first. This is how the default width and heads were
chosen against the 20-minute budget, and why training stays float32 with Keras' default XLA compilation (README,
"Benchmarks").
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np

from jukebox.layout import Layout
from jukebox.params import load_params

ROOT = Path(__file__).resolve().parents[1]
# (units, heads, precision, XLA-compiled steps: Keras' default "auto" compiles them when every layer allows it)
VARIANTS = ((64, 4, "float32", "auto"), (96, 4, "float32", "auto"), (128, 4, "float32", "auto"),
            (128, 2, "float32", "auto"), (128, 2, "float32", False), (128, 2, "mixed_bfloat16", "auto"))


def windows_per_second(config, tokens: list[str], train: np.ndarray, batch_size: int, batches: int,
                       semitones: int, jit_compile="auto") -> float:
    import keras

    from jukebox.dataset import training_dataset, transposition_tables
    from jukebox.encodings import transpose_token
    from jukebox.model import build_model

    keras.utils.set_random_seed(0)
    model = build_model(len(tokens), config)
    model.compile(optimizer=model.optimizer, loss=model.loss, weighted_metrics=["accuracy"], jit_compile=jit_compile)
    moves = (transposition_tables(tokens, semitones, lambda t, k: transpose_token(t, k, config.encoding))
             if semitones else None)
    data = training_dataset(train, config.seq_len, batch_size, batch_size * batches, 0, every_position=True,
                            transpositions=moves)
    warm = batches // 4

    class Clock(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == warm:
                self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if batch == batches - 1:
                self.seconds = time.perf_counter() - self.started

    clock = Clock()
    model.fit(data, epochs=1, verbose=0, callbacks=[clock])
    return (batches - warm) * batch_size / clock.seconds


def main(argv: list[str] | None = None) -> None:
    from jukebox.model import ModelConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genre", default=None, help="genre of params.yaml (default: the first)")
    parser.add_argument("--batches", type=int, default=80, help="batches per shape, a quarter of them warm-up")
    args = parser.parse_args(argv)
    params = load_params(Layout.of(ROOT).params)
    genre = params.genre(args.genre or next(iter(params.genres)))
    seq_dir = Layout.of(ROOT).sequences(genre.name)
    if not (seq_dir / "train.npy").is_file():
        parser.error(f"{seq_dir}/train.npy is missing: run `dvc repro sequences@{genre.name}` first")
    tokens = json.loads((seq_dir / "vocab.json").read_text())["tokens"]
    train = np.load(seq_dir / "train.npy")
    base = ModelConfig.from_params(params)
    print(f"genre {genre.name}: vocabulary {len(tokens)}, batch {params.batch_size}, transpose {params.transpose}, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    first = None
    for units, heads, precision, jit in VARIANTS:
        config = dataclasses.replace(base, units=units, heads=heads, precision=precision)
        speed = windows_per_second(config, tokens, train, params.batch_size, args.batches, params.transpose, jit)
        first = first or speed
        print(f"width {units:4d}, {heads} heads, {precision:14s} XLA {'on' if jit else 'off'}: {speed:6.1f} "
              f"windows/s ({speed / first:.2f}x)", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
