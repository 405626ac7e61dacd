"""benchmarks/drift.py on a tiny trained genre: the register of composed continuations against the real ones."""
import json

import numpy as np
import pytest

from benchmarks.drift import main
from jukebox.dataset import Vocabulary
from jukebox.encodings import END, encode
from tests.tiny_genre import tune_notes, write_tiny_genre


def test_follows_the_real_continuation_up_as_it_rises(tmp_path, capsys):
    project = write_tiny_genre(tmp_path)
    vocab = Vocabulary.from_json(json.loads((project / "models/tiny/vocab.json").read_text()))
    # Held-out music that climbs: the tune at 0 to prime, then higher and higher.
    shifts = [0, 0, 0, 2, 2, 4, 4, 5, 5, 7, 7, 9, 9, 9, 9]
    np.save(project / "data/sequences/tiny/val.npy",
            np.concatenate([vocab.ids(encode(tune_notes(s), "rhythm") + [END]) for s in shifts]))

    main(["--project", str(project), "--pieces", "2", "--n-notes", "120", "--json", str(tmp_path / "drift.json")])
    (row,) = json.loads((tmp_path / "drift.json").read_text())
    assert row["genre"] == "tiny" and row["pieces"] == 2 and "tiny" in capsys.readouterr().out
    first, middle, last = row["real"]
    assert first < middle < last, "the real continuation climbs as the held-out music does"
    assert all(40 < p < 90 for p in [row["primer"], *row["composed"]])


def test_carried_register_of_real_pieces_that_alternate_octaves_is_minus_one(tmp_path):
    from benchmarks.drift import carried
    from jukebox.generation import Composer
    from jukebox.model import ModelConfig, build_model

    # Held-out tunes an octave apart by turns, each closed by END: each starts high after a low one and low after
    # a high one.
    pieces = [encode(tune_notes(12 * (i % 2)), "rhythm") + [END] for i in range(8)]
    vocab = Vocabulary.build(pieces)
    val = np.concatenate([vocab.ids(p) for p in pieces])
    config = ModelConfig(architecture="lstm", seq_len=16, encoding="rhythm", embedding_dim=4, units=4, dropout=0.0)
    composer = Composer(build_model(len(vocab), config, every_position=False), vocab, config)

    found = carried(composer, val)
    assert found["boundaries"] == 7
    assert found["carried_real"] == pytest.approx(-1.0)
    assert np.isfinite(found["carried_model"])
