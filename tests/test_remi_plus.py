import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from jukebox.encodings.remi_plus import END, RemiPlus, RemiPlusSettings
from jukebox.vocabulary import FixedVocabulary, VocabularyError
from tests.conftest import drum_band, write_tune

ENCODING = RemiPlus()


def _plain(piece):
    return sorted(((t.is_drum, t.program), n.onset, n.duration, n.pitch) for t in piece.tracks for n in t.notes)


def test_drum_band_survives_encoding_every_note_with_its_instrument():
    band = drum_band()
    tokens, outside = ENCODING.encode_piece(band)
    back = ENCODING.decode_piece(tokens, band.bpm)
    assert _plain(back) == _plain(band) and back.meters == band.meters and back.bpm == band.bpm
    assert not outside and "PitchDrum_36" in tokens and "Program_-1" in tokens


def test_a_chorale_survives_encoding_pitches_onsets_durations_and_meter():
    from music21 import corpus

    from jukebox.midi_io import score_tracks

    chorale = score_tracks(corpus.parse("bach/bwv66.6"))
    tokens, outside = ENCODING.encode_piece(chorale)
    back = ENCODING.decode_piece(tokens, chorale.bpm)
    # One stream merges voices of one program (phase 2 gives each voice its own): every note survives, as a set.
    assert {n[1:] for n in _plain(back)} == {n[1:] for n in _plain(chorale)} and back.meters == chorale.meters
    assert not outside


def test_what_falls_outside_the_grid_is_counted():
    from jukebox.midi_io import MultiTrack, Track, TrackNote

    piece = MultiTrack([Track(0, False, [TrackNote(0.0, 1.0, 10), TrackNote(1.0, 12.0, 60)]),
                        Track(0, True, [TrackNote(0.0, 0.25, 20)])], [(0.0, "11/16")])
    outside = ENCODING.outside(piece)
    assert outside == {"pitches_out_of_range": 1, "durations_cut": 1, "drum_keys_out_of_range": 1,
                       "meters_outside": 1}
    assert RemiPlus(RemiPlusSettings(drums=False)).outside(piece)["drum_notes_without_drums"] == 1


def test_vocabulary_saves_loads_and_compares_by_its_bytes(tmp_path):
    vocab = ENCODING.vocabulary
    vocab.save(tmp_path / "v.json")
    loaded = FixedVocabulary.load(tmp_path / "v.json")
    assert loaded == vocab and loaded.id("PitchDrum_36") == vocab.tokens.index("PitchDrum_36")
    assert loaded.settings["miditok"]["use_programs"] is True and vocab.id(END) == 1
    other = RemiPlus(RemiPlusSettings(velocities=4)).vocabulary
    assert other != vocab and len(other) == len(vocab) - 4
    with pytest.raises(KeyError, match="Pitch_200"):
        vocab.id("Pitch_200")
    (tmp_path / "bad.json").write_text('{"format": 1, "tokens": [1]}')
    with pytest.raises(VocabularyError, match="bad.json"):
        FixedVocabulary.load(tmp_path / "bad.json")


def test_two_genres_with_the_same_settings_write_byte_identical_vocabularies(tmp_path, monkeypatch):
    from jukebox.midi_io import write_tracks
    from jukebox.parsing import read_piece, read_piece_tracks
    from stages import sequences

    monkeypatch.chdir(tmp_path)
    # Two different sets of pieces: a band with drums (keep: tracks), and single-stream tunes (merge: old records).
    band = []
    for i in range(4):
        write_tracks(drum_band(i + 1), tmp_path / f"band{i}.mid")
        band.append({"piece": f"band{i}.mid", **read_piece_tracks(tmp_path / f"band{i}.mid")})
    tunes = [{"piece": f"t{i}.mid", **read_piece(write_tune(tmp_path / f"t{i}.mid", i))} for i in range(4)]
    for genre, pieces in (("band", band), ("tunes", tunes)):
        out = tmp_path / "data/notes" / genre
        out.mkdir(parents=True)
        (out / "pieces.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pieces))
        (out / "summary.json").write_text(json.dumps({"files": 4, "skipped_files": 0, "notes": 1}))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"encoding": "remi_plus", "seq_len": 8, "val_fraction": 0.25,
                                                          "genres": {g: {"source": "local", "path": "x"}
                                                                     for g in ("band", "tunes")}}))
    sequences.main("band")
    sequences.main("tunes")
    first, second = (tmp_path / "data/sequences/band/vocabulary.json"), (tmp_path / "data/sequences/tunes/vocabulary.json")
    assert first.read_bytes() == second.read_bytes()
    # The token arrays use those ids: the band's drums are there, the tunes have none.
    import numpy as np

    drum = FixedVocabulary.load(first).id("Program_-1")
    band_ids = np.concatenate([np.load(tmp_path / f"data/sequences/band/{s}.npy") for s in ("train", "val")])
    tune_ids = np.concatenate([np.load(tmp_path / f"data/sequences/tunes/{s}.npy") for s in ("train", "val")])
    assert (band_ids == drum).any() and not (tune_ids == drum).any()
    assert json.loads((tmp_path / "metrics/band/data.json").read_text())["outside_grid"] == {}


_NOTE_TOKENS = st.one_of(st.integers(-1, 127).map(lambda p: f"Program_{p}"),
                         st.integers(21, 108).map(lambda p: f"Pitch_{p}"),
                         st.integers(27, 87).map(lambda p: f"PitchDrum_{p}"),
                         st.sampled_from(["Bar_None", "Position_0", "Position_6", "Position_12", "Velocity_63",
                                          "Velocity_95", "Duration_0.6.12", "Duration_1.0.12", "TimeSig_3/4", END]))


@settings(max_examples=150, deadline=None)
@given(st.lists(_NOTE_TOKENS, min_size=1, max_size=80))
def test_a_drum_key_never_comes_out_pitched_nor_a_pitch_on_channel_10(tmp_path_factory, tokens):
    from jukebox.midi_io import read_midi_events, write_tracks

    piece = ENCODING.decode_piece(["Bar_None", "TimeSig_4/4", *tokens], 120.0)
    path = tmp_path_factory.mktemp("s") / "s.mid"
    write_tracks(piece, path)
    # What the stream says: each note's kind by the program before it.
    drum_keys, pitches, program = set(), set(), None
    for token in tokens:
        kind, _, value = token.partition("_")
        if kind == "Program":
            program = int(value)
        elif kind == "PitchDrum" and program == -1:
            drum_keys.add(int(value))
        elif kind == "Pitch" and program != -1:  # before any Program token MidiTok plays piano (0)
            pitches.add(int(value))
    for track in read_midi_events(path).tracks:
        for event in track.events:
            if event.isNoteOn():
                assert event.pitch in (drum_keys if event.channel == 10 else pitches)
