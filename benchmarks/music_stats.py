"""Does the generated music loop, and does it have rhythm? The figures of issue 4's closing note, for any project.

    python -m benchmarks.music_stats [GENRE ...] [--project DIR] [--n-notes N] [--json FILE]

For each genre with a trained model (models/<genre>/), composing from the same validation windows as the
generate stage: the share of distinct 8-grams among the generated tokens at temperature 0 (the 2018 argmax)
and at the sampling settings of params.yaml, and the number of distinct note durations in the generated
pieces against the genre's data (as parsed, and as the encoding's grid keeps it).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path
from typing import Sequence

from jukebox.artifacts import read_jsonl, read_npy
from jukebox.bars import Event
from jukebox.encodings import decode, encode
from jukebox.generation import Composer, Sampling, validation_primers
from jukebox.layout import Layout
from jukebox.params import Params, load_params

NGRAM = 8


def distinct_ngram_fraction(pieces: Sequence[Sequence[str]], n: int = NGRAM) -> float:
    """Distinct n-grams over all n-grams of the pieces: 1 = nothing repeats, near 0 = one loop over and over."""
    grams = [tuple(piece[i : i + n]) for piece in pieces for i in range(len(piece) - n + 1)]
    return len(set(grams)) / len(grams) if grams else math.nan


def distinct_durations(pieces: Sequence[Sequence[Event]]) -> int:
    """How many different note durations the pieces use."""
    return len({duration for piece in pieces for _, duration, _ in piece})


def genre_stats(project: Path, genre: str, params: Params, n_notes: int) -> dict:
    """Distinct 8-grams at temperature 0 and at the configured sampling, and durations used, for one genre."""
    layout = Layout.of(project)
    composer = Composer.load(layout.model(genre))
    val = read_npy(layout.val_tokens(genre))
    primers, _ = validation_primers(val, composer.seq_len, params.seed, params.n_samples)
    sampling = Sampling.chosen(params, n_notes=n_notes)
    greedy = composer.compose(primers, dataclasses.replace(sampling, temperature=0.0))
    sampled = composer.compose(primers, sampling)
    pieces = [[tuple(n) for n in p["notes"]] for p in read_jsonl(layout.pieces(genre))]
    on_grid = [decode(encode(notes, composer.encoding), composer.encoding, composer.step) for notes in pieces]
    return {
        "encoding": composer.encoding,
        "samples": len(primers),
        "n_notes": n_notes,
        "distinct_8grams_t0": distinct_ngram_fraction(greedy),
        "distinct_8grams_sampled": distinct_ngram_fraction(sampled),
        "sampling": {"temperature": params.temperature, "top_k": params.top_k, "top_p": params.top_p},
        "durations_generated_t0": distinct_durations([decode(t, composer.encoding, composer.step) for t in greedy]),
        "durations_generated_sampled": distinct_durations(
            [decode(t, composer.encoding, composer.step) for t in sampled]),
        "durations_data": distinct_durations([[(o, d, (p,)) for o, d, p in notes] for notes in pieces]),
        "durations_data_on_grid": distinct_durations(on_grid),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.music_stats", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("genres", nargs="*", help="genres to measure (default: every trained genre in params.yaml)")
    parser.add_argument("--project", type=Path, default=Path("."), help="project folder (default: current)")
    parser.add_argument("--n-notes", type=int, help="notes per sample (default: n_notes in params.yaml)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    layout = Layout.of(args.project)
    params = load_params(layout.params)
    genres = args.genres or [g for g in params.genres if (layout.model(g) / "model.keras").is_file()]
    stats = {g: genre_stats(args.project, params.genre(g).name, params, args.n_notes or params.n_notes) for g in genres}
    print(f"{'genre':<12}{'encoding':<10}{'8-grams T=0':>12}{'8-grams T':>11}{'durations T=0':>15}"
          f"{'durations T':>13}{'data':>6}{'data on grid':>14}")
    for genre, s in stats.items():
        print(f"{genre:<12}{s['encoding']:<10}{s['distinct_8grams_t0']:>12.3f}{s['distinct_8grams_sampled']:>11.3f}"
              f"{s['durations_generated_t0']:>15}{s['durations_generated_sampled']:>13}{s['durations_data']:>6}"
              f"{s['durations_data_on_grid']:>14}")
    print(f"T = temperature {params.temperature}, top_k {params.top_k}, top_p {params.top_p}")
    if args.json:
        args.json.write_text(json.dumps(stats, indent=2) + "\n")


if __name__ == "__main__":
    main()
