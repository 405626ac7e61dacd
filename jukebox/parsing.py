"""Reading a genre's MIDI files into note lists: a process pool over files, and a cache keyed by each file's content.

The cache holds one JSON file per distinct MIDI file, `<folder>/<parser version>/<sha256 of the file>.json`, so
adding ten files to a genre of five hundred parses ten. The parser version is a hash of `midi_io.py`, music21's
version and the record format: changing how notes are read starts a fresh cache instead of serving stale notes.

A bad file never stops the stage: whatever music21 raises on it becomes a skipped record with the reason. A file
beyond the size caps below is skipped before music21 builds its score, and with a time limit every file is parsed
in a worker process that is killed (and replaced) when the file takes longer; neither of those two is cached, so
raising the limit and rerunning tries the file again.
"""
from __future__ import annotations

import json
import logging
import os
import select
import threading
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from tqdm import tqdm

from .artifacts import remove_stale_partials, sha256, write_text
from .midi_io import estimate_key, key_name, read_midi_events, read_music, read_tracks, worker_context

log = logging.getLogger(__name__)

RECORD_FORMAT = 2  # raise when a cached record changes shape (2: meters and key beside the notes)
# Records of genres with `instruments: keep` (3: every track with its instrument, the first tempo, what was dropped;
# 4: voices sharing a program get programs of their own, jukebox.instruments.voice_programs).
# A record without `version` is format 2, and reads as one program-0 track (jukebox.encodings.remi_plus).
TRACKS_FORMAT = 4
# Size caps: music21's time grows faster than a file's length (one note at quarter 16000 takes it 25 s, 64 tracks
# of one late note each take minutes), so absurd files are refused from their events before a score is built.
MAX_TRACKS = 256
MIN_PIECES = 2  # a genre needs one piece to train on and one to validate with (the split is by piece)
MAX_NOTES = 100_000
MAX_QUARTERS = 10_000  # over 80 minutes at 120 quarter notes a minute
# Voices that share one program (a chorale's four parts, all program 0 in the corpus) would be one instrument in a
# REMI+ stream; from the highest voice down they become a string quartet and its ensemble, so that each survives.
VOICE_PROGRAMS = (40, 41, 42, 43, 48, 49, 44, 45)
REASON_CHARS = 300  # music21's messages can quote a whole stream; a reason is one readable line


def parser_version(tracks: "TrackReading | None" = None) -> str:
    """A short hash of everything that decides a file's notes: midi_io.py, music21's version, the record format;
    with `tracks` (genres with `instruments: keep`) also symusic's version and the reading's settings."""
    from importlib.metadata import version

    from . import midi_io

    # The installed version from package metadata: importing music21 would cost a warm run most of its time.
    caps = f"{MAX_TRACKS}|{MAX_NOTES}|{MAX_QUARTERS}"
    fingerprint = Path(midi_io.__file__).read_bytes() + f"|{version('music21')}|{RECORD_FORMAT}|{caps}".encode()
    if tracks is not None:
        fingerprint += f"|{version('symusic')}|{TRACKS_FORMAT}|{tracks.max_tracks}|{tracks.drums}".encode()
    return sha256(fingerprint)[:16]


def size_problem(path: str | Path) -> str:
    """Why a MIDI file is too big to parse in reasonable time ('' when it is not): tracks, notes or length.

    Reads the MIDI events only, which is quick; raises ValueError naming the file when they cannot be read.
    """
    file = read_midi_events(path)
    if len(file.tracks) > MAX_TRACKS:
        return f"{len(file.tracks)} tracks, more than {MAX_TRACKS}"
    notes = sum(event.isNoteOn() for track in file.tracks for event in track.events)
    if notes > MAX_NOTES:
        return f"{notes} notes, more than {MAX_NOTES}"
    if file.ticksPerQuarterNote <= 0:
        return "0 ticks per quarter note: its times cannot be read"
    ticks = max((sum(e.time or 0 for e in track.events if e.isDeltaTime()) for track in file.tracks), default=0)
    if ticks / file.ticksPerQuarterNote > MAX_QUARTERS:
        return f"{ticks / file.ticksPerQuarterNote:.0f} quarter notes long, more than {MAX_QUARTERS}"
    return ""


def read_piece(path: str | Path) -> dict:
    """One file's record: `{"status": "kept", "notes": [...], "meters": [[0.0, "3/4"]], "key": "D major"}` or
    `{"status": "skipped", "reason": ...}`.

    Never raises for a bad file: anything music21 raises on it is this file's fault, and becomes its reason.
    """
    try:
        problem = size_problem(path)
        if problem:
            return {"status": "skipped", "reason": f"{path}: too big to parse: {problem}"}
        music = read_music(path)
    except ValueError as exc:
        return {"status": "skipped", "reason": str(exc)[:REASON_CHARS]}
    except Exception as exc:  # music21 fails on odd files in many ways (IndexError, ZeroDivisionError, ...)
        return {"status": "skipped", "reason": f"{path}: music21 failed on it ({type(exc).__name__}: {exc})"
                                               [:REASON_CHARS]}
    if not music.notes:
        return {"status": "skipped", "reason": "no pitched notes"}
    return {"status": "kept", "notes": [list(n) for n in music.notes], "meters": [list(m) for m in music.meters],
            "key": music.key}


@dataclass(frozen=True)
class TrackReading:
    """How a genre with `instruments: keep` reads its files: at most `max_tracks` tracks, drums or not.

    Called with a path it is the reader parse_files uses in place of read_piece (a picklable object, for the pool).
    """

    max_tracks: int = 16
    drums: bool = True

    def __call__(self, path: str | Path) -> dict:
        return read_piece_tracks(path, self.max_tracks, self.drums)


def read_piece_tracks(path: str | Path, max_tracks: int = 16, drums: bool = True) -> dict:
    """One file's record with its tracks (format 3): the merged pitched `notes`, `meters` and `key` that every
    encoding reads, plus `tracks` (program, is_drum, name, notes as [onset, duration, pitch, velocity]), `bpm`, and
    `dropped`: the tracks beyond `max_tracks` (fewest notes first) and drum notes when `drums` is false, counted.

    Never raises for a bad file: what symusic raises on it becomes its reason.
    """
    try:
        piece = read_tracks(path)
    except ValueError as exc:
        return {"status": "skipped", "reason": str(exc)[:REASON_CHARS]}
    notes = sum(len(t.notes) for t in piece.tracks)
    end = max((n.onset + n.duration for t in piece.tracks for n in t.notes), default=0.0)
    if notes > MAX_NOTES or end > MAX_QUARTERS:
        return {"status": "skipped", "reason": f"{path}: too big: {notes} notes, {end:.0f} quarter notes long "
                                               f"(at most {MAX_NOTES} notes and {MAX_QUARTERS} quarters)"}
    dropped = {"tracks": 0, "notes": 0, "drum_notes": 0}
    tracks = list(piece.tracks)
    if not drums:
        dropped["drum_notes"] = sum(len(t.notes) for t in tracks if t.is_drum)
        tracks = [t for t in tracks if not t.is_drum]
    if len(tracks) > max_tracks:
        # Stable: of tracks with as many notes, the earlier in the file stays.
        keep = sorted(sorted(range(len(tracks)), key=lambda i: -len(tracks[i].notes))[:max_tracks])
        cut = [t for i, t in enumerate(tracks) if i not in keep]
        dropped["tracks"], dropped["notes"] = len(cut), sum(len(t.notes) for t in cut)
        tracks = [tracks[i] for i in keep]
    pitched = sorted({(n.onset, n.duration, n.pitch) for t in tracks if not t.is_drum for n in t.notes})
    if not tracks:
        return {"status": "skipped", "reason": "no notes"}
    return {"status": "kept", "version": TRACKS_FORMAT, "notes": [list(n) for n in pitched],
            "meters": [list(m) for m in piece.meters], "key": _key_of(path, pitched), "bpm": piece.bpm,
            # A remi_plus stream is one instrument per program: voices sharing one (a chorale's four) would merge.
            "tracks": voice_programs([{"program": t.program, "is_drum": t.is_drum, "name": t.name,
                                       "notes": [list(n) for n in t.notes]} for t in tracks]),
            "dropped": dropped}


def voice_programs(tracks: Sequence[dict]) -> list[dict]:
    """Tracks (parse records' dicts) where pitched tracks sharing a program get programs of their own: program 0
    voices (no instrument named, as corpus scores give them) become VOICE_PROGRAMS from the highest voice down,
    others the next free program of their family. Every track keeps its notes; a single track keeps its program."""
    shared = Counter(t["program"] for t in tracks if not t["is_drum"])
    used = {t["program"] for t in tracks if not t["is_drum"]}
    out = [dict(t) for t in tracks]
    for program, count in shared.items():
        if count < 2:
            continue
        voices = sorted((i for i, t in enumerate(out) if not t["is_drum"] and t["program"] == program),
                        key=lambda i: -sum(n[2] for n in out[i]["notes"]) / len(out[i]["notes"]))
        free = [p for p in (VOICE_PROGRAMS if program == 0 else range(program // 8 * 8, program // 8 * 8 + 8))
                if p not in used or p == program]
        if program != 0:
            free = [program] + [p for p in free if p != program]
        for i, new in zip(voices, free):
            out[i]["program"] = new
            used.add(new)
    return out


def _key_of(path, notes) -> str:
    """The file's first key signature, else music21's key analysis of its pitched notes (C major for none)."""
    import symusic

    signatures = symusic.Score(str(path)).key_signatures
    if len(signatures):
        first = signatures[0]
        major_tonic = (7 * int(first.key)) % 12  # a key signature counts sharps (negative: flats) from C major
        minor = int(first.tonality) == 1
        return key_name((major_tonic + 9) % 12 if minor else major_tonic, "minor" if minor else "major")
    return estimate_key(notes) if notes else "C major"


def tracks_summary(pieces: Sequence[dict]) -> dict:
    """What the pieces of a genre with `instruments: keep` hold: tracks, notes by instrument, drum notes, dropped."""
    instruments: Counter = Counter()
    for piece in pieces:
        for track in piece["tracks"]:
            instruments["drums" if track["is_drum"] else f"program {track['program']}"] += len(track["notes"])
    dropped = Counter()
    for piece in pieces:
        dropped.update(piece["dropped"])
    return {"tracks": sum(len(p["tracks"]) for p in pieces), "instruments": dict(sorted(instruments.items())),
            "drum_notes": instruments.get("drums", 0), "dropped": dict(sorted(dropped.items()))}


class NoteCache:
    """Records by file content hash, as JSON files in a folder per parser version (never pickles)."""

    def __init__(self, folder: str | Path, version: str):
        self.folder = Path(folder) / version
        if self.folder.is_dir():
            remove_stale_partials(self.folder)  # what a killed run was writing; the entry itself is parsed again

    def get(self, digest: str) -> dict | None:
        """The cached record, or None when absent or unreadable (it is then parsed and written again)."""
        path = self.folder / f"{digest}.json"
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:
            log.warning("%s: unreadable cache entry, parsing the file again", path)
            return None
        return record if isinstance(record, dict) and record.get("status") in ("kept", "skipped") else None

    def put(self, digest: str, record: dict) -> None:
        """Store a record atomically; a timeout or a dead worker is not the file's verdict, so it is not stored."""
        if record["status"] not in ("kept", "skipped"):
            return
        write_text(self.folder / f"{digest}.json", json.dumps(record, separators=(",", ":")))


def parse_files(paths: Sequence[Path], jobs: int, cache: NoteCache | None = None,
                desc: str = "parse", timeout: float | None = None,
                reader: Callable[[Path], dict] | None = None) -> tuple[list[dict], int]:
    """Records for `paths` in order, each with its `piece` (file name); returns them and how many came from cache.

    Files missing from the cache are parsed by `jobs` processes (1 without a timeout parses here, with no pool).
    With a timeout (seconds per file) a file that takes longer is skipped, status "timeout", and its worker replaced.
    `reader` makes one file's record (read_piece; a TrackReading for genres that keep their instruments).
    """
    # Looked up now, not at import: workers receive the function by name, so it must be the module's current one.
    reader = reader or read_piece
    paths = [Path(p) for p in paths]
    digests = [sha256(p.read_bytes()) for p in paths]
    records: list[dict | None] = [cache.get(d) if cache else None for d in digests]
    todo = [i for i, r in enumerate(records) if r is None]
    todo_paths = [paths[i] for i in todo]
    with tqdm(total=len(todo), desc=desc, unit="file", leave=False) as bar:
        if timeout:
            _collect_within(todo_paths, max(1, min(jobs, len(todo))), timeout, todo, digests, records, cache, bar,
                            reader)
        elif jobs <= 1 or len(todo) <= 1:
            _collect(map(reader, todo_paths), todo, digests, records, cache, bar)
        else:
            with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=worker_context()) as pool:
                # chunksize 1: files differ a lot in size, and one music21 parse outweighs the IPC many times over.
                _collect(pool.map(reader, todo_paths, chunksize=1), todo, digests, records, cache, bar)
    return [{"piece": p.name, **r} for p, r in zip(paths, records)], len(paths) - len(todo)


def _collect(parsed, todo, digests, records, cache, bar) -> None:
    # Each record is cached as it arrives, so an interrupted run resumes where it stopped.
    for i, record in zip(todo, parsed):
        records[i] = record
        if cache:
            cache.put(digests[i], record)
        bar.update()


def _worker_start(caller: int) -> None:
    """In a pool worker: end when the calling process ends, even by SIGKILL, and leave Ctrl-C to the caller.

    A worker deep in a slow file would otherwise keep parsing for minutes after its stage is gone. Its parent is
    the forkserver, which itself lives while any worker does, so the worker watches the caller (a Linux pidfd,
    readable once that process ends; elsewhere nothing changes). Ctrl-C reaches the whole process group; the caller
    stops the pool, so a worker need not (music21 swallows a KeyboardInterrupt in places, and would parse on).
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        ended = os.pidfd_open(caller)
    except (AttributeError, OSError):  # not Linux, or the caller is already gone
        return
    threading.Thread(target=lambda: (select.select([ended], [], []), os._exit(1)), daemon=True).start()


def reader_pool(workers: int):
    """A pebble process pool for reading MIDI files: each task can have a time limit, past which its worker is
    killed and replaced.

    Workers are forked from a forkserver that has music21 imported: never from the caller, which may be running
    threads (pebble's own, TensorFlow's, a web server's) that a fork would copy in the middle of a step, and a
    replacement worker starts in milliseconds with music21 ready, so its import never counts against a time limit.
    """
    from pebble import ProcessPool

    return ProcessPool(max_workers=workers, initializer=_worker_start, initargs=(os.getpid(),),
                       context=worker_context())


def _collect_within(paths, jobs, timeout, todo, digests, records, cache, bar, reader=read_piece) -> None:
    """Parse in a pool of `jobs` worker processes, `timeout` seconds per file; records are cached as they finish."""
    from pebble import ProcessExpired

    pool = reader_pool(jobs)
    try:
        futures = {pool.schedule(reader, (path,), timeout=timeout): k for k, path in enumerate(paths)}
        for future in _as_completed(futures):
            k = futures[future]
            try:
                record = future.result()
            except TimeoutError:
                record = {"status": "timeout", "reason": f"{paths[k]}: still parsing after parse_timeout = {timeout:g} "
                                                         "s; raise parse_timeout to give it longer, or remove the file"}
            except ProcessExpired as exc:  # killed from outside, or by the kernel for memory
                record = {"status": "crashed", "reason": f"{paths[k]}: the parser process died on it "
                                                         f"(exit code {exc.exitcode}); out of memory?"}
            _collect([record], [todo[k]], digests, records, cache, bar)
    finally:
        stop_pool(pool)  # after Ctrl-C the workers are stopped at once rather than finishing the queue


def stop_pool(pool, wait: float = 10) -> None:
    """Stop a reader_pool's workers, waiting at most `wait` seconds for the pool to wind down.

    pebble's join() waits without a limit for its message thread, which in CI stayed blocked reading a channel the
    stopped workers no longer wrote to; pebble's threads are daemons and the workers end with this process
    (_worker_start), so nothing is left behind by not waiting longer.
    """
    pool.stop()
    joiner = threading.Thread(target=pool.join, daemon=True)
    joiner.start()
    joiner.join(wait)


def _as_completed(futures):
    """Each future as it finishes, waking at least twice a second: Python runs a Ctrl-C's handler only in the main
    thread, and one blocked until the next file finishes would notice it only then (minutes, for a slow file)."""
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
        yield from done
