"""The evaluate stage on a tiny genre: real-format notes, sequences, model and samples in a temp project."""
import csv
import json

import numpy as np
import pytest
import yaml

from jukebox.artifacts import read_npy, write_json, write_jsonl
from jukebox.dataset import window_starts, windows
from jukebox.model import build_model
from stages import evaluate, sequences
from tests.conftest import phrase_events

SEQ_LEN = 8


@pytest.fixture
def tiny_genre(tmp_path, monkeypatch):
    """A project folder with one genre built up to the generate stage's output."""
    monkeypatch.chdir(tmp_path)
    params = {"seed": 1, "seq_len": SEQ_LEN, "val_fraction": 0.25, "val_windows": 16, "batch_size": 8, "encoding": "pitch",
              "genres": {"tiny": {"source": "local", "path": "tunes"}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    pieces = [{"piece": f"tune_{i}.mid", "status": "kept",
               "notes": [(onset, dur, p) for onset, dur, pitches in phrase_events(shift, repeats=4) for p in pitches]}
              for i, shift in enumerate([0, 2, 0, 5, 7, 0, 2, 5])]
    write_jsonl("data/notes/tiny/pieces.jsonl", pieces)
    write_json("data/notes/tiny/summary.json", {"files": 8, "skipped_files": 0, "notes": 0, "skipped": []})
    sequences.main("tiny")
    vocab = json.loads((tmp_path / "data/sequences/tiny/vocab.json").read_text())
    model = build_model(len(vocab["tokens"]), SEQ_LEN, "bilstm", 4, 4, 0.0, 0.01)
    (tmp_path / "models/tiny").mkdir(parents=True)
    model.save(tmp_path / "models/tiny/model.keras")
    write_json("models/tiny/vocab.json", vocab)
    write_json("models/tiny/config.json", {"seq_len": SEQ_LEN, "encoding": "pitch", "step": 0.5})
    train = read_npy("data/sequences/tiny/train.npy")
    copied = [vocab["tokens"][i] for i in train[10:50]]
    wandering = [vocab["tokens"][i] for i in np.random.default_rng(0).integers(1, len(vocab["tokens"]), 40)]
    write_json("data/generated/tiny/samples.json", [{"file": "sample_01.mid", "tokens": copied},
                                                    {"file": "sample_02.mid", "tokens": wandering}])
    return tmp_path, model


def test_evaluate_writes_every_metric_and_the_pitch_class_plot(tiny_genre):
    root, model = tiny_genre
    evaluate.main("tiny")
    metrics = json.loads((root / "metrics/tiny/evaluate.json").read_text())
    assert set(metrics) == {"model", "baselines", "music", "originality"}

    val = read_npy(root / "data/sequences/tiny/val.npy")
    x, y = windows(val, window_starts(len(val), SEQ_LEN, 16), SEQ_LEN)
    assert metrics["model"]["windows"] == len(y)
    # The same number Keras reports as the validation loss of these windows.
    assert metrics["model"]["cross_entropy"] == pytest.approx(model.evaluate(x, y, verbose=0)[0], rel=1e-4)

    baselines = metrics["baselines"]
    assert baselines["ngram_perplexity"] < baselines["unigram_perplexity"]
    assert isinstance(baselines["beats_ngram"], bool)
    assert baselines["perplexity_ratio"] == pytest.approx(metrics["model"]["perplexity"] / baselines["ngram_perplexity"])

    music = metrics["music"]
    for name in ("pitch_classes", "durations", "inter_onsets", "pitch_range", "distinct_pitches", "chord_share",
                 "token_entropy"):
        assert 0 <= music[name]["overlap"] <= 1
    assert metrics["originality"]["generated"]["longest_copy"] >= 40
    assert 0 < metrics["originality"]["generated"]["copy_rate"] < 1

    with open(root / "metrics/tiny/pitch_classes.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 24 and {r["source"] for r in rows} == {"generated", "held-out"}
    assert sum(float(r["share"]) for r in rows if r["source"] == "held-out") == pytest.approx(1, abs=1e-3)
