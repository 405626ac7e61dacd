"""The web app's own genres: added whole from a staged upload, and removed without a trace, in DVC's records too."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from jukebox.web.jobs import pipeline_stages
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


def test_a_collection_keeps_its_instruments_unless_told_and_a_bad_setting_moves_nothing(tmp_path):
    from jukebox.params import ParamError, load_params

    project = copy_project(tmp_path)
    tune = write_tune(tmp_path / "t.mid").read_bytes()
    staging = stage_files(project, "mine", {"t.mid": tune})
    with pytest.raises(ParamError, match="drums = 'yes' has the wrong type; it must be true or false"):
        add_genre(project, "mine", staging, {"drums": "yes"})
    with pytest.raises(ValueError, match=r"chooses only \['drums', 'instruments'\].*not \['source'\]"):
        add_genre(project, "mine", staging, {"source": "web"})
    assert staging.is_dir() and not (project / "collections/mine").exists(), "nothing moved"
    assert yaml.safe_load((project / "app_genres.yaml").read_text()) == {"genres": {}}
    add_genre(project, "mine", staging)
    add_genre(project, "flat", stage_files(project, "flat", {"t.mid": tune}), {"instruments": "merge"})
    genres = load_params(project / "params.yaml").genres
    assert (genres["mine"].instruments, genres["mine"].drums, genres["flat"].instruments) == ("keep", True, "merge")


def git_state(project: Path) -> dict[str, str]:
    """What `git status` shows, with the staged and unstaged changes themselves."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, check=True).stdout

    # The app's state folder (its lock file) and the parse stage's note cache are ignored by the real project's
    # .gitignore, not by a test copy's.
    status = [line for line in git("status", "--porcelain", "--untracked-files=all").splitlines()
              if not line[3:].startswith((".jukebox/", ".jukebox-cache/"))]
    return {"status": status, "staged": git("diff", "--cached"), "unstaged": git("diff")}


@pytest.mark.slow
def test_removing_a_finished_genre_leaves_git_and_dvc_as_before_the_upload(trained_template, tmp_path):
    """A finished genre removed left its `/name` lines staged in data/*/.gitignore and a staged dvc.lock (autostage)."""
    from tests.conftest import copy_trained

    project = copy_trained(trained_template, tmp_path / "project")
    tunes = tmp_path / "tunes"
    files = {f"t{i}.mid": write_tune(tunes / f"t{i}.mid", i, repeats=2).read_bytes() for i in range(4)}
    git_before, dvc_before = git_state(project), run_dvc(project, "status")
    add_genre(project, "mine", stage_files(project, "mine", files))
    stages = pipeline_stages(project)  # as the app's job runs them: the genre's own stages, one by one
    run_dvc(project, "repro", "--single-item", *(f"{stage}@mine" for stage in stages[:stages.index("generate") + 1]))
    assert "/mine" in (project / "data/raw/.gitignore").read_text(), "DVC ignored the genre's outputs"
    assert git_state(project) != git_before

    remove_genre(project, "mine")

    after = git_state(project)
    assert set(after["status"]) ^ set(git_before["status"]) == set(), "git status differs"
    assert after == git_before
    assert run_dvc(project, "status") == dvc_before
    for folder in ("data/raw", "data/notes", "data/sequences", "data/generated", "models", "metrics"):
        gitignore = project / folder / ".gitignore"
        assert not gitignore.exists() or "/mine" not in gitignore.read_text().splitlines(), folder
