"""Stage parse: read every MIDI file of a genre with music21 into a note list, one JSON record per piece.

Parsed files are cached in .jukebox-cache/notes/ by content hash (outside DVC's outputs, which DVC deletes
before a run), so a rerun after adding files parses only the new ones. A file music21 cannot read, one beyond the
size caps or one still parsing after parse_timeout seconds is skipped with its reason (summary.json, `skipped`);
the stage fails only when fewer than MIN_PIECES files of the genre are left.
"""
from __future__ import annotations

import json
import os

from jukebox.artifacts import stage_logger, write_json, write_jsonl
from jukebox.entrypoint import run_stage
from jukebox.layout import Layout
from jukebox.params import load_params
from jukebox.parsing import MIN_PIECES, NoteCache, TrackReading, parse_files, parser_version, tracks_summary



def main(genre_name: str) -> None:
    params = load_params()
    genre = params.genre(genre_name)
    log = stage_logger("parse", genre.name)
    layout = Layout.of()
    raw = layout.raw(genre.name)
    manifest = json.loads((raw / "manifest.json").read_text())
    files = [raw / r["file"] for r in manifest["files"] if r["status"] == "kept"]
    jobs = params.jobs or os.cpu_count() or 1
    # instruments keep: every track with its instrument, read by symusic; merge: today's single stream, by music21.
    reader = TrackReading(genre.max_tracks, genre.drums) if genre.instruments == "keep" else None
    records, cached = parse_files(files, jobs, NoteCache(layout.parse_cache, parser_version(reader)), desc=f"parse {genre.name}",
                                  timeout=params.parse_timeout, reader=reader)
    pieces = [r for r in records if r["status"] == "kept"]
    skipped = [r for r in records if r["status"] != "kept"]
    for r in skipped:
        log.warning("skipped %s: %s", r["piece"], r["reason"])
    out = layout.notes(genre.name)
    write_jsonl(out / "pieces.jsonl", pieces)
    summary = {"files": len(pieces), "skipped_files": len(skipped) + manifest["skipped"],
               "notes": sum(len(p["notes"]) for p in pieces), "skipped": skipped}
    if reader:
        summary.update(tracks_summary(pieces))
    write_json(out / "summary.json", summary)
    if len(pieces) < MIN_PIECES:
        reasons = f" ({len(skipped)} skipped, each with its reason in {out / 'summary.json'})" if skipped else ""
        raise ValueError(f"{len(pieces)} of its {len(files)} MIDI files can be read as music{reasons}; a genre needs "
                         f"at least {MIN_PIECES} to train (one to learn from, one to validate on): add readable MIDI "
                         f"files to genre {genre.name}'s source")
    log.info("parsed %d files with %d processes, %d more from the cache; %d pieces, %d notes, skipped %d files",
             len(files) - cached, jobs, cached, summary["files"], summary["notes"], len(skipped))


if __name__ == "__main__":
    run_stage("parse", main)
