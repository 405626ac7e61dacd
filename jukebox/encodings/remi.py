"""`remi`, the bar-aware encoding (REMI, Huang & Yang 2020), and the grammar that keeps its bars whole.

A piece becomes its key (`K:D`, `K:Bm`), then bar after bar: a bar token that names the meter (`Bar:6/8`),
and for each onset in the bar its position from the bar line (`@3/2`, quarter notes on the rhythm grid)
followed by its notes, lowest first, as the rhythm encoding writes them (`D5:1/2`). docs/guide/encodings.md
says why the bar token carries the meter (every window of the model sees its meter; the grammar can keep
positions inside the bar after it) and what the grammar can and cannot enforce. The bars, beats and keys
themselves are jukebox.bars'.
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from itertools import groupby
from typing import Sequence

import numpy as np

from ..bars import Event, bar_length, bar_lines, on_grid, transpose_key
from ..midi_io import DEFAULT_METER, Meter, Note, parse_key
from .base import Encoding, Token, events_of, note_text, parse_note, quantize, token_table

BAR, POSITION, KEY = "Bar:", "@", "K:"
TONICS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def key_token(key: str) -> str:
    """The token of a key: `K:D` for D major, `K:Bm` for B minor."""
    tonic, mode = parse_key(key)
    return f"{KEY}{TONICS[tonic]}{'m' if mode == 'minor' else ''}"


class RemiEncoding(Encoding):
    """Key, bars with their meter, positions in the bar, notes with durations (REMI, Huang & Yang 2020)."""

    name = "remi"

    def _parse(self, token: str) -> Token | None:
        return _parse_remi(token)

    def encode(self, notes: Sequence[Note], meters: Sequence[Meter] = (), key: str | None = None) -> list[str]:
        notes = quantize(notes)
        tokens = [key_token(key)] if key else []
        if not notes:
            return tokens
        onsets = [(on_grid(onset), list(group)) for onset, group in groupby(notes, key=lambda n: n[0])]
        bars = bar_lines(meters, float(onsets[-1][0]))
        i = 0
        for start, meter in bars:
            tokens.append(f"{BAR}{meter}")
            end = start + bar_length(meter)
            while i < len(onsets) and onsets[i][0] < end:
                onset, group = onsets[i]
                tokens.append(f"{POSITION}{onset - start}")
                tokens += [note_text(p, Fraction(d)) for _, d, p in sorted(group, key=lambda n: n[2])]
                i += 1
        return tokens

    def _walk(self, tokens: Sequence[str]):
        """(token, parsed, bar start, meter, position) for every token, time kept as decode keeps it."""
        start, length, meter, position = None, bar_length(DEFAULT_METER), DEFAULT_METER, Fraction(0)
        headless = False  # notes before the first bar token: a sample continuing its primer's bar
        for token in tokens:
            parsed = self.parse(token)
            if parsed is not None and parsed.kind == "bar":
                # The bar a sample starts inside is taken to be a whole bar of the first meter it names.
                start = (parsed.value if headless else Fraction(0)) if start is None else start + length
                length, meter, position = parsed.value, parsed.text, Fraction(0)
            elif parsed is not None and parsed.kind == "position":
                position = parsed.value
                headless = headless or start is None
            yield token, parsed, start or Fraction(0), meter, position

    def decode(self, tokens: Sequence[str], step: float = 0.5) -> list[Event]:
        notes = {(round(float(start + position), 4), round(float(parsed.value), 4), parsed.pitches[0])
                 for _, parsed, start, _, position in self._walk(tokens) if parsed and parsed.kind == "note"}
        return events_of(notes)

    def meters(self, tokens: Sequence[str]) -> list[Meter]:
        found, last = [], None
        for _, parsed, start, meter, _ in self._walk(tokens):
            if parsed is not None and parsed.kind == "bar" and meter != last:
                found.append((float(start) if found else 0.0, meter))
                last = meter
        return found

    def follow(self, tokens: Sequence[str]) -> np.ndarray:
        """The grammar a previous token can decide (docs/guide/encodings.md).

        A key opens a piece and is followed by a bar; a bar by a position inside it or by the next bar (a bar of
        rest); a position by a note; a note by a higher note of the same onset, a later position than the bar's
        first (@0), a bar or the piece's end; the end by the next piece's key or bar. A note does not know its
        position, so that positions rise within a bar and stay inside it after a note needs memory: BarGrammar,
        which sampling uses.
        """
        parsed = [self.parse(t) for t in tokens]
        kinds, pitch, value = token_table(parsed)
        note, bar, position, valid = kinds == "note", kinds == "bar", kinds == "position", kinds != ""
        end = kinds == "end"
        after_key = (kinds == "key")[:, None] & bar[None, :]
        after_end = end[:, None] & ((kinds == "key") | bar)[None, :]
        after_bar = bar[:, None] & (bar[None, :] | (position[None, :] & (value[None, :] < value[:, None])))
        after_position = position[:, None] & note[None, :]
        higher = note[None, :] & (pitch[None, :] > pitch[:, None])
        after_note = note[:, None] & (higher | bar[None, :] | end[None, :] | (position[None, :] & (value[None, :] > 0)))
        # Anything may follow a token outside the grammar (the unknown token in a primer).
        return (after_key | after_bar | after_position | after_note | after_end | ~valid[:, None]).astype(np.float64)

    def grammar(self, tokens: Sequence[str]) -> "BarGrammar":
        return BarGrammar(self, tokens)

    def transpose(self, token: str, semitones: int) -> str | None:
        parsed = self.parse(token)
        if parsed is not None and parsed.kind == "key":
            return key_token(transpose_key(parsed.text, semitones))
        return super().transpose(token, semitones)


class BarGrammar:
    """The remi grammar with a memory of where each sample is in its bar, for sampling (FollowGrammar's interface).

    Its state is each sample's bar length and last position; `mask` allows a position only after the last one
    and inside the bar, so every bar it writes holds exactly its meter. `state(primers)` reads where each sample
    begins from its primer window.
    """

    def __init__(self, encoding: "RemiEncoding", tokens: Sequence[str]):
        self.follow = encoding.follow(tokens).astype(np.float32)
        kinds, _, self.value = token_table([encoding.parse(t) for t in tokens])
        self.bar, self.position = kinds == "bar", kinds == "position"

    def state(self, primers: np.ndarray, allowed=None, asked=None) -> tuple[np.ndarray, np.ndarray]:
        primers = np.asarray(primers)
        length = np.full(len(primers), np.inf)  # inf: no bar token seen yet, so no bound
        last = np.full(len(primers), -1.0)  # the last position in the current bar; -1 before the first
        for column in primers[:, :-1].T:  # the window's last token arrives with the first mask
            length = np.where(self.bar[column], self.value[column], length)
            last = np.where(self.bar[column], -1.0, np.where(self.position[column], self.value[column], last))
        return length, last

    def mask(self, state, previous):
        import tensorflow as tf

        length, last = state
        bar, position, value = (tf.gather(table, previous) for table in (self.bar, self.position, self.value))
        length = tf.where(bar, value, length)
        last = tf.where(bar, tf.constant(-1.0, tf.float64), tf.where(position, value, last))
        late = (self.value[None, :] <= last[:, None]) | (self.value[None, :] >= length[:, None])
        mask = tf.where(self.position[None, :] & late, 0.0, tf.gather(self.follow, previous))
        return mask, (length, last)


def bar_report(tokens: Sequence[str]) -> tuple[int, int]:
    """(complete bars, well-formed ones) of remi tokens: a bar is complete when the next bar token closes it,
    well formed when its positions rise and stay inside its meter, so that it holds exactly the meter's length."""
    bars = well = 0
    length, last, ok = None, None, True
    for token in tokens:
        parsed = _parse_remi(token)
        if parsed is None:
            continue
        if parsed.kind == "bar":
            if length is not None:
                bars, well = bars + 1, well + ok
            length, last, ok = parsed.value, None, True
        elif parsed.kind == "position" and length is not None:
            ok = ok and parsed.value < length and (last is None or parsed.value > last)
            last = parsed.value
    return bars, well


@lru_cache(maxsize=None)
def _parse_remi(token: str) -> Token | None:
    from music21.exceptions21 import Music21Exception

    try:
        if token.startswith(BAR):
            meter = token[len(BAR):]
            return Token("bar", (), bar_length(meter), meter)
        if token.startswith(POSITION):
            value = Fraction(token[len(POSITION):])
            return Token("position", (), value) if value >= 0 else None
        if token.startswith(KEY):
            name = token[len(KEY):]
            minor = name.endswith("m")
            key = f"{name[:-1] if minor else name} {'minor' if minor else 'major'}"
            tonic, _ = parse_key(key)
            return Token("key", (tonic,), Fraction(0), key)
    except (ValueError, ZeroDivisionError, Music21Exception):  # a bad meter, position or key name
        return None
    return parse_note(token)
