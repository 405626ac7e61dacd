"""`rhythm`: the rhythm on a grid of twelfths of a quarter note (jukebox.bars.GRID). Every note is one token, its
pitch and its duration (`E5:1/2`, durations snapped to DURATIONS); notes that start together follow each other; a
time-shift token (`+1/2`, values in SHIFTS, several for a long gap) moves to the next onset, so rests are simply
longer shifts. Durations and shifts are written in quarter notes.

Instruments (a genre with `instruments: keep`): a `Program_40` token says which instrument plays the pitched notes
after it, written only where the instrument changes, and a drum hit is its own token, `Drum_36` (a General MIDI
drum key; the kit rings by itself, so a hit carries no length and is written a sixteenth long). One instrument thus
costs one token a piece, and a merged stream (`instruments: merge`) has none at all: its tokens are the same as
before instruments existed. At an onset the drums come first, then each instrument in program order, its notes
lowest first. A drum key is never a pitch nor a pitch a drum key: they are different tokens.
"""
from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction
from functools import lru_cache
from itertools import groupby

import numpy as np

from ..bars import Event, on_grid
from ..midi_io import DEFAULT_BPM, MultiTrack, Track, TrackNote
from .base import (DIGITS, Encoding, FollowGrammar, Token, events_of, note_text, parse_note, piece_tokens, quantize,
                   record_piece, token_table)

# Time-shift values; a gap is written greedily largest first, and the 1/12 step makes every gap on the grid exact.
SHIFTS = tuple(Fraction(v) for v in ("1/12", "1/6", "1/4", "1/3", "1/2", "2/3", "3/4", "1", "3/2", "2", "3",
                                     "4"))
SHIFT_PREFIX = "+"
PROGRAM, DRUM = "Program_", "Drum_"
DRUM_LOW, DRUM_HIGH = 27, 87  # General MIDI's drum keys (high Q to open surdo), as remi_plus's
DRUM_LENGTH = Fraction(1, 4)
DRUM_PROGRAM = -1  # the kit, in MidiTok's numbering (jukebox.instruments)


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
    multitrack = True

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
        """The pitched notes of every instrument as one stream (drum hits are no pitches)."""
        notes = {note for program, note in self._notes(tokens) if program != DRUM_PROGRAM}
        return events_of(notes)

    def _notes(self, tokens, program: int = 0):
        """(program, (onset, duration, pitch)) of every note and hit; pitched notes before any Program_ token play
        `program`."""
        time = ends = Fraction(0)  # ends: when the last note sounding so far stops
        for token in tokens:
            parsed = self.parse(token)
            if parsed is None:
                continue
            if parsed.kind == "shift":
                time += parsed.value
            elif parsed.kind == "end":  # the next piece begins on the first whole beat after this one's notes end
                time = Fraction(math.ceil(max(time, ends)))
            elif parsed.kind == "program":
                program = int(parsed.text)
            else:
                ends = max(ends, time + parsed.value)
                key = parsed.pitches[0] if parsed.kind == "note" else int(parsed.text)
                yield (program if parsed.kind == "note" else DRUM_PROGRAM,
                       (round(float(time), DIGITS), round(float(parsed.value), DIGITS), key))

    # --- pieces of tracks (instruments: keep) ----------------------------------------------------------------
    def encode_record(self, record, key_mode):
        # A merged record (instruments: merge) has no tracks: its tokens stay those of one stream, no Program_ token.
        if "tracks" not in record:
            return piece_tokens(self, record, key_mode), Counter()
        return self.encode_piece(record_piece(record, key_mode))

    def encode_piece(self, piece: MultiTrack) -> tuple[list[str], Counter]:
        """The tokens of a multi-track piece (its meters are not rhythm's to write), and nothing counted outside:
        a pitch or drum key beyond the vocabulary's range is a token the vocabulary counts (fixed.outside_grid)."""
        onsets: dict[Fraction, list[tuple[int, int, str]]] = {}
        for track in piece.tracks:
            if track.is_drum:
                for onset, key in sorted({(on_grid(n.onset), n.pitch) for n in track.notes}):
                    onsets.setdefault(onset, []).append((DRUM_PROGRAM, key, f"{DRUM}{key}"))
            else:
                for onset, duration, pitch in quantize((n.onset, n.duration, n.pitch) for n in track.notes):
                    onsets.setdefault(on_grid(onset), []).append(
                        (track.program, pitch, note_text(pitch, Fraction(duration))))
        tokens: list[str] = []
        time, playing = Fraction(0), None
        for onset in sorted(onsets):
            tokens += shift_tokens(onset - time)
            time = onset
            for program, _, text in sorted(set(onsets[onset])):
                if program != DRUM_PROGRAM and program != playing:
                    tokens.append(f"{PROGRAM}{program}")
                    playing = program
                tokens.append(text)
        return tokens, Counter()

    def decode_piece(self, tokens, bpm: float = DEFAULT_BPM, program: int = 0) -> MultiTrack:
        """Tracks from tokens, one per instrument and the drums; pitched notes before any Program_ token play
        `program` (a genre's own, for a merged stream or a window that begins after its instrument was named)."""
        tracks: dict[int, set] = {}
        for played, note in self._notes(tokens, program):
            tracks.setdefault(played, set()).add(note)
        return MultiTrack([Track(p if p != DRUM_PROGRAM else 0, p == DRUM_PROGRAM,
                                 [TrackNote(*n) for n in sorted(notes)]) for p, notes in tracks.items()], [], bpm)

    def continued(self, primer, tokens):
        """The piece opened by its primer's last Program_ token when it plays pitched notes before naming an
        instrument: decoded alone, they would fall to the genre's own."""
        first = next((t for t in tokens if t.startswith(PROGRAM) or self._pitched_note(t)), None)
        program = next((t for t in reversed(list(primer)) if t.startswith(PROGRAM)), None)
        if first is None or first.startswith(PROGRAM) or program is None:
            return list(tokens)
        return [program, *tokens]

    def _pitched_note(self, token: str) -> bool:
        parsed = self.parse(token)
        return parsed is not None and parsed.kind == "note"

    def is_note(self, token: str) -> bool:
        parsed = self.parse(token)
        return parsed is not None and parsed.kind in ("note", "drum")

    def allowed(self, programs, tokens):
        """1 for each token a piece restricted to `programs` (jukebox.instruments.programs_of; -1 the drums) may
        hold, 0 for other instruments' Program_ tokens and, without drums, for the hits; all ones for none."""
        if not programs:
            return np.ones(len(tokens), np.float32)
        return np.array([0.0 if (t.startswith(PROGRAM) and int(t[len(PROGRAM):]) not in programs)
                         or (t.startswith(DRUM) and DRUM_PROGRAM not in programs) else 1.0 for t in tokens],
                        np.float32)

    def grammar(self, tokens):
        return InstrumentGrammar(self, tokens)

    def follow(self, tokens):
        """After a note a higher note, an instrument, a shift or a piece's end; after a hit a higher hit or what may
        follow a note; after an instrument a note; after a shift a note, a hit, an instrument or a smaller shift
        (only the largest repeats); after a piece's end a note, a hit, an instrument or a shift.

        `rhythm` writes each onset's hits and notes lowest first and each gap's shifts largest first, so masking
        the rest keeps sampling, and argmax above all, out of silent shift loops.
        """
        parsed = [self.parse(t) for t in tokens]
        kinds, pitch, value = token_table(parsed)
        key = np.array([int(p.text) if p and p.kind == "drum" else -1 for p in parsed])
        note, shift, end, valid = kinds == "note", kinds == "shift", kinds == "end", kinds != ""
        program, drum = kinds == "program", kinds == "drum"
        longest = shift & (value == float(SHIFTS[-1]))
        higher = note[None, :] & (pitch[None, :] > pitch[:, None])
        after_note = note[:, None] & (higher | (shift | end | program)[None, :])
        after_drum = drum[:, None] & ((drum[None, :] & (key[None, :] > key[:, None])) | (note | shift | end |
                                                                                         program)[None, :])
        after_program = program[:, None] & note[None, :]
        smaller = shift[None, :] & ((value[None, :] < value[:, None]) | (longest[:, None] & longest[None, :]))
        after_shift = shift[:, None] & ((note | drum | program)[None, :] | smaller)
        after_end = end[:, None] & (note | shift | drum | program)[None, :]
        # Anything may follow a token outside the grammar (the unknown token in a primer).
        return (after_note | after_drum | after_program | after_shift | after_end | ~valid[:, None]).astype(np.float64)


class InstrumentGrammar(FollowGrammar):
    """rhythm's follow matrix, plus a memory of each sample's instrument: a sample asked for some instruments plays
    a pitched note only while one of them is named (its last Program_ token, that of its primer window included),
    so a request is honoured even when the primer's instrument is not among them."""

    def __init__(self, encoding: RhythmEncoding, tokens):
        super().__init__(encoding.follow(tokens))
        kinds = np.array([p.kind if p else "" for p in (encoding.parse(t) for t in tokens)])
        self.program, self.note = kinds == "program", kinds == "note"

    def state(self, primers, allowed=None, asked=None):
        primers = np.asarray(primers)
        ok = np.ones(len(primers), bool) if asked is None else ~np.asarray(asked, bool)  # asked: name one first
        allowed = np.ones((len(primers), len(self.program)), np.float32) if allowed is None else allowed
        for column in primers[:, :-1].T:  # the window's last token arrives with the first mask
            ok = np.where(self.program[column], allowed[np.arange(len(primers)), column] > 0, ok)
        return ok, np.asarray(allowed, np.float32)

    def mask(self, state, previous):
        import tensorflow as tf

        ok, allowed = state
        named = tf.gather(allowed, previous[:, None], batch_dims=1)[:, 0] > 0
        ok = tf.where(tf.gather(self.program, previous), named, ok)
        banned = tf.logical_and(tf.constant(self.note)[None, :], tf.logical_not(ok)[:, None])
        mask = tf.where(banned, 0.0, tf.gather(self.follow, previous))
        return mask, (ok, allowed)


@lru_cache(maxsize=None)
def _parse_rhythm(token: str) -> Token | None:
    for prefix, kind, low, high in ((PROGRAM, "program", 0, 127), (DRUM, "drum", DRUM_LOW, DRUM_HIGH)):
        if token.startswith(prefix):
            number = token[len(prefix):]
            if not number.isdigit() or not low <= int(number) <= high:
                return None
            return Token(kind, (), DRUM_LENGTH if kind == "drum" else Fraction(0), number)
    if is_shift(token):
        try:
            value = Fraction(token[len(SHIFT_PREFIX):])
        except (ValueError, ZeroDivisionError):
            return None
        return Token("shift", (), value) if value > 0 else None
    return parse_note(token)
