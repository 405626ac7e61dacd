"""The evaluate stage on a tiny genre: real-format notes, sequences, model and samples in a temp project."""
import csv
import json
import math

import numpy as np
import pytest
import yaml

from jukebox.artifacts import read_jsonl, read_npy, write_json, write_jsonl
from jukebox.dataset import window_starts, windows
from jukebox.encodings import END, by_piece, decode, group_onsets, is_note
from jukebox import judging
from jukebox.evaluation import meter_features, pitch_class_histogram, repeated_targets
from jukebox.model import SCORING_BATCH, ModelConfig, build_model
from stages import evaluate, sequences
from tests.conftest import copier_probs, phrase_events

SEQ_LEN = 8


@pytest.fixture(params=["pitch", "rhythm", "rhythm/c"])
def tiny_genre(tmp_path, monkeypatch, request):
    """A project folder with one genre built up to the generate stage's output, in each encoding (and key_mode c)."""
    monkeypatch.chdir(tmp_path)
    encoding, _, key_mode = request.param.partition("/")
    params = {"seed": 1, "seq_len": SEQ_LEN, "val_fraction": 0.25, "val_windows": 16, "batch_size": 8, "encoding": encoding,
              "key_mode": key_mode or "keep", "genres": {"tiny": {"source": "local", "path": "tunes"}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    pieces = [{"piece": f"tune_{i}.mid", "status": "kept", "meters": [[0.0, "2/4"]],
               "notes": [(onset, dur, p) for onset, dur, pitches in phrase_events(shift, repeats=4) for p in pitches]}
              for i, shift in enumerate([0, 2, 0, 5, 7, 0, 2, 5])]
    write_jsonl("data/notes/tiny/pieces.jsonl", pieces)
    write_json("data/notes/tiny/summary.json", {"files": 8, "skipped_files": 0, "notes": 0, "skipped": []})
    sequences.main("tiny")
    vocab = json.loads((tmp_path / "data/sequences/tiny/vocab.json").read_text())
    config = ModelConfig(architecture="bilstm", seq_len=SEQ_LEN, encoding=encoding, embedding_dim=4, units=4,
                         dropout=0.0, learning_rate=0.01)
    model = build_model(len(vocab["tokens"]), config)
    (tmp_path / "models/tiny").mkdir(parents=True)
    model.save(tmp_path / "models/tiny/model.keras")
    write_json("models/tiny/vocab.json", vocab)
    config.save("models/tiny/config.json")
    train = read_npy("data/sequences/tiny/train.npy")
    # Long enough for a few stretches of 32 events in either encoding, so the realness test has something to judge.
    copied = [vocab["tokens"][i] for i in train[10:130]]
    # One long piece: random tokens, none of them END.
    wandering = [t for t in (vocab["tokens"][i] for i in np.random.default_rng(0).integers(1, len(vocab["tokens"]), 220))
                 if t != END][:200]
    # Evaluate judges every composed piece (pieces.json); only the first was rendered to listen to (samples.json).
    write_json("data/generated/tiny/pieces.json", [{"seed": 1, "tokens": copied}, {"seed": 2, "tokens": wandering}])
    write_json("data/generated/tiny/samples.json", [{"file": "sample_01.mid", "tokens": copied}])
    return tmp_path, model, encoding


def test_evaluate_writes_every_metric_and_the_pitch_class_plot(tiny_genre):
    root, model, encoding = tiny_genre
    evaluate.main("tiny")
    metrics = json.loads((root / "metrics/tiny/evaluate.json").read_text())
    assert set(metrics) == {"model", "baselines", "music", "originality", "realness"}

    val = read_npy(root / "data/sequences/tiny/val.npy")
    x, y = windows(val, window_starts(len(val), SEQ_LEN, 16), SEQ_LEN)
    assert metrics["model"]["windows"] == len(y)
    # The same number Keras reports as the validation loss of these windows.
    assert metrics["model"]["cross_entropy"] == pytest.approx(model.evaluate(x, y, verbose=0)[0], rel=1e-4)
    # Per note: the same targets' summed loss over the notes among them (rhythm's time shifts are no notes).
    tokens = json.loads((root / "models/tiny/vocab.json").read_text())["tokens"]
    notes = sum(is_note(tokens[t], encoding) for t in y)
    ends = sum(tokens[t] == END for t in y)
    if encoding == "pitch":
        assert notes + ends == len(y), "pitch: every target but a piece's END is a note"
    assert metrics["model"]["cross_entropy_per_note"] == pytest.approx(
        metrics["model"]["cross_entropy"] * len(y) / notes)
    # Repeated targets need 7 tokens of context and their earlier occurrence inside the window: an 8-token window
    # has none, and says so rather than averaging nothing (tests/test_evaluation.py scores real repeats).
    assert not repeated_targets(x, y).any()
    assert metrics["model"]["repeated_share"] == 0 and metrics["model"]["cross_entropy_on_repeats"] is None
    assert metrics["baselines"]["ngram_cross_entropy_on_repeats"] is None
    # Nor can it hold a passage and its restatement: no figure rather than a wrong one.
    assert metrics["model"]["heard_again"] is None

    baselines = metrics["baselines"]
    assert baselines["ngram_perplexity"] < baselines["unigram_perplexity"]
    assert isinstance(baselines["beats_ngram"], bool)
    assert baselines["perplexity_ratio"] == pytest.approx(metrics["model"]["perplexity"] / baselines["ngram_perplexity"])
    assert baselines["ngram_cross_entropy_per_note"] == pytest.approx(
        math.log(baselines["ngram_perplexity"]) * len(y) / notes)

    music = metrics["music"]
    for name in ("pitch_classes", "durations", "inter_onsets", "pitch_range", "distinct_pitches", "chord_share",
                 "token_entropy", "notes_per_bar", "strong_beat_share"):
        assert 0 <= music[name]["overlap"] <= 1
    assert music["notes_per_bar"]["held_out"] > 1 and 0 < music["strong_beat_share"]["held_out"] <= 1
    assert metrics["originality"]["generated"]["longest_copy"] >= 120
    assert 0 < metrics["originality"]["generated"]["copy_rate"] < 1, "the wandering piece, never rendered, counts"
    for side in ("generated", "held_out"):
        assert 0 < metrics["originality"][side]["distinct_8grams"] <= 1
    # The held-out tunes play one phrase four times: far fewer distinct 8-grams than the random sample's.
    assert metrics["originality"]["held_out"]["distinct_8grams"] < 0.6

    # Restating counted on onsets too, over stretches of one length on both sides.
    for side in ("generated", "held_out"):
        assert metrics["originality"][side]["onset_stretches"] >= 1
        assert all(0 < metrics["originality"][side][f"distinct_{n}onsets"] <= 1 for n in (8, 16))

    realness = metrics["realness"]
    assert realness["stretches"] >= 2 and realness["folds"] >= 2
    assert 0 <= realness["low"] <= realness["classifier_accuracy"] <= realness["high"] <= 1

    with open(root / "metrics/tiny/pitch_classes.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 24 and {r["source"] for r in rows} == {"generated", "held-out"}
    held_out = [float(r["share"]) for r in rows if r["source"] == "held-out"]
    assert sum(held_out) == pytest.approx(1, abs=1e-3)
    # The held-out pieces as the model learnt them (val.npy): under key_mode c in C, as the samples are composed.
    learnt = pitch_class_histogram([decode([tokens[i] for i in val], encoding, 0.5)])
    assert held_out == pytest.approx(learnt, abs=2e-3)


def test_every_piece_is_closed_by_end_and_samples_are_judged_piece_by_piece(tiny_genre, monkeypatch):
    root, _, encoding = tiny_genre
    end = json.loads((root / "data/sequences/tiny/vocab.json").read_text())["tokens"].index(END)
    train, val = read_npy(root / "data/sequences/tiny/train.npy"), read_npy(root / "data/sequences/tiny/val.npy")
    assert (train == end).sum() == 6 and (val == end).sum() == 2 and train[-1] == val[-1] == end, "8 pieces, 8 ENDs"
    judged = []
    real_test = judging.realness
    monkeypatch.setattr(judging, "realness", lambda generated, real, seed, instruments=None: judged.append(generated) or
                        real_test(generated, real, seed))
    evaluate.main("tiny")
    composed = [p["tokens"] for p in json.loads((root / "data/generated/tiny/pieces.json").read_text())]
    parts = [part for tokens in composed for part in by_piece(tokens)]
    assert len(parts) > len(composed), "the copied sample crosses an END"
    assert judged == [[decode(part, encoding, 0.5) for part in parts]], "each piece of a sample on its own"


def test_samples_without_bar_lines_are_set_against_held_out_pieces_counted_the_same_way(tiny_genre):
    root, _, _ = tiny_genre
    evaluate.main("tiny")
    music = json.loads((root / "metrics/tiny/evaluate.json").read_text())["music"]
    names = set(json.loads((root / "data/sequences/tiny/split.json").read_text())["validation"])
    pieces = [p for p in read_jsonl(root / "data/notes/tiny/pieces.jsonl") if p["piece"] in names]
    held_out = [group_onsets([tuple(n) for n in p["notes"]]) for p in pieces]
    in_four = meter_features(held_out)["notes_per_bar"].mean()
    in_their_meter = meter_features(held_out, [p["meters"] for p in pieces])["notes_per_bar"].mean()
    # Neither pitch nor rhythm writes bars: their samples are counted in 4/4, and so are the 2/4 held-out tunes.
    assert in_their_meter < in_four and music["notes_per_bar"]["held_out"] == pytest.approx(in_four)


def test_heard_again_scores_the_same_targets_after_hearing_them_once():
    class Restating:  # a genre model that can only restate what its window holds (tests/conftest.py)
        seq_len = 64

        class model:
            @staticmethod
            def predict(windows, batch_size, verbose):
                assert windows.shape[1] == 64 and batch_size == SCORING_BATCH
                return copier_probs(windows, 40)

    val = np.random.default_rng(3).integers(1, 40, 1000)
    params = type("Params", (), {"seed": 1, "batch_size": 8})
    scores = judging.heard_again(Restating, val, params)
    assert scores["windows"] == judging.HEARD_AGAIN_WINDOWS
    assert scores["again"] < 0.1 < 2.5 < scores["first"]
    assert judging.heard_again(Restating, val[:80], params) is None
