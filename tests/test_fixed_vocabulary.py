"""Fixed vocabularies of the single-stream encodings (jukebox/encodings/fixed.py) through the sequences stage."""
import json

import numpy as np
import pytest
import yaml

from jukebox.encodings import DURATIONS, get_encoding
from jukebox.encodings.rhythm import DRUM_HIGH, DRUM_LOW, SHIFTS
from jukebox.encodings.fixed import PITCH_HIGH, PITCH_LOW, fixed_vocabulary, outside_grid
from jukebox.midi_io import notes_to_stream, write_midi
from jukebox.parsing import read_piece
from jukebox.vocabulary import FixedVocabulary
from tests.conftest import phrase_events, write_tune


def test_rhythm_vocabulary_holds_every_note_shift_instrument_and_drum_key_of_its_grid_and_nothing_else():
    vocabulary = fixed_vocabulary("rhythm")
    coder = get_encoding("rhythm")
    single = 2 + len(SHIFTS) + (PITCH_HIGH - PITCH_LOW + 1) * len(DURATIONS)
    assert len(vocabulary) == single + 128 + (DRUM_HIGH - DRUM_LOW + 1)
    assert vocabulary.tokens[:2] == ["<unk>", "<end>"]
    parsed = [coder.parse(t) for t in vocabulary.tokens[1:]]
    assert all(p is not None for p in parsed), "every token but <unk> is one the encoding reads"
    notes = {(p.pitches[0], p.value) for p in parsed if p.kind == "note"}
    assert notes == {(pitch, d) for pitch in range(PITCH_LOW, PITCH_HIGH + 1) for d in DURATIONS}
    assert {int(p.text) for p in parsed if p.kind == "program"} == set(range(128))
    assert {int(p.text) for p in parsed if p.kind == "drum"} == set(range(DRUM_LOW, DRUM_HIGH + 1))
    # Instruments come after every single-stream token: a vocabulary made before them keeps its ids.
    assert all(p.kind not in ("program", "drum") for p in parsed[:single - 1])
    assert fixed_vocabulary("rhythm") == vocabulary  # from settings alone, whenever it is made


def test_encodings_without_a_small_grid_say_so():
    with pytest.raises(ValueError, match="not available for encoding 'pitch'.*rhythm"):
        fixed_vocabulary("pitch")


def test_outside_the_grid_is_counted_by_kind():
    vocabulary = fixed_vocabulary("rhythm")
    assert outside_grid([["C4:1", "C0:1/2", "+1", "G9:1"], ["<end>", "K:D"]], vocabulary, "rhythm") == {
        "other_tokens": 1, "pitches_out_of_range": 2}
    assert outside_grid([["Drum_36", "Drum_20", "Program_40"]], vocabulary, "rhythm") == {"drum_keys_out_of_range": 1}


def _genre(tmp_path, genre, pieces):
    out = tmp_path / "data/notes" / genre
    out.mkdir(parents=True)
    (out / "pieces.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pieces))
    (out / "summary.json").write_text(json.dumps({"files": len(pieces), "skipped_files": 0, "notes": 1}))


def test_two_genres_write_byte_identical_vocabularies_and_count_what_falls_outside(tmp_path, monkeypatch):
    from stages import sequences

    monkeypatch.chdir(tmp_path)
    low = [(on, dur, tuple(p - 50 for p in ps)) for on, dur, ps in phrase_events(0, 2)]  # down to pitch 10
    write_midi(notes_to_stream(low), tmp_path / "low.mid")
    tunes = [{"piece": f"t{i}.mid", **read_piece(write_tune(tmp_path / f"t{i}.mid", i))} for i in range(4)]
    others = [{"piece": f"o{i}.mid", **read_piece(write_tune(tmp_path / f"o{i}.mid", 12 + 3 * i, 3))}
              for i in range(3)] + [{"piece": "low.mid", **read_piece(tmp_path / "low.mid")}]
    _genre(tmp_path, "tunes", tunes)
    _genre(tmp_path, "others", others)
    params = {"encoding": "rhythm", "vocabulary": "fixed", "seq_len": 8, "val_fraction": 0.25,
              "genres": {g: {"source": "local", "path": "x"} for g in ("tunes", "others")}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    sequences.main("tunes")
    sequences.main("others")
    first, second = (tmp_path / f"data/sequences/{g}/vocabulary.json" for g in ("tunes", "others"))
    assert first.read_bytes() == second.read_bytes()
    assert FixedVocabulary.load(first) == fixed_vocabulary("rhythm")
    vocab = json.loads((tmp_path / "data/sequences/others/vocab.json").read_text())
    assert vocab["tokens"] == fixed_vocabulary("rhythm").tokens  # what train reads: the same ids
    # The low piece's notes below A0 are counted, and kept in the arrays as <unk> (id 0), never dropped.
    low_notes = sum(1 for _, _, p in others[-1]["notes"] if p < PITCH_LOW)
    assert low_notes >= 10
    data = json.loads((tmp_path / "metrics/others/data.json").read_text())
    assert data["outside_grid"] == {"pitches_out_of_range": low_notes}
    ids = np.concatenate([np.load(tmp_path / f"data/sequences/others/{s}.npy") for s in ("train", "val")])
    assert (ids == 0).sum() == low_notes
    assert vocab["counts"][0] == (np.load(tmp_path / "data/sequences/others/train.npy") == 0).sum()
    assert json.loads((tmp_path / "metrics/tunes/data.json").read_text())["outside_grid"] == {}


def test_the_data_vocabulary_stays_the_default_and_writes_no_fixed_file(tmp_path, monkeypatch):
    from stages import sequences

    monkeypatch.chdir(tmp_path)
    _genre(tmp_path, "tunes", [{"piece": f"t{i}.mid", **read_piece(write_tune(tmp_path / f"t{i}.mid", i))}
                               for i in range(4)])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"seq_len": 8, "val_fraction": 0.25, "encoding": "rhythm",
                                                          "genres": {"tunes": {"source": "local", "path": "x"}}}))
    sequences.main("tunes")
    assert not (tmp_path / "data/sequences/tunes/vocabulary.json").exists()
    assert len(json.loads((tmp_path / "data/sequences/tunes/vocab.json").read_text())["tokens"]) < 100
