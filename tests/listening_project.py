"""A project with a listening-test pool: the listen stage's real inputs (held-out pieces, a sample's tokens, the split)
written from tiny tunes, then the stage itself run on them, so the pool is what the pipeline would leave."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import yaml

from jukebox.encodings import encode
from tests.conftest import ROOT, copy_project

GENRE = "tunes"
PAIRS = 12


def _tune(seed: int, bars: int, meter: str) -> list[tuple[float, float, int]]:
    """A seeded tune of quarter and eighth notes filling `bars` bars of `meter`, a note at every bar line."""
    rng = np.random.default_rng(seed)
    per_bar = {"4/4": 4.0, "3/4": 3.0}[meter]
    notes, time = [], 0.0
    while time < bars * per_bar:
        duration = 0.5 if rng.random() < 0.4 and (time * 2) % 2 == 0 else 1.0
        notes.append((time, duration, int(60 + rng.integers(0, 12))))
        time += duration
    return notes


def write_listen_inputs(project: Path, bars: int = 2) -> None:
    """params.yaml (genre `tunes`), data/notes, data/sequences (split, vocabulary) and data/generated/pieces.json."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.update(listen_pairs=PAIRS, listen_bars=bars, encoding="rhythm")
    params["genres"] = {GENRE: {"source": "local", "path": "tunes", "program": 73, "bpm": 120}}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (project / "app_genres.yaml").unlink(missing_ok=True)
    meters = ["3/4" if i % 3 == 0 else "4/4" for i in range(PAIRS)]
    pieces = [{"piece": f"tune_{i}.mid", "notes": [list(n) for n in _tune(i, 2 * bars, meters[i])],
               "meters": [[0.0, meters[i]]], "key": "C major"} for i in range(PAIRS)]
    notes = project / "data" / "notes" / GENRE
    notes.mkdir(parents=True, exist_ok=True)
    (notes / "pieces.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pieces))
    sequences = project / "data" / "sequences" / GENRE
    sequences.mkdir(parents=True, exist_ok=True)
    (sequences / "split.json").write_text(json.dumps({"train": [], "validation": [p["piece"] for p in pieces]}))
    (sequences / "vocab.json").write_text(json.dumps({"encoding": "rhythm", "key_mode": "keep"}))
    generated = project / "data" / "generated" / GENRE
    generated.mkdir(parents=True, exist_ok=True)
    # Samples as a model leaves them: tokens from an odd point (no bar lines known), louder chords in some.
    samples = [{"seed": 100 + i, "primer_start": 0,
                "tokens": encode(_tune(100 + i, 4 * bars, "4/4") + [(0.0, 4.0, 48), (0.0, 4.0, 55)] * (i % 2),
                                 "rhythm")} for i in range(PAIRS)]
    (generated / "pieces.json").write_text(json.dumps(samples))


def listening_project(folder: Path, bars: int = 2) -> Path:
    """A copy of the project's source with the listen stage run for genre `tunes` (data/listening/tunes/)."""
    from stages.listen import main

    folder.mkdir(parents=True, exist_ok=True)
    project = copy_project(folder)
    write_listen_inputs(project, bars)
    here = Path.cwd()
    os.chdir(project)  # a stage runs in the project, as DVC runs it
    try:
        main(GENRE)
    finally:
        os.chdir(here)
    return project
