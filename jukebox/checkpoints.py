"""Resuming interrupted training: the whole training state after every epoch, safe to kill at any moment.

A genre's checkpoint lives in a folder outside DVC's outputs (DVC deletes those before a stage runs):
`epoch-NNNN.npz` holds every variable of the model (weights and the dropout layers' random state), of its
optimizer, and early stopping's best weights; `state.json` names that file and holds the epochs' logs, early
stopping's counters and a key. Both are written to a temporary name and renamed, state.json last, so it always
names a complete file. The key hashes the parameters and the training data: a checkpoint of other ones is never
resumed. With the window stream positioned after the epochs done (`resumable_stream`), a resumed run ends with
the same model as an uninterrupted one.
"""
from __future__ import annotations

import io
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np

from .artifacts import sha256, write_bytes, write_json

log = logging.getLogger(__name__)

STATE = "state.json"


def checkpoint_key(settings: dict[str, Any], files: Sequence[str | Path]) -> str:
    """A hash of the training settings and of the contents of the files it learns from."""
    digests = [sha256(Path(f).read_bytes()) for f in files]
    return sha256(json.dumps([settings, digests], sort_keys=True, default=str).encode())[:16]


def resumable_stream(dataset, batches_per_epoch: int, epochs_done: int):
    """An epoch dataset repeated without end, started after `epochs_done` epochs: fit it with steps_per_epoch.

    Keras then reads one iterator for the whole run, so epoch k always gets the k-th draw of random windows,
    whether the run started at epoch 0 or resumed at k.
    """
    return dataset.repeat().skip(epochs_done * batches_per_epoch)


class Checkpoint(keras.callbacks.Callback):
    """Saves the training state after every epoch; `restore` loads it before `fit` (see the module docstring).

    Put it after the EarlyStopping callback `stop` in fit's list: it sets stop's counters after stop resets them.
    """

    def __init__(self, folder: str | Path, key: str, stop: keras.callbacks.EarlyStopping):
        super().__init__()
        self.folder, self.key, self.stop = Path(folder), key, stop
        self.logs: list[dict[str, float]] = []  # every epoch's logs, the resumed ones first
        self.seconds = 0.0  # training time of every epoch, the resumed ones included
        self.stopped = False  # early stopping had ended the run
        self._state: dict | None = None
        self._best: list[np.ndarray] | None = None
        self._epoch_started = 0.0

    def _saved_state(self) -> dict | None:
        try:
            state = json.loads((self.folder / STATE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:
            log.warning("%s is unreadable; training starts afresh", self.folder / STATE)
            return None
        if state.get("key") != self.key:
            log.info("the checkpoint in %s is of other parameters or data; training starts afresh", self.folder)
            return None
        return state if (self.folder / state["file"]).is_file() else None

    def restore(self, model, replay: Sequence[keras.callbacks.Callback] = ()) -> int:
        """Load the saved state into a compiled model, replay the saved epochs' logs to `replay`; returns epochs done."""
        state = self._saved_state()
        if state is None:
            return 0
        with np.load(self.folder / state["file"], allow_pickle=False) as arrays:
            saved = {name: arrays[name] for name in arrays.files}
        model.optimizer.build(model.trainable_variables)
        targets = {**_named("model", model.variables), **_named("optimizer", model.optimizer.variables)}
        if set(targets) != {k for k in saved if not k.startswith("best")} or any(
                tuple(v.shape) != saved[k].shape for k, v in targets.items()):
            log.warning("the checkpoint in %s does not fit this model; training starts afresh", self.folder)
            return 0
        for name, variable in targets.items():
            variable.assign(saved[name])
        best = sorted((k for k in saved if k.startswith("best")), key=lambda k: int(k.rsplit("_", 1)[1]))
        self._best = [saved[k] for k in best] or None
        self._state, self.logs, self.seconds, self.stopped = state, state["logs"], state["seconds"], state["stopped"]
        for epoch, logs in enumerate(self.logs):
            for callback in replay:
                callback.on_epoch_end(epoch, dict(logs))
        log.info("resuming from %s after epoch %d", self.folder, len(self.logs))
        return len(self.logs)

    def on_train_begin(self, logs=None):
        if self._state:
            early = self._state["early_stopping"]
            self.stop.wait, self.stop.best, self.stop.best_epoch = early["wait"], early["best"], early["best_epoch"]
            self.stop.best_weights = self._best

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds += time.perf_counter() - self._epoch_started
        self.logs.append({k: float(v) for k, v in (logs or {}).items()})
        self.stopped = bool(self.model.stop_training)
        self._save(epoch + 1)

    def _save(self, epochs_done: int) -> None:
        arrays = {**_named("model", self.model.variables), **_named("optimizer", self.model.optimizer.variables)}
        arrays = {k: v.numpy() for k, v in arrays.items()}
        arrays.update({f"best_{i}": w for i, w in enumerate(self.stop.best_weights or [])})
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        name = f"epoch-{epochs_done:04d}.npz"
        write_bytes(self.folder / name, buffer.getvalue())
        best = None if self.stop.best is None else float(self.stop.best)
        write_json(self.folder / STATE, {
            "key": self.key, "file": name, "logs": self.logs, "seconds": self.seconds, "stopped": self.stopped,
            "early_stopping": {"wait": self.stop.wait, "best": best, "best_epoch": self.stop.best_epoch},
        })
        for old in self.folder.glob("epoch-*.npz"):
            if old.name != name:
                old.unlink(missing_ok=True)

    def history(self) -> dict[str, list[float]]:
        """Every epoch's logs by metric, like Keras' History.history, the resumed epochs included."""
        return {k: [logs[k] for logs in self.logs] for k in (self.logs[0] if self.logs else {})}

    def remove(self) -> None:
        """Delete the checkpoint (once the trained model is saved)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _named(prefix: str, variables) -> dict[str, Any]:
    # By position: the key guarantees the same architecture, so the same variables in the same order.
    return {f"{prefix}_{i}": v for i, v in enumerate(variables)}
