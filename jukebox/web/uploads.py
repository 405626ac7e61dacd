"""Checking what a user uploads: MIDI by content, zips without escapes, links, nesting or bombs, within the limits."""
from __future__ import annotations

import io
import stat
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

from ..artifacts import safe_name, unique_name

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first local header, or the end record of an empty zip
MACOS_CLUTTER = ("__MACOSX/", ".DS_Store")  # what a Mac's "Compress" adds to every zip


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
    if not data.startswith(b"MThd"):
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


def unzip(data: bytes, archive: str, limits: Limits) -> list[tuple[str, bytes]]:
    """The MIDI members of a zip as (name, bytes), after checking every member's header before reading any."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in zf.infolist() if not i.is_dir() and not i.filename.startswith(MACOS_CLUTTER)
                 and not i.filename.endswith(MACOS_CLUTTER)]
    except zipfile.BadZipFile as exc:
        raise UploadError("files", f"zip {archive!r} is not a readable zip ({exc})") from None
    if len(infos) > limits.max_files:
        raise UploadError("files", f"zip {archive!r} holds {len(infos)} files; the limit is upload_max_files = "
                                   f"{limits.max_files}", {"upload_max_files": limits.max_files}, 413)
    total = sum(i.file_size for i in infos)
    if total > limits.max_bytes:
        raise UploadError("files", f"zip {archive!r} unzips to {total} bytes; the limit is upload_max_bytes = "
                                   f"{limits.max_bytes}", {"upload_max_bytes": limits.max_bytes}, 413)
    for info in infos:
        _check_member(info, archive, limits)
    members = []
    for info in infos:
        with zf.open(info) as f:
            content = f.read(info.file_size + 1)  # never more than the header promised, whatever the stream says
        if len(content) > info.file_size:
            raise UploadError("files", f"zip {archive!r}: member {info.filename!r} is larger than its header says")
        if content.startswith(ZIP_MAGIC):
            raise UploadError("files", f"zip {archive!r}: member {info.filename!r} is a zip inside the zip; "
                                       "upload one zip of MIDI files")
        members.append((PurePosixPath(info.filename).name, content))
    return members


def collect_midi(uploads: list[tuple[str, bytes]], limits: Limits, field: str = "files") -> dict[str, bytes]:
    """Every uploaded MIDI file under a safe, unique name; zips are opened; anything else refuses the upload."""
    uploads = [(name, data) for name, data in uploads if name or data]  # a browser sends an empty part for "no file"
    if not uploads:
        raise UploadError(field, "no files were uploaded; choose MIDI files (.mid) or one zip of them")
    files: list[tuple[str, bytes]] = []
    for name, data in uploads:
        plain_name(name, field)
        if data.startswith(ZIP_MAGIC):
            files.extend(unzip(data, name, limits))
        else:
            files.append((name, data))
    if len(files) > limits.max_files:
        raise UploadError(field, f"{len(files)} files uploaded; the limit is upload_max_files = {limits.max_files}",
                          {"upload_max_files": limits.max_files}, 413)
    if not files:
        raise UploadError(field, "the upload holds no files; choose MIDI files (.mid) or one zip of them")
    stored: dict[str, bytes] = {}
    taken: set[str] = set()
    for name, data in files:
        problem = midi_problem(data)
        if problem:
            raise UploadError(field, f"file {name!r} {problem}; upload MIDI files (.mid) only")
        stem = name.rsplit(".", 1)[0] if "." in name else name
        stored[unique_name(safe_name(stem, ".mid"), taken)] = data
    return stored
