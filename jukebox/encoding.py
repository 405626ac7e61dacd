"""Notes to tokens and back.

`pitch` is the 2018 encoding: every onset becomes one token, a single note as its pitch name with
octave (`E5`), several notes starting together as their normal-order pitch classes (`4.9`). Rhythm is
dropped: decoding places tokens a fixed `step` apart.
"""
from __future__ import annotations

from functools import lru_cache
from itertools import groupby
from typing import Sequence

from .midi_io import Note

Event = tuple[float, float, tuple[int, ...]]  # onset, duration, pitches


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


def encode(notes: Sequence[Note], encoding: str = "pitch") -> list[str]:
    """Tokens of a piece under an encoding."""
    if encoding != "pitch":
        raise ValueError(f"unknown encoding {encoding!r}")
    return [pitch_token(pitches) for _, _, pitches in group_onsets(notes)]


def decode(tokens: Sequence[str], encoding: str = "pitch", step: float = 0.5) -> list[Event]:
    """Events `(onset, duration, pitches)` from tokens; the 2018 encoding places one token every `step`."""
    if encoding != "pitch":
        raise ValueError(f"unknown encoding {encoding!r}")
    return [(i * step, step, token_pitches(t)) for i, t in enumerate(tokens)]
