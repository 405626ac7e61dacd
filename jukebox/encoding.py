"""Notes to tokens and back: one class per encoding behind one interface, chosen by name with get_encoding.

Three encodings (README, "Encodings"):

`pitch` is the 2018 encoding: every onset becomes one token, a single note as its pitch name with
octave (`E5`), several notes starting together as their normal-order pitch classes (`4.9`). Rhythm is
dropped: decoding places tokens a fixed `step` apart.

`rhythm` keeps the rhythm on a grid of twelfths of a quarter note. Every note is one token,
its pitch and its duration (`E5:1/2`, durations snapped to DURATIONS); notes that start together follow
each other; a time-shift token (`+1/2`, values in SHIFTS, several for a long gap) moves to the next onset,
so rests are simply longer shifts. Durations and shifts are written in quarter notes.

`remi` (jukebox/bars.py) writes bars, positions in the bar, meters and the key around the same note tokens.

`remi_plus` (jukebox/encodings/remi_plus.py) is every instrument, drums included, in one stream (MidiTok's REMI
with programs), on a vocabulary fixed by its settings (docs/design/vocabulary.md).

Every encoding has `name`, `encode`, `decode`, `meters`, `is_note`, `follow` (the grammar mask), `transpose`,
`nearest` and `features`; the module-level functions below are thin wrappers that take the encoding's name.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from itertools import groupby
from typing import Iterable, Sequence

import numpy as np

from .midi_io import Meter, Note

Event = tuple[float, float, tuple[int, ...]]  # onset, duration, pitches

ENCODINGS = ("pitch", "rhythm", "remi", "remi_plus")
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
# Closes every piece of a training stream (stages/sequences.py): a model learns where a piece ends and the next
# begins, in its own key, instead of reading two pieces as one; a sample may compose it and go on with a new piece.
END = "<end>"
MIDI_RANGE = range(128)
# Onsets and durations are rounded like jukebox.midi_io does, so that equality on the grid is exact.
_DIGITS = 4


@dataclass(frozen=True)
class Token:
    """A token read: its kind (note, chord, shift, bar, position, meter, key), pitches and value.

    `value` is a note's duration, a shift's length or a position in the bar (quarter notes), a meter's bar
    length; `text` is what a meter or key token names (`6/8`, `Bm`).
    """

    kind: str
    pitches: tuple[int, ...] = ()
    value: Fraction = Fraction(0)
    text: str = ""


_END = Token("end")


def group_onsets(notes: Sequence[Note]) -> list[Event]:
    """Merge notes that start together into one event (a chord); duration is the longest note's."""
    events = []
    for onset, group in groupby(sorted(notes), key=lambda n: n[0]):
        group = list(group)
        events.append((onset, max(n[1] for n in group), tuple(sorted({n[2] for n in group}))))
    return events


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


def snap_duration(duration: float) -> Fraction:
    """The nearest value in DURATIONS, nearest on a log scale (a ratio, as the ear hears note values)."""
    if duration <= 0:
        return DURATIONS[0]
    return min(DURATIONS, key=lambda d: abs(math.log2(duration / d)))


def on_grid(time: float) -> Fraction:
    """A time in quarter notes as the nearest multiple of GRID, exactly."""
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
        onset, duration = on_grid(on), snap_duration(dur)
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


def transpose_notes(notes: Iterable[Note], semitones: int) -> list[Note]:
    """Notes moved by semitones; a note pushed out of the MIDI range moves by octaves back into it."""
    out = []
    for onset, duration, p in notes:
        p += semitones
        while p not in MIDI_RANGE:
            p += 12 if p < 0 else -12
        out.append((onset, duration, p))
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


def note_text(pitch: int, duration: Fraction) -> str:
    """The token of one note with its duration: `E5:1/2`."""
    return f"{pitch_token((pitch,))}:{Fraction(duration).limit_denominator(GRID.denominator)}"


@lru_cache(maxsize=None)
def parse_note(token: str) -> Token | None:
    """`E5:1/2` as a note Token; None when it is no note token (a bad pitch name or duration)."""
    from music21 import pitch
    from music21.exceptions21 import Music21Exception

    name, sep, duration = token.partition(":")
    if not sep or not name[:1].isalpha():
        return None
    try:
        value, midi = Fraction(duration), int(pitch.Pitch(name).midi)
    except (ValueError, ZeroDivisionError, Music21Exception):
        return None
    return Token("note", (midi,), value) if value > 0 and midi in MIDI_RANGE else None


class Encoding:
    """The interface every encoding fills; the shared parts work from `parse`."""

    name = ""
    has_grammar = True

    def parse(self, token: str) -> Token | None:
        """The typed record of a token, None for anything outside the encoding (the unknown token)."""
        return _END if token == END else self._parse(token)

    def _parse(self, token: str) -> Token | None:
        raise NotImplementedError

    def encode(self, notes: Sequence[Note], meters: Sequence[Meter] = (), key: str | None = None) -> list[str]:
        """Tokens of a piece; encodings without bars or keys ignore `meters` and `key`."""
        raise NotImplementedError

    def decode(self, tokens: Sequence[str], step: float = 0.5) -> list[Event]:
        """Events `(onset, duration, pitches)` from tokens; tokens outside the encoding are skipped."""
        raise NotImplementedError

    def meters(self, tokens: Sequence[str]) -> list[Meter]:
        """Time signatures the tokens carry, `(offset, "3/4")`; none unless the encoding writes bars."""
        return []

    def follow(self, tokens: Sequence[str]) -> np.ndarray | None:
        """Which token may follow which: a (vocab, vocab) 0/1 array, or None for no grammar."""
        return None

    def grammar(self, tokens: Sequence[str]) -> "FollowGrammar | None":
        """The rules sampling applies (jukebox.generation.ComposingLoop), or None for no grammar.

        The follow matrix itself for encodings whose grammar the previous token decides; `remi`'s also remembers
        where each sample is in its bar (jukebox.bars.BarGrammar).
        """
        follow = self.follow(tokens)
        return None if follow is None else FollowGrammar(follow)

    def is_note(self, token: str) -> bool:
        """Whether a token sounds (a note or a chord), as opposed to a shift, bar, position or unknown token."""
        parsed = self.parse(token)
        return parsed is not None and parsed.kind in ("note", "chord")

    def transpose(self, token: str, semitones: int) -> str | None:
        """The token moved by semitones; None when it would leave the MIDI range; tokens without pitch unchanged."""
        parsed = self.parse(token)
        if parsed is None or not parsed.pitches or not semitones:
            return token
        pitches = tuple(p + semitones for p in parsed.pitches)
        if any(p not in MIDI_RANGE for p in pitches):
            return None
        return self._pitched(parsed, pitches)

    def _pitched(self, parsed: Token, pitches: tuple[int, ...]) -> str:
        return note_text(pitches[0], parsed.value)

    def features(self, token: str) -> tuple[str, frozenset, float, float] | None:
        """Kind, pitch classes, mean pitch and a time value (log2 of a duration or shift) of a token."""
        parsed = self.parse(token)
        if parsed is None:
            return None
        pitches = parsed.pitches
        mean = sum(pitches) / len(pitches) if pitches else 0.0
        timed = parsed.kind in ("note", "shift") and parsed.value > 0  # a 2018 note has no duration
        value = math.log2(parsed.value) if timed else float(parsed.value)
        return parsed.kind, frozenset(p % 12 for p in pitches), mean, value

    def nearest(self, token: str, known: Iterable[str]) -> str | None:
        """The known token closest to `token`: same kind, then most shared pitch classes, nearest pitch, nearest value.

        An out-of-range note thus becomes the same note an octave in, and an unusual duration the nearest usual one.
        """
        target = self.features(token)
        if target is None:
            return None
        best, best_cost = None, None
        for candidate in known:
            features = self.features(candidate)
            if features is None or features[0] != target[0]:
                continue
            cost = (len(features[1] ^ target[1]), abs(features[2] - target[2]), abs(features[3] - target[3]),
                    candidate)
            if best_cost is None or cost < best_cost:
                best, best_cost = candidate, cost
        return best

    def first_notes(self, tokens: Sequence[str], n_notes: int) -> list[str]:
        """The tokens up to and including the n_notes-th note; all of them if there are fewer notes."""
        seen = 0
        for i, token in enumerate(tokens):
            seen += self.is_note(token)
            if seen == n_notes:
                return list(tokens[: i + 1])
        return list(tokens)


class PitchEncoding(Encoding):
    """The 2018 encoding: one token per onset, no rhythm."""

    name = "pitch"
    has_grammar = False

    def _parse(self, token: str) -> Token | None:
        if not token[:1].isalnum():
            return None
        pitches = token_pitches(token)
        return Token("note" if len(pitches) == 1 else "chord", pitches)

    def encode(self, notes, meters=(), key=None) -> list[str]:
        return [pitch_token(pitches) for _, _, pitches in group_onsets(notes)]

    def decode(self, tokens, step=0.5) -> list[Event]:
        # A piece's end is a step of silence before the next piece.
        events = [None if t == END else token_pitches(t) for t in tokens if t == END or t[:1].isalnum()]
        return [(i * step, step, pitches) for i, pitches in enumerate(events) if pitches]

    def _pitched(self, parsed, pitches) -> str:
        return pitch_token(pitches)


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
                notes.add((round(float(time), _DIGITS), round(float(parsed.value), _DIGITS), parsed.pitches[0]))
        return events_of(notes)

    def follow(self, tokens):
        """After a note a higher note, a shift or a piece's end; after a shift a note or a smaller shift (only the
        largest repeats); after a piece's end a note or a shift.

        `rhythm` writes each onset's notes lowest first and each gap's shifts largest first, so masking the rest
        keeps sampling, and argmax above all, out of silent shift loops.
        """
        kinds, pitch, value = _table([self.parse(t) for t in tokens])
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


def by_piece(tokens: Sequence[str]) -> list[list[str]]:
    """The pieces of a token list, cut at each END (END itself dropped); empty pieces are left out."""
    pieces, current = [], []
    for token in [*tokens, END]:
        if token != END:
            current.append(token)
        elif current:
            pieces.append(current)
            current = []
    return pieces


def events_of(notes: Iterable[Note]) -> list[Event]:
    """Notes that share onset and duration as one event (a chord); different durations stay separate events."""
    return [(on, dur, tuple(p for _, _, p in group))
            for (on, dur), group in groupby(sorted(notes), key=lambda n: (n[0], n[1]))]


def _table(parsed: Sequence[Token | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kind ('' for none), lowest pitch (-1 for none) and value of each parsed token, as arrays for the masks."""
    kinds = np.array([p.kind if p else "" for p in parsed], dtype=object)
    pitch = np.array([p.pitches[0] if p and p.pitches else -1 for p in parsed])
    value = np.array([float(p.value) if p else 0.0 for p in parsed])
    return kinds, pitch, value


class FollowGrammar:
    """A grammar the previous token decides: `mask(state, previous ids)` -> (rows of the follow matrix, state).

    The interface of every grammar sampling applies: `state(primers)` is each sample's memory after its primer
    window but its last token (here none), and `mask` takes the previous token ids of a batch, in TensorFlow ops,
    eagerly or inside the compiled composing loop.
    """

    def __init__(self, follow: np.ndarray):
        self.follow = follow.astype(np.float32)

    def state(self, primers: np.ndarray) -> tuple:
        return ()

    def mask(self, state: tuple, previous):
        import tensorflow as tf

        return tf.gather(self.follow, previous), state


@lru_cache(maxsize=None)
def get_encoding(name: str) -> Encoding:
    """The encoding called `name` (the `encoding` parameter); ValueError naming the allowed ones otherwise."""
    from .bars import RemiEncoding
    from .encodings.remi_plus import RemiPlus

    classes = {"pitch": PitchEncoding, "rhythm": RhythmEncoding, "remi": RemiEncoding, "remi_plus": RemiPlus}
    if name not in classes:
        raise ValueError(f"unknown encoding {name!r}; the encoding parameter must be one of {ENCODINGS}")
    return classes[name]()


# --- the interface by name, for callers that hold the encoding's name --------------------------------------

def encode(notes: Sequence[Note], encoding: str, meters: Sequence[Meter] = (), key: str | None = None) -> list[str]:
    """Tokens of a piece under an encoding."""
    return get_encoding(encoding).encode(notes, meters, key)


def decode(tokens: Sequence[str], encoding: str, step: float = 0.5) -> list[Event]:
    """Events `(onset, duration, pitches)` from tokens; the 2018 encoding places one token every `step`."""
    return get_encoding(encoding).decode(tokens, step)


def follow_matrix(tokens: Sequence[str], encoding: str) -> np.ndarray | None:
    """Which token may follow which in a well-formed sequence: a (vocab, vocab) 0/1 array, or None (`pitch`)."""
    return get_encoding(encoding).follow(tokens)


def is_note(token: str, encoding: str) -> bool:
    """Whether a token sounds (a note, or a 2018 chord), as opposed to a time shift or the unknown token."""
    return get_encoding(encoding).is_note(token)


def first_notes(tokens: Sequence[str], n_notes: int, encoding: str) -> list[str]:
    """The tokens up to and including the n_notes-th note; all of them if there are fewer notes."""
    return get_encoding(encoding).first_notes(tokens, n_notes)


def nearest_token(token: str, known: Iterable[str], encoding: str) -> str | None:
    """The known token closest to `token` (Encoding.nearest)."""
    return get_encoding(encoding).nearest(token, known)


def transpose_token(token: str, semitones: int, encoding: str) -> str | None:
    """A token moved by semitones (Encoding.transpose): None out of range, tokens without pitch unchanged."""
    return get_encoding(encoding).transpose(token, semitones)
