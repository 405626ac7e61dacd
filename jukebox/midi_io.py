"""MIDI files to note lists and back, through music21: the one place that opens, checks, reads or writes MIDI.

A piece is a list of notes `(onset, duration, pitch)`: onset and duration in quarter notes, pitch as a
MIDI number, sorted by onset then pitch. That plain form is what the parse stage stores and what
every encoding reads. Beside the notes a piece has its meters `[(offset, "3/4"), ...]` (time signatures,
where each starts) and its key (`"D major"`, `"E minor"`), which the bar-aware encoding writes as tokens.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Sequence

Note = tuple[float, float, int]
Meter = tuple[float, str]  # offset in quarter notes, time signature as "3/4"

MIDI_HEADER = b"MThd"
DEFAULT_METER = "4/4"  # what MIDI itself assumes when a file has no time signature
# Onsets and durations are rounded so that JSON stays short and equality on the grid is exact.
_DIGITS = 4


class Music(NamedTuple):
    """What the pipeline reads from one MIDI file: its notes, its meters and its key."""

    notes: list[Note]
    meters: list[Meter]
    key: str


def _q(value) -> float:
    return round(float(value), _DIGITS)


def is_midi(data: bytes) -> bool:
    """Whether bytes start like a standard MIDI file (the MThd header chunk)."""
    return data[:4] == MIDI_HEADER


def check_midi_file(path: str | Path, what: str = "file") -> None:
    """Raise ValueError naming `path` unless it starts with the MIDI header."""
    with open(path, "rb") as f:
        if not is_midi(f.read(4)):
            raise ValueError(f"{path}: the {what} is not a MIDI file (it does not start with the MIDI header "
                             "MThd); choose a .mid file")


def read_midi_events(path: str | Path):
    """The raw MIDI file (music21's MidiFile: tracks of events), read without building a score.

    Raises ValueError naming the file when its events cannot be read.
    """
    from music21 import midi

    file = midi.MidiFile()
    try:
        file.open(str(path))
        file.read()
    except Exception as exc:  # music21 raises several kinds on broken files
        raise ValueError(f"{path}: not a readable MIDI file ({type(exc).__name__}: {exc})") from exc
    finally:
        file.close()
    return file


def _parse_score(path: str | Path):
    from music21 import converter

    try:
        # forceSource: music21's default caches pickles in a shared temp folder (irreproducible, unsafe).
        return converter.parse(str(path), format="midi", forceSource=True)
    except Exception as exc:
        raise ValueError(f"{path}: music21 cannot read it as MIDI ({type(exc).__name__}: {exc})") from exc


def _score_notes(score) -> list[Note]:
    from music21 import chord, note

    notes: list[Note] = []
    # music21 cuts notes at its guessed barlines into tied pieces; stripTies makes each one note again, as in the file.
    # In place: copying the whole score first took half of a file's parse time, for the same notes.
    score.stripTies(inPlace=True)
    for el in score.flatten().notes:
        onset, duration = _q(el.offset), _q(el.quarterLength)
        if isinstance(el, note.Note):
            notes.append((onset, duration, int(el.pitch.midi)))
        elif isinstance(el, chord.Chord):
            notes.extend((onset, duration, int(p.midi)) for p in el.pitches)
    return sorted(set(notes))


def read_notes(path: str | Path) -> list[Note]:
    """All pitched notes of a MIDI file, every part merged, in time order.

    Raises ValueError naming the file when music21 cannot read it.
    """
    return _score_notes(_parse_score(path))


def read_music(path: str | Path) -> Music:
    """Notes, meters and key of a MIDI file (the key from its key signature, else music21's key analysis)."""
    from music21 import key, meter

    score = _parse_score(path)
    notes = _score_notes(score)
    flat = score.flatten()
    at: dict[float, str] = {}
    # Every part repeats the time signatures; one per offset is kept, the first part's.
    for ts in flat.getElementsByClass(meter.TimeSignature):
        at.setdefault(_q(ts.offset), ts.ratioString)
    # A file may restate its meter (at a repeat, a new line); only changes are meters of their own.
    ordered = sorted(at.items())
    meters = [m for i, m in enumerate(ordered) if i == 0 or m[1] != ordered[i - 1][1]]
    signatures = list(flat.getElementsByClass(key.KeySignature))
    if signatures:
        first = signatures[0]
        # A MIDI key signature with its minor flag comes back as a Key; a bare KeySignature is read as major.
        found = first if isinstance(first, key.Key) else first.asKey("major")
    else:
        found = score.analyze("key") if notes else key.Key("C")
    return Music(notes, meters or [(0.0, DEFAULT_METER)], key_name(found.tonic.pitchClass, found.mode))


def key_name(tonic: int, mode: str) -> str:
    """A key as the note streams store it: `D major`, `F# minor` (sharps but for Eb, Ab and Bb)."""
    names = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
    return f"{names[tonic % 12]} {'minor' if mode == 'minor' else 'major'}"


def parse_key(name: str) -> tuple[int, str]:
    """`(tonic pitch class, mode)` of a key written as key_name writes it."""
    from music21 import pitch

    tonic, _, mode = name.partition(" ")
    return int(pitch.Pitch(tonic).pitchClass), ("minor" if mode == "minor" else "major")


def estimate_key(notes: Sequence[Note]) -> str:
    """music21's key analysis (Krumhansl-Schmuckler) of bare notes, for note streams stored without a key."""
    from music21 import note, stream

    part = stream.Stream()
    for onset, duration, p in notes:
        el = note.Note(p)
        el.quarterLength = duration
        part.insert(onset, el)
    found = part.analyze("key")
    return key_name(found.tonic.pitchClass, found.mode)


def played_notes(path: str | Path) -> list[Note]:
    """Every note exactly as a MIDI file plays it, note-on to note-off, all tracks merged, in time order.

    Reads the MIDI events alone (no score: no quantizing, no chords, no ties), so it is fast and exact;
    read_notes is the musical reading the pipeline learns from.
    """
    from music21.midi.translate import getNotesFromEvents, getTimeForEvents

    file = read_midi_events(path)
    tpq = file.ticksPerQuarterNote
    return sorted((_q(n.onTime / tpq), _q((n.offTime - n.onTime) / tpq), int(n.event.pitch))
                  for track in file.tracks for n in getNotesFromEvents(getTimeForEvents(track)))


def played_meters(path: str | Path) -> list[Meter]:
    """The time signatures of a MIDI file from its meta events, `(offset, "3/4")`; 4/4 from 0 when it has none."""
    from music21.midi import MetaEvents

    file = read_midi_events(path)
    at: dict[float, str] = {}
    for track in file.tracks:
        ticks = 0
        for event in track.events:
            if event.isDeltaTime():
                ticks += event.time or 0
            elif event.type == MetaEvents.TIME_SIGNATURE and len(event.data) >= 2:
                # The MIDI meta event holds the numerator and the power of two of the denominator.
                at.setdefault(_q(ticks / file.ticksPerQuarterNote), f"{event.data[0]}/{2 ** event.data[1]}")
    return sorted(at.items()) or [(0.0, DEFAULT_METER)]


def notes_to_stream(events: Sequence[tuple[float, float, Sequence[int]]], program: int = 0, bpm: float = 120.0,
                    meters: Sequence[Meter] = ()):
    """A music21 Score from events `(onset, duration, pitches)`: one pitch makes a note, several a chord.

    `meters` become time signatures where they start, so the MIDI file and a score made from it keep the bar lines.
    """
    from music21 import chord, instrument, meter, note, stream, tempo

    part = stream.Part()
    part.insert(0, instrument.instrumentFromMidiProgram(program))
    part.insert(0, tempo.MetronomeMark(number=bpm))
    for offset, ratio in meters:
        part.insert(offset, meter.TimeSignature(ratio))
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
