"""`rhythm`: the rhythm on a grid of twelfths of a quarter note (jukebox.bars.GRID). Every note is one token, its
pitch and its duration (`E5:1/2`, durations snapped to DURATIONS); notes that start together follow each other; a
time-shift token (`+1/2`, values in SHIFTS, several for a long gap) moves to the next onset, so rests are simply
longer shifts. Durations and shifts are written in quarter notes."""
from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from itertools import groupby

import numpy as np

from ..bars import Event, on_grid
from .base import DIGITS, Encoding, Token, events_of, note_text, parse_note, quantize, token_table

# Time-shift values; a gap is written greedily largest first, and the 1/12 step makes every gap on the grid exact.
SHIFTS = tuple(Fraction(v) for v in ("1/12", "1/6", "1/4", "1/3", "1/2", "2/3", "3/4", "1", "3/2", "2", "3",
                                     "4"))
SHIFT_PREFIX = "+"


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


class RhythmEncoding(Encoding):
    """Notes with durations, time shifts between onsets."""

    name = "rhythm"

    def _parse(self, token: str) -> Token | None:
        return _parse_rhythm(token)

    def encode(self, notes, meters=(), key=None) -> list[str]:
        tokens: list[str] = []
        time = Fraction(0)
        for onset, group in groupby(quantize(notes), key=lambda n: n[0]):
            onset = on_grid(onset)
            tokens += shift_tokens(onset - time)
            time = onset
            # Lowest note first: with one note per pitch and onset, pitches rise strictly within a chord.
            tokens += [note_text(p, Fraction(d)) for _, d, p in sorted(group, key=lambda n: n[2])]
        return tokens

    def decode(self, tokens, step=0.5) -> list[Event]:
        time = ends = Fraction(0)  # ends: when the last note sounding so far stops
        notes = set()
        for token in tokens:
            parsed = self.parse(token)
            if parsed is None:
                continue
            if parsed.kind == "shift":
                time += parsed.value
            elif parsed.kind == "end":  # the next piece begins on the first whole beat after this one's notes end
                time = Fraction(math.ceil(max(time, ends)))
            else:
                ends = max(ends, time + parsed.value)
                notes.add((round(float(time), DIGITS), round(float(parsed.value), DIGITS), parsed.pitches[0]))
        return events_of(notes)

    def follow(self, tokens):
        """After a note a higher note, a shift or a piece's end; after a shift a note or a smaller shift (only the
        largest repeats); after a piece's end a note or a shift.

        `rhythm` writes each onset's notes lowest first and each gap's shifts largest first, so masking the rest
        keeps sampling, and argmax above all, out of silent shift loops.
        """
        kinds, pitch, value = token_table([self.parse(t) for t in tokens])
        note, shift, end, valid = kinds == "note", kinds == "shift", kinds == "end", kinds != ""
        longest = shift & (value == float(SHIFTS[-1]))
        higher = note[None, :] & (pitch[None, :] > pitch[:, None])
        after_note = note[:, None] & (higher | shift[None, :] | end[None, :])
        smaller = shift[None, :] & ((value[None, :] < value[:, None]) | (longest[:, None] & longest[None, :]))
        after_shift = shift[:, None] & (note[None, :] | smaller)
        after_end = end[:, None] & (note | shift)[None, :]
        # Anything may follow a token outside the grammar (the unknown token in a primer).
        return (after_note | after_shift | after_end | ~valid[:, None]).astype(np.float64)


@lru_cache(maxsize=None)
def _parse_rhythm(token: str) -> Token | None:
    if is_shift(token):
        try:
            value = Fraction(token[len(SHIFT_PREFIX):])
        except (ValueError, ZeroDivisionError):
            return None
        return Token("shift", (), value) if value > 0 else None
    return parse_note(token)
