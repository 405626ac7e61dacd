"""Variants of the pipeline's model trained side by side on a project's genres, each judged as the pipeline judges.

    nice -n 10 python -m benchmarks.variants --project DIR [GENRE ...] --variants token_conv=0 token_conv=8
                                             [--draws 3] [--json FILE]

A variant is params.yaml with some settings changed (`a=1,b=2` changes two). For each genre of a project after
`dvc repro` (its data/sequences/<genre>/), every variant trains as the train stage trains it (jukebox.training.prepare:
the same seed, windows, transposition, epochs and early stopping; under init: base, from the base with the
fine-tuning schedule, where a genre's own finetune_epochs, an upload's, wins over a variant's), composes the
generate stage's pieces (its primers and seeds) and is judged with the evaluate stage's figures: validation loss,
loss on repeated targets, distinct 8-grams and copy rate against held-out stretches, realness, and the loss on a
passage heard the first time and again (whether the model restates what it hears). One variant after the other in
one run, on one
machine; ratios are to the first variant. `--draws 3` composes and judges each model three times: first with the
pipeline's seed, then with the sampling benchmark's (seed + 1000, + 1001); the table shows the draws' means, since
realness moves by about 0.05 from one draw to the next.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import yaml

from benchmarks.sampling import SEED_OFFSET, draw
from jukebox.artifacts import read_npy, write_json
from jukebox.layout import Layout
from jukebox.params import load_params, parse_params


def variant(project: Path, changes: str):
    """The project's params.yaml with `key=value[,key=value]` applied, validated as params.yaml is."""
    raw = yaml.safe_load(Layout.of(project).params.read_text())
    for change in filter(None, changes.split(",")):
        key, _, value = change.partition("=")
        raw[key.strip()] = yaml.safe_load(value)  # typed as params.yaml would type it: 8 an int, 0.5 a float
    return parse_params(raw, where=f"--variants {changes!r}")


def measure(project: Path, genre: str, changes: str, draws: int = 1) -> dict:
    """Train one variant on one genre, compose and judge its pieces; its figures."""
    import keras
    import numpy as np

    from jukebox.dataset import Vocabulary, window_starts, windows
    from jukebox.evaluation import prediction_scores, repeated_targets
    from jukebox.encodings import is_note
    from jukebox.generation import Composer, Sampling
    from jukebox.judging import heard_again
    from jukebox.model import SCORING_BATCH, next_token_model
    from jukebox.pretraining import finetune_params, read_base, start_from_base
    from jukebox.training import prepare, train_keys

    settings = variant(project, changes)
    settings = settings.for_genre(settings.genre(genre))
    seq_dir = Layout.of(project).sequences(genre)
    train, val = read_npy(seq_dir / "train.npy"), read_npy(seq_dir / "val.npy")
    vocab = json.loads((seq_dir / "vocab.json").read_text())
    if settings.init == "base":  # as the train stage fine-tunes: the base's shape, the fine-tuning schedule
        layout = Layout.of(project)
        base_config, _ = read_base(layout.base_model)
        settings = finetune_params(settings, base_config, len(train), len(val))
    keys = train_keys(seq_dir)
    model, config, stream, val_data, steps = prepare(settings, train, val, vocab["tokens"], keys=keys)
    if settings.init == "base":
        start_from_base(model, config, layout.base_model, settings.finetune_freeze)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=settings.patience, restore_best_weights=True)
    began = time.perf_counter()
    history = model.fit(stream.repeat(), steps_per_epoch=steps, epochs=settings.epochs, validation_data=val_data,
                        validation_batch_size=SCORING_BATCH, callbacks=[stop], verbose=0).history
    seconds = time.perf_counter() - began
    composer = Composer(next_token_model(model, config), Vocabulary.from_json(vocab), config,
                        vocab.get("key_mode", "keep"))
    x, targets = windows(val, window_starts(len(val), config.seq_len, settings.val_windows), config.seq_len)
    is_note_id = np.array([is_note(t, config.encoding) for t in vocab["tokens"]])
    scores = prediction_scores(composer.model.predict(x, batch_size=SCORING_BATCH, verbose=0), targets,
                               is_note_id[targets], repeated_targets(x, targets))
    heard = heard_again(composer, val, settings) or {"first": None, "again": None}
    count = max(settings.n_samples, settings.eval_samples)
    seeds = [settings.seed] + [settings.seed + SEED_OFFSET + k for k in range(draws - 1)]
    runs = [draw(composer, val, project, genre, Sampling.chosen(settings, seed=seed), count,
                 logging.getLogger("benchmarks.variants")) for seed in seeds]
    means = {key: None if None in (values := [r[key] for r in runs]) else sum(values) / len(values) for key in runs[0]}
    return {"genre": genre, "variant": changes, "fit_seconds": round(seconds, 1), "epochs": len(history["loss"]),
            "val_loss": min(history["val_loss"]), "nats_per_note": scores["cross_entropy_per_note"],
            "repeats_loss": scores["cross_entropy_on_repeats"], "repeated_share": scores["repeated_share"],
            "heard_first": heard["first"], "heard_again": heard["again"],
            **means, "draws": runs}


HEADER = (f"{'genre':<10}{'variant':<22}{'fit s':>7}{'val_loss':>9}{'ratio':>7}{'repeats':>8}{'ratio':>7}"
          f"{'first':>7}{'again':>7}{'d8':>7}{'held':>7}{'copy':>7}{'held':>7}{'real':>7}")


def table_row(r: dict, first: dict) -> str:
    def ratio(key):
        return f"{r[key] / first[key]:>7.2f}" if r[key] is not None and first[key] else f"{'-':>7}"

    def figure(key, width=7):
        return f"{r[key]:>{width}.3f}" if r[key] is not None else f"{'-':>{width}}"

    return (f"{r['genre']:<10}{r['variant'] or 'params.yaml':<22}{r['fit_seconds']:>7.0f}{r['val_loss']:>9.3f}"
            f"{ratio('val_loss')}{figure('repeats_loss', 8)}{ratio('repeats_loss')}{figure('heard_first')}"
            f"{figure('heard_again')}{r['d8']:>7.3f}"
            f"{r['d8_held_out']:>7.3f}{r['copy']:>7.3f}{r['copy_held_out']:>7.3f}{figure('realness')}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.variants", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("genres", nargs="*", help="genres to measure (default: every genre in params.yaml)")
    parser.add_argument("--project", type=Path, default=Path("."), help="project folder after dvc repro")
    parser.add_argument("--variants", nargs="+", required=True,
                        help="settings to change, one variant each: token_conv=0 'layers=3,units=96'; an empty "
                             "string is params.yaml as it is")
    parser.add_argument("--draws", type=int, default=1, help="compositions judged per model (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    if args.draws < 1:
        parser.error(f"--draws {args.draws}: compose at least one draw")
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for changes in args.variants:
        variant(args.project, changes)  # a typo fails now, not after the first variant's training
    genres = args.genres or list(load_params(Layout.of(args.project).params).genres)
    print("repeats = loss (nats) on validation targets that continue a passage heard earlier in the window; "
          "first, again = loss on a validation passage heard the first time, and played again right after; "
          "d8 = distinct 8-grams, copy = 8-gram copy rate (samples, then held-out); real = realness accuracy")
    print(HEADER, flush=True)
    rows = []
    for genre in genres:
        first = None
        for changes in args.variants:
            row = measure(args.project, genre, changes, args.draws)
            first = first or row
            rows.append(row)
            print(table_row(row, first), flush=True)
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()
