"""Shared fixtures: tiny MIDI files written by the tests themselves, and a scratch copy of the project."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from jukebox.midi_io import notes_to_stream, write_midi

ROOT = Path(__file__).resolve().parents[1]

# A few phrases with notes, a chord and varied rhythm; transposed to make distinct pieces.
PHRASE = [(0.0, 1.0, (60,)), (1.0, 0.5, (62,)), (1.5, 0.5, (64,)), (2.0, 1.0, (60, 64, 67)),
          (3.0, 1.0, (65,)), (4.0, 0.5, (67,)), (4.5, 0.5, (65,)), (5.0, 1.0, (64,)), (6.0, 2.0, (60,))]


def phrase_events(transpose: int = 0, repeats: int = 2):
    """Events of a short tune: the phrase repeated, moved by `transpose` semitones."""
    length = 8.0
    return [(onset + r * length, dur, tuple(p + transpose for p in pitches))
            for r in range(repeats) for onset, dur, pitches in PHRASE]


def write_tune(path: Path, transpose: int = 0, repeats: int = 2) -> Path:
    """Write a tiny real MIDI file."""
    write_midi(notes_to_stream(phrase_events(transpose, repeats)), path)
    return path


@pytest.fixture
def midi_folder(tmp_path: Path) -> Path:
    """A folder of six small MIDI tunes."""
    folder = tmp_path / "tunes"
    for i, shift in enumerate([0, 2, 4, 5, 7, 9]):
        write_tune(folder / f"tune_{i}.mid", shift, repeats=3)
    return folder


def copy_project(dest: Path) -> Path:
    """Copy the project's source (no data, models or metrics) into a fresh git repository with DVC."""
    for name in ["dvc.yaml", "params.yaml", "app_genres.yaml", "pyproject.toml", "stages", "jukebox", "urls", ".dvc",
                 ".dvcignore"]:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "tmp", "cache"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    (dest / ".gitignore").write_text("__pycache__/\n")
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init"]):
        subprocess.run(cmd, cwd=dest, check=True)
    return dest
