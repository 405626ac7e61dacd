"""What every encoding shares: the Encoding interface, the token record, note tokens with durations, and the
follow-matrix grammar; no encoding of its own."""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from itertools import groupby
from typing import Iterable, Sequence

import numpy as np

from ..bars import GRID, MIDI_RANGE, Event, key_shift, on_grid, piece_notes
from ..midi_io import DEFAULT_BPM, Meter, MultiTrack, Note, Track, TrackNote, estimate_key

# Note values a duration snaps to: triplet sixteenth to two whole notes, with the dotted and triplet values
# the corpora use. Longer notes become 8 (a held final chord loses nothing audible).
DURATIONS = tuple(Fraction(v) for v in ("1/6", "1/4", "1/3", "1/2", "2/3", "3/4", "1", "3/2", "2", "5/2", "3",
                                        "4", "6", "8"))
# Closes every piece of a training stream (stages/sequences.py): a model learns where a piece ends and the next
# begins, in its own key, instead of reading two pieces as one; a sample may compose it and go on with a new piece.
END = "<end>"
# Onsets and durations are rounded like jukebox.midi_io does, so that equality on the grid is exact.
DIGITS = 4


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
def pitch_name(pitch: int) -> str:
    """A MIDI pitch as its name with octave: `E5`."""
    from music21 import pitch as m21pitch

    return m21pitch.Pitch(midi=pitch).nameWithOctave


def snap_duration(duration: float) -> Fraction:
    """The nearest value in DURATIONS, nearest on a log scale (a ratio, as the ear hears note values)."""
    if duration <= 0:
        return DURATIONS[0]
    return min(DURATIONS, key=lambda d: abs(math.log2(duration / d)))


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
            out.append((round(float(onset), DIGITS), round(float(duration), DIGITS), p))
    return sorted(out)


def note_text(pitch: int, duration: Fraction) -> str:
    """The token of one note with its duration: `E5:1/2`."""
    return f"{pitch_name(pitch)}:{Fraction(duration).limit_denominator(GRID.denominator)}"


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
    multitrack = False  # whether a piece's tracks keep their instruments (encode_piece, decode_piece)
    end = END  # the token that closes a piece in a training stream

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
        where each sample is in its bar (jukebox.encodings.remi.BarGrammar).
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

    def encode_record(self, record: dict, key_mode: str) -> tuple[list[str], Counter]:
        """Tokens of a parse record (data/notes/<genre>/pieces.jsonl) and counts by kind of what the encoding could
        not hold (empty where the vocabulary counts that afterwards: jukebox.encodings.fixed.outside_grid)."""
        return piece_tokens(self, record, key_mode), Counter()

    def continued(self, primer: Sequence[str], tokens: Sequence[str]) -> list[str]:
        """A composed piece's tokens as they decode alone: a multi-track encoding prepends what of its primer it
        still needs (the instrument of the notes it opens with)."""
        return list(tokens)

    def first_notes(self, tokens: Sequence[str], n_notes: int) -> list[str]:
        """The tokens up to and including the n_notes-th note; all of them if there are fewer notes."""
        seen = 0
        for i, token in enumerate(tokens):
            seen += self.is_note(token)
            if seen == n_notes:
                return list(tokens[: i + 1])
        return list(tokens)


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


def token_table(parsed: Sequence[Token | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kind ('' for none), lowest pitch (-1 for none) and value of each parsed token, as arrays for the masks."""
    kinds = np.array([p.kind if p else "" for p in parsed], dtype=object)
    pitch = np.array([p.pitches[0] if p and p.pitches else -1 for p in parsed])
    value = np.array([float(p.value) if p else 0.0 for p in parsed])
    return kinds, pitch, value


class FollowGrammar:
    """A grammar the previous token decides: `mask(state, previous ids)` -> (rows of the follow matrix, state).

    The interface of every grammar sampling applies: `state(primers, allowed, asked)` is each sample's memory after
    its primer window but its last token (here none; `allowed` is each row's mask of tokens, `asked` whether the row
    asked for instruments), and `mask` takes the previous token ids of a batch, in TensorFlow ops, eagerly or inside
    the compiled composing loop.
    """

    def __init__(self, follow: np.ndarray):
        self.follow = follow.astype(np.float32)

    def state(self, primers: np.ndarray, allowed=None, asked=None) -> tuple:
        return ()

    def mask(self, state: tuple, previous):
        import tensorflow as tf

        return tf.gather(self.follow, previous), state


def piece_tokens(encoding: Encoding, record: dict, key_mode: str) -> list[str]:
    """Tokens of one note-stream record under an encoding and key_mode; records written before meters were
    parsed read as 4/4."""
    notes, key = piece_notes(record, key_mode, find_key=encoding.name == "remi")
    meters = [tuple(m) for m in record.get("meters", ())]
    return encoding.encode(notes, meters, key)


# --- pieces of tracks: what the multi-track encodings (rhythm with instruments, remi_plus) read -------------
def merged_piece(notes, meters=(), program: int = 0, bpm: float = DEFAULT_BPM) -> MultiTrack:
    """A single-stream piece (a merged record's notes) as one track of `program`: old records read this way."""
    track = Track(program, False, [TrackNote(float(on), float(dur), int(p)) for on, dur, p in notes])
    return MultiTrack([track], [tuple(m) for m in meters] or [(0.0, "4/4")], bpm)


def record_piece(record: dict, key_mode: str = "keep") -> MultiTrack:
    """A parse record (data/notes/<genre>/pieces.jsonl) as tracks: a format-3 record's own tracks, an older one's
    merged notes as one program-0 track; under key_mode c pitched tracks move to C major / A minor, drums stay."""
    meters = [tuple(m) for m in record.get("meters", ())] or [(0.0, "4/4")]
    if "tracks" not in record:
        piece = merged_piece(record["notes"], meters, bpm=record.get("bpm", DEFAULT_BPM))
    else:
        tracks = [Track(t["program"], t["is_drum"], [TrackNote(*n) for n in t["notes"]], t.get("name", ""))
                  for t in record["tracks"]]
        piece = MultiTrack(tracks, meters, record.get("bpm", DEFAULT_BPM))
    if key_mode != "c":
        return piece
    notes = [tuple(n) for n in record["notes"]]
    shift = key_shift(record.get("key") or estimate_key(notes))
    return piece._replace(tracks=[t if t.is_drum else t._replace(notes=moved_notes(t.notes, shift)) for t in piece.tracks])


def moved_notes(notes: list[TrackNote], semitones: int) -> list[TrackNote]:
    # As jukebox.bars.transpose_notes: a note pushed out of the MIDI range moves by octaves back into it.
    out = []
    for n in notes:
        p = n.pitch + semitones
        while not 0 <= p <= 127:
            p += 12 if p < 0 else -12
        out.append(n._replace(pitch=p))
    return sorted(out)
