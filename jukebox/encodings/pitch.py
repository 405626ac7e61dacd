"""`pitch`, the 2018 encoding: every onset becomes one token, a single note as its pitch name with octave (`E5`),
several notes starting together as their normal-order pitch classes (`4.9`). Rhythm is dropped: decoding places
tokens a fixed `step` apart."""
from __future__ import annotations

from functools import lru_cache

from ..bars import Event
from .base import END, Encoding, Token, group_onsets, pitch_name


@lru_cache(maxsize=None)
def pitch_token(pitches: tuple[int, ...]) -> str:
    """The 2018 token of one onset: `E5` for a note, `4.9` (normal order) for a chord."""
    from music21 import chord

    if len(pitches) == 1:
        return pitch_name(pitches[0])
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
