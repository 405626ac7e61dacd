"""The store of samples composed in the app (.jukebox/samples), held under samples_max_mb at every moment.

Room is made before each write, not after: the oldest samples are deleted until the store, plus what the writes
under way may still add, fits the limit. A burst of requests therefore never piles up past it, as it did when
pruning came after each sample and spared everything younger than ten minutes.
"""
from __future__ import annotations

import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

# Bytes a write may add, judged generously so that the store stays under its limit: a sample's MIDI file and
# record, its piano roll and its score. The audio is judged by its length (AUDIO_BYTES_PER_S, then as measured).
SMALL_BYTES = {"": 100_000, ".png": 300_000, ".musicxml": 500_000}
AUDIO_BYTES_PER_S = 120_000  # FLAC of FluidSynth: 57-62 KB a second measured (docs/guide/web-app-notes.md); twice that
AUDIO_TAIL_S = 3.0  # the last notes' release after the notes end


def _bytes(entry: Path) -> int:
    """The bytes of a file, or of the files in a folder; a file renamed or deleted meanwhile counts 0."""
    if not (entry.is_dir() and not entry.is_symlink()):
        return entry.lstat().st_size
    total = 0
    for file in entry.rglob("*"):
        try:
            total += file.lstat().st_size if not file.is_dir() else 0
        except FileNotFoundError:
            continue  # an atomic write's partial file, renamed into place while the folder was measured
    return total


class SampleStore:
    """One folder of samples, its limit (0: none), and the writes under way in it."""

    def __init__(self, folder: Path, max_bytes: int):
        self.folder, self.max_bytes = folder, max_bytes
        self._guard = threading.Lock()
        self._busy: dict[Path, int] = {}  # a sample's folder -> the bytes its writes under way may still add
        self._audio_rate = AUDIO_BYTES_PER_S

    def expected(self, suffix: str, seconds: float = 0.0) -> int:
        """The bytes a sample's file with `suffix` may take ('' for the MIDI file and record)."""
        if suffix in (".flac", ".wav"):
            rate = self._audio_rate * (4 if suffix == ".wav" else 1)
            return int(rate * (seconds + AUDIO_TAIL_S))
        return SMALL_BYTES.get(suffix, SMALL_BYTES[""])

    @contextmanager
    def writing(self, folder: Path, expected: int):
        """Make room for `expected` more bytes in `folder` before they are written; `folder` is spared meanwhile."""
        if not self.max_bytes:
            yield
            return
        with self._guard:
            self._busy[folder] = self._busy.get(folder, 0) + expected
            self._make_room()
        try:
            yield
        finally:
            with self._guard:
                left = self._busy.pop(folder) - expected
                if left > 0:
                    self._busy[folder] = left

    def learn_audio(self, path: Path, seconds: float) -> None:
        """Judge later audio by the size of a finished one (the largest rate seen: the store errs on the safe side)."""
        if seconds > 0 and path.is_file():
            self._audio_rate = max(self._audio_rate, path.stat().st_size / (seconds + AUDIO_TAIL_S))

    def size(self) -> int:
        """Bytes in the store now."""
        total = 0
        for entry in self.folder.iterdir() if self.folder.is_dir() else []:
            try:
                total += _bytes(entry)
            except FileNotFoundError:
                continue  # deleted meanwhile
        return total

    def _make_room(self) -> list[Path]:
        """Delete the oldest samples not being written until the store and the writes under way fit the limit."""
        entries = []
        for entry in self.folder.iterdir() if self.folder.is_dir() else []:
            try:
                entries.append((entry.lstat().st_mtime, _bytes(entry), entry))
            except FileNotFoundError:
                continue  # deleted meanwhile
        total, reserve = sum(size for _, size, _ in entries), sum(self._busy.values())
        deleted = []
        for _, size, entry in sorted(entries, key=lambda e: e[0]):
            if total + reserve <= self.max_bytes:
                break
            if entry in self._busy:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            total -= size
            deleted.append(entry)
        return deleted

    def run_writing(self, folder: Path, expected: int, write, *args):
        """Call write(*args) within room for `expected` bytes in `folder` (for a renderer's thread)."""
        with self.writing(folder, expected):
            return write(*args)
