"""Fixed vocabularies of the single-stream encodings: every token id from the encoding's settings, none from the data.

With `vocabulary: fixed` the sequences stage numbers a genre's tokens with these instead of the tokens its pieces
use `min_count` times, so every genre (and a base model trained on the whole corpus, stages/pretrain.py) reads the
same ids: two genres get byte-identical `vocabulary.json` files (docs/design/vocabulary.md).

`rhythm`'s grid is finite: a note token is a pitch in the piano's range and a value of DURATIONS, a shift a value
of SHIFTS, an instrument one of General MIDI's 128 programs, a drum hit one of its drum keys. `<unk>` keeps id 0, as in the data-built vocabulary, and stands for a token outside the grid (a pitch
below A0 or above C8, a drum key outside 27-87); the sequences stage counts those in data.json (`outside_grid`), never silently dropping one.

`pitch` (a token per pitch-class set: 4,083 chord tokens beside the notes, ten times a genre's data vocabulary) and
`remi` (keys and meters of any kind as tokens) have no small grid; they keep the data-built vocabulary for now.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from ..bars import GRID
from ..dataset import UNKNOWN
from ..vocabulary import FixedVocabulary
from . import get_encoding
from .base import DURATIONS, END, note_text
from .rhythm import DRUM, DRUM_HIGH, DRUM_LOW, PROGRAM, SHIFT_PREFIX, SHIFTS

# The piano's range, as remi_plus's: what every default genre plays, and the pitches a MIDI keyboard sounds.
PITCH_LOW, PITCH_HIGH = 21, 108
FIXED = ("rhythm", "remi_plus")  # encodings with a fixed vocabulary


def rhythm_settings(low: int = PITCH_LOW, high: int = PITCH_HIGH) -> dict:
    """What decides `rhythm`'s fixed vocabulary, as plain data for its file."""
    return {"pitch_low": low, "pitch_high": high, "grid": str(GRID), "durations": [str(d) for d in DURATIONS],
            "shifts": [str(s) for s in SHIFTS], "specials": [UNKNOWN, END], "programs": [0, 127],
            "drum_low": DRUM_LOW, "drum_high": DRUM_HIGH}


def fixed_vocabulary(encoding: str) -> FixedVocabulary:
    """The encoding's fixed vocabulary; ValueError naming the encodings that have one otherwise."""
    if encoding == "remi_plus":
        return get_encoding("remi_plus").vocabulary
    if encoding != "rhythm":
        raise ValueError(f"vocabulary: fixed is not available for encoding {encoding!r} (its tokens have no small "
                         f"grid); use one of {FIXED}, or vocabulary: data")
    settings = rhythm_settings()
    shifts = [f"{SHIFT_PREFIX}{s}" for s in SHIFTS]
    notes = [note_text(p, d) for p in range(settings["pitch_low"], settings["pitch_high"] + 1) for d in DURATIONS]
    # Instruments come last: a vocabulary made before them (the shipped base's) is this one's beginning, id for id.
    programs = [f"{PROGRAM}{p}" for p in range(128)]
    drums = [f"{DRUM}{k}" for k in range(DRUM_LOW, DRUM_HIGH + 1)]
    return FixedVocabulary("rhythm", settings, [UNKNOWN, END, *shifts, *notes, *programs, *drums])


def outside_grid(pieces: Iterable[Sequence[str]], vocabulary: FixedVocabulary, encoding: str) -> dict[str, int]:
    """Counts of the tokens of `pieces` that the vocabulary has no id for, by what they are (`pitches_out_of_range`
    for a note beyond the pitch range, `other_tokens` for anything else)."""
    coder, known = get_encoding(encoding), set(vocabulary.tokens)
    def kind(token: str) -> str:
        parsed = coder.parse(token)
        return ("drum_keys_out_of_range" if token.startswith("Drum_") else "pitches_out_of_range"
                if parsed is not None and parsed.kind == "note" else "other_tokens")

    counts = Counter(kind(t) for piece in pieces for t in piece if t not in known)
    return dict(sorted(counts.items()))
