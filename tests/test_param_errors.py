"""Every parameter error, and a genre with too little data, through the stages' entry point: one line, no traceback.

Each line names the stage and genre, the key, the value and what is allowed; nothing is cleared or written first.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jukebox.entrypoint import run_stage
from tests.conftest import ROOT, phrase_events, write_tune

GENRE = {"source": "local", "path": "tunes"}


def project(root: Path, params: dict | None = None, genre: dict | None = None) -> Path:
    """A project folder with a local genre `g` (two tunes), some earlier output and the given params.yaml changes."""
    for i in range(2):
        write_tune(root / "tunes" / f"tune_{i}.mid", i)
    raw = root / "data/raw/g"
    raw.mkdir(parents=True)
    (raw / "manifest.json").write_text('{"earlier": "output"}')
    (root / "params.yaml").write_text(yaml.safe_dump({"seq_len": 8, "val_fraction": 0.25, "parse_timeout": 30,
                                                      "jobs": 1, **(params or {}),
                                                      "genres": {"g": {**GENRE, **(genre or {})}}}))
    return root


def notes_of_four_pieces(root: Path) -> None:
    """data/notes/g/ as the parse stage leaves it: four short pieces."""
    out = root / "data/notes/g"
    out.mkdir(parents=True)
    pieces = [{"piece": f"p{i}.mid", "status": "kept",
               "notes": sorted([on, d, p] for on, d, ps in phrase_events(i, 1) for p in ps)} for i in range(4)]
    (out / "pieces.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pieces))
    (out / "summary.json").write_text(json.dumps({"files": 4, "skipped_files": 0, "notes": 40, "skipped": []}))


def one_readable_file(root: Path) -> None:
    """data/raw/g/ with one tune and one broken file, as scrape would leave them."""
    raw = root / "data/raw/g"
    write_tune(raw / "good.mid", 0)
    (raw / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06 truncated")
    files = [{"file": "good.mid", "status": "kept"}, {"file": "broken.mid", "status": "kept"}]
    (raw / "manifest.json").write_text(json.dumps({"genre": "g", "kept": 2, "skipped": 0, "files": files}))


# (stage, genre, params changes, genre changes, extra setup, the words the one line must hold)
CASES = {
    "unknown key": ("scrape", "g", {"sequence_length": 10}, None, None,
                    ["params.yaml: unknown key 'sequence_length' (= 10); known keys are [", "'seq_len'"]),
    "wrong type": ("sequences", "g", {"seq_len": "long"}, None, None,
                   ["seq_len = 'long' has the wrong type; it must be an integer from 1 to 10000"]),
    "zero size": ("train", "g", {"batch_size": 0}, None, None,
                  ["batch_size = 0 is out of range; it must be an integer >= 1"]),
    "negative size": ("train", "g", {"units": -4}, None, None,
                      ["units = -4 is out of range; it must be an integer >= 1"]),
    "zero time limit": ("parse", "g", {"parse_timeout": 0}, None, None,
                        ["parse_timeout = 0.0 is out of range; it must be seconds from 0 (exclusive) to 86400"]),
    "temperature below 0": ("generate", "g", {"temperature": -0.5}, None, None,
                            ["temperature = -0.5 is out of range; it must be a number >= 0"]),
    "unknown source": ("scrape", "g", {}, {"source": "ftp"}, None,
                       ["genres.g: source = 'ftp' is out of range; it must be one of ('corpus', 'local', 'web', "
                        "'urls')"]),
    "missing local folder": ("scrape", "g", {}, {"path": "no/such/folder"}, None,
                             ["genres.g.path = 'no/such/folder' is not a folder; it must be a folder of .mid files"]),
    "missing URL list": ("scrape", "g", {}, {"source": "urls", "urls_file": "urls/none.txt"}, None,
                         ["genres.g.urls_file = 'urls/none.txt' is not a file; it must be a text file of MIDI URLs"]),
    "unknown instruments": ("parse", "g", {}, {"instruments": "split"}, None,
                            ["genres.g: instruments = 'split' is out of range; it must be one of ('merge', 'keep')"]),
    "unknown genre": ("parse", "jazz", {}, None, None, ["unknown genre 'jazz': params.yaml `genres` has ['g']"]),
    "seq_len longer than the pieces": ("sequences", "g", {"seq_len": 500}, None, notes_of_four_pieces,
                                       ["seq_len = 500 is too long for genre g: its validation split has",
                                        "(1 pieces), and a window needs seq_len + 1; seq_len must be from 1 to",
                                        "or raise val_fraction or add pieces"]),
    "too little data": ("parse", "g", {}, None, one_readable_file,
                        ["1 of its 2 MIDI files can be read as music (1 skipped, each with its reason in "
                         "data/notes/g/summary.json); a genre needs at least 2 to train"]),
    "an earlier stage not run": ("train", "g", {}, None, None,
                                 ["data/sequences/g/train.npy does not exist; it is made by an earlier stage: run "
                                  "`dvc repro train@g`"]),
}


@pytest.mark.parametrize("case", CASES)
def test_each_error_is_one_line_naming_key_value_and_range(case, tmp_path, monkeypatch):
    import importlib

    stage, genre, params, genre_change, setup, words = CASES[case]
    root = project(tmp_path, params, genre_change)
    if setup:
        setup(root)
    monkeypatch.chdir(root)
    with pytest.raises(SystemExit) as exit_:
        run_stage(stage, importlib.import_module(f"stages.{stage}").main, [genre])
    line = exit_.value.code
    assert isinstance(line, str) and "\n" not in line and line.startswith(f"{stage}[{genre}]: "), line
    for text in words:
        assert text in line
    if stage == "scrape":
        assert json.loads((root / "data/raw/g/manifest.json").read_text()) == {"earlier": "output"}, \
            "checked before anything was cleared"


@pytest.mark.parametrize("stage, params, words", [
    ("scrape", {"sequence_length": 10}, "unknown key 'sequence_length'"),
    ("sequences", {"seq_len": 0}, "seq_len = 0 is out of range"),
])
def test_the_stage_command_prints_only_that_line(stage, params, words, tmp_path):
    root = project(tmp_path, params)
    result = subprocess.run([sys.executable, "-m", f"stages.{stage}", "g"], cwd=root, capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"{stage}[g]: ") and words in result.stderr


def test_a_stage_without_a_genre_says_how_to_call_it():
    with pytest.raises(SystemExit, match=r"usage: python -m stages.parse <genre>"):
        run_stage("parse", lambda genre: None, [])


@pytest.mark.parametrize("name", ["folk\n", "folk; rm -rf data", "../folk"])
def test_a_stage_refuses_a_genre_name_that_is_not_a_slug(tmp_path, monkeypatch, capsys, name):
    """Whatever reaches a stage's command line, a name that is not a slug touches nothing."""
    monkeypatch.chdir(project(tmp_path))
    ran = []
    with pytest.raises(SystemExit) as exit_:
        run_stage("scrape", ran.append, [name])
    assert ran == [] and "is not a genre slug" in str(exit_.value) and repr(name) in str(exit_.value)
    assert (tmp_path / "data/raw/g/manifest.json").read_text() == '{"earlier": "output"}'
