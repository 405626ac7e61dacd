"""Sharing through the DVC remote: a tiny pipeline is run and pushed, fresh clones pull it and compose untrained.

Also the quiet console: neither `dvc repro` (every TensorFlow stage) nor `jukebox generate` prints TensorFlow's
CUDA probing on a machine without a GPU.
"""
from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jukebox.entrypoint import has_nvidia_driver
from jukebox.midi_io import read_notes
from tests.conftest import ROOT, copy_trained, run_dvc

# Longer than the suite's 300 s (pyproject.toml): the first test of a run to need the trained project builds it
# through `dvc repro` (conftest.trained_template), then runs dvc or a browser on it itself.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

NOISE = re.compile(r"cuInit|E0000|cudart_stub|absl::InitializeLog")


def default_remote() -> tuple[str, str]:
    """The remote .dvc/config names as the default, and its url."""
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc" / "config")
    name = config["core"]["remote"]
    return name, config[f"'remote \"{name}\"'"]["url"]


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=cwd, check=True,
                   capture_output=True)


def generate(project: Path, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as on a user's machine: the project sets it, before TensorFlow loads
    return subprocess.run([sys.executable, "-m", "jukebox.cli", "--project", str(project), "generate", "--genre", "base",
                           "--n-notes", "12", "--seed", "3", "--out", str(out)], capture_output=True, text=True)


def test_the_default_remote_is_a_folder_beside_the_project():
    name, url = default_remote()
    # Relative to .dvc/, so `../../x` is a sibling of the project folder: every clone in the same folder finds it.
    assert not re.match(r"^[a-z0-9]+://", url) and url.startswith("../../"), url
    assert (ROOT / ".dvc" / url).resolve().parent == ROOT.parent


def test_a_fresh_clone_pulls_and_composes_without_training(trained_template, tmp_path):
    # The session's tiny project, trained by `dvc repro` with TensorFlow's log level unset, as on a user's machine.
    first = copy_trained(trained_template, tmp_path / "first")
    if not has_nvidia_driver():
        noise = [line for line in trained_template.repro_output.splitlines() if NOISE.search(line)]
        assert not noise, trained_template.repro_output
    headline = json.loads((first / "metrics" / "base" / "headline.json").read_text())
    assert {"files", "val_loss", "ppl", "ngram", "d8", "d8_held", "copy", "ce_note"} <= set(headline), headline
    with open(first / ".gitignore", "a") as f:
        f.write("/.jukebox-cache/\n")  # as in the project's own .gitignore
    git(first, "add", "-A")
    git(first, "commit", "-qm", "tiny pipeline run")
    run_dvc(first, "push")
    name, url = default_remote()
    store = (first / ".dvc" / url).resolve()
    assert store.parent == tmp_path and any(p.is_file() for p in store.rglob("*")), "pushed to the sibling folder"

    # A colleague's clone beside it: `dvc pull` finds the remote by the committed relative path.
    second = tmp_path / "second"
    subprocess.run(["git", "clone", "-q", str(first), str(second)], check=True)
    assert not (second / "models" / "base").exists()
    run_dvc(second, "pull")
    model = second / "models" / "base" / "model.keras"
    assert model.is_file() and (second / "data" / "sequences" / "base" / "val.npy").is_file()
    stamp = model.stat().st_mtime_ns
    result = generate(second, tmp_path / "song.mid")
    assert result.returncode == 0, result.stderr
    assert len(read_notes(tmp_path / "song.mid")) >= 1 and "wrote" in result.stdout
    if not has_nvidia_driver():
        assert not [line for line in result.stderr.splitlines() if NOISE.search(line)], result.stderr
    assert model.stat().st_mtime_ns == stamp and not (second / ".jukebox-cache" / "train").exists(), "no training"
    assert "Data and pipelines are up to date" in run_dvc(second, "status")

    # A clone elsewhere has no sibling folder; the remote is pointed at the store for this clone only.
    third = tmp_path / "elsewhere" / "third"
    subprocess.run(["git", "clone", "-q", str(first), str(third)], check=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    missing = subprocess.run(["dvc", "pull"], cwd=third, env=env, capture_output=True, text=True)
    assert missing.returncode != 0
    run_dvc(third, "remote", "modify", "--local", name, "url", str(store))
    run_dvc(third, "pull")
    assert "Data and pipelines are up to date" in run_dvc(third, "status")
    # The override lives in .dvc/config.local, which git ignores: the clone stays clean.
    assert (third / ".dvc" / "config.local").is_file()
    assert subprocess.run(["git", "status", "--porcelain"], cwd=third, capture_output=True, text=True).stdout == ""
