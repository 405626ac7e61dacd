"""The web app's own genres: their table in app_genres.yaml and their uploaded MIDI files in collections/<name>/.

params.yaml stays the user's: the app only ever writes app_genres.yaml, which the loader and dvc.yaml read too.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import yaml
from filelock import FileLock

from ..artifacts import usual_mode, write_text
from ..layout import Layout
from ..params import APP_GENRES, RESERVED_GENRES, is_genre_name, load_params

HEADER = """\
# Genres added by the web app (`jukebox serve`, "Your collection"); the app writes this file, never params.yaml.
# dvc.yaml reads it through `vars`, so DVC runs these genres like the ones in params.yaml.
"""


class GenreExists(ValueError):
    """A genre of that name exists already (in params.yaml, app_genres.yaml or on disk)."""


def _lock(project: Path) -> FileLock:
    """One writer at a time for app_genres.yaml: the web app adds genres, the worker removes failed ones."""
    layout = Layout.of(project)
    layout.state.mkdir(exist_ok=True)
    return FileLock(layout.app_lock)


def app_genre_names(project: Path) -> list[str]:
    """Names of the genres in app_genres.yaml."""
    path = project / APP_GENRES
    raw = yaml.safe_load(path.read_text()) if path.exists() else None
    return sorted(((raw or {}).get("genres") or {}))


def _write_table(project: Path, table: dict) -> None:
    write_text(project / APP_GENRES, HEADER + yaml.safe_dump({"genres": table}, sort_keys=True))


def staging_folder(project: Path, name: str) -> Path:
    """A new hidden folder in collections/ that an upload streams its files into before add_genre moves it in."""
    if not is_genre_name(name):
        raise ValueError(f"genre name {name!r} must be a short lowercase slug (letters, digits, - or _)")
    collections = Layout.of(project).collections
    collections.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=collections))
    os.chmod(staging, usual_mode(folder=True))  # mkdtemp's 0700 would hide the collection from other accounts
    return staging


def add_genre(project: Path, name: str, staging: Path) -> Path:
    """Move a staged collection (staging_folder) to collections/<name>/ whole and add it as a `local` genre.

    Raises GenreExists if the name is taken anywhere, so nothing existing is ever overwritten; the staging
    folder is then the caller's to remove.
    """
    if not is_genre_name(name):
        raise ValueError(f"genre name {name!r} must be a short lowercase slug (letters, digits, - or _)")
    layout = Layout.of(project)
    folder = layout.collection(name)
    with _lock(project):
        if name in load_params(layout.params).genres:
            raise GenreExists(f"genre {name!r} exists already; choose another name")
        if name in RESERVED_GENRES:
            raise GenreExists(f"genre name {name!r} is taken by the base model (models/{name}); choose another name")
        if folder.exists() or any(out.exists() for out in layout.genre_folders(name)):
            raise GenreExists(f"genre {name!r} has files left in the project (collections/, data/ or models/); "
                              "choose another name")
        # One rename: a crash never leaves half a collection under the genre's name.
        os.rename(staging, folder)
        raw = yaml.safe_load((project / APP_GENRES).read_text()) if (project / APP_GENRES).exists() else None
        table = dict((raw or {}).get("genres") or {})
        table[name] = {"source": "local", "path": Layout().collection(name).as_posix()}  # relative to the project
        _write_table(project, table)
    return folder


def remove_genre(project: Path, name: str) -> None:
    """Take an app genre out of app_genres.yaml, delete its uploads and every output, and forget it in DVC.

    params.yaml's genres are refused. Its stages leave dvc.lock and its outputs' files leave DVC's cache (those
    no other stage of dvc.lock records), so a failed or cancelled job leaves nothing behind.
    """
    if not is_genre_name(name):
        raise ValueError(f"genre name {name!r} is not a genre slug")
    with _lock(project):
        path = project / APP_GENRES
        raw = yaml.safe_load(path.read_text()) if path.exists() else None
        table = dict((raw or {}).get("genres") or {})
        layout = Layout.of(project)
        if name not in table and not layout.collection(name).exists():
            raise ValueError(f"genre {name!r} was not made by the web app; remove it from params.yaml yourself")
        if table.pop(name, None) is not None:
            _write_table(project, table)
        for folder in (layout.collection(name), *layout.genre_folders(name)):
            shutil.rmtree(folder, ignore_errors=True)
        forget_in_dvc(project, name)


def _recorded_hashes(entries, cache: Path) -> set[str]:
    """The md5 of every output in some dvc.lock entries, with the files inside each directory output."""
    hashes = set()
    for entry in entries:
        for out in entry.get("outs") or []:
            md5 = out.get("md5")
            if not md5:
                continue
            hashes.add(md5)
            if md5.endswith(".dir"):
                listing = cache / md5[:2] / md5[2:]
                try:
                    hashes.update(item["md5"] for item in json.loads(listing.read_text()))
                except (OSError, ValueError, KeyError, TypeError):
                    pass  # not in the cache (never pushed there, or removed): nothing of it to remove
    return hashes


def forget_in_dvc(project: Path, name: str) -> list[str]:
    """Remove `<stage>@<name>` from dvc.lock and its outputs from DVC's cache and run cache; returns the stages.

    Under DVC's own repository lock (what `dvc repro` holds), and through DVC's own YAML round-trip, so the
    rest of dvc.lock is kept as DVC wrote it. Files another stage of dvc.lock records stay (content-addressed).
    """
    from dvc.repo import Repo
    from dvc.utils.serialize import modify_yaml

    lock_file = Layout.of(project).dvc_lock
    if not lock_file.exists():
        return []
    with Repo(str(project)) as repo, repo.lock:
        cache = Path(repo.cache.local.path)
        with modify_yaml(str(lock_file)) as lock:
            stages = lock.get("stages") or {}
            gone = {key: stages.pop(key) for key in [k for k in stages if k.endswith(f"@{name}")]}
        if not gone:
            return []
        unused = _recorded_hashes(gone.values(), cache) - _recorded_hashes(stages.values(), cache)
        for md5 in unused:
            (cache / md5[:2] / md5[2:]).unlink(missing_ok=True)
        runs = Path(repo.stage_cache.cache_dir)
        for entry in runs.glob("*/*/*") if runs.is_dir() else []:
            # A run-cache entry would restore those outputs on the next `dvc repro`; without its files it is useless.
            try:
                outs = (yaml.safe_load(entry.read_text()) or {}).get("outs") or []
            except (OSError, yaml.YAMLError):
                continue
            if any(out.get("md5") in unused for out in outs if isinstance(out, dict)):
                entry.unlink(missing_ok=True)
    return sorted(gone)
