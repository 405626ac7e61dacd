"""Notes to tokens and back: one class per encoding behind one interface (base.Encoding), one module per
encoding, chosen by name with get_encoding (docs/guide/encodings.md).

- `pitch` (pitch.py): the 2018 encoding, a pitch name or a normal-order chord per onset, no rhythm.
- `rhythm` (rhythm.py): a token per note with its duration, time shifts between onsets.
- `remi` (remi.py): the key, then bars naming their meter, positions in the bar and the same note tokens.
- `remi_plus` (remi_plus.py): every instrument, drums included, in one stream (MidiTok's REMI with programs), on a
  vocabulary fixed by its settings (docs/design/vocabulary.md).

fixed.py numbers the single-stream encodings' tokens by their settings (`vocabulary: fixed`). The grid, bars and
keys the encodings write are jukebox.bars', which imports nothing from here. The functions below are thin wrappers
that take the encoding's name.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np

from ..bars import Event
from ..midi_io import Meter, Note
from .base import (DURATIONS, END, Encoding, FollowGrammar, Token, by_piece, events_of, group_onsets, piece_tokens,
                   quantize, snap_duration)
from .pitch import PitchEncoding
from .remi import RemiEncoding
from .remi_plus import RemiPlus
from .rhythm import RhythmEncoding

ENCODINGS = ("pitch", "rhythm", "remi", "remi_plus")
_CLASSES = {"pitch": PitchEncoding, "rhythm": RhythmEncoding, "remi": RemiEncoding, "remi_plus": RemiPlus}

# What the rest of the project imports from here; what one encoding alone has (pitch_token, SHIFTS) comes from its
# own module.
__all__ = ["DURATIONS", "END", "ENCODINGS", "Encoding", "FollowGrammar", "Token", "by_piece", "decode", "encode",
           "events_of", "first_notes", "follow_matrix", "get_encoding", "group_onsets", "is_note", "nearest_token",
           "piece_tokens", "quantize", "snap_duration", "transpose_token"]


@lru_cache(maxsize=None)
def get_encoding(name: str) -> Encoding:
    """The encoding called `name` (the `encoding` parameter); ValueError naming the allowed ones otherwise."""
    if name not in _CLASSES:
        raise ValueError(f"unknown encoding {name!r}; the encoding parameter must be one of {ENCODINGS}")
    return _CLASSES[name]()


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
