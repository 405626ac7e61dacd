"""Notes to tokens and back.

Two encodings (README, "Encodings"):

`pitch` is the 2018 encoding: every onset becomes one token, a single note as its pitch name with
octave (`E5`), several notes starting together as their normal-order pitch classes (`4.9`). Rhythm is
dropped: decoding places tokens a fixed `step` apart.

`rhythm` (the default) keeps the rhythm on a grid of twelfths of a quarter note. Every note is one token,
its pitch and its duration (`E5:1/2`, durations snapped to DURATIONS); notes that start together follow
each other; a time-shift token (`+1/2`, values in SHIFTS, several for a long gap) moves to the next onset,
so rests are simply longer shifts. Durations and shifts are written in quarter notes.
"""
from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from itertools import groupby
from typing import Iterable, Sequence

from .midi_io import Note

Event = tuple[float, float, tuple[int, ...]]  # onset, duration, pitches

ENCODINGS = ("pitch", "rhythm")
# Twelfths of a quarter hold both sixteenths (3/12) and eighth-note triplets (4/12), the finest values the
# MIDI reader keeps (music21 quantizes to quarters divided by 4 and by 3).
GRID = Fraction(1, 12)
# Note values a duration snaps to: triplet sixteenth to two whole notes, with the dotted and triplet values
# the corpora use. Longer notes become 8 (a held final chord loses nothing audible).
DURATIONS = tuple(Fraction(v) for v in ("1/6", "1/4", "1/3", "1/2", "2/3", "3/4", "1", "3/2", "2", "5/2", "3",
                                        "4", "6", "8"))
# Time-shift values; a gap is written greedily largest first, and the 1/12 step makes every gap on the grid exact.
SHIFTS = tuple(Fraction(v) for v in ("1/12", "1/6", "1/4", "1/3", "1/2", "2/3", "3/4", "1", "3/2", "2", "3",
                                     "4"))
SHIFT_PREFIX = "+"
# Onsets and durations are rounded like jukebox.midi_io does, so that equality on the grid is exact.
_DIGITS = 4


def _check(encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}; the encoding parameter must be one of {ENCODINGS}")


def group_onsets(notes: Sequence[Note]) -> list[Event]:
    """Merge notes that start together into one event (a chord); duration is the longest note's."""
    events = []
    for onset, group in groupby(sorted(notes), key=lambda n: n[0]):
        group = list(group)
        events.append((onset, max(n[1] for n in group), tuple(sorted({n[2] for n in group}))))
    return events


# --- pitch: the 2018 encoding ------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def pitch_token(pitches: tuple[int, ...]) -> str:
    """The 2018 token of one onset: `E5` for a note, `4.9` (normal order) for a chord."""
    from music21 import chord, pitch

    if len(pitches) == 1:
        return pitch.Pitch(midi=pitches[0]).nameWithOctave
    return ".".join(str(pc) for pc in chord.Chord(list(pitches)).normalOrder)


@lru_cache(maxsize=None)
def token_pitches(token: str) -> tuple[int, ...]:
    """MIDI pitches of a 2018 token; chords, which carry no octave, are voiced upward from middle C."""
    from music21 import pitch

    if token[0].isdigit():
        pcs = [int(pc) for pc in token.split(".")]
        voiced, last = [], -1
        for pc in pcs:
            midi = 60 + pc
            while midi <= last:
                midi += 12
            voiced.append(midi)
            last = midi
        return tuple(voiced)
    return (int(pitch.Pitch(token).midi),)


# --- rhythm: notes with durations, time shifts between onsets ---------------------------------------------

def snap_duration(duration: float) -> Fraction:
    """The nearest value in DURATIONS, nearest on a log scale (a ratio, as the ear hears note values)."""
    if duration <= 0:
        return DURATIONS[0]
    return min(DURATIONS, key=lambda d: abs(math.log2(duration / d)))


def _on_grid(time: float) -> Fraction:
    return Fraction(round(time / GRID), GRID.denominator)


def quantize(notes: Iterable[Note]) -> list[Note]:
    """Notes with onsets on the GRID and durations snapped to DURATIONS, sorted.

    A pitch sounds once at a time, as on one MIDI channel: of notes that start together on one pitch the
    longest stays, and a note that would still sound when its pitch strikes again ends before it (the
    longest value in DURATIONS that fits). Without this a MIDI file could not hold what the tokens say.
    """
    by_pitch: dict[int, dict[Fraction, Fraction]] = {}
    for on, dur, p in notes:
        onsets = by_pitch.setdefault(int(p), {})
        onset, duration = _on_grid(on), snap_duration(dur)
        onsets[onset] = max(duration, onsets.get(onset, duration))
    out = []
    for p, onsets in by_pitch.items():
        times = sorted(onsets)
        for onset, next_onset in zip(times, [*times[1:], None]):
            duration = onsets[onset]
            if next_onset is not None and onset + duration > next_onset:
                fitting = [d for d in DURATIONS if d <= next_onset - onset]
                duration = fitting[-1] if fitting else DURATIONS[0]
            out.append((round(float(onset), _DIGITS), round(float(duration), _DIGITS), p))
    return sorted(out)


def shift_tokens(gap: Fraction) -> list[str]:
    """Time-shift tokens that add up exactly to a gap on the grid, largest first."""
    tokens = []
    while gap > 0:
        value = max(s for s in SHIFTS if s <= gap)
        tokens.append(f"{SHIFT_PREFIX}{value}")
        gap -= value
    return tokens


def is_shift(token: str) -> bool:
    """Whether a rhythm token moves time on rather than sounding a note."""
    return token.startswith(SHIFT_PREFIX)


@lru_cache(maxsize=None)
def parse_rhythm_token(token: str) -> tuple[int | None, Fraction] | None:
    """`(pitch, duration)` of a note token, `(None, shift)` of a shift token, None for anything else (`<unk>`)."""
    from music21 import pitch
    from music21.exceptions21 import Music21Exception

    try:
        if is_shift(token):
            value = Fraction(token[len(SHIFT_PREFIX):])
            return (None, value) if value > 0 else None
        name, _, duration = token.partition(":")
        value = Fraction(duration)
        return (int(pitch.Pitch(name).midi), value) if value > 0 else None
    except (ValueError, ZeroDivisionError, Music21Exception):  # a bad pitch name or duration
        return None


def _rhythm_encode(notes: Sequence[Note]) -> list[str]:
    tokens: list[str] = []
    time = Fraction(0)
    for onset, group in groupby(quantize(notes), key=lambda n: n[0]):
        onset = _on_grid(onset)
        tokens += shift_tokens(onset - time)
        time = onset
        # Lowest note first: with one note per pitch and onset, pitches rise strictly within a chord.
        tokens += [f"{pitch_token((p,))}:{Fraction(d).limit_denominator(GRID.denominator)}"
                   for _, d, p in sorted(group, key=lambda n: n[2])]
    return tokens


def _rhythm_decode(tokens: Sequence[str]) -> list[Event]:
    time = Fraction(0)
    notes = set()
    for token in tokens:
        parsed = parse_rhythm_token(token)
        if parsed is None:
            continue
        pitch, value = parsed
        if pitch is None:
            time += value
        else:
            notes.add((round(float(time), _DIGITS), round(float(value), _DIGITS), pitch))
    # Notes that share onset and duration make one event (a chord); different durations stay separate events.
    return [(on, dur, tuple(p for _, _, p in group))
            for (on, dur), group in groupby(sorted(notes), key=lambda n: (n[0], n[1]))]


# --- both ----------------------------------------------------------------------------------------------------

def encode(notes: Sequence[Note], encoding: str) -> list[str]:
    """Tokens of a piece under an encoding."""
    _check(encoding)
    if encoding == "pitch":
        return [pitch_token(pitches) for _, _, pitches in group_onsets(notes)]
    return _rhythm_encode(notes)


def decode(tokens: Sequence[str], encoding: str, step: float = 0.5) -> list[Event]:
    """Events `(onset, duration, pitches)` from tokens; the 2018 encoding places one token every `step`.

    Tokens that are no note or shift of the encoding (the unknown token) are skipped.
    """
    _check(encoding)
    if encoding == "pitch":
        events, i = [], 0
        for token in tokens:
            if token[:1].isalnum():
                events.append((i * step, step, token_pitches(token)))
                i += 1
        return events
    return _rhythm_decode(tokens)


def follow_matrix(tokens: Sequence[str], encoding: str):
    """Which token may follow which in a well-formed sequence: a (vocab, vocab) 0/1 array, or None (`pitch`).

    `rhythm` writes each onset's notes lowest first and each gap's shifts largest first (only the largest
    shift repeats), so after a note only a higher note or a shift may come, and after a shift only a note
    or a smaller shift. Masking the rest keeps sampling, and argmax above all, out of silent shift loops.
    """
    import numpy as np

    _check(encoding)
    if encoding == "pitch":
        return None
    parsed = [parse_rhythm_token(t) for t in tokens]
    valid = np.array([p is not None for p in parsed])
    shift = np.array([p is not None and p[0] is None for p in parsed])
    note = valid & ~shift
    pitch = np.array([p[0] if p is not None and p[0] is not None else -1 for p in parsed])
    value = np.array([float(p[1]) if p is not None else 0.0 for p in parsed])
    longest = shift & (value == float(SHIFTS[-1]))
    after_note = note[:, None] & ((note[None, :] & (pitch[None, :] > pitch[:, None])) | shift[None, :])
    smaller_shift = shift[None, :] & ((value[None, :] < value[:, None]) | (longest[:, None] & longest[None, :]))
    after_shift = shift[:, None] & (note[None, :] | smaller_shift)
    # Anything may follow a token outside the grammar (the unknown token in a primer).
    return (after_note | after_shift | ~valid[:, None]).astype(np.float64)


def is_note(token: str, encoding: str) -> bool:
    """Whether a token sounds (a note, or a 2018 chord), as opposed to a time shift or the unknown token."""
    if encoding == "pitch":
        return token[:1].isalnum()
    return not is_shift(token) and parse_rhythm_token(token) is not None


def first_notes(tokens: Sequence[str], n_notes: int, encoding: str) -> list[str]:
    """The tokens up to and including the n_notes-th note; all of them if there are fewer notes."""
    seen = 0
    for i, token in enumerate(tokens):
        seen += is_note(token, encoding)
        if seen == n_notes:
            return list(tokens[: i + 1])
    return list(tokens)


def _features(token: str, encoding: str) -> tuple[str, frozenset, float, float] | None:
    """Kind, pitch classes, mean pitch and log2 of the time value of a token, for nearest-token search."""
    if encoding == "pitch":
        if not token[:1].isalnum():
            return None
        pitches = token_pitches(token)
        kind, value = ("note" if len(pitches) == 1 else "chord"), 0.0
    else:
        parsed = parse_rhythm_token(token)
        if parsed is None:
            return None
        pitch, duration = parsed
        kind, pitches, value = ("shift" if pitch is None else "note"), (() if pitch is None else (pitch,)), \
            math.log2(duration)
    mean = sum(pitches) / len(pitches) if pitches else 0.0
    return kind, frozenset(p % 12 for p in pitches), mean, value


def nearest_token(token: str, known: Iterable[str], encoding: str) -> str | None:
    """The known token closest to `token`: same kind, then most shared pitch classes, nearest pitch, nearest value.

    An out-of-range note thus becomes the same note an octave in, and an unusual duration the nearest usual one.
    """
    target = _features(token, encoding)
    if target is None:
        return None
    best, best_cost = None, None
    for candidate in known:
        features = _features(candidate, encoding)
        if features is None or features[0] != target[0]:
            continue
        cost = (len(features[1] ^ target[1]), abs(features[2] - target[2]), abs(features[3] - target[3]), candidate)
        if best_cost is None or cost < best_cost:
            best, best_cost = candidate, cost
    return best
