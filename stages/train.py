"""Stage train: fit the network on streamed windows of a genre's tokens; log every epoch with dvclive.

`val_loss` is, for every architecture, the loss of the token that follows each validation window, so runs of
`bilstm`, `lstm` and `gru` compare directly. Under `strategy: multi_worker` every machine runs this stage with its
own TF_CONFIG; only the chief writes models/ and metrics/, the others write to a temporary folder.

After every epoch the training state is saved in .jukebox-cache/train/<genre>/ (jukebox/checkpoints.py): an
interrupted run, rerun with the same parameters and data, resumes after its last finished epoch and ends with the
same model as an uninterrupted one. Multi-worker runs start afresh.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from jukebox.artifacts import atomic_path, read_npy, stage_logger, write_json
from jukebox.distribute import is_chief, make_strategy
from jukebox.entrypoint import run_stage
from jukebox.layout import Layout
from jukebox.model import SCORING_BATCH, next_token_model, save_model
from jukebox.params import as_dict, load_params
from jukebox.pretraining import (check_vocabulary, finetune_params, read_base, start_from_base,
                                 validation_in_base)
from jukebox.training import prepare, train_keys


def main(genre_name: str) -> None:
    import keras
    from dvclive import Live
    from dvclive.keras import DVCLiveCallback

    from jukebox.checkpoints import Checkpoint, checkpoint_key, resumable_stream

    params = load_params()
    genre = params.genre(genre_name)
    params = params.for_genre(genre)  # its own schedule and keys over params.yaml's
    log = stage_logger("train", genre.name)
    # The edge reads the environment; TF_CONFIG describes the cluster for strategy multi_worker.
    tf_config = os.environ.get("TF_CONFIG") if params.strategy == "multi_worker" else None
    strategy = make_strategy(params.strategy, tf_config)  # first: a multi-worker strategy must precede other TF work
    root = Path(".") if is_chief(tf_config) else Path(tempfile.mkdtemp(prefix="jukebox-worker-"))
    layout, written = Layout.of(), Layout.of(root)  # a worker other than the chief writes to its own folder
    seq_dir = layout.sequences(genre.name)
    train, val = read_npy(seq_dir / "train.npy"), read_npy(seq_dir / "val.npy")
    vocab = json.loads((seq_dir / "vocab.json").read_text())
    learnt_from = [seq_dir / f for f in ("train.npy", "val.npy", "vocab.json")]
    in_base = None
    if params.init == "base":  # fine-tune the base: its shape and vocabulary, the fine-tuning schedule
        base_config, base_vocabulary = read_base(layout.base_model)
        in_base = validation_in_base(layout, genre.name)
        if in_base:
            log.warning("%d validation pieces of %s are in the base's corpus (%s): the base learned them, so the "
                        "genre's val_loss and evaluate's figures flatter it; rebuild the base (docs/guide/"
                        "pretraining.md, Rebuilding it)", len(in_base), genre.name, ", ".join(in_base[:3]))
        check_vocabulary(base_vocabulary, layout.vocabulary(genre.name), genre.name, layout.base_model)
        params = finetune_params(params, base_config, len(train), len(val))
        learnt_from.append(layout.base_model / "model.keras")
    keys = train_keys(seq_dir)
    model, config, train_ds, val_data, steps = prepare(params, train, val, vocab["tokens"], strategy.scope(), keys)
    if params.init == "base":
        with strategy.scope():
            start_from_base(model, config, layout.base_model, params.finetune_freeze)
        log.info("starting from the base model %s (%d of its lowest parts frozen), learning rate %g, %d epochs",
                 layout.base_model, params.finetune_freeze, params.learning_rate, params.epochs)
    log.info("%s x%d: %d parameters, vocabulary %d, %d windows per epoch, %d validation windows, %d replicas (%s), "
             "transposed up to %d semitones into %s keys, %s", params.architecture, params.layers, model.count_params(),
             len(vocab["tokens"]), params.windows_per_epoch, len(val_data[0]), strategy.num_replicas_in_sync,
             params.strategy, params.transpose, "the genre's" if params.transpose_into == "genre_keys" else "any",
             params.precision)

    live_dir = written.train_metrics(genre.name)
    shutil.rmtree(live_dir, ignore_errors=True)
    with Live(str(live_dir), dvcyaml=None, save_dvc_exp=False) as live:
        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=params.patience, restore_best_weights=True)
        live_callback = DVCLiveCallback(live=live)
        # Every worker of a multi-worker run would have to resume the same epoch: those runs keep no checkpoint.
        folder = (layout.train_checkpoints(genre.name) if params.strategy != "multi_worker"
                  else Path(tempfile.mkdtemp(prefix="jukebox-checkpoint-")))
        settings = {"genre": genre.name, **{k: v for k, v in as_dict(params).items()
                                            if not k.startswith("genres") and k != "pretrain"}}
        checkpoint = Checkpoint(folder, checkpoint_key(settings, learnt_from), stop)
        done = checkpoint.restore(model, replay=[live_callback])  # the resumed epochs' logs go to dvclive again
        # shuffle=False: the stream already draws random windows; validation order does not matter.
        model.fit(resumable_stream(train_ds, steps, done), steps_per_epoch=steps, initial_epoch=done,
                  validation_data=val_data, validation_batch_size=SCORING_BATCH, batch_size=params.batch_size,
                  shuffle=False, epochs=done if checkpoint.stopped else params.epochs,
                  callbacks=[stop, live_callback, checkpoint], verbose=2)
        seconds = checkpoint.seconds
        h = checkpoint.history()
        best = min(range(len(h["val_loss"])), key=h["val_loss"].__getitem__)
        live.summary.update({
            "loss": h["loss"][best], "val_loss": h["val_loss"][best], "val_accuracy": h["val_accuracy"][best],
            "best_epoch": best + 1, "epochs": len(h["loss"]), "train_seconds": round(seconds, 1),
            "windows_per_second": round(len(h["loss"]) * params.windows_per_epoch / seconds, 1),
        })
        if in_base is not None:
            live.summary["validation_pieces_in_base"] = len(in_base)
    out = written.model(genre.name)
    write_json(out / "vocab.json", vocab)
    config.save(out / "config.json")
    # Saved last, so a model.keras is never beside another run's vocabulary. Saved as window -> next-token
    # probabilities for every architecture: what generate and evaluate expect.
    with atomic_path(out / "model.keras", suffix=".keras") as tmp:
        save_model(next_token_model(model, config), tmp)
    checkpoint.remove()
    log.info("best val_loss %.4f at epoch %d of %d, %.0f s", h["val_loss"][best], best + 1, len(h["loss"]), seconds)
    if root != Path("."):
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    run_stage("train", main)
