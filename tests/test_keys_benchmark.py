"""benchmarks/keys.py: the keys of the songs a model begins, against held-out songs."""
import json

import numpy as np

from benchmarks import keys
from jukebox.encodings import END

SCALE = (0, 2, 4, 5, 7, 9, 11, 12, 11, 9, 7, 5, 4, 2, 0, 7, 4, 0)  # a major scale up and down, then its chord


def song(tonic: int):
    return [(float(i), 1.0, (60 + tonic + step,)) for i, step in enumerate(SCALE)]


def test_begun_songs_are_the_pieces_after_a_samples_first_end():
    assert keys.begun_songs(["C4:1", END, "D4:1", "+1", END, END, "E4:1"]) == [["D4:1", "+1"], ["E4:1"]]
    assert keys.begun_songs(["C4:1", "D4:1"]) == [], "a sample that never ends its primer's song begins none"


def test_key_shares_overlap_and_black_keys_of_songs():
    begun = [song(0), song(0), song(2), song(8)]  # C, C, D, Ab major
    held = [song(0), song(7)]  # C, G major
    shares = keys.key_shares(begun)
    assert shares == {"C major": 0.5, "D major": 0.25, "Ab major": 0.25}
    assert keys.key_shares(held) == {"C major": 0.5, "G major": 0.5} and keys.key_shares([[]]) == {}
    assert keys.overlap(shares, keys.key_shares(held)) == 0.5 and keys.overlap(shares, shares) == 1.0
    assert keys.black_key_share(held) == 2 / (2 * len(SCALE)), "G major's F#, up and down"
    assert keys.black_key_share([song(8)]) == 11 / len(SCALE), "Ab major: all but its C, F and G"


def test_the_keys_benchmark_reads_a_trained_project(trained_template, tmp_path, capsys):
    root = trained_template.root
    out = tmp_path / "keys.json"
    [result] = keys.main(["--project", str(root), "base", "--json", str(out)])
    assert json.loads(out.read_text()) == [result]
    split = json.loads((root / "data/sequences/base/split.json").read_text())
    assert result["songs"]["held_out"] == len(split["validation"])
    assert abs(sum(result["keys"]["held_out"].values()) - 1) < 1e-9
    first = result["first_note"]
    if first["training"] is None:
        assert "do not open with a note" in first["skipped"]
    else:
        assert len(first["training"]) == 12 and abs(sum(first["training"]) - 1) < 1e-3
    if first["windows"]:
        assert abs(sum(first["model"]) - 1) < 1e-3 and 0 <= first["overlap"] <= 1
    assert "held-out songs; key overlap" in capsys.readouterr().out


class Predicts:
    """A model that gives every window the same next-token probabilities."""

    def __init__(self, probs):
        self.probs, self.windows = np.array(probs, dtype=float), []

    def predict(self, x, batch_size, verbose):
        self.windows.append(x)
        return np.tile(self.probs, (len(x), 1))


def test_first_note_after_end_the_model_against_the_training_songs():
    tokens = ["<unk>", "C4:1", "D4:1", END, "Program_40"]
    train = np.array([1, 2, 3, 1, 2, 3, 2, 1, 3])  # songs open on C, then D (the last END opens nothing)
    val = np.array([1, 2, 3, 2, 1, 3, 1])
    model = Predicts([0, 0.2, 0.6, 0.2, 0])  # a fifth of its mass on END, which is no note
    first = keys.first_note_classes(model, tokens, "rhythm", val, train, seq_len=3)
    assert first["training"][0] == first["training"][2] == 0.5 and sum(first["training"]) == 1
    assert first["windows"] == 2 and [w.tolist() for w in model.windows] == [[[1, 2, 3], [2, 1, 3]]]
    assert first["model"][0] == 0.25 and first["model"][2] == 0.75 and first["overlap"] == 0.75
    # Pieces that open with their instrument (instruments: keep) have no first note to compare.
    opened = keys.first_note_classes(model, tokens, "rhythm", val, np.array([4, 1, 3, 4, 2, 3]), seq_len=3)
    assert opened["training"] is None and "do not open with a note" in opened["skipped"]
