"""The web app's own genres: their table in app_genres.yaml and their uploaded MIDI files in collections/<name>/.

params.yaml stays the user's: the app only ever writes app_genres.yaml, which the loader and dvc.yaml read too.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import yaml
from filelock import FileLock

from .artifacts import write_bytes, write_text
from .params import APP_GENRES, is_genre_name, load_params

COLLECTIONS = "collections"
STATE_DIR = ".jukebox"  # the app's own files: the job database, composed samples, locks
# Every folder the pipeline writes per genre; a genre the app made is removed from all of them.
GENRE_OUTPUTS = ("data/raw", "data/notes", "data/sequences", "data/generated", "models", "metrics")
HEADER = """\
# Genres added by the web app (`jukebox serve`, "Your collection"); the app writes this file, never params.yaml.
# dvc.yaml reads it through `vars`, so DVC runs these genres like the ones in params.yaml.
"""


class GenreExists(ValueError):
    """A genre of that name exists already (in params.yaml, app_genres.yaml or on disk)."""


def _lock(project: Path) -> FileLock:
    """One writer at a time for app_genres.yaml: the web app adds genres, the worker removes failed ones."""
    (project / STATE_DIR).mkdir(exist_ok=True)
    return FileLock(project / STATE_DIR / "app_genres.lock")


def app_genre_names(project: Path) -> list[str]:
    """Names of the genres in app_genres.yaml."""
    path = project / APP_GENRES
    raw = yaml.safe_load(path.read_text()) if path.exists() else None
    return sorted(((raw or {}).get("genres") or {}))


def _write_table(project: Path, table: dict) -> None:
    write_text(project / APP_GENRES, HEADER + yaml.safe_dump({"genres": table}, sort_keys=True))


def add_genre(project: Path, name: str, files: dict[str, bytes]) -> Path:
    """Store a collection's files (safe, unique names) in collections/<name>/ and add it as a `local` genre.

    Raises GenreExists if the name is taken anywhere, so nothing existing is ever overwritten.
    """
    if not is_genre_name(name):
        raise ValueError(f"genre name {name!r} must be a short lowercase slug (letters, digits, - or _)")
    folder = project / COLLECTIONS / name
    with _lock(project):
        if name in load_params(project / "params.yaml").genres:
            raise GenreExists(f"genre {name!r} exists already; choose another name")
        if folder.exists() or any((project / out / name).exists() for out in GENRE_OUTPUTS):
            raise GenreExists(f"genre {name!r} has files left in the project ({COLLECTIONS}/, data/ or models/); "
                              "choose another name")
        # Files go to a hidden folder first, renamed into place whole: a crash never leaves half a collection.
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=folder.parent))
        try:
            for file_name, data in files.items():
                write_bytes(staging / file_name, data)
            os.rename(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        raw = yaml.safe_load((project / APP_GENRES).read_text()) if (project / APP_GENRES).exists() else None
        table = dict((raw or {}).get("genres") or {})
        table[name] = {"source": "local", "path": f"{COLLECTIONS}/{name}"}
        _write_table(project, table)
    return folder


def remove_genre(project: Path, name: str) -> None:
    """Take an app genre out of app_genres.yaml, delete its uploads and every output; params.yaml's are refused."""
    if not is_genre_name(name):
        raise ValueError(f"genre name {name!r} is not a genre slug")
    with _lock(project):
        path = project / APP_GENRES
        raw = yaml.safe_load(path.read_text()) if path.exists() else None
        table = dict((raw or {}).get("genres") or {})
        if name not in table and not (project / COLLECTIONS / name).exists():
            raise ValueError(f"genre {name!r} was not made by the web app; remove it from params.yaml yourself")
        if table.pop(name, None) is not None:
            _write_table(project, table)
        for folder in (COLLECTIONS, *GENRE_OUTPUTS):
            shutil.rmtree(project / folder / name, ignore_errors=True)
