"""Stage scrape: collect a genre's MIDI files into data/raw/<genre>/ with a manifest."""
from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

from jukebox.artifacts import remove_stale_partials, stage_logger, write_json
from jukebox.entrypoint import run_stage
from jukebox.layout import Layout
from jukebox.params import Genre, Params, check_inputs, load_params
from jukebox.scraper import scrape, site_links, url_list
from jukebox.sources import export_corpus, import_folder
from jukebox.http_session import FetchError, PoliteSession, SiteUnreachable

# Web downloads survive between runs in Layout.downloads (not a DVC output, so DVC never deletes it): a rerun
# fetches only what is missing.
DOWNLOADS = Layout.of().downloads


def scrape_web(genre: Genre, params: Params, out_dir: Path) -> tuple[list[dict], str]:
    """Manifest records of a `web` or `urls` genre, and why the site stopped answering ('' if it did not)."""
    if DOWNLOADS.is_dir():
        remove_stale_partials(DOWNLOADS)  # what a killed run was downloading; it is fetched again
    session = PoliteSession(delay=params.request_delay)
    if genre.source == "web":
        links = site_links(session, genre.site, genre.listing, params.max_bytes)
    else:
        try:
            links = url_list(Path(genre.urls_file))
        except (FileNotFoundError, ValueError) as exc:
            raise SystemExit(f"genre {genre.name}: {exc}") from None
    records: list[dict] = []
    try:
        for record in scrape(links, session, out_dir, DOWNLOADS, genre.max_pieces, params.max_bytes,
                             desc=f"scrape {genre.name}"):
            records.append(record)
    except SiteUnreachable as exc:
        return records, str(exc)
    except FetchError as exc:  # the listing yielded no MIDI link at all
        raise SystemExit(f"genre {genre.name}: {exc}") from None
    return records, ""


def main(genre_name: str) -> None:
    params = load_params()
    genre = params.genre(genre_name)
    check_inputs(genre)  # before anything is cleared or fetched
    log = stage_logger("scrape", genre.name)
    out_dir = Layout.of().raw(genre.name)
    # DVC removes outputs before running a stage; clearing here too keeps a manual rerun from mixing old files in.
    # Web genres lose nothing by it: their downloads stay in DOWNLOADS.
    shutil.rmtree(out_dir, ignore_errors=True)
    stopped = ""
    if genre.source == "corpus":
        records = export_corpus(genre.collection, out_dir, genre.max_pieces, params.seed, params.jobs)
    elif genre.source == "local":
        records = import_folder(Path(genre.path), out_dir, genre.max_pieces, params.seed)
    else:
        records, stopped = scrape_web(genre, params, out_dir)
    kept = [r for r in records if r["status"] == "kept"]
    skipped = len(records) - len(kept)
    manifest = {"genre": genre.name, "source": genre.source, "kept": len(kept), "skipped": skipped}
    if genre.source in ("web", "urls"):
        manifest.update(site=genre.site, listing=list(genre.listing), urls_file=genre.urls_file,
                        counts=dict(Counter(r["status"] for r in records)), stopped=stopped)
    write_json(out_dir / "manifest.json", {**manifest, "files": records})
    if stopped:
        raise SystemExit(
            f"genre {genre.name}: cannot reach {stopped}. The {len(kept)} files fetched so far are kept in {DOWNLOADS}/ "
            "and a rerun resumes from them. To work offline instead, run the default genre table "
            f"(`dvc repro`, without -S 'genres=${{genres_2018}}'), or set genres.{genre.name}.source to corpus or local."
        )
    if not kept:
        raise SystemExit(f"genre {genre.name}: no usable MIDI files from source {genre.source!r}; see {out_dir}/manifest.json")
    log.info("kept %d files, skipped %d", len(kept), skipped)


if __name__ == "__main__":
    run_stage("scrape", main)
