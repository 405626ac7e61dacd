import pytest

from jukebox.midi_io import read_notes
from tests.conftest import phrase_events, write_tune


def test_write_then_read_keeps_notes_chords_and_rhythm(tmp_path):
    path = write_tune(tmp_path / "t.mid", transpose=2, repeats=1)
    expected = sorted((on, dur, p) for on, dur, pitches in phrase_events(2, 1) for p in pitches)
    assert read_notes(path) == expected


def test_unreadable_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06garbage")
    with pytest.raises(ValueError, match="bad.mid"):
        read_notes(bad)
