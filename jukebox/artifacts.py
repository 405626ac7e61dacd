"""Writing pipeline artifacts safely: atomic writes, content hashes and file names that cannot escape a folder."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np


def umask() -> int:
    """The process's umask (read without changing it where Linux tells it, since threads may be creating files)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it, and set it back at once
    os.umask(mask)
    return mask


def usual_mode(folder: bool = False) -> int:
    """The mode open() and mkdir() give a new file or folder: 0666 or 0777 less the umask (mkstemp gives 0600)."""
    return (0o777 if folder else 0o666) & ~umask()


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block finishes.

    A crash or Ctrl-C mid-write leaves the old file (or none), never a half-written one. A kill leaves the
    temporary `.<name>.<random>.partial<suffix>` behind, which .dvcignore keeps out of every output.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial" + suffix)
    # mkstemp makes the file 0600, private to this user; an output is for every reader the umask allows
    # (a web server's account, a colleague), as a plain open() would make it.
    os.fchmod(fd, usual_mode())
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def remove_stale_partials(folder: str | Path, older_than: float = 600.0) -> int:
    """Delete the temporary files killed writers left in `folder`, not those of a write under way; returns how many.

    For the caches outside DVC's outputs, which DVC never clears; a write takes milliseconds, so one older
    than `older_than` seconds has no writer left.
    """
    import time

    stale = [p for p in Path(folder).glob(".*.partial*") if time.time() - p.stat().st_mtime > older_than]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def _entry_bytes(entry: Path) -> int:
    """Bytes a folder's entry holds on disk (a folder: all its files); links count as themselves, never followed."""
    if entry.is_symlink() or not entry.is_dir():
        return entry.lstat().st_size
    return sum((Path(root) / name).lstat().st_size for root, _, names in os.walk(entry) for name in names)


def prune_oldest(folder: str | Path, max_bytes: int, spare_newer_than: float) -> list[Path]:
    """Delete `folder`'s entries, least recently changed first, until the rest hold at most max_bytes; returns them.

    An entry changed in the last `spare_newer_than` seconds is never deleted, even if the folder then stays over the
    limit: it is being written (every atomic write renames into it, which touches it), or was just made and
    someone is listening to it.
    """
    entries = [(e.lstat().st_mtime, _entry_bytes(e), e) for e in Path(folder).iterdir()] if Path(folder).is_dir() else []
    total = sum(size for _, size, _ in entries)
    deleted = []
    for changed, size, entry in sorted(entries, key=lambda e: e[0]):
        if total <= max_bytes or time.time() - changed < spare_newer_than:
            break  # the rest are newer still
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        total -= size
        deleted.append(entry)
    return deleted


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    """Write text atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    """Write pretty JSON atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_jsonl(path: str | Path, records: Iterable[Any]) -> None:
    """Write one JSON record per line, atomically."""
    write_text(path, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))


def read_jsonl(path: str | Path) -> list[Any]:
    """Read a JSON-lines file."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_npy(path: str | Path, array: np.ndarray) -> None:
    """Save a numpy array atomically (never pickled)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_bytes(path, buffer.getvalue())


def read_npy(path: str | Path) -> np.ndarray:
    """Load a numpy array written by write_npy, refusing pickled objects."""
    return np.load(path, allow_pickle=False)


def sha256(data: bytes) -> str:
    """Hex SHA-256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


def safe_name(name: str, suffix: str = "", max_len: int = 80) -> str:
    """A file name made from arbitrary text: no separators, no dot-dot, no control characters, bounded length."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    text = re.sub(r"\.{2,}", ".", text)[:max_len].strip("._-")
    return (text or "untitled") + suffix


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name` with a counter before its suffix, so that it is not in `taken`; adds it to `taken`."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    candidate, n = name, 2
    while candidate.lower() in taken:
        candidate = f"{stem}-{n}{dot}{ext}"
        n += 1
    taken.add(candidate.lower())
    return candidate


def stage_logger(stage: str, genre: str) -> logging.Logger:
    """A logger whose lines say which stage and genre they come from."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    return logging.getLogger(f"jukebox.{stage}[{genre}]")
