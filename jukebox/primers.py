"""A primer: the opening of a MIDI file whose first notes start a composed piece, read and made a window.

Only a primer's opening seq_len tokens are used, so only its opening is read: each track is cut before music21
builds a score. A multi-track genre reads every track with its instrument instead, as its parse stage does. The web
app runs read_primer in a time-limited process pool (jukebox/web/composing.py, PrimerReader); what it hands back is
a record like the parse stage's, which primer_of makes the window the model continues.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .bars import key_shift
from .encodings import END, piece_tokens

log = logging.getLogger(__name__)
SHOWN_SWAPS = 8  # swapped tokens a log line names; the rest are counted


def opening_notes(midi_path: str | Path, max_notes: int) -> list[tuple[float, float, int]]:
    """The notes of a MIDI file's opening (opening_music's notes)."""
    return opening_music(midi_path, max_notes)[0]


def opening_music(midi_path: str | Path, max_notes: int, scratch: str | Path | None = None) -> tuple[list, list, str]:
    """Notes, meters and key of a MIDI file's opening: each track cut after its first `max_notes` note-ons (and
    their note-offs). Plain tuples, so that a pool's worker process can hand them back.

    A primer only lends its opening seq_len tokens, so this is all of it the model reads, and music21 builds a
    score of at most max_notes notes per track however long the file. Raises ValueError naming the file when it
    is no MIDI file, cannot be read, or is absurd (the parse stage's caps on tracks and length).
    The cut opening is written to `scratch`, a folder the caller made and removes (a reader process killed at its
    time limit removes nothing), else to a temporary folder of its own.
    """
    import tempfile
    from contextlib import nullcontext

    from music21 import midi
    from music21.midi.translate import getTimeForEvents

    from .midi_io import check_midi_file, read_midi_events, read_music
    from .parsing import MAX_QUARTERS, MAX_TRACKS

    check_midi_file(midi_path, "primer")
    file = read_midi_events(midi_path)
    if len(file.tracks) > MAX_TRACKS:
        raise ValueError(f"{midi_path}: the primer is too big to read: {len(file.tracks)} tracks, more than "
                         f"{MAX_TRACKS}; choose a shorter MIDI file")
    if file.ticksPerQuarterNote <= 0:
        raise ValueError(f"{midi_path}: the primer is too big to read: 0 ticks per quarter note, its times cannot "
                         "be read; choose another MIDI file")
    end = 0
    for track in file.tracks:
        kept, started, sounding = [], 0, set()
        for time, event in getTimeForEvents(track):
            if event.isNoteOn():
                if started == max_notes:
                    continue
                started += 1
                sounding.add((event.channel, event.pitch))
            elif event.isNoteOff():
                if started == max_notes and (event.channel, event.pitch) not in sounding:
                    continue
                sounding.discard((event.channel, event.pitch))
            elif started == max_notes:
                continue  # past the cut only the open notes' endings matter
            kept.append((time, event))
            if started == max_notes and not sounding:
                break
        events, previous = [], 0
        for time, event in kept:
            events += [midi.DeltaTime(track, time=time - previous), event]
            previous = time
        track.events = events
        end = max(end, previous)
    if end / file.ticksPerQuarterNote > MAX_QUARTERS:
        quarters = end / file.ticksPerQuarterNote
        raise ValueError(f"{midi_path}: the primer is too big to read: its opening is {quarters:.0f} "
                         f"quarter notes long, more than {MAX_QUARTERS}; choose a shorter MIDI file")
    with tempfile.TemporaryDirectory(prefix="jukebox-primer-") if scratch is None else nullcontext(scratch) as tmp:
        opening = Path(tmp) / "opening.mid"
        opening.write_bytes(file.writestr())
        try:
            music = read_music(opening)
        except ValueError as exc:
            raise ValueError(str(exc).replace(str(opening), str(midi_path))) from None
    return list(music.notes), list(music.meters), music.key


def read_primer(midi_path: str | Path, max_notes: int, tracks: bool = False, scratch: str | Path | None = None) -> dict:
    """A primer as the parse stage records a piece: the `notes`, `meters` and `key` of its opening (opening_music),
    or with `tracks` (a multi-track encoding) the whole file's tracks, each with its instrument, as
    parsing.read_piece_tracks reads them. Plain data, so that a pool's worker can hand it back.

    Raises ValueError naming the file when it is no MIDI file, cannot be read or is too big.
    """
    if tracks:
        from .midi_io import check_midi_file
        from .parsing import read_piece_tracks

        check_midi_file(midi_path, "primer")
        record = read_piece_tracks(midi_path)
        if record["status"] != "kept":
            raise ValueError(f"{midi_path}: the primer cannot be used: {record['reason']}; choose another MIDI file")
        return record
    notes, meters, key = opening_music(midi_path, max_notes, scratch)
    return {"notes": [list(n) for n in notes], "meters": [list(m) for m in meters], "key": key}


def primer_tokens(composer, record: dict, where: str | Path) -> tuple[list[str], dict[str, str | None]]:
    """The opening seq_len tokens of a single-stream primer record in a genre's vocabulary and key mode, and the
    swaps that took (logged): a token the genre never had (a note out of its range, an odd duration) becomes the
    nearest known token (None: none of its kind, dropped).

    Raises ValueError naming `where` when the primer has no notes, or none the genre can match.
    """
    if not record["notes"]:
        raise ValueError(f"{where}: the primer has no notes (no pitched notes); choose a MIDI file with notes in it")
    tokens = piece_tokens(composer.encoder, record, composer.key_mode)[: composer.seq_len]
    known = composer.vocab.tokens[1:]
    swaps = {t: composer.encoder.nearest(t, known) for t in dict.fromkeys(tokens) if t not in known}
    tokens = [swaps.get(t, t) for t in tokens if swaps.get(t, t) is not None]
    if not any(composer.encoder.is_note(t) for t in tokens):
        raise ValueError(f"{where}: none of the primer's notes can be matched to this genre's vocabulary "
                         f"({len(known)} tokens, {composer.encoding} encoding); choose another primer or genre")
    if swaps:
        shown = ", ".join(f"{t} -> {s or 'dropped'}" for t, s in list(swaps.items())[:SHOWN_SWAPS])
        log.warning("primer %s: %d distinct tokens are not in this genre's vocabulary (%s encoding); using the "
                    "nearest known ones: %s%s", where, len(swaps), composer.encoding, shown,
                    ", ..." if len(swaps) > SHOWN_SWAPS else "")
    return tokens, swaps


def primer_track_tokens(composer, record: dict, where: str | Path) -> list[str]:
    """The opening seq_len tokens of a multi-track primer record, every track with its instrument, in a genre's key
    mode. Nothing is swapped: the encoding's fixed vocabulary holds every token of its grid, and what falls outside
    the grid is left out when the piece is encoded.

    Raises ValueError naming `where` when no note is left.
    """
    from .encodings.base import record_piece

    tokens, _ = composer.encoder.encode_piece(record_piece(record, composer.key_mode))
    tokens = [t for t in tokens[: composer.seq_len] if t in composer.vocab.tokens]
    if not any(composer.encoder.is_note(t) for t in tokens):
        raise ValueError(f"{where}: the primer has no notes the {composer.encoding} encoding can hold; choose a "
                         "MIDI file with notes in it")
    return tokens


def primer_window(composer, tokens: list[str]) -> np.ndarray:
    """A primer window (seq_len ids) ending with `tokens`, where the new music begins; a primer shorter than the
    window is repeated so that it still ends the window."""
    # The primer is a piece's opening: after END, where the model learnt that pieces begin.
    ids = composer.vocab.ids([END, *tokens] if END in composer.vocab.tokens else tokens)
    return np.tile(ids, -(-composer.seq_len // len(ids)))[-composer.seq_len :]


def primer_of(composer, record: dict, where: str | Path) -> tuple[np.ndarray, int]:
    """The window of a primer record (read_primer's, with tracks for a multi-track encoding) and the semitones the
    piece must move to be back in the primer's key (key_mode c reads the primer in C, as the genre was learnt)."""
    tokens = (primer_track_tokens(composer, record, where) if composer.multitrack
              else primer_tokens(composer, record, where)[0])
    # The key the window was read by: a single-stream primer's opening's own, not the whole file's.
    shift = key_shift(record["key"]) if composer.key_mode == "c" else 0
    return primer_window(composer, tokens), shift
