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


# --- multi-track pieces: every track with its instrument, drums included ------------------------------------
# General MIDI's percussion channel, 10 (9 counted from 0): its notes are drum keys (36 kick, 38 snare, 42 hi-hat).
DRUM_CHANNEL = 9
DEFAULT_BPM = 120.0  # what MIDI itself assumes when a file has no tempo
WRITE_TPQ = 480  # ticks per quarter note of the files write_tracks writes: twelfths and 1/4 digits stay exact


class TrackNote(NamedTuple):
    """One note of a track: onset and duration in quarter notes, pitch (a drum key on a drum track), velocity."""

    onset: float
    duration: float
    pitch: int
    velocity: int = 80


class Track(NamedTuple):
    """One instrument's notes: its General MIDI program (0-127), and whether it is the drum kit (channel 10)."""

    program: int
    is_drum: bool
    notes: list[TrackNote]
    name: str = ""


class MultiTrack(NamedTuple):
    """A piece as its tracks, its meters `[(offset, "3/4")]` and its first tempo in quarter notes a minute."""

    tracks: list[Track]
    meters: list[Meter]
    bpm: float = DEFAULT_BPM


def _changes(meters: Sequence[Meter]) -> list[Meter]:
    """One meter per offset (the first), and only where it changes; 4/4 from 0 when there is none."""
    at: dict[float, str] = {}
    for offset, ratio in meters:
        at.setdefault(offset, ratio)
    ordered = sorted(at.items())
    return [m for i, m in enumerate(ordered) if i == 0 or m[1] != ordered[i - 1][1]] or [(0.0, DEFAULT_METER)]


def read_tracks(path: str | Path) -> MultiTrack:
    """Every track of a MIDI file with its instrument, read by symusic (C++, no score built): fast and exact.

    Channel 10 reads as the drum track, its notes as General MIDI drum keys. Empty tracks are left out.
    Raises ValueError naming the file when symusic cannot read it.
    """
    import symusic

    try:
        score = symusic.Score(str(path), ttype="tick")
    except Exception as exc:  # symusic raises RuntimeError or ValueError on broken files
        raise ValueError(f"{path}: not a readable MIDI file ({type(exc).__name__}: {exc})") from exc
    return _symusic_tracks(score)


def _symusic_tracks(score) -> MultiTrack:
    tpq = score.ticks_per_quarter
    tracks = []
    for track in score.tracks:
        notes = sorted(TrackNote(_q(n.time / tpq), _q(n.duration / tpq), int(n.pitch), int(n.velocity))
                       for n in track.notes)
        if notes:
            tracks.append(Track(int(track.program), bool(track.is_drum), notes, str(track.name)))
    meters = _changes([(_q(ts.time / tpq), f"{ts.numerator}/{ts.denominator}") for ts in score.time_signatures])
    bpm = round(float(score.tempos[0].qpm), 3) if len(score.tempos) else DEFAULT_BPM
    return MultiTrack(tracks, meters, bpm)


def score_tracks(score) -> MultiTrack:
    """A music21 score (a corpus piece read from ABC, Humdrum or MusicXML) as tracks: one per part, with the part's
    instrument's MIDI program; a percussion part is the drum track, its notes the instrument's drum keys."""
    from music21 import chord, instrument, meter, note, tempo

    score = score.stripTies()
    tracks = []
    for part in score.parts or [score]:
        found = part.getInstrument(returnDefault=True)
        is_drum = isinstance(found, instrument.UnpitchedPercussion) or found.midiChannel == DRUM_CHANNEL
        notes = []
        for el in part.flatten().notes:
            onset, duration = _q(el.offset), _q(el.quarterLength)
            velocity = int(el.volume.velocity or 80) if el.volume.velocityIsRelative is not None else 80
            if isinstance(el, note.Note):
                keys = [int(el.pitch.midi)]
            elif isinstance(el, chord.Chord):
                keys = [int(p.midi) for p in el.pitches]
            else:  # an unpitched hit (or a chord of them): its drum key is its instrument's percussion map pitch
                hits = getattr(el, "notes", None) or [el]
                keys = [int(h.storedInstrument.percMapPitch) for h in hits
                        if getattr(h, "storedInstrument", None) is not None
                        and getattr(h.storedInstrument, "percMapPitch", None) is not None]
            notes.extend(TrackNote(onset, duration, k, velocity) for k in keys)
        if notes:
            program = 0 if is_drum or found.midiProgram is None else int(found.midiProgram)
            tracks.append(Track(program, is_drum, sorted(set(notes)), str(part.partName or "")))
    flat = score.flatten()
    meters = _changes([(_q(ts.offset), ts.ratioString) for ts in flat.getElementsByClass(meter.TimeSignature)])
    marks = list(flat.getElementsByClass(tempo.MetronomeMark))
    bpm = round(float(marks[0].getQuarterBPM()), 3) if marks and marks[0].number else DEFAULT_BPM
    return MultiTrack(tracks, meters, bpm)


def symusic_score(piece: MultiTrack, tpq: int = WRITE_TPQ):
    """The piece as a symusic Score: each track its own, the drum track flagged so that it is written on channel 10,
    the tempo and meters."""
    import symusic

    score = symusic.Score(tpq)
    score.tempos.append(symusic.Tempo(0, float(piece.bpm)))
    for offset, ratio in piece.meters:
        numerator, _, denominator = ratio.partition("/")
        score.time_signatures.append(symusic.TimeSignature(_ticks(offset, tpq), int(numerator), int(denominator)))
    for track in piece.tracks:
        # Voices of one instrument stay tracks of their own (a chorale's four parts); a drum track's program is 0.
        out = symusic.Track(name=track.name, program=0 if track.is_drum else track.program, is_drum=track.is_drum)
        for n in sorted(track.notes):
            out.notes.append(symusic.Note(_ticks(n.onset, tpq), max(1, _ticks(n.duration, tpq)), int(n.pitch),
                                          int(n.velocity)))
        score.tracks.append(out)
    return score


def from_symusic(score) -> MultiTrack:
    """A symusic Score (as MidiTok decodes one) as a multi-track piece."""
    return _symusic_tracks(score)


def tracks_midi(piece: MultiTrack) -> bytes:
    """MIDI bytes of a multi-track piece: one MIDI track per track, drums on channel 10, pitched tracks never."""
    return symusic_score(piece).dumps_midi()


def write_tracks(piece: MultiTrack, path: str | Path) -> None:
    """Write a multi-track piece as a MIDI file, atomically (tracks_midi)."""
    from .artifacts import write_bytes

    write_bytes(path, tracks_midi(piece))


def _ticks(quarters: float, tpq: int = WRITE_TPQ) -> int:
    return int(round(quarters * tpq))


def worker_context():
    """The multiprocessing context of every pool that reads music: workers forked from a forkserver.

    Forking the caller itself copies whatever its threads were doing (TensorFlow's, a web server's): a child once
    died in TensorFlow's garbage collection while music21 analysed a key.
    """
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["jukebox.midi_io", "music21.converter", "music21.midi.translate"])
    return context
