"""Musical time and keys: the rhythm grid every onset sits on, bars and beats laid on it, keys and transposing.

The encodings (jukebox/encodings/) write their tokens on this grid and `remi` writes these bars and keys; this
module knows nothing of tokens, so everything that measures a piece (evaluate, render, the listening test) can use
it without the encodings.
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np

from .midi_io import DEFAULT_METER, Meter, Note, estimate_key, key_name, parse_key

Event = tuple[float, float, tuple[int, ...]]  # onset, duration, pitches: the notes that start together

# Twelfths of a quarter hold both sixteenths (3/12) and eighth-note triplets (4/12), the finest values the
# MIDI reader keeps (music21 quantizes to quarters divided by 4 and by 3).
GRID = Fraction(1, 12)
MIDI_RANGE = range(128)


def on_grid(time: float) -> Fraction:
    """A time in quarter notes as the nearest multiple of GRID, exactly."""
    return Fraction(round(time / GRID), GRID.denominator)


def transpose_notes(notes: Iterable[Note], semitones: int) -> list[Note]:
    """Notes moved by semitones; a note pushed out of the MIDI range moves by octaves back into it."""
    out = []
    for onset, duration, p in notes:
        p += semitones
        while p not in MIDI_RANGE:
            p += 12 if p < 0 else -12
        out.append((onset, duration, p))
    return sorted(out)


@lru_cache(maxsize=None)
def bar_length(meter: str) -> Fraction:
    """Quarter notes in a bar of a time signature: `6/8` -> 3; an additive numerator (`2+3/8`) is summed."""
    numerator, _, denominator = meter.partition("/")
    try:
        beats = sum(int(n) for n in numerator.split("+"))
        length = Fraction(4 * beats, int(denominator))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"time signature {meter!r} is not of the form 3/4") from None
    if length <= 0:
        raise ValueError(f"time signature {meter!r} has no length")
    return length


def beat_length(meter: str) -> Fraction:
    """The beat of a meter in quarter notes: a dotted quarter in compound meters (6/8, 9/8, 12/8), else 4/denominator."""
    numerator, _, denominator = meter.partition("/")
    unit = Fraction(4, int(denominator))
    beats = sum(int(n) for n in numerator.split("+"))
    return unit * 3 if int(denominator) >= 8 and beats % 3 == 0 and beats > 3 else unit


def bar_lines(meters: Sequence[Meter], end: float) -> list[tuple[Fraction, str]]:
    """`(start, meter)` of every bar up to `end` (quarter notes), bar lines laid from 0 by the meters in force.

    A meter that starts inside a bar takes effect at the next bar line: bars are whole, as a score writes them.
    """
    changes = sorted((on_grid(offset), meter) for offset, meter in meters) or [(Fraction(0), DEFAULT_METER)]
    bars, start = [], Fraction(0)
    while start <= end or not bars:
        meter = next((m for offset, m in reversed(changes) if offset <= start), changes[0][1])
        bars.append((start, meter))
        start += bar_length(meter)
    return bars


def strong_beat_share(events: Sequence[Event], meters: Sequence[Meter] = ()) -> float:
    """Share of onsets that fall on a beat of their bar (beat_length apart from the bar line); 0 without onsets."""
    if not events:
        return 0.0
    bars = bar_lines(meters, max(e[0] for e in events))
    starts = [b[0] for b in bars]
    on_beat = 0
    for onset, _, _ in events:
        onset = on_grid(onset)
        start, meter = bars[np.searchsorted(starts, onset, side="right") - 1]
        on_beat += (onset - start) % beat_length(meter) == 0
    return on_beat / len(events)


def notes_per_bar(events: Sequence[Event], meters: Sequence[Meter] = ()) -> float:
    """Notes (every note of a chord) per bar over the bars the events span."""
    if not events:
        return 0.0
    first, last = min(e[0] for e in events), max(e[0] for e in events)
    starts = [b[0] for b in bar_lines(meters, last)]
    spanned = np.searchsorted(starts, on_grid(last), side="right") - np.searchsorted(starts, on_grid(first),
                                                                                       side="right") + 1
    return sum(len(e[2]) for e in events) / spanned


def key_shift(key: str) -> int:
    """Semitones (-5..6) that take a key to C major, or a minor key to A minor."""
    tonic, mode = parse_key(key)
    target = 9 if mode == "minor" else 0
    return (target - tonic + 5) % 12 - 5


def transpose_key(key: str, semitones: int) -> str:
    """A key moved by semitones: `D major` + 2 = `E major`."""
    tonic, mode = parse_key(key)
    return key_name(tonic + semitones, mode)


def in_c(notes: Sequence[Note], key: str) -> tuple[list[Note], str, int]:
    """Notes and key moved to C major (a minor key to A minor), and the semitones they moved (key_mode c)."""
    shift = key_shift(key)
    return transpose_notes(notes, shift), transpose_key(key, shift), shift


def piece_notes(record: dict, key_mode: str, find_key: bool = False) -> tuple[list[Note], str | None]:
    """Notes and key of one note-stream record (data/notes/<genre>/pieces.jsonl) as a model learns them:
    moved to C major / A minor under key_mode c. Records written before keys were parsed get music21's estimate
    (when key_mode c or `find_key` needs one)."""
    notes = [tuple(n) for n in record["notes"]]
    key = record.get("key") or (estimate_key(notes) if key_mode == "c" or find_key else None)
    if key_mode == "c":
        notes, key, _ = in_c(notes, key)
    return notes, key


