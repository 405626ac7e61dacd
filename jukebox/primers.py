"""Reading a primer: the opening of a MIDI file whose first notes start a composed piece.

Only a primer's opening seq_len tokens are used, so only its opening is read: each track is cut before music21
builds a score. The web app runs this in a time-limited process pool (jukebox/web/composing.py, PrimerReader).
"""
from __future__ import annotations

from pathlib import Path


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
