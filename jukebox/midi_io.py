"""MIDI files to note lists and back, through music21.

A piece is a list of notes `(onset, duration, pitch)`: onset and duration in quarter notes, pitch as a
MIDI number, sorted by onset then pitch. That plain form is what the parse stage stores and what
every encoding reads.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

Note = tuple[float, float, int]

# Onsets and durations are rounded so that JSON stays short and equality on the grid is exact.
_DIGITS = 4


def _q(value) -> float:
    return round(float(value), _DIGITS)


def read_notes(path: str | Path) -> list[Note]:
    """All pitched notes of a MIDI file, every part merged, in time order.

    Raises ValueError naming the file when music21 cannot read it.
    """
    from music21 import chord, converter, note

    try:
        # forceSource: music21's default caches pickles in a shared temp folder (irreproducible, unsafe).
        score = converter.parse(str(path), format="midi", forceSource=True)
    except Exception as exc:
        raise ValueError(f"{path}: music21 cannot read it as MIDI ({type(exc).__name__}: {exc})") from exc
    notes: list[Note] = []
    # music21 cuts notes at its guessed barlines into tied pieces; stripTies makes each one note again, as in the file.
    for el in score.stripTies().flatten().notes:
        onset, duration = _q(el.offset), _q(el.quarterLength)
        if isinstance(el, note.Note):
            notes.append((onset, duration, int(el.pitch.midi)))
        elif isinstance(el, chord.Chord):
            notes.extend((onset, duration, int(p.midi)) for p in el.pitches)
    return sorted(set(notes))


def played_notes(path: str | Path) -> list[Note]:
    """Every note exactly as a MIDI file plays it, note-on to note-off, all tracks merged, in time order.

    Reads the MIDI events alone (no score: no quantizing, no chords, no ties), so it is fast and exact;
    read_notes is the musical reading the pipeline learns from.
    """
    from music21 import midi
    from music21.midi.translate import getNotesFromEvents, getTimeForEvents

    file = midi.MidiFile()
    try:
        file.open(str(path))
        file.read()
    except Exception as exc:
        raise ValueError(f"{path}: not a readable MIDI file ({type(exc).__name__}: {exc})") from exc
    finally:
        file.close()
    tpq = file.ticksPerQuarterNote
    return sorted((_q(n.onTime / tpq), _q((n.offTime - n.onTime) / tpq), int(n.event.pitch))
                  for track in file.tracks for n in getNotesFromEvents(getTimeForEvents(track)))


def notes_to_stream(events: Sequence[tuple[float, float, Sequence[int]]], program: int = 0, bpm: float = 120.0):
    """A music21 Score from events `(onset, duration, pitches)`: one pitch makes a note, several a chord."""
    from music21 import chord, instrument, note, stream, tempo

    part = stream.Part()
    part.insert(0, instrument.instrumentFromMidiProgram(program))
    part.insert(0, tempo.MetronomeMark(number=bpm))
    for onset, duration, pitches in events:
        if len(pitches) == 1:
            el = note.Note(pitches[0])
        else:
            el = chord.Chord(sorted(pitches))
        el.quarterLength = duration
        part.insert(onset, el)
    score = stream.Score()
    score.insert(0, part)
    return score


def write_midi(score, path: str | Path) -> None:
    """Write a music21 stream as a MIDI file, atomically."""
    from music21 import midi

    from .artifacts import write_bytes

    write_bytes(path, midi.translate.music21ObjectToMidiFile(score).writestr())
