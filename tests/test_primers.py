"""Primers (jukebox/primers.py): a MIDI file's opening read as a record, made tokens of a genre and a window."""
import logging

import numpy as np
import pytest

from jukebox.encodings import END, is_note
from jukebox.generation import Composer
from jukebox.midi_io import notes_to_stream, read_notes, write_midi
from jukebox.primers import opening_notes, primer_of, primer_tokens, read_primer
from tests.tiny_genre import SEQ_LEN, write_tiny_genre


@pytest.fixture(scope="module")
def composer(tmp_path_factory):
    return Composer.load(write_tiny_genre(tmp_path_factory.mktemp("project")) / "models" / "tiny")


def window_of(composer, path):
    """The window `jukebox generate --primer path` continues."""
    return primer_of(composer, read_primer(path, composer.seq_len), path)[0]


def test_primer_swaps_notes_the_genre_never_had_and_says_so(composer, tmp_path, caplog):
    odd = [(0.0, 1.0, 60), (1.0, 0.5, 62), (1.5, 0.5, 100), (2.0, 1.6667, 64)]  # E7 out of range; 5/3 not in the set
    primer_file = tmp_path / "odd.mid"
    write_midi(notes_to_stream([(on, dur, (p,)) for on, dur, p in odd]), primer_file)
    record = read_primer(primer_file, composer.seq_len)
    with caplog.at_level(logging.WARNING):
        tokens, swaps = primer_tokens(composer, record, primer_file)
    assert swaps["E7:1/2"].startswith("E") and swaps["E7:1/2"].endswith(":1/2"), swaps
    assert all(t in composer.vocab.tokens for t in tokens)
    assert "E7:1/2 -> E" in caplog.text and str(primer_file) in caplog.text
    window, shift = primer_of(composer, record, primer_file)
    assert window.shape == (SEQ_LEN,) and (window != 0).all() and shift == 0
    assert composer.vocab.decode(window[-len(tokens):]) == tokens, "the window ends where the primer ends"
    assert composer.vocab.decode(window[-len(tokens) - 1:-len(tokens)]) == [END], "and begins a piece, after END"


def test_key_mode_c_reads_a_primer_in_c(composer, tmp_path):
    from music21 import key as m21key

    # A D major primer with its key signature: read in C under key_mode c, as the genre was learnt.
    score = notes_to_stream([(float(i), 1.0, (p,)) for i, p in enumerate([62, 64, 66, 67, 69, 71, 73, 74])])
    score.parts[0].insert(0, m21key.Key("D"))
    primer_file = tmp_path / "d_major.mid"
    write_midi(score, primer_file)
    in_c = Composer(composer.model, composer.vocab, composer.config, key_mode="c")
    record = read_primer(primer_file, composer.seq_len)
    tokens, _ = primer_tokens(in_c, record, primer_file)
    assert [t for t in tokens if is_note(t, "rhythm")][:3] == ["C4:1", "D4:1", "E4:1"]
    assert primer_tokens(composer, record, primer_file)[0][0] == "D4:1", "key_mode keep reads it as it is"
    assert primer_of(in_c, record, primer_file)[1] == -2, "the piece goes back up to D"


def test_primer_with_nothing_to_match_is_refused(composer, tmp_path):
    empty = tmp_path / "empty.mid"
    write_midi(notes_to_stream([]), empty)
    with pytest.raises(ValueError, match="empty.mid: the primer has no notes"):
        window_of(composer, empty)


@pytest.mark.parametrize("tracks", [False, True])
def test_primer_that_is_no_readable_midi_file_is_refused_with_its_name(tmp_path, tracks):
    from tests.test_fuzz import late_notes

    text = tmp_path / "notes.txt"
    text.write_text("C D E F G")
    with pytest.raises(ValueError, match="notes.txt: the primer is not a MIDI file"):
        read_primer(text, 16, tracks)
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    with pytest.raises(ValueError, match="broken.mid: .*not a readable MIDI file"):
        read_primer(broken, 16, tracks)
    endless = tmp_path / "endless.mid"
    endless.write_bytes(late_notes(1, 2**27))  # 37 bytes, yet 2**27 quarter notes long
    with pytest.raises(ValueError, match="endless.mid: .*too big.* quarter notes"):
        read_primer(endless, 16, tracks)


def test_only_the_opening_of_a_primer_is_read(tmp_path):
    from tests.test_fuzz import midi_file, notes_track

    long_piece = tmp_path / "long.mid"
    long_piece.write_bytes(midi_file([notes_track([(0, 240, 60 + i % 12) for i in range(3000)]),
                                      notes_track([(120, 120, 40 + i % 12) for i in range(3000)], channel=1)]))
    notes = opening_notes(long_piece, 20)
    assert len(notes) == 40 and max(on for on, _, _ in notes) < 20, "20 notes a track, from the start"
    assert all(d == 0.5 for _, d, p in notes if p >= 60), "cut notes keep their endings"
    assert read_primer(long_piece, 20)["notes"] == [list(n) for n in notes]
    # A file shorter than the limit (200 notes a track here; music21 reads the 3000-note one whole for a minute).
    short_piece = tmp_path / "short.mid"
    short_piece.write_bytes(midi_file([notes_track([(0, 240, 60 + i % 12) for i in range(200)]),
                                       notes_track([(120, 120, 40 + i % 12) for i in range(200)], channel=1)]))
    assert opening_notes(short_piece, 10_000) == read_notes(short_piece), "a short file is read whole"


def test_a_short_primer_is_repeated_to_fill_the_window(composer, tmp_path):
    primer_file = tmp_path / "two.mid"
    write_midi(notes_to_stream([(0.0, 1.0, (60,)), (1.0, 1.0, (62,))]), primer_file)
    window = window_of(composer, primer_file)
    opening = composer.vocab.ids([END, "C4:1", "+1", "D4:1"])
    assert window.shape == (SEQ_LEN,) and (window[-4:] == opening).all() and (window[-8:-4] == opening).all()
    assert np.isin(window, opening).all()
