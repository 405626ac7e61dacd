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


def test_played_notes_are_the_file_as_played(tmp_path):
    from jukebox.midi_io import notes_to_stream, played_notes, write_midi

    # Notes that start together and end a sixteenth apart: the score reader would make them one chord.
    events = [(0.0, 0.25, (67,)), (0.0, 0.5, (60, 64)), (0.5, 1.5, (62,)), (2.0, 2.0, (60,))]
    write_midi(notes_to_stream(events), tmp_path / "t.mid")
    assert played_notes(tmp_path / "t.mid") == [(0.0, 0.25, 67), (0.0, 0.5, 60), (0.0, 0.5, 64), (0.5, 1.5, 62),
                                                (2.0, 2.0, 60)]
    (tmp_path / "t.txt").write_text("no midi")
    with pytest.raises(ValueError, match="t.txt"):
        played_notes(tmp_path / "t.txt")
