"""Composing speed: the loop compiled whole (jukebox.generation.ComposingLoop) against one compiled model step per
token driven from Python, side by side in one process and one run.

    python -m benchmarks.composing [--genre celtic] [--tokens 1100] [--batches 1 8 24]

With the genre's trained model (models/<genre>/, so run `dvc repro` first) and primers from its validation tokens,
each way composes `tokens` tokens for every row of each batch size, after one untimed call that compiles it.
"python steps" is how composing ran before the loop was compiled: the model's `start` and `advance` each compiled
with XLA, and here the draw too (grammar, banned token, sampling at temperature 0.9 and top-p 0.9), called once
per token from a Python loop; before, the draw was numpy code between the steps. Printed:
milliseconds per step, tokens per second, and the compiled loop's speed-up. 1,100 tokens is a 500-note piece in
the `rhythm` encoding.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def python_steps(composer):
    """Compose one compiled model step and one compiled draw (grammar, ban, sampling) per token, looping in Python."""
    import tensorflow as tf

    from jukebox.generation import sample
    from jukebox.model import generation_steps

    start, advance = generation_steps(composer.model)
    start, advance = tf.function(start, jit_compile=True), tf.function(advance, jit_compile=True)
    grammar = composer.encoder.grammar(composer.vocab.tokens)
    allowed = np.ones(len(composer.vocab), np.float32)
    allowed[0] = 0.0  # the unknown token

    @tf.function(jit_compile=True)
    def draw(probs, rules, previous, uniform):
        mask, rules = grammar.mask(rules, previous)
        return sample(probs * allowed * mask, 0.9, uniform, top_p=0.9), rules

    def run(primers: np.ndarray, n: int, uniforms: np.ndarray) -> np.ndarray:
        probs, state = start(primers)
        rules, previous, out = grammar.state(primers), primers[:, -1], []
        for i in range(n):
            previous, rules = draw(probs, rules, previous, uniforms[:, i].astype(np.float32))
            out.append(previous.numpy())
            probs, state = advance(state, previous)
        return np.stack(out, axis=1)

    return run


def compiled_loop(composer):
    from jukebox.generation import Sampling

    loop = composer.loop()

    def run(primers: np.ndarray, n: int, uniforms: np.ndarray) -> np.ndarray:
        rows = [Sampling(n, 0.9, 0, 0.9)] * len(primers)
        return loop(primers, [n] * len(primers), rows, [np.random.default_rng(r) for r in range(len(primers))])

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--genre", default="celtic")
    parser.add_argument("--tokens", type=int, default=1100)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 24])
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from jukebox.generation import Composer, validation_primers
    from jukebox.layout import Layout

    layout = Layout.of(ROOT)
    composer = Composer.load(layout.model(args.genre))
    val = np.load(layout.val_tokens(args.genre))
    ways = {"python steps": python_steps(composer), "compiled loop": compiled_loop(composer)}
    print(f"{args.genre}: {composer.config.architecture} {composer.config.layers} x {composer.config.units}, "
          f"{args.tokens} tokens a row, load average {os.getloadavg()[0]:.2f}")
    print(f"{'batch':>5} | {'way':<13} | {'ms a step':>9} | {'tokens/s':>8} | speed-up")
    for batch in args.batches:
        primers, _ = validation_primers(val, composer.seq_len, 0, batch)
        uniforms = np.random.default_rng(0).random((batch, args.tokens))
        seconds = {}
        for name, run in ways.items():
            run(primers, 8, uniforms)  # compiles for this batch size; not timed
            started = time.perf_counter()
            run(primers, args.tokens, uniforms)
            seconds[name] = time.perf_counter() - started
            print(f"{batch:>5} | {name:<13} | {1000 * seconds[name] / args.tokens:>9.2f} | "
                  f"{batch * args.tokens / seconds[name]:>8.0f} | "
                  f"{seconds['python steps'] / seconds[name]:.1f}x", flush=True)


if __name__ == "__main__":
    main()
