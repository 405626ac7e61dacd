"""A tiny trained genre on disk (model, vocabulary, validation tokens, params.yaml), as the pipeline would leave it."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import yaml

from jukebox.dataset import Vocabulary, window_starts, windows
from jukebox.encodings import END, encode
from tests.conftest import ROOT, phrase_events

SEQ_LEN = 16


def tune_notes(transpose: int):
    return sorted((on, dur, p) for on, dur, pitches in phrase_events(transpose, 4) for p in pitches)


# Each (genre, encoding) is trained once a session, in a folder removed when the interpreter exits; every project
# that asks for it gets a copy. The training is seeded, so a copy is the very genre a new training would write.
_TRAINED: dict[tuple[str, str], Path] = {}
_FOLDER: tempfile.TemporaryDirectory | None = None


def write_tiny_genre(project: Path, genre: str = "tiny", encoding: str = "rhythm") -> Path:
    """Write a tiny trained genre (models/, data/sequences/, params.yaml) under `project`, trained once a session."""
    global _FOLDER
    if (genre, encoding) not in _TRAINED:
        _FOLDER = _FOLDER or tempfile.TemporaryDirectory(prefix="tiny-genres-")
        _TRAINED[genre, encoding] = train_tiny_genre(Path(_FOLDER.name) / f"{genre}-{encoding}", genre, encoding)
    shutil.copytree(_TRAINED[genre, encoding], project, dirs_exist_ok=True)
    return project


def train_tiny_genre(project: Path, genre: str, encoding: str) -> Path:
    """Train a few steps on six small tunes and write models/, data/sequences/ and params.yaml under `project`."""
    import keras

    from jukebox.model import ModelConfig, build_model

    pieces = [encode(tune_notes(shift), encoding) + [END] for shift in (0, 2, 4, 5, 7, 9)]
    vocab = Vocabulary.build(pieces)
    tokens = np.concatenate([vocab.ids(p) for p in pieces])
    x, y = windows(tokens, window_starts(len(tokens), SEQ_LEN, len(tokens)), SEQ_LEN)
    keras.utils.set_random_seed(0)
    config = ModelConfig(architecture="bilstm", seq_len=SEQ_LEN, encoding=encoding, embedding_dim=8, units=8,
                         dropout=0.0, learning_rate=0.02)
    model = build_model(len(vocab), config)
    model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    models = project / "models" / genre
    models.mkdir(parents=True, exist_ok=True)
    model.save(models / "model.keras")
    (models / "vocab.json").write_text(json.dumps({"encoding": encoding, **vocab.to_json()}))
    config.save(models / "config.json")
    sequences = project / "data" / "sequences" / genre
    sequences.mkdir(parents=True, exist_ok=True)
    np.save(sequences / "val.npy", tokens[: 4 * SEQ_LEN])
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.update(seq_len=SEQ_LEN, encoding=encoding, n_notes=24, n_samples=2, eval_samples=0)
    params["genres"] = {genre: {"source": "local", "path": "tunes", "program": 73, "bpm": 100}}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return project
