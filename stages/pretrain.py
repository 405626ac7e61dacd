"""Stage pretrain: a base transformer trained on the corpus table of params.yaml (`pretrain:`), for genres to
fine-tune (`init: base`); see docs/guide/pretraining.md.

The corpus is read with the parse stage's code and cache, every genre's validation pieces (and any piece with the
same notes) are left out and counted, and the pieces are tokenized with the encoding's fixed vocabulary. While no
genre starts from a base (`init: scratch`, today's default) the stage trains nothing and says so in
models/_base/status.json, so the default pipeline pays a second for it.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from jukebox.artifacts import stage_logger, write_json
from jukebox.distribute import is_chief, make_strategy
from jukebox.encodings.fixed import fixed_vocabulary
from jukebox.entrypoint import run_stage
from jukebox.layout import Layout
from jukebox.params import ParamError, load_params
from jukebox.parsing import NoteCache, TrackReading, parse_files, parser_version
from jukebox.pretraining import (base_params, corpus_files, corpus_keys, corpus_tokens, held_out_keys, save_base,
                                 without_held_out)
from jukebox.training import prepare


def main(_: str = "base") -> None:
    import keras
    from dvclive import Live
    from dvclive.keras import DVCLiveCallback

    params = load_params()
    log = stage_logger("pretrain", "base")
    layout = Layout.of()
    if params.init != "base":
        why = "init is scratch: no genre starts from a base; `dvc exp run -S init=base` pretrains one"
        write_json(layout.base_model / "status.json", {"trained": False, "why": why})
        write_json(layout.base_metrics / "corpus.json", {"trained": False, "why": why})
        log.info("%s", why)
        return
    if not params.pretrain.sources:
        raise ParamError("pretrain.sources is empty; list music21 collections (`- corpus: essenFolksong`) or folders "
                         "of MIDI files (`- folder: /path/to/midi`) for the base model to learn from")
    vocabulary = fixed_vocabulary(params.encoding)
    tf_config = os.environ.get("TF_CONFIG") if params.pretrain.strategy == "multi_worker" else None
    strategy = make_strategy(params.pretrain.strategy, tf_config)  # first, as in the train stage
    root = Path(".") if is_chief(tf_config) else Path(tempfile.mkdtemp(prefix="jukebox-worker-"))
    written = Layout.of(root)
    jobs = params.jobs or os.cpu_count() or 1

    held_out = held_out_keys(layout, list(params.genres))
    files, records, cached = [], [], 0
    for source in params.pretrain.sources:
        # A many-part source (instruments: keep) is read with its tracks, each part its own instrument.
        reader = TrackReading() if source.instruments == "keep" else None
        found = corpus_files([source], layout, params.seed, jobs)
        parsed, from_cache = parse_files(found, jobs, NoteCache(layout.parse_cache, parser_version(reader)),
                                         desc=f"parse {source.name}", timeout=params.parse_timeout, reader=reader)
        files, records, cached = files + found, records + parsed, cached + from_cache
    pieces = [r for r in records if r["status"] == "kept"]
    kept, excluded = without_held_out(pieces, held_out)
    log.info("corpus: %d files (%d from the cache), %d pieces; %d left out as a genre's validation piece (same "
             "notes), of %d validation pieces", len(files), cached, len(pieces), len(excluded), len(set(held_out.values())))
    train, val, vocab, outside = corpus_tokens(kept, vocabulary, params)
    base = base_params(params)
    model, config, train_ds, val_data, steps = prepare(base, train, val, vocab.tokens, strategy.scope())
    log.info("base (%s): %d parameters, vocabulary %d, %d training / %d validation tokens, %d replicas (%s)",
             params.pretrain.size, model.count_params(), len(vocab), len(train), len(val),
             strategy.num_replicas_in_sync, params.pretrain.strategy)

    live_dir = written.base_metrics / "train"
    shutil.rmtree(live_dir, ignore_errors=True)
    with Live(str(live_dir), dvcyaml=None, save_dvc_exp=False) as live:
        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=base.patience, restore_best_weights=True)
        history = model.fit(train_ds.repeat(), steps_per_epoch=steps, epochs=base.epochs, validation_data=val_data,
                            batch_size=base.batch_size, shuffle=False, callbacks=[stop, DVCLiveCallback(live=live)],
                            verbose=2).history
    save_base(written.base_model, model, config, vocabulary, vocab, corpus_keys(kept))
    write_json(written.base_metrics / "corpus.json", {
        "trained": True, "files": len(files), "pieces": len(pieces), "skipped_files": len(records) - len(pieces),
        "validation_pieces_of_genres": len(set(held_out.values())), "excluded": len(excluded), "excluded_pieces": excluded,
        "outside_grid": outside, "train_tokens": int(len(train)), "val_tokens": int(len(val)),
        "val_loss": min(history["val_loss"]), "epochs": len(history["val_loss"]),
    })
    log.info("base: best val_loss %.4f after %d epochs", min(history["val_loss"]), len(history["val_loss"]))
    if root != Path("."):
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    run_stage("pretrain", main, ["base"])
