"""The one compose path (jukebox/samples.py): primers, a batch of pieces, each written back in its primer's key."""
import numpy as np
import pytest

from jukebox.bars import key_shift
from jukebox.generation import Composer, Sampling, validation_primers
from jukebox.layout import Layout
from jukebox.midi_io import notes_to_stream, played_notes, read_music, read_notes, write_midi
from jukebox.params import load_params
from jukebox.samples import Piece, Primer, choose_primers, compose, compose_in_batches
from tests.conftest import write_tune
from tests.tiny_genre import write_tiny_genre


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    return Layout.of(write_tiny_genre(tmp_path_factory.mktemp("project")))


@pytest.fixture(scope="module")
def composer(layout):
    return Composer.load(layout.model("tiny"))


def d_major_primer(path):
    """A D major scale twice (the opening the model reads: seq_len 16 notes), then a long A major coda: the file's
    key is not its opening's."""
    score = notes_to_stream([(float(i), 1.0, (p,)) for i, p in enumerate([62, 64, 66, 67, 69, 71, 73, 74] * 2)]
                            + [(16.0 + i, 1.0, (p,)) for i, p in enumerate([69, 71, 73, 74, 76, 78, 80, 81] * 6)])
    write_midi(score, path)
    return path


def test_without_a_primer_pieces_start_from_validation_windows_chosen_by_the_seed(layout, composer):
    primers = choose_primers(composer, layout.val_tokens("tiny"), seed=4, count=3)
    windows, starts = validation_primers(np.load(layout.val_tokens("tiny")), composer.seq_len, 4, 3)
    assert [p.start for p in primers] == starts.tolist() and (np.stack([p.window for p in primers]) == windows).all()
    assert primers[0].described == f"validation window at token {starts[0]}" and primers[0].shift == 0


def test_compose_numbers_the_seeds_and_composes_each_piece_as_composer_compose_does(layout, composer):
    genre = load_params(layout.params).genre("tiny")
    pieces = compose(layout, genre, Sampling(20, 1.0, seed=7), count=3, composer=composer)
    assert [p.sampling.seed for p in pieces] == [7, 8, 9]
    alone = composer.compose(np.stack([p.primer.window for p in pieces]),
                             [Sampling(20, 1.0, seed=s) for s in (7, 8, 9)])
    assert [p.tokens for p in pieces] == alone and all(p.n_notes == 20 for p in pieces)


def test_the_generate_stages_two_batches_are_composes_pieces(layout, composer):
    """The pieces listened to are composed first, in a batch of their own: they and the rest must be compose's."""
    genre = load_params(layout.params).genre("tiny")
    sampling = Sampling(20, 1.0, seed=7)
    whole = compose(layout, genre, sampling, count=4, composer=composer)
    first, rest = compose_in_batches(layout, genre, sampling, count=4, first=1, composer=composer)
    assert [len(first), len(rest)] == [1, 3]
    assert [(p.tokens, p.sampling, p.primer.start) for p in first + rest] == [
        (p.tokens, p.sampling, p.primer.start) for p in whole]
    assert len(list(compose_in_batches(layout, genre, sampling, count=2, first=2, composer=composer))) == 1


def test_a_sample_record_has_the_keys_of_samples_json_in_their_order(layout, composer, tmp_path):
    """The generate stage's samples.json must stay byte-identical: the same keys, in the same order."""
    genre = load_params(layout.params).genre("tiny")
    piece = compose(layout, genre, Sampling(12, 0.9, top_k=5, top_p=0.9, seed=2), composer=composer)[0]
    record = piece.write(tmp_path / "sample_01.mid", later=True, with_tokens=True)
    assert list(record) == ["name", "file", "files", "instrument", "program", "bpm", "seconds", "n_notes",
                            "n_tokens", "encoding", "temperature", "top_k", "top_p", "seed", "primer",
                            "primer_start", "tokens"]
    assert (record["name"], record["file"], record["n_notes"], record["seed"]) == ("sample_01", "sample_01.mid", 12, 2)
    assert record["primer"] == f"validation window at token {record['primer_start']}"
    assert record["tokens"] == piece.tokens and (tmp_path / "sample_01.mid").is_file()


def test_key_mode_c_writes_the_piece_back_in_its_primers_opening_key(layout, composer, tmp_path):
    in_c = Composer(composer.model, composer.vocab, composer.config, key_mode="c")
    primer_file = d_major_primer(tmp_path / "d_major.mid")
    primer = choose_primers(in_c, layout.val_tokens("tiny"), seed=0, primer=primer_file)[0]
    # The opening, read in C as the model reads it, goes back by its own key (D major, or B minor: 2 semitones),
    # not by the whole file's, which its long coda makes A major (3 the other way).
    assert primer.shift == -2 and primer.start is None and primer.described == f"opening of {primer_file}"
    assert key_shift(read_music(primer_file).key) == 3
    assert choose_primers(composer, layout.val_tokens("tiny"), seed=0, primer=primer_file)[0].shift == 0, \
        "key_mode keep moves nothing"
    genre = load_params(layout.params).genre("tiny")
    piece = Piece(in_c, genre, ["C4:1", "E4:1", "+1", "G4:1"], primer, Sampling(3))
    record = piece.write(tmp_path / "back.mid", render=False)
    assert played_notes(tmp_path / "back.mid") == [(0.0, 1.0, 62), (0.0, 1.0, 66), (1.0, 1.0, 69)], "back in D major"
    assert record["files"] == {"midi": "back.mid"} and "primer_start" not in record


def test_a_primer_the_genre_cannot_read_is_refused_with_its_name(layout, composer, tmp_path):
    empty = tmp_path / "empty.mid"
    write_midi(notes_to_stream([]), empty)
    with pytest.raises(ValueError, match="empty.mid: the primer has no notes"):
        choose_primers(composer, layout.val_tokens("tiny"), seed=0, primer=empty)
    tune = write_tune(tmp_path / "tune.mid")
    assert isinstance(choose_primers(composer, layout.val_tokens("tiny"), seed=0, count=2, primer=tune)[1], Primer)


def test_a_piece_plays_its_genres_instrument_at_its_tempo(layout, composer, tmp_path):
    import dataclasses

    from music21 import converter, instrument, tempo

    genre = dataclasses.replace(load_params(layout.params).genre("tiny"), program=73, bpm=100)
    primer = choose_primers(composer, layout.val_tokens("tiny"), seed=0)[0]
    piece = Piece(composer, genre, ["C4:1", "+1", "D4:1/2", "+1/2", "E4:2"], primer, Sampling(3))
    path = tmp_path / "song.mid"
    piece.write(path, render=False)
    assert read_notes(path) == [(0.0, 1.0, 60), (1.0, 0.5, 62), (1.5, 2.0, 64)]
    score = converter.parse(str(path), forceSource=True)
    assert score.recurse().getElementsByClass(instrument.Instrument).first().midiProgram == 73
    assert score.recurse().getElementsByClass(tempo.MetronomeMark).first().number == 100
