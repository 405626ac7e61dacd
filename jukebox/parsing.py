"""Reading a genre's MIDI files into note lists: a process pool over files, and a cache keyed by each file's content.

The cache holds one JSON file per distinct MIDI file, `<folder>/<parser version>/<sha256 of the file>.json`, so
adding ten files to a genre of five hundred parses ten. The parser version is a hash of `midi_io.py`, music21's
version and the record format: changing how notes are read starts a fresh cache instead of serving stale notes.
"""
from __future__ import annotations

import json
import logging
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from .artifacts import sha256, write_text
from .midi_io import read_notes

log = logging.getLogger(__name__)

RECORD_FORMAT = 1  # raise when a cached record changes shape


def parser_version() -> str:
    """A short hash of everything that decides a file's notes: midi_io.py, music21's version, the record format."""
    from importlib.metadata import version

    from . import midi_io

    # The installed version from package metadata: importing music21 would cost a warm run most of its time.
    fingerprint = Path(midi_io.__file__).read_bytes() + f"|{version('music21')}|{RECORD_FORMAT}".encode()
    return sha256(fingerprint)[:16]


def read_piece(path: str | Path) -> dict:
    """One file's record: `{"status": "kept", "notes": [...]}` or `{"status": "skipped", "reason": ...}`."""
    try:
        notes = read_notes(path)
    except ValueError as exc:
        return {"status": "skipped", "reason": str(exc)}
    if not notes:
        return {"status": "skipped", "reason": "no pitched notes"}
    return {"status": "kept", "notes": [list(n) for n in notes]}


class NoteCache:
    """Records by file content hash, as JSON files in a folder per parser version (never pickles)."""

    def __init__(self, folder: str | Path, version: str):
        self.folder = Path(folder) / version

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
        """Store a record atomically."""
        write_text(self.folder / f"{digest}.json", json.dumps(record, separators=(",", ":")))


def parse_files(paths: Sequence[Path], jobs: int, cache: NoteCache | None = None,
                desc: str = "parse") -> tuple[list[dict], int]:
    """Records for `paths` in order, each with its `piece` (file name); returns them and how many came from cache.

    Files missing from the cache are parsed by `jobs` processes (1 parses here, with no pool).
    """
    paths = [Path(p) for p in paths]
    digests = [sha256(p.read_bytes()) for p in paths]
    records: list[dict | None] = [cache.get(d) if cache else None for d in digests]
    todo = [i for i, r in enumerate(records) if r is None]
    todo_paths = [paths[i] for i in todo]
    with tqdm(total=len(todo), desc=desc, unit="file", leave=False) as bar:
        if jobs <= 1 or len(todo) <= 1:
            _collect(map(read_piece, todo_paths), todo, digests, records, cache, bar)
        else:
            with ProcessPoolExecutor(max_workers=min(jobs, len(todo))) as pool:
                # chunksize 1: files differ a lot in size, and one music21 parse outweighs the IPC many times over.
                _collect(pool.map(read_piece, todo_paths, chunksize=1), todo, digests, records, cache, bar)
    return [{"piece": p.name, **r} for p, r in zip(paths, records)], len(paths) - len(todo)


def _collect(parsed, todo, digests, records, cache, bar) -> None:
    # Each record is cached as it arrives, so an interrupted run resumes where it stopped.
    for i, record in zip(todo, parsed):
        records[i] = record
        if cache:
            cache.put(digests[i], record)
        bar.update()
