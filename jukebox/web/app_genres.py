"""The web app's own genres: their table in app_genres.yaml and their uploaded MIDI files in collections/<name>/.

params.yaml stays the user's: the app only ever writes app_genres.yaml, which the loader and dvc.yaml read too.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml
from filelock import FileLock

from ..artifacts import usual_mode, write_text
from ..layout import Layout
from ..params import APP_GENRES, is_genre_name, load_params, parse_genre

HEADER = """\
# Genres added by the web app (`jukebox serve`, "Your collection"); the app writes this file, never params.yaml.
# dvc.yaml reads it through `vars`, so DVC runs these genres like the ones in params.yaml.
"""


# What an upload may choose of its genre's settings, and what it gets unless it says otherwise: a collection keeps the
# instruments it has (params.yaml's genres merge theirs unless they say `instruments: keep`).
COLLECTION_SETTINGS = {"instruments": "keep", "drums": True}


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


def collection_entry(name: str, settings: dict | None = None, finetune_epochs: int = 0,
                     finetune_learning_rate: float = 0.0) -> dict:
    """The app_genres.yaml entry of an uploaded collection: a `local` genre with the upload's settings over
    COLLECTION_SETTINGS and its `finetune_epochs` and `finetune_learning_rate` (0: params.yaml's), checked by
    params.yaml's genre rules (a ParamError names the bad key)."""
    unknown = sorted(set(settings or {}) - set(COLLECTION_SETTINGS))
    if unknown:
        raise ValueError(f"an upload chooses only {sorted(COLLECTION_SETTINGS)} of its genre's settings, not {unknown}")
    entry = {"source": "local", "path": Layout().collection(name).as_posix(),  # relative to the project
             **COLLECTION_SETTINGS, **(settings or {})}
    if finetune_epochs:
        entry["finetune_epochs"] = finetune_epochs
    if finetune_learning_rate:
        entry["finetune_learning_rate"] = finetune_learning_rate
    # A collection's few pieces sit in few keys: moved only among them, a model would hear little variety and learn
    # them by heart sooner (docs/experiments/2026-12-07-folk-keys.md).
    entry["transpose_into"] = "any"
    parse_genre(name, entry, APP_GENRES)
    return entry


def add_genre(project: Path, name: str, staging: Path, settings: dict | None = None) -> Path:
    """Move a staged collection (staging_folder) to collections/<name>/ whole and add it as a `local` genre with
    `settings` (collection_entry: instruments, drums), fine-tuned for params.yaml's upload_finetune_epochs at its
    upload_finetune_learning_rate.

    Raises GenreExists if the name is taken anywhere, so nothing existing is ever overwritten, and ParamError for a
    bad setting before anything moves; the staging folder is then the caller's to remove.
    """
    if not is_genre_name(name):
        raise ValueError(f"genre name {name!r} must be a short lowercase slug (letters, digits, - or _)")
    layout = Layout.of(project)
    # Fewer epochs than a genre of params.yaml, at a higher rate: an upload's first sample comes sooner, for the
    # same val_loss (docs/experiments/2026-12-07-upload-epochs.md).
    params = load_params(layout.params)
    entry = collection_entry(name, settings, params.upload_finetune_epochs, params.upload_finetune_learning_rate)
    folder = layout.collection(name)
    with _lock(project):
        if name in load_params(layout.params).genres:
            raise GenreExists(f"genre {name!r} exists already; choose another name")
        if folder.exists() or any(out.exists() for out in layout.genre_folders(name)):
            raise GenreExists(f"genre {name!r} has files left in the project (collections/, data/ or models/); "
                              "choose another name")
        # One rename: a crash never leaves half a collection under the genre's name.
        os.rename(staging, folder)
        raw = yaml.safe_load((project / APP_GENRES).read_text()) if (project / APP_GENRES).exists() else None
        table = dict((raw or {}).get("genres") or {})
        table[name] = entry
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
        for folder in layout.genre_folders(name):
            _unignore(folder.parent / ".gitignore", name)
        unstage(project, name)


def _without_line(text: str, name: str) -> str | None:
    """A .gitignore without the line DVC added for a genre's output (`/<name>`); None if nothing else is left."""
    kept = [line for line in text.splitlines() if line.strip() != f"/{name}"]
    return "\n".join(kept) + "\n" if any(line.strip() for line in kept) else None


def _unignore(gitignore: Path, name: str) -> None:
    """Take a genre's line out of a .gitignore; DVC removes the file with its last line, and so is it here."""
    try:
        text = gitignore.read_text()
    except FileNotFoundError:
        return
    left = _without_line(text, name)
    if left is None:
        gitignore.unlink()
    elif left != text:
        write_text(gitignore, left)


def _without_stages(text: str, name: str) -> str | None:
    """dvc.lock's text without the stages `<stage>@<name>`, through the YAML round trip DVC itself uses."""
    from dvc.utils.serialize import dumps_yaml, parse_yaml_for_update

    lock = parse_yaml_for_update(text, "dvc.lock") or {}
    stages = lock.get("stages") or {}
    for key in [k for k in stages if k.endswith(f"@{name}")]:
        del stages[key]
    return dumps_yaml(lock)


def _git(project: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", *args], cwd=project, capture_output=True, input=stdin)
    except OSError:
        return None  # no git on this machine: nothing of git's to put back


def unstage(project: Path, name: str) -> None:
    """Take a genre out of what git has staged: its `/<name>` lines and dvc.lock stages leave the index too.

    `dvc repro` stages (core.autostage) the .gitignore lines and dvc.lock entries of the genre's outputs. Each staged
    file gets back the staged text it would have without the genre, and nothing else changes: what the user staged
    or left unstaged before the upload stays as it was, so `git status` reads as it did then.
    """
    inside = _git(project, "rev-parse", "--is-inside-work-tree")
    if inside is None or inside.stdout.strip() != b"true":
        return
    relative = Layout()  # the paths git's index names, relative to the project
    files = {(folder.parent / ".gitignore").as_posix(): _without_line for folder in relative.genre_folders(name)}
    files[relative.dvc_lock.as_posix()] = _without_stages
    for rel, without in files.items():
        staged = _git(project, "show", f":{rel}")
        if staged is None or staged.returncode != 0:
            continue  # not in the index
        text = staged.stdout.decode()
        if without is _without_stages and not any(line.strip().endswith(f"@{name}:") for line in text.splitlines()):
            continue
        left = without(text, name)
        if left == text:
            continue
        committed = _git(project, "show", f"HEAD:{rel}")
        committed_text = committed.stdout.decode() if committed and committed.returncode == 0 else None
        if left == committed_text or (left is None and committed_text is None):
            _git(project, "reset", "-q", "--", rel)  # back to the commit: nothing of it staged
        elif left is None:
            _git(project, "rm", "-q", "--cached", "--", rel)
        else:
            blob = _git(project, "hash-object", "-w", "--stdin", stdin=left.encode())
            mode = _git(project, "ls-files", "-s", "--", rel).stdout.split()[0].decode()
            _git(project, "update-index", "--cacheinfo", f"{mode},{blob.stdout.decode().strip()},{rel}")


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
