"""Stage parse: read every MIDI file of a genre with music21 into a note list, one JSON record per piece."""
from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

from jukebox.artifacts import stage_logger, write_json, write_jsonl
from jukebox.midi_io import read_notes
from jukebox.params import load_params


def parse_file(path: Path) -> dict:
    """One piece's record: its notes, or why it was skipped."""
    try:
        notes = read_notes(path)
    except ValueError as exc:
        return {"piece": path.name, "status": "skipped", "reason": str(exc)}
    if not notes:
        return {"piece": path.name, "status": "skipped", "reason": "no pitched notes"}
    return {"piece": path.name, "status": "kept", "notes": notes}


def main(genre_name: str) -> None:
    params = load_params()
    genre = params.genre(genre_name)
    log = stage_logger("parse", genre.name)
    raw = Path("data/raw") / genre.name
    manifest = json.loads((raw / "manifest.json").read_text())
    files = [raw / r["file"] for r in manifest["files"] if r["status"] == "kept"]
    jobs = params.jobs or os.cpu_count() or 1
    log.info("parsing %d files with %d processes", len(files), jobs)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        records = list(tqdm(pool.map(parse_file, files, chunksize=4), total=len(files), desc=f"parse {genre.name}", unit="file"))
    pieces = [r for r in records if r["status"] == "kept"]
    skipped = [r for r in records if r["status"] != "kept"]
    for r in skipped:
        log.warning("skipped %s: %s", r["piece"], r["reason"])
    out = Path("data/notes") / genre.name
    write_jsonl(out / "pieces.jsonl", pieces)
    summary = {"files": len(pieces), "skipped_files": len(skipped) + manifest["skipped"],
               "notes": sum(len(p["notes"]) for p in pieces), "skipped": skipped}
    write_json(out / "summary.json", summary)
    log.info("parsed %d pieces, %d notes; skipped %d files", summary["files"], summary["notes"], len(skipped))


if __name__ == "__main__":
    main(sys.argv[1])
