"""Realness: can a plain classifier tell generated stretches of music from real ones?

A classifier two-sample test (Lopez-Paz & Oquab, "Revisiting classifier two-sample tests", ICLR 2017): every
stretch of 32 events becomes a vector of musical features (pitch classes, melodic intervals, note values,
repetition, range), a logistic regression learns to tell generated stretches from real ones, and its accuracy
on stretches it was not trained on says how different the two are: 0.5 = it cannot tell them apart, 1 = always.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .bars import Event
from .evaluation import SEGMENT, distinct_ngram_ratio, pitch_class_histogram, rhythm_histogram, stretches

FOLDS = 5
Z95 = 1.959963984540054  # the normal quantile of a two-sided 95% interval
# Melodic intervals (semitones, between the top notes of consecutive events) by how a musician hears them:
# repeat, step (1-2), skip (3-4), leap (5-7), large leap (8-11), octave or more; up and down apart.
INTERVAL_EDGES = np.array([-np.inf, -11.5, -7.5, -4.5, -2.5, -0.5, 0.5, 2.5, 4.5, 7.5, 11.5, np.inf])
REPEAT_ORDERS = (2, 3, 4)  # distinct n-gram ratios: how much a stretch restates itself, note for note and in shape


def stretch_vector(stretch: Sequence[Event]) -> np.ndarray:
    """Features of one stretch of events: pitch-class, interval, note-value and inter-onset histograms, distinct
    2/3/4-gram ratios of its events and of its intervals, pitch range, mean pitch, mean leap and chord share."""
    pitches = np.array([p for _, _, ps in stretch for p in ps], dtype=np.int64)
    top = np.array([max(ps) for _, _, ps in stretch], dtype=float)  # the melody: the highest note of each event
    intervals = np.diff(top)
    onsets = np.array([onset for onset, _, _ in stretch], dtype=float)
    gaps = np.diff(onsets)
    gaps = gaps[gaps > 0]  # notes of one onset with different lengths are separate events, zero apart
    # Events and intervals as small ints, so repeats can be counted as n-grams.
    events = _symbols([(duration, ps) for _, duration, ps in stretch])
    shapes = _symbols(intervals.tolist())
    return np.concatenate([
        pitch_class_histogram([stretch]),
        np.histogram(intervals, INTERVAL_EDGES)[0] / max(len(intervals), 1),
        rhythm_histogram([duration for _, duration, _ in stretch]),
        rhythm_histogram(gaps),
        [distinct_ngram_ratio(events, n) for n in REPEAT_ORDERS],
        [distinct_ngram_ratio(shapes, n) for n in REPEAT_ORDERS],
        [pitches.max() - pitches.min(), pitches.mean(), np.abs(intervals).mean() if len(intervals) else 0.0,
         np.mean([len(ps) > 1 for _, _, ps in stretch])],
    ])


def _symbols(items: Sequence) -> np.ndarray:
    index: dict = {}
    return np.array([index.setdefault(item, len(index)) for item in items], dtype=np.int64)


def pieces_to_stretches(pieces: Sequence[Sequence[Event]], length: int = SEGMENT,
                        piece_features: Sequence[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows of every full stretch of `length` events (a shorter end is dropped), and each row's piece;
    `piece_features` (one vector per piece, e.g. its instruments' shares of notes) are added to its every row."""
    rows, piece_of = [], []
    for i, events in enumerate(pieces):
        for stretch in stretches([e for e in events if e[2]], length):
            if len(stretch) == length:
                row = stretch_vector(stretch)
                rows.append(row if piece_features is None else np.concatenate([row, piece_features[i]]))
                piece_of.append(i)
    return np.array(rows, dtype=float) if rows else np.zeros((0, 0)), np.array(piece_of, dtype=np.int64)


def realness(generated: Sequence[Sequence[Event]], real: Sequence[Sequence[Event]], seed: int,
             length: int = SEGMENT, instruments: tuple[Sequence[np.ndarray], Sequence[np.ndarray]] | None = None
             ) -> dict:
    """Cross-validated accuracy of a logistic regression telling generated stretches from real ones.

    The larger side is subsampled (seeded) to the smaller one's number of stretches, so 0.5 is chance.
    Folds keep each piece's stretches together when both sides have at least two pieces, so the classifier
    must recognise generated music, not the one sample (its key, its motifs) it saw in training.
    `classifier_accuracy` is None when a side has fewer than two full stretches; `low` and `high` bound it with
    95% confidence (Wilson's interval over the held-out predictions, one per stretch of either side). `instruments`:
    per piece of each side, features of its instruments (jukebox.instruments.family_shares) added to its stretches' rows.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    extra_gen, extra_ref = instruments or (None, None)
    (gen, gen_piece), (ref, ref_piece) = (pieces_to_stretches(generated, length, extra_gen),
                                          pieces_to_stretches(real, length, extra_ref))
    n = min(len(gen), len(ref))
    result = {"classifier_accuracy": None, "low": None, "high": None, "stretches": n, "folds": 0,
              "grouped_by_piece": False}
    if instruments is not None:
        result["instrument_features"] = True
    if n < 2:
        return result
    keep_gen, keep_ref = np.sort(rng.permutation(len(gen))[:n]), np.sort(rng.permutation(len(ref))[:n])
    x = np.concatenate([gen[keep_gen], ref[keep_ref]])
    y = np.repeat([1, 0], n)
    groups = np.concatenate([gen_piece[keep_gen], ref_piece[keep_ref] + len(generated)])
    fewest_pieces = min(len(np.unique(gen_piece[keep_gen])), len(np.unique(ref_piece[keep_ref])))
    state = int(rng.integers(2**31))
    grouped = fewest_pieces >= 2
    if grouped:
        folds = StratifiedGroupKFold(n_splits=min(FOLDS, fewest_pieces), shuffle=True, random_state=state)
    else:  # one sample only (a tiny run): its stretches must share the folds
        folds = StratifiedKFold(n_splits=min(FOLDS, n), shuffle=True, random_state=state)
    # Balanced class weights: grouped folds are not exactly balanced, and a classifier leaning to the majority
    # of its training folds would score below chance on the test fold rather than at it.
    classifier = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000))
    predicted = cross_val_predict(classifier, x, y, groups=groups if grouped else None, cv=folds)
    right = int(np.sum(predicted == y))
    low, high = wilson_interval(right, len(y))
    result.update(classifier_accuracy=right / len(y), low=low, high=high, folds=folds.get_n_splits(),
                  grouped_by_piece=grouped)
    return result


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a proportion (95% with the default z): unlike the normal approximation it stays
    inside [0, 1] and keeps its coverage at the few hundred predictions a genre's realness test makes."""
    if trials <= 0:
        raise ValueError("a proportion needs at least one trial")
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))
