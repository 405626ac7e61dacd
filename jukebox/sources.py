"""Offline sources of a genre's MIDI files: music21's bundled corpus, or a folder of the user's own files."""
from __future__ import annotations

import copy
import logging
import os
import random
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from tqdm import tqdm

from .artifacts import safe_name, sha256, unique_name, write_bytes
from .midi_io import is_midi, worker_context

log = logging.getLogger(__name__)

MIDI_SUFFIXES = {".mid", ".midi"}
SCORE_SUFFIXES = {".abc", ".mxl", ".xml", ".musicxml", ".krn", ".mid", ".midi"}


@dataclass(frozen=True)
class PieceRef:
    """One piece of a corpus collection: a file, and for multi-tune ABC files the tune's reference number."""

    file: Path
    number: int | None = None

    @property
    def name(self) -> str:
        return f"{self.file.stem}-{self.number:04d}" if self.number is not None else self.file.stem


def corpus_root() -> Path:
    """The folder where music21 keeps its bundled corpus."""
    from music21 import corpus

    return Path(corpus.__file__).parent


def list_collection(collection: str) -> list[PieceRef]:
    """Every piece in a music21 corpus folder, one per tune of each ABC file."""
    folder = corpus_root() / collection
    if not folder.is_dir():
        known = sorted(p.name for p in corpus_root().iterdir() if p.is_dir() and not p.name.startswith("_"))
        raise FileNotFoundError(f"music21 corpus has no collection {collection!r}; choose one of {known}")
    pieces: list[PieceRef] = []
    for file in sorted(folder.iterdir()):
        if file.suffix.lower() not in SCORE_SUFFIXES:
            continue
        if file.suffix.lower() == ".abc":
            # Listing reference numbers from the X: lines is instant; tokenizing comes later, only for chosen files.
            numbers = re.findall(r"^X:\s*(\d+)", file.read_text(encoding="latin-1"), re.M)
            pieces.extend(PieceRef(file, int(n)) for n in dict.fromkeys(numbers))
        else:
            pieces.append(PieceRef(file))
    return pieces


def choose(pieces: list, max_pieces: int, seed: int) -> list:
    """A seeded choice of at most max_pieces items, kept in their original order."""
    if not max_pieces or len(pieces) <= max_pieces:
        return list(pieces)
    keep = set(random.Random(seed).sample(range(len(pieces)), max_pieces))
    return [p for i, p in enumerate(pieces) if i in keep]


def _unshare_context_objects(score) -> None:
    """Give every measure its own TimeSignature/KeySignature/MetronomeMark object.

    music21's ABC reader reuses one TimeSignature object in the first measure and again in the
    measure after a mid-tune pickup; MIDI export then inserts that object twice into its conductor
    track and raises StreamException ("already found in this Stream"). Copies keep the tune intact.
    """
    seen: set[int] = set()
    for container in list(score.recurse(streamsOnly=True, includeSelf=True)):
        for el in list(container.getElementsByClass(["TimeSignature", "KeySignature", "MetronomeMark"])):
            if id(el) in seen:
                container.replace(el, copy.deepcopy(el))
            seen.add(id(el))


def _midi_bytes(score) -> bytes:
    """MIDI bytes of a score; repeats that music21 cannot expand are played once rather than losing the tune."""
    from music21 import midi
    from music21.repeat import ExpanderException

    _unshare_context_objects(score)
    try:
        return midi.translate.music21ObjectToMidiFile(score).writestr()
    except ExpanderException:
        pass
    # Without measures music21 skips repeat expansion: the tune is kept as written, repeats played once.
    return midi.translate.music21ObjectToMidiFile(score.flatten()).writestr()


def abc_tune_text(text: str, number: int) -> str:
    """One tune of a multi-tune ABC file: the file header (which applies to every tune) and the tune's own lines.

    Tokenizing only the tunes chosen is what keeps a 500-piece export of an 8,514-tune collection fast. A tune
    without an `L:` field gets the unit note length that reading the whole file gives it (music21 keeps the last
    `L:`, or the first meter's default): O'Neill's 2/4 hornpipes are written in eighth notes on that understanding.
    """
    from music21.abcFormat import ABCMetadata

    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip().startswith("X:")), len(lines))
    start = next(i for i, line in enumerate(lines) if line.replace(" ", "").rstrip() == f"X:{number}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].strip().startswith("X:")), len(lines))
    tune = lines[start:end]
    before = [line.strip() for line in lines[:start]]
    if not any(line.strip().startswith("L:") for line in tune):
        units = [line for line in before if line.startswith("L:")]
        meters = [line for line in before if line.startswith("M:")]
        if units:
            tune.insert(1, units[-1])
        elif meters:
            meter = ABCMetadata(meters[0])
            meter.preParse()
            tune.insert(1, f"L:{Fraction(meter.getDefaultQuarterLength() / 4)}")
    return "\n".join(lines[:first] + tune)


@lru_cache(maxsize=2)
def _abc_text(file: Path) -> str:
    """An ABC file's text, read once per process for the run of its tunes a worker gets."""
    return file.read_text(encoding="utf-8")


def _score(ref: PieceRef):
    """The score of one piece, or the exception that reading it raised."""
    from music21 import abcFormat, converter
    from music21.abcFormat import translate

    try:
        if ref.number is None:
            # forceSource: music21 would otherwise cache pickles in a shared temp folder.
            return converter.parse(ref.file, forceSource=True)
        text = abc_tune_text(_abc_text(ref.file), ref.number)
        return translate.abcToStreamScore(abcFormat.ABCFile().readstr(text).splitByReferenceNumber()[ref.number])
    except Exception as exc:  # a broken file loses its piece, not the stage
        return exc


def _export(ref: PieceRef) -> tuple[bytes | None, str]:
    """MIDI bytes of one piece, or None and why not."""
    score = _score(ref)
    if isinstance(score, Exception):
        return None, f"unreadable: {score}"
    try:
        return _midi_bytes(score), ""
    except Exception as exc:
        return None, f"MIDI export failed: {exc}"


def _without_beams() -> None:
    """In an export worker process: music21's ABC reader beams every part it builds, 40% of a piece's export time,
    and beams are engraving that MIDI does not hold, so this process skips them. The MIDI bytes are unchanged
    (`tests/test_sources.py` compares an export with and without)."""
    from music21 import stream

    stream.Part.makeBeams = lambda self, *, inPlace=False, **options: None if inPlace else self


def export_corpus(collection: str, out_dir: Path, max_pieces: int, seed: int, jobs: int = 1) -> list[dict]:
    """Export pieces of a music21 corpus collection as MIDI files with `jobs` processes (0 = every core);
    returns manifest records."""
    pieces = choose(list_collection(collection), max_pieces, seed)
    log.info("corpus %s: exporting %d pieces to %s", collection, len(pieces), out_dir)
    records, taken = [], set()
    with ProcessPoolExecutor(max_workers=max(1, min(jobs or os.cpu_count() or 1, len(pieces))),
                             mp_context=worker_context(), initializer=_without_beams) as pool:
        exported = pool.map(_export, pieces, chunksize=4)
        for ref, (data, reason) in tqdm(zip(pieces, exported), total=len(pieces), desc=f"export {collection}",
                                        unit="piece"):
            record = {"source": f"music21:{collection}/{ref.file.name}", "piece": ref.name}
            if data is None:
                records.append({**record, "status": "skipped", "reason": reason})
                continue
            name = unique_name(safe_name(ref.name, ".mid"), taken)
            write_bytes(out_dir / name, data)
            records.append({**record, "file": name, "sha256": sha256(data), "bytes": len(data), "status": "kept"})
    return records


def import_folder(folder: Path, out_dir: Path, max_pieces: int, seed: int) -> list[dict]:
    """Copy a folder of the user's MIDI files (recursively) into the genre's raw folder; returns manifest records."""
    if not folder.is_dir():
        raise FileNotFoundError(f"local genre folder {folder} does not exist; set genres.<name>.path to a folder of .mid files")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
    files = choose(files, max_pieces, seed)
    log.info("local %s: %d MIDI files", folder, len(files))
    records, taken, hashes = [], set(), set()
    for file in tqdm(files, desc=f"import {folder.name}", unit="file"):
        data = file.read_bytes()
        record = {"source": str(file), "piece": file.stem}
        digest = sha256(data)
        if not is_midi(data):
            records.append({**record, "status": "skipped", "reason": "not a MIDI file (no MThd header)"})
        elif digest in hashes:
            records.append({**record, "status": "duplicate", "sha256": digest})
        else:
            hashes.add(digest)
            name = unique_name(safe_name(file.stem, ".mid"), taken)
            write_bytes(out_dir / name, data)
            records.append({**record, "file": name, "sha256": digest, "bytes": len(data), "status": "kept"})
    return records
