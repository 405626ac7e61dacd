import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from jukebox.dataset import window_starts, windows
from jukebox.model import load_model

TUNE = [1, 2, 3, 4, 5, 3, 2, 1, 6, 7, 6, 5, 4, 3, 2, 1]
TINY = dict(encoding="pitch", seq_len=12, units=16, embedding_dim=8, dropout=0.0, learning_rate=0.01, epochs=3, windows_per_epoch=256,
            val_windows=32, batch_size=32, patience=2)


def tiny_project(root: Path, **params) -> Path:
    """A project folder with the sequences of one genre `g` (a repeated tune) and a params.yaml."""
    seq = root / "data/sequences/g"
    seq.mkdir(parents=True)
    np.save(seq / "train.npy", np.tile(np.array(TUNE, dtype=np.int32), 40))
    np.save(seq / "val.npy", np.roll(np.tile(np.array(TUNE, dtype=np.int32), 6), 3))
    tokens = ["<unk>", "C4", "D4", "E4", "F4", "G4", "A4", "B4"]
    (seq / "vocab.json").write_text(json.dumps({"encoding": "pitch", "tokens": tokens, "counts": [0] + [1] * 7}))
    (root / "params.yaml").write_text(yaml.safe_dump({**TINY, **params, "genres": {"g": {"source": "local",
                                                                                           "path": "midi"}}}))
    return root


def next_token_loss(project: Path, seq_len: int, count: int) -> float:
    """The saved model's mean loss of the token after each validation window, computed afresh."""
    model = load_model(project / "models/g/model.keras")
    val = np.load(project / "data/sequences/g/val.npy")
    x, y = windows(val, window_starts(len(val), seq_len, count), seq_len)
    probs = model.predict(x, verbose=0)
    assert probs.shape == (len(x), 8), "every architecture is saved as window -> next-token probabilities"
    return float(-np.log(probs[np.arange(len(y)), y]).mean())


@pytest.mark.parametrize("architecture, layers, extra", [
    ("bilstm", 1, {}), ("lstm", 2, {}), ("gru", 1, {}),
    ("transformer", 2, {"optimizer": "adamw", "warmup_steps": 4, "transpose": 2, "precision": "mixed_bfloat16"}),
])
def test_train_stage_reports_the_next_token_val_loss(architecture, layers, extra, tmp_path, monkeypatch):
    from stages import train

    project = tiny_project(tmp_path, architecture=architecture, layers=layers, **extra)
    monkeypatch.chdir(project)
    train.main("g")
    metrics = json.loads((project / "metrics/g/train/metrics.json").read_text())
    assert metrics["val_loss"] == pytest.approx(next_token_loss(project, 12, 32), rel=1e-3)
    assert metrics["windows_per_second"] > 0 and metrics["epochs"] >= 1
    config = json.loads((project / "models/g/config.json").read_text())
    assert config["architecture"] == architecture and config["layers"] == layers and config["seq_len"] == 12
    assert config["encoding"] == "pitch" and config["decay_steps"] == 3 * 8  # epochs x batches per epoch
    assert all(config[k] == v for k, v in extra.items() if k != "transpose")


def test_causal_model_learns_the_tune(tmp_path, monkeypatch):
    from stages import train

    project = tiny_project(tmp_path, architecture="lstm", epochs=6, patience=6)
    monkeypatch.chdir(project)
    train.main("g")
    metrics = json.loads((project / "metrics/g/train/metrics.json").read_text())
    assert metrics["val_accuracy"] > 0.9, "a repeated tune is predictable note by note"
