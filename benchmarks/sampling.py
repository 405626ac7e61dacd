"""Sampling settings side by side: what temperature and top_p do to how samples restate, copy and sound real.

    nice -n 10 python -m benchmarks.sampling --project DIR [GENRE ...] [--settings 0.9/0.9 0.8/0.9 ...]
                                             [--pieces 24] [--repeats 2] [--json FILE]

For each genre with a trained model in DIR (a project after `dvc repro`), every setting (temperature/top_p) composes
the same `--pieces` validation primers, and the pieces are judged exactly as the evaluate stage judges the generate
stage's (stages.evaluate.judge): distinct 8-grams against as long held-out stretches, the 8-gram copy rate from
training, and the realness classifier's accuracy. Primers and random streams come from params.yaml's seed + 1000
(+ 1 per repeat), not from the seed the default run reports with, so a setting chosen here is not chosen on the very
draws it is then reported on. Repeats show how far a figure moves between draws of the same setting.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
from pathlib import Path

import numpy as np

from jukebox.artifacts import read_npy, write_json
from jukebox.generation import Composer, Sampling, validation_primers
from jukebox.layout import Layout
from jukebox.params import load_params

SETTINGS = ("1.0/1.0", "1.0/0.9", "0.9/0.9", "0.8/0.9", "0.7/0.9", "0.8/1.0")
SEED_OFFSET = 1000


def draw(composer: Composer, val: np.ndarray, project: Path, genre: str, base: Sampling, pieces: int,
         log: logging.Logger) -> dict:
    """Compose `pieces` validation primers chosen by `base.seed` (piece i drawn with seed + i), as the generate stage
    does, and judge them as the evaluate stage does; the figures the benchmarks compare."""
    from jukebox.judging import judge

    primers, _ = validation_primers(val, composer.seq_len, base.seed, pieces)
    composed = composer.compose(primers, [dataclasses.replace(base, seed=base.seed + i) for i in range(pieces)])
    judged = judge(composer, composed, Layout.of(project), genre, base.seed, log)
    return {
        "d8": judged["originality"]["generated"]["distinct_8grams"],
        "d8_held_out": judged["originality"]["held_out"]["distinct_8grams"],
        "copy": judged["originality"]["generated"]["copy_rate"],
        "copy_held_out": judged["originality"]["held_out"]["copy_rate"],
        "realness": judged["realness"]["classifier_accuracy"],
        "stretches": judged["realness"]["stretches"],
        "overlap": judged["music"]["overlap_mean"],
    }


def measure(project: Path, genre: str, settings: list[tuple[float, float]], pieces: int, repeats: int) -> list[dict]:
    """One row per setting: each figure's mean over the repeats, and its range."""
    layout = Layout.of(project)
    params = load_params(layout.params)
    composer = Composer.load(layout.model(genre))
    val = read_npy(layout.val_tokens(genre))
    log = logging.getLogger(f"benchmarks.sampling.{genre}")
    rows = []
    for temperature, top_p in settings:
        runs = [draw(composer, val, project, genre,
                     Sampling.chosen(params, temperature=temperature, top_p=top_p, top_k=0,
                                     seed=params.seed + SEED_OFFSET + repeat), pieces, log)
                for repeat in range(repeats)]
        row = {"genre": genre, "temperature": temperature, "top_p": top_p, "runs": runs}
        for key in runs[0]:
            # A side without two full 32-event stretches has no realness figure (None): nan here.
            values = np.array([np.nan if r[key] is None else r[key] for r in runs], dtype=float)
            row[key] = float(values.mean())
            row[f"{key}_range"] = float(values.max() - values.min())
        rows.append(row)
        print(table_row(row), flush=True)
    return rows


HEADER = (f"{'genre':<10}{'T/top_p':>9}{'d8':>7}{'held':>7}{'gap':>7}{'copy':>7}{'held':>7}{'real':>7}{'±':>6}"
          f"{'stretches':>10}{'overlap':>8}")


def table_row(r: dict) -> str:
    return (f"{r['genre']:<10}{r['temperature']:>5.2f}/{r['top_p']:<3.2f}{r['d8']:>7.3f}{r['d8_held_out']:>7.3f}"
            f"{r['d8'] - r['d8_held_out']:>+7.3f}{r['copy']:>7.3f}{r['copy_held_out']:>7.3f}{r['realness']:>7.3f}"
            f"{r['realness_range'] / 2:>6.3f}{r['stretches']:>10.0f}{r['overlap']:>8.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sampling", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("genres", nargs="*", help="genres to measure (default: every trained genre in params.yaml)")
    parser.add_argument("--project", type=Path, default=Path("."), help="project folder after dvc repro")
    parser.add_argument("--settings", nargs="+", default=SETTINGS, help="temperature/top_p pairs (default: %(default)s)")
    parser.add_argument("--pieces", type=int, default=24, help="pieces composed per setting and repeat")
    parser.add_argument("--repeats", type=int, default=2, help="draws of each setting, each with its own seed")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        settings = [tuple(float(v) for v in s.split("/")) for s in args.settings]
    except ValueError:
        parser.error(f"--settings takes temperature/top_p pairs such as 0.9/0.9, not {args.settings}")
    layout = Layout.of(args.project)
    params = load_params(layout.params)
    genres = args.genres or [g for g in params.genres if (layout.model(g) / "model.keras").is_file()]
    print(f"{args.pieces} pieces of {params.n_notes} notes per setting, {args.repeats} repeats; means over repeats, "
          "± half the range of realness. d8 = distinct 8-grams (gap: samples - held-out), copy = 8-gram copy rate")
    print(HEADER, flush=True)
    rows = [row for genre in genres for row in measure(args.project, genre, settings, args.pieces, args.repeats)]
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()
