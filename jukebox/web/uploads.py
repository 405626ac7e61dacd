"""Checking what a user uploads: MIDI by content, zips without escapes, links, nesting or bombs, within the limits."""
from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO

from ..artifacts import safe_name, unique_name
from ..midi_io import is_midi
from ..params import ParamError, check_genre_setting

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first local header, or the end record of an empty zip
MACOS_CLUTTER = ("__MACOSX/", ".DS_Store")  # what a Mac's "Compress" adds to every zip
CHUNK = 1 << 20  # bytes read and written at a time while a file streams to disk


class UploadError(ValueError):
    """An upload is refused; `field` names the form field and `limit` the parameter that refused it, if any."""

    def __init__(self, field: str, message: str, limit: dict | None = None, status: int = 400):
        super().__init__(message)
        self.field, self.message, self.limit, self.status = field, message, limit or {}, status


@dataclass(frozen=True)
class Limits:
    """The upload limits of params.yaml."""

    max_files: int
    max_bytes: int
    max_ratio: int


def midi_problem(data: bytes) -> str:
    """Why `data` is not a usable MIDI file ('' if it is one with notes); judged by content, never by name."""
    from music21 import midi

    if not data:
        return "is empty"
    if not is_midi(data):
        return "is not a MIDI file (it does not start with a MIDI header)"
    try:
        mf = midi.MidiFile()
        mf.readstr(data)
    except Exception as exc:  # music21 raises several kinds on broken files
        return f"is not a readable MIDI file ({exc})"
    if not any(event.isNoteOn() for track in mf.tracks for event in track.events):
        return "has no notes"
    return ""


def plain_name(name: str, field: str) -> str:
    """A client's file name, refused if it carries a path, '..' or control characters."""
    if (not name or "/" in name or "\\" in name or name in (".", "..")
            or any(ord(c) < 32 or ord(c) == 127 for c in name)):
        raise UploadError(field, f"file name {name!r} is not a plain file name (it has a path, '..' or "
                                 "control characters); rename the file")
    return name


def _check_member(info: zipfile.ZipInfo, archive: str, limits: Limits) -> None:
    name = info.filename
    where = f"zip {archive!r}: member {name!r}"
    if (name.startswith(("/", "\\")) or PureWindowsPath(name).drive or "\\" in name
            or ".." in PurePosixPath(name).parts):
        raise UploadError("files", f"{where} points outside the zip (an absolute path or ../); refused")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UploadError("files", f"{where} is a symbolic link; refused")
    if info.flag_bits & 0x1:
        raise UploadError("files", f"{where} is encrypted; upload it unencrypted")
    if name.lower().endswith(".zip"):
        raise UploadError("files", f"{where} is a zip inside the zip; upload one zip of MIDI files")
    if info.file_size > limits.max_ratio * max(info.compress_size, 1):
        raise UploadError("files", f"{where} unzips to {info.file_size} bytes from {info.compress_size}, more "
                                   f"than upload_max_ratio = {limits.max_ratio} times: refused as a zip bomb",
                          {"upload_max_ratio": limits.max_ratio})


class Budget:
    """One running total of files and unzipped bytes over a whole upload request, every zip in it included.

    Each file is counted before a byte of it is read, so five zips each within the limits cannot together
    write five times upload_max_bytes.
    """

    def __init__(self, limits: Limits, field: str):
        self.limits, self.field, self.files, self.bytes = limits, field, 0, 0

    def take(self, what: str, size: int) -> None:
        """Count one more file of `size` bytes; an UploadError (413) names the limit it would pass."""
        if self.files + 1 > self.limits.max_files:
            raise UploadError(self.field, f"{what} is file {self.files + 1} of this upload; the limit is "
                                          f"upload_max_files = {self.limits.max_files}",
                              {"upload_max_files": self.limits.max_files}, 413)
        if self.bytes + size > self.limits.max_bytes:
            raise UploadError(self.field, f"{what} brings this upload to {self.bytes + size} bytes unzipped; the "
                                          f"limit is upload_max_bytes = {self.limits.max_bytes}",
                              {"upload_max_bytes": self.limits.max_bytes}, 413)
        self.files, self.bytes = self.files + 1, self.bytes + size


def _copy(source: BinaryIO, target: Path, size: int, what: str, field: str) -> None:
    """Stream `source` into `target` chunk by chunk, never more than the `size` bytes it was counted for."""
    written = 0
    with open(target, "wb") as out:
        while chunk := source.read(min(CHUNK, size + 1 - written)):
            if written == 0 and chunk.startswith(ZIP_MAGIC):
                raise UploadError(field, f"{what} is a zip inside the zip; upload one zip of MIDI files")
            written += len(chunk)
            if written > size:
                raise UploadError(field, f"{what} is larger than its header says; refused")
            out.write(chunk)


def _unzip(stream: BinaryIO, archive: str, limits: Limits, budget: Budget, store) -> None:
    """Check every member's header, then stream each MIDI member to disk through `store`, counted by `budget`."""
    try:
        zf = zipfile.ZipFile(stream)
        infos = [i for i in zf.infolist() if not i.is_dir() and not i.filename.startswith(MACOS_CLUTTER)
                 and not i.filename.endswith(MACOS_CLUTTER)]
    except zipfile.BadZipFile as exc:
        raise UploadError("files", f"zip {archive!r} is not a readable zip ({exc})") from None
    for info in infos:
        _check_member(info, archive, limits)
    for info in infos:
        what = f"zip {archive!r}: member {info.filename!r}"
        budget.take(what, info.file_size)
        with zf.open(info) as member:
            store(PurePosixPath(info.filename).name, member, info.file_size, what)


def _size(stream: BinaryIO) -> int:
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size


def collect_midi(uploads: list[tuple[str, BinaryIO]], limits: Limits, folder: Path, field: str = "files") -> list[str]:
    """Stream every uploaded MIDI file into `folder` under a safe, unique name; zips are opened; returns the names.

    Anything that is not MIDI refuses the whole upload (the caller removes `folder`). Files go to disk as they
    are read, never all into memory, and one Budget counts them all against upload_max_files and _bytes.
    """
    budget = Budget(limits, field)
    stored: dict[str, str] = {}  # stored name -> the name the user knows it by
    taken: set[str] = set()

    def store(name: str, source: BinaryIO, size: int, what: str) -> None:
        stem = name.rsplit(".", 1)[0] if "." in name else name
        target = unique_name(safe_name(stem, ".mid"), taken)
        _copy(source, folder / target, size, what, field)
        stored[target] = name

    seen_any = False
    for name, stream in uploads:
        size = _size(stream)
        if not name and not size:
            continue  # a browser sends an empty part for "no file"
        seen_any = True
        plain_name(name, field)
        if stream.read(4) in ZIP_MAGIC:
            stream.seek(0)
            _unzip(stream, name, limits, budget, store)
        else:
            stream.seek(0)
            budget.take(f"file {name!r}", size)
            store(name, stream, size, f"file {name!r}")
    if not seen_any:
        raise UploadError(field, "no files were uploaded; choose MIDI files (.mid) or one zip of them")
    if not stored:
        raise UploadError(field, "the upload holds no files; choose MIDI files (.mid) or one zip of them")
    for target, name in stored.items():
        problem = midi_problem((folder / target).read_bytes())  # one file in memory at a time, within the limits
        if problem:
            raise UploadError(field, f"file {name!r} {problem}; upload MIDI files (.mid) only")
    return list(stored)


def collection_settings(choices: dict[str, str | None]) -> dict:
    """An upload's choices of its genre's settings (form text; None: not chosen) as typed values, each checked by
    params.yaml's genre rules; an UploadError (400) names the field and what it may be."""
    settings = {}
    for key, value in choices.items():
        if value is None:
            continue
        if key == "drums":
            value = {"true": True, "false": False}.get(value, value)  # form text; anything else the rules refuse
        try:
            settings[key] = check_genre_setting(key, value, "upload")
        except ParamError as exc:
            raise UploadError(key, str(exc).removeprefix("upload: ")) from None
    return settings
