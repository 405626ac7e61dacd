"""The web app's own genres: added whole from a staged upload, and removed without a trace, in DVC's records too."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from jukebox.web.app_genres import GenreExists, add_genre, remove_genre, staging_folder
from tests.conftest import copy_project, run_dvc, write_tune


def stage_files(project: Path, name: str, files: dict[str, bytes]) -> Path:
    staging = staging_folder(project, name)
    for file_name, data in files.items():
        (staging / file_name).write_bytes(data)
    return staging


def cache_files(project: Path) -> set[str]:
    return {str(p.relative_to(project)) for p in (project / ".dvc/cache").rglob("*") if p.is_file()}


@pytest.mark.slow
def test_a_removed_genre_leaves_nothing_in_dvc_lock_or_the_cache(tmp_path):
    """A failed job's `scrape@<name>` stayed in dvc.lock and its files in DVC's cache."""
    project = copy_project(tmp_path)
    shared = write_tune(tmp_path / "shared.mid", 0).read_bytes()
    own = write_tune(tmp_path / "own.mid", 5, repeats=3).read_bytes()
    add_genre(project, "mine", stage_files(project, "mine", {"shared.mid": shared, "own.mid": own}))
    add_genre(project, "other", stage_files(project, "other", {"shared.mid": shared}))
    run_dvc(project, "repro", "scrape@mine", "scrape@other")
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    assert {"scrape@mine", "scrape@other"} <= lock.keys()
    before = cache_files(project)
    runs_before = [p for p in before if p.startswith(".dvc/cache/runs/")]

    remove_genre(project, "mine")

    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    assert "scrape@mine" not in lock and "scrape@other" in lock, "only the removed genre's stages leave dvc.lock"
    after = cache_files(project)
    removed = before - after
    assert f".dvc/cache/files/md5/{hashlib.md5(own).hexdigest()[:2]}/{hashlib.md5(own).hexdigest()[2:]}" in removed, "its own file left the cache"
    assert f".dvc/cache/files/md5/{hashlib.md5(shared).hexdigest()[:2]}/{hashlib.md5(shared).hexdigest()[2:]}" in after, "a file another genre has stays"
    assert any(p.endswith(".dir") for p in removed), "its folder's listing left the cache"
    assert len([p for p in after if p.startswith(".dvc/cache/runs/")]) == len(runs_before) - 1, \
        "its run-cache entry is gone, the other genre's stays"
    assert not (project / "collections/mine").exists() and not (project / "data/raw/mine").exists()
    assert "mine" not in run_dvc(project, "status")


def test_add_genre_moves_the_staged_folder_whole_and_never_overwrites(tmp_path):
    project = copy_project(tmp_path)
    tune = write_tune(tmp_path / "t.mid").read_bytes()
    folder = add_genre(project, "mine", stage_files(project, "mine", {"t.mid": tune}))
    assert (folder / "t.mid").read_bytes() == tune
    assert [p.name for p in (project / "collections").iterdir()] == ["mine"], "no staging folder is left"
    staging = stage_files(project, "mine", {"x.mid": tune})
    with pytest.raises(GenreExists):
        add_genre(project, "mine", staging)
    assert sorted(p.name for p in folder.iterdir()) == ["t.mid"]
    with pytest.raises(ValueError, match="slug"):
        staging_folder(project, "mine\n")


def test_a_collection_may_not_take_the_base_models_name(tmp_path):
    project = copy_project(tmp_path)
    staging = stage_files(project, "base", {"t.mid": write_tune(tmp_path / "t.mid").read_bytes()})
    with pytest.raises(GenreExists, match="taken by the base model"):
        add_genre(project, "base", staging)
    assert not (project / "app_genres.yaml").exists() or "base" not in (project / "app_genres.yaml").read_text()
