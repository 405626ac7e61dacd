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


# --- multi-track pieces ---------------------------------------------------------------------------------------

def _plain(piece, velocity=True):
    """Every note of a piece as (instrument, onset, duration, pitch[, velocity]), instrument = (is_drum, program)."""
    return sorted(((t.is_drum, t.program), n.onset, n.duration, n.pitch, *((n.velocity,) if velocity else ()))
                  for t in piece.tracks for n in t.notes)


def test_drum_band_survives_writing_and_reading_with_drums_on_channel_10(tmp_path):
    from jukebox.midi_io import read_midi_events, read_tracks, write_tracks
    from tests.conftest import drum_band

    band = drum_band()
    write_tracks(band, tmp_path / "band.mid")
    back = read_tracks(tmp_path / "band.mid")
    assert _plain(back) == _plain(band) and back.meters == band.meters and back.bpm == band.bpm
    assert {n.pitch for t in back.tracks if t.is_drum for n in t.notes} == {36, 38, 42}
    # In the file itself: every drum key on channel 10, no pitched note there.
    channels = {}
    for track in read_midi_events(tmp_path / "band.mid").tracks:
        for event in track.events:
            if event.isNoteOn():
                channels.setdefault(event.channel, set()).add(event.pitch)
    assert channels[10] == {36, 38, 42} and all(36 not in keys for ch, keys in channels.items() if ch != 10)


def test_a_meter_change_and_tempo_survive(tmp_path):
    from jukebox.midi_io import read_tracks, write_tracks
    from tests.conftest import drum_band

    band = drum_band()._replace(meters=[(0.0, "3/4"), (6.0, "6/8")], bpm=132.5)
    write_tracks(band, tmp_path / "band.mid")
    back = read_tracks(tmp_path / "band.mid")
    assert back.meters == [(0.0, "3/4"), (6.0, "6/8")] and back.bpm == 132.5


def test_a_chorale_keeps_its_four_voices_from_the_score_and_from_its_midi_file(tmp_path):
    from music21 import corpus, midi

    from jukebox.midi_io import read_tracks, score_tracks

    score = corpus.parse("bach/bwv66.6")
    (tmp_path / "chorale.mid").write_bytes(midi.translate.music21ObjectToMidiFile(score).writestr())
    from_score, from_file = score_tracks(score), read_tracks(tmp_path / "chorale.mid")
    assert len(from_score.tracks) == 4 == len(from_file.tracks)
    # Each voice, track by track: pitches, onsets, durations and instrument are the same either way.
    for a, b in zip(from_score.tracks, from_file.tracks):
        assert [(n.onset, n.duration, n.pitch) for n in a.notes] == [(n.onset, n.duration, n.pitch) for n in b.notes]
        assert (a.program, a.is_drum) == (b.program, b.is_drum)
    assert from_score.meters == from_file.meters == [(0.0, "4/4")]


@pytest.mark.parametrize("collection", ["oneills1850", "bach", "essenFolksong"])
def test_default_genre_pieces_survive_reading_and_writing(tmp_path, collection):
    from jukebox.midi_io import played_notes, read_tracks, write_tracks
    from jukebox.sources import _export, list_collection

    for ref in list_collection(collection)[:2]:
        data, _ = _export(ref)
        (tmp_path / "piece.mid").write_bytes(data)
        piece = read_tracks(tmp_path / "piece.mid")
        write_tracks(piece, tmp_path / "again.mid")
        again = read_tracks(tmp_path / "again.mid")
        assert _plain(again) == _plain(piece) and again.meters == piece.meters and again.bpm == piece.bpm
        # Every note music21 finds in the file's events, at its exact onset (music21 pairs a re-struck pitch's note-off
        # with another note-on than symusic does, so durations are compared by the round trip above).
        events = {(n[0], n[2]) for n in played_notes(tmp_path / "piece.mid")}
        read = {(n[1], n[3]) for n in _plain(piece)}
        if collection == "oneills1850":
            # Known loss (docs/guide/instruments.md): where music21's ABC export strikes a pitch again before its
            # note-off, symusic pairs the note-off with the first note-on and drops the second (5 of 123 notes in
            # the first tune). Never more notes than the events hold, and never other ones.
            assert read <= events and len(read) >= 0.9 * len(events)
        else:
            assert read == events
