"""Stage scrape: collect a genre's MIDI files into data/raw/<genre>/ with a manifest."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from jukebox.artifacts import stage_logger, write_json
from jukebox.params import load_params
from jukebox.sources import export_corpus, import_folder


def main(genre_name: str) -> None:
    params = load_params()
    genre = params.genre(genre_name)
    log = stage_logger("scrape", genre.name)
    out_dir = Path("data/raw") / genre.name
    # DVC removes outputs before running a stage; clearing here too keeps a manual rerun from mixing old files in.
    shutil.rmtree(out_dir, ignore_errors=True)
    if genre.source == "corpus":
        records = export_corpus(genre.collection, out_dir, genre.max_pieces, params.seed)
    elif genre.source == "local":
        records = import_folder(Path(genre.path), out_dir, genre.max_pieces, params.seed)
    else:
        raise SystemExit(
            f"genres.{genre.name}.source = {genre.source!r}: the web scrapers are not available yet; "
            "use source 'corpus' or 'local'"
        )
    kept = [r for r in records if r["status"] == "kept"]
    if not kept:
        raise SystemExit(f"genre {genre.name}: no usable MIDI files from source {genre.source!r}; see {out_dir}/manifest.json")
    skipped = len(records) - len(kept)
    write_json(out_dir / "manifest.json",
               {"genre": genre.name, "source": genre.source, "kept": len(kept), "skipped": skipped, "files": records})
    log.info("kept %d files, skipped %d", len(kept), skipped)


if __name__ == "__main__":
    main(sys.argv[1])
