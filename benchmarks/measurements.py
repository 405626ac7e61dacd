"""The measurements of `benchmarks.speed`, one per child process: `python -m benchmarks.measurements TASK SPEC`.

Each prints one line `BENCHMARK-RESULT {json}`; running alone in its process makes its peak RSS its own.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

RESULT = "BENCHMARK-RESULT "

def rss_mb() -> float:
    """This process's resident memory now, in MB (Linux /proc; elsewhere the peak so far)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """This process's peak resident memory, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def epoch_clock(target: float | None = None, budget: float | None = None):
    """A Keras callback timing training apart from validation, recording (training seconds, val_loss) per epoch."""
    import keras

    class Clock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds, self.epochs, self.curve, self.started = 0.0, [], [], None

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_test_begin(self, logs=None):
            self._stop_clock()

        def on_epoch_end(self, epoch, logs=None):
            self._stop_clock()
            self.epochs.append(self.seconds)
            if "val_loss" in logs:
                self.curve.append((round(self.seconds, 2), float(logs["val_loss"])))
                if (target is not None and logs["val_loss"] <= target) or (budget and self.seconds > budget):
                    self.model.stop_training = True

        def _stop_clock(self):
            if self.started is not None:
                self.seconds += time.perf_counter() - self.started
                self.started = None

    return Clock()


def model_config(spec: dict, **changes):
    """The ModelConfig named by a measurement's spec (its keys that are ModelConfig fields)."""
    import dataclasses

    from jukebox.model import ModelConfig

    names = {f.name for f in dataclasses.fields(ModelConfig)}
    return ModelConfig(**{**{k: v for k, v in spec.items() if k in names}, **changes})


def measure_training(spec: dict) -> dict:
    """Training windows per second after a warm-up epoch, and peak RSS, for `approach` this or 2018."""
    profile = {"python": rss_mb()}
    import keras

    from benchmarks import approach_2018
    from jukebox.dataset import training_dataset
    from jukebox.model import build_model

    profile["tensorflow"] = rss_mb()
    keras.utils.set_random_seed(0)
    tokens = np.load(spec["train"])
    seq_len, vocab, batch, windows = spec["seq_len"], spec["vocab_size"], spec["batch_size"], spec["windows"]
    if spec["approach"] == "2018":
        model = approach_2018.build_model(seq_len, vocab, spec["units"], spec["dropout"], spec["learning_rate"])
        profile["model"] = rss_mb()
        x, y = approach_2018.training_arrays(tokens, seq_len, vocab)
        input_bytes = x.nbytes + y.nbytes
        fit = dict(x=x, y=y, batch_size=batch, steps_per_epoch=windows // batch)
    else:
        model = build_model(vocab, model_config(spec, architecture="bilstm"))
        profile["model"] = rss_mb()
        input_bytes = tokens.nbytes
        fit = dict(x=training_dataset(tokens, seq_len, batch, windows, seed=0))
    profile["data"] = rss_mb()
    clock = epoch_clock()
    model.fit(**fit, epochs=spec["epochs"], callbacks=[clock], verbose=0)
    profile["trained"] = rss_mb()
    timed = clock.epochs[-1] - clock.epochs[0]
    return {"windows_per_second": windows * (spec["epochs"] - 1) / timed, "peak_rss_mb": peak_rss_mb(),
            "load_1min": os.getloadavg()[0],
            "profile_mb": {k: round(v) for k, v in profile.items()}, "input_mb": input_bytes / 2**20}


def measure_generation(spec: dict) -> dict:
    """Notes per second composing n_samples pieces: this project's generate(), or the 2018 predict-per-note loop."""
    import keras

    from benchmarks import approach_2018
    from jukebox.dataset import window_starts, windows
    from jukebox.generation import generate
    from jukebox.model import build_model, next_token_model

    keras.utils.set_random_seed(0)
    val = np.load(spec["val"])
    seq_len, vocab, n_samples = spec["seq_len"], spec["vocab_size"], spec["n_samples"]
    primers, _ = windows(val, window_starts(len(val), seq_len, n_samples), seq_len)
    if spec["architecture"] == "2018":
        model = approach_2018.build_model(seq_len, vocab, spec["units"], spec["dropout"], spec["learning_rate"])
        approach_2018.compose(model, primers[0], 1, vocab)  # warm-up call, not timed: favours the baseline
        started = time.perf_counter()
        for primer in primers:
            approach_2018.compose(model, primer, spec["n_notes"], vocab)
    else:
        config = model_config(spec)
        model = next_token_model(build_model(vocab, config), config)
        started = time.perf_counter()  # includes building and compiling the step: what a stage pays
        generate(model, primers, spec["n_notes"], 1.0, seed=0)
    seconds = time.perf_counter() - started
    return {"notes_per_second": len(primers) * spec["n_notes"] / seconds, "seconds": seconds}


def measure_race(spec: dict) -> dict:
    """Train with the project's trainer; the curve of (training seconds, next-token val_loss) per epoch."""
    import keras

    from jukebox.dataset import training_dataset, validation_data
    from jukebox.model import build_model

    keras.utils.set_random_seed(0)
    train, val = np.load(spec["train"]), np.load(spec["val"])
    # The run's length for the cosine decay, as the train stage gives it.
    steps = -(-spec["windows_per_epoch"] // spec["batch_size"])
    config = model_config(spec, decay_steps=spec["epochs"] * steps if spec["epochs"] < 1000 else 0)
    causal = config.causal
    model = build_model(spec["vocab_size"], config)
    moves = None
    if spec.get("transpose"):
        from jukebox.dataset import transposition_tables
        from jukebox.encodings import transpose_token

        tokens = json.loads(Path(spec["vocab"]).read_text())["tokens"]
        moves = transposition_tables(tokens, spec["transpose"], lambda t, k: transpose_token(t, k, config.encoding))
    data = training_dataset(train, spec["seq_len"], spec["batch_size"], spec["windows_per_epoch"], 0,
                            every_position=causal, transpositions=moves)
    clock = epoch_clock(spec.get("target"), spec.get("budget"))
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=spec["patience"])
    model.fit(data, validation_data=validation_data(val, spec["seq_len"], spec["val_windows"], causal),
              epochs=spec["epochs"], callbacks=[clock, stop], verbose=0)
    windows = spec["windows_per_epoch"] * len(clock.epochs)
    return {"curve": clock.curve, "parameters": model.count_params(),
            "windows_per_second": windows / clock.seconds, "load_1min": os.getloadavg()[0]}


def measure_peak(spec: dict) -> dict:
    """GFLOP/s of a square matmul in float32 and bfloat16: the machine's ceiling for dense layers."""
    import tensorflow as tf

    result = {}
    for dtype in ("float32", "bfloat16"):
        a = tf.random.normal((spec["size"], spec["size"]), dtype=tf.float32)
        a = tf.cast(a, dtype)
        matmul = tf.function(lambda x: tf.matmul(x, x))
        matmul(a).numpy()  # warm-up and tracing
        started = time.perf_counter()
        for _ in range(spec["repeats"]):
            matmul(a).numpy()
        seconds = time.perf_counter() - started
        result[dtype] = 2 * spec["size"] ** 3 * spec["repeats"] / seconds / 1e9
    return result


def measure_parsing(spec: dict) -> dict:
    """Files per second parsing with `jobs` processes and the cache folder given (cold when it is empty)."""
    from jukebox.parsing import NoteCache, parse_files, parser_version

    files = [Path(f) for f in spec["files"]]
    started, cpu = time.perf_counter(), _cpu_seconds()
    _, cached = parse_files(files, spec["jobs"], NoteCache(spec["cache"], parser_version()),
                            timeout=spec.get("timeout"))
    seconds = time.perf_counter() - started
    # CPU seconds per wall second: how many cores the parse really got (2 workers on 2 free cores give ~2).
    return {"files_per_second": len(files) / seconds, "cached": cached,
            "cores_used": round((_cpu_seconds() - cpu) / seconds, 2), "load_1min": os.getloadavg()[0]}


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


MEASUREMENTS = {"training": measure_training, "generation": measure_generation, "race": measure_race,
                "parsing": measure_parsing, "peak": measure_peak}


if __name__ == "__main__":
    task, spec = sys.argv[1], json.loads(sys.argv[2])
    print(RESULT + json.dumps(MEASUREMENTS[task](spec)), flush=True)
