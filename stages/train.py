"""Stage train: fit the network on streamed windows of a genre's tokens; log every epoch with dvclive."""
from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from jukebox.artifacts import atomic_path, read_npy, stage_logger, write_json
from jukebox.dataset import training_dataset, window_starts, windows
from jukebox.model import build_model
from jukebox.params import load_params


def main(genre_name: str) -> None:
    import keras
    from dvclive import Live
    from dvclive.keras import DVCLiveCallback

    params = load_params()
    genre = params.genre(genre_name)
    log = stage_logger("train", genre.name)
    seq_dir = Path("data/sequences") / genre.name
    train, val = read_npy(seq_dir / "train.npy"), read_npy(seq_dir / "val.npy")
    vocab = json.loads((seq_dir / "vocab.json").read_text())
    keras.utils.set_random_seed(params.seed)
    model = build_model(len(vocab["tokens"]), params.seq_len, params.architecture, params.embedding_dim,
                        params.units, params.dropout, params.learning_rate)
    train_ds = training_dataset(train, params.seq_len, params.batch_size, params.windows_per_epoch, params.seed)
    val_x, val_y = windows(val, window_starts(len(val), params.seq_len, params.val_windows), params.seq_len)
    log.info("%s: %d parameters, vocabulary %d, %d windows per epoch, %d validation windows",
             params.architecture, model.count_params(), len(vocab["tokens"]), params.windows_per_epoch, len(val_y))

    live_dir = Path("metrics") / genre.name / "train"
    shutil.rmtree(live_dir, ignore_errors=True)
    with Live(str(live_dir), dvcyaml=None, save_dvc_exp=False) as live:
        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=params.patience, restore_best_weights=True)
        started = time.perf_counter()
        history = model.fit(train_ds, validation_data=(val_x, val_y), batch_size=params.batch_size,
                            epochs=params.epochs, callbacks=[stop, DVCLiveCallback(live=live)], verbose=2)
        seconds = time.perf_counter() - started
        h = history.history
        best = min(range(len(h["val_loss"])), key=h["val_loss"].__getitem__)
        live.summary.update({
            "loss": h["loss"][best], "val_loss": h["val_loss"][best], "val_accuracy": h["val_accuracy"][best],
            "best_epoch": best + 1, "epochs": len(h["loss"]), "train_seconds": round(seconds, 1),
        })
    out = Path("models") / genre.name
    with atomic_path(out / "model.keras", suffix=".keras") as tmp:
        model.save(tmp)
    write_json(out / "vocab.json", vocab)
    write_json(out / "config.json", {"seq_len": params.seq_len, "encoding": params.encoding, "step": params.step})
    log.info("best val_loss %.4f at epoch %d of %d, %.0f s", h["val_loss"][best], best + 1, len(h["loss"]), seconds)


if __name__ == "__main__":
    main(sys.argv[1])
