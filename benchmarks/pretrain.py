"""How fast the base model trains: tokens per second and achieved GFLOP/s against the matmul peak of the same run.

    python -m benchmarks.pretrain [--size cpu|gpu] [--strategy single|mirrored] [--windows 512] [--json FILE]

The base transformer at `--size` (jukebox.params.BASE_SIZES) is built and compiled exactly as the pretrain stage
builds it (jukebox.pretraining.base_params, jukebox.training.prepare) over the fixed `rhythm` vocabulary, and fits
random token windows (speed does not depend on which tokens they are): one epoch to warm up, then one timed.
Every position of a window is a target, so tokens per second = windows per second x seq_len. GFLOP/s are the
analytic FLOPs of a training window (benchmarks.models.flops_per_window) x windows per second, printed as a share
of a float32 and a bfloat16 square matmul measured in this process just before.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import numpy as np

from benchmarks.measurements import measure_peak
from benchmarks.models import flops_per_window
from jukebox.distribute import make_strategy
from jukebox.encodings.fixed import fixed_vocabulary
from jukebox.params import BASE_SIZES, load_params
from jukebox.pretraining import base_params
from jukebox.training import prepare


def run(size: str, strategy_name: str, windows: int, peak_size: int) -> dict:
    """Peak GFLOP/s, then the base's training speed at `size`, in one process."""
    import keras

    params = load_params()
    peak = measure_peak({"size": peak_size, "repeats": 5})
    params = dataclasses.replace(params, pretrain=dataclasses.replace(
        params.pretrain, size=size, strategy=strategy_name, windows_per_epoch=windows, epochs=2))
    base = base_params(params)
    tokens = fixed_vocabulary("rhythm").tokens
    rng = np.random.default_rng(0)
    train = rng.integers(1, len(tokens), 50_000, dtype=np.int32)
    val = rng.integers(1, len(tokens), 4 * base.seq_len, dtype=np.int32)
    strategy = make_strategy(strategy_name, None)
    model, config, train_ds, val_data, steps = prepare(base, train, val, tokens, strategy.scope())

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.started

    clock = Clock()
    model.fit(train_ds.repeat(), steps_per_epoch=steps, epochs=1, verbose=0)  # warm-up: tracing, first allocations
    model.fit(train_ds.repeat(), steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[clock])
    per_second = steps * base.batch_size / clock.seconds
    gflops = flops_per_window(config, len(tokens)) * per_second / 1e9
    return {"size": size, "shape": dict(zip(("layers", "units", "heads"), BASE_SIZES[size])),
            "parameters": model.count_params(), "strategy": strategy_name,
            "replicas": strategy.num_replicas_in_sync, "seq_len": base.seq_len, "batch_size": base.batch_size,
            "windows_per_second": per_second, "tokens_per_second": per_second * base.seq_len, "gflops": gflops,
            "peak_gflops": peak, "share_of_float32_peak": gflops / peak["float32"],
            "share_of_bfloat16_peak": gflops / peak["bfloat16"], "load_1min": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(BASE_SIZES), default="cpu")
    parser.add_argument("--strategy", choices=("single", "mirrored"), default="single")
    parser.add_argument("--windows", type=int, default=512, help="training windows per timed epoch")
    parser.add_argument("--peak-size", type=int, default=2048, help="side of the square matmul for the peak")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    result = run(args.size, args.strategy, args.windows, args.peak_size)
    peak = result["peak_gflops"]
    print(f"base {result['size']} {result['shape']}: {result['parameters']:,} parameters, "
          f"{result['replicas']} replica(s) ({result['strategy']}), load {result['load_1min']:.1f}")
    print(f"  {result['tokens_per_second']:,.0f} tokens/s ({result['windows_per_second']:.1f} windows of "
          f"{result['seq_len']} tokens a second)")
    print(f"  {result['gflops']:.1f} GFLOP/s achieved; matmul peak {peak['float32']:.0f} GFLOP/s float32, "
          f"{peak['bfloat16']:.0f} bfloat16; ratio {result['share_of_float32_peak']:.3f} of float32, "
          f"{result['share_of_bfloat16_peak']:.3f} of bfloat16")
    if args.json:
        from jukebox.artifacts import write_json

        write_json(args.json, result)


if __name__ == "__main__":
    main()
