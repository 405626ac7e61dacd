import numpy as np
import pytest

from jukebox.encodings import FollowGrammar, follow_matrix, is_note
from jukebox.generation import Composer, Sampling, generate, sample, validation_primers
from jukebox.midi_io import notes_to_stream, write_midi
from jukebox.model import ModelConfig, build_model
from jukebox.primers import primer_of, read_primer
from tests.conftest import write_tune
from tests.tiny_genre import SEQ_LEN, write_tiny_genre



def bilstm(vocab_size: int, seq_len: int):
    """An untrained 2018-style model: generation must work whatever the weights. Seeded: an untrained model's
    probabilities are nearly even, and two of them equal after rounding let top_k 1 keep both (it failed CI once)."""
    import keras

    keras.utils.set_random_seed(0)
    return build_model(vocab_size, ModelConfig(architecture="bilstm", seq_len=seq_len, embedding_dim=4, units=4,
                                               dropout=0.0, learning_rate=0.01))

def draw(probs, temperature, seed, **filters):
    """sample() with one uniform number a row from a seeded generator."""
    probs = np.asarray(probs)
    return sample(probs, temperature, np.random.default_rng(seed).random(len(probs)), **filters).numpy()


def test_temperature_zero_is_argmax():
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])
    assert draw(probs, 0, 0).tolist() == [1, 0]


def test_sampling_follows_the_distribution_and_is_seeded():
    probs = np.tile([[0.1, 0.6, 0.3]], (20000, 1))
    draws = draw(probs, 1.0, 3)
    assert np.allclose(np.bincount(draws, minlength=3) / len(draws), [0.1, 0.6, 0.3], atol=0.015)
    assert (draw(probs[:50], 1.0, 3) == draws[:50]).all()
    sharp = draw(probs, 0.25, 3)
    assert (sharp == 1).mean() > 0.9, "low temperature sharpens towards the mode"


def test_settings_apply_per_row():
    probs = np.tile([[0.05, 0.4, 0.1, 0.3, 0.15]], (4, 1))
    uniform = np.full(4, 0.99)  # the last token each row's filters leave
    assert sample(probs, [1.0, 1.0, 0.0, 1.0], uniform, [0, 2, 0, 0], [1.0, 1.0, 1.0, 0.5]).numpy().tolist() == \
        [4, 3, 1, 3], "unfiltered, top-k 2, argmax, the nucleus of 0.4 + 0.3"


def test_generate_batches_samples_and_never_draws_unknown():
    model = bilstm(6, 5)
    primers = np.array([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]], dtype=np.int32)
    out = generate(model, primers, n_notes=12, temperature=1.0, seed=7)
    assert out.shape == (2, 12) and (out != 0).all() and out.max() < 6
    assert (generate(model, primers, 12, 1.0, seed=7) == out).all(), "same seed, same music"


def test_top_k_draws_only_among_the_k_most_likely():
    probs = np.tile([[0.05, 0.4, 0.1, 0.3, 0.15]], (5000, 1))
    draws = draw(probs, 1.0, 1, top_k=2)
    assert set(draws.tolist()) == {1, 3}
    assert abs((draws == 1).mean() - 0.4 / 0.7) < 0.03, "renormalised among the kept"
    assert (draw(probs[:3], 1.0, 1, top_k=1) == 1).all(), "top_k 1 is argmax"


def test_top_p_draws_only_from_the_nucleus():
    probs = np.tile([[0.05, 0.5, 0.15, 0.3]], (5000, 1))
    draws = draw(probs, 1.0, 2, top_p=0.8)
    assert set(draws.tolist()) == {1, 3}, "0.5 + 0.3 reach 0.8: the rest is cut"
    assert set(draw(probs, 1.0, 2, top_p=0.81).tolist()) == {1, 2, 3}
    assert set(draw(probs, 1.0, 2, top_p=0.1).tolist()) == {1}, "the top token stays"
    again = draw(probs, 1.0, 2, top_p=0.8)
    assert (again == draws).all(), "seeded"


def test_banned_tokens_are_never_drawn_even_when_hot():
    probs = np.tile([[0.0, 0.98, 0.02]], (20000, 1))
    draws = draw(probs, 20.0, 0)
    assert 0 not in draws and 2 in draws


def test_generate_draws_only_what_may_follow():
    model = bilstm(5, 4)
    follow = np.array([[1, 1, 1, 1, 1], [0, 0, 1, 0, 0], [0, 0, 0, 1, 1], [0, 1, 0, 0, 0], [0, 1, 0, 0, 0]], float)
    primers = np.array([[1, 2, 3, 4], [4, 3, 2, 1]], dtype=np.int32)
    out = generate(model, primers, 30, 2.0, seed=1, grammar=FollowGrammar(follow))
    rows = np.concatenate([primers[:, -1:], out], axis=1)
    assert all(follow[a, b] for row in rows for a, b in zip(row, row[1:]))


def test_generate_passes_top_k_and_top_p_on():
    model = bilstm(6, 5)
    primers = np.array([[1, 2, 3, 4, 5]] * 3, dtype=np.int32)
    greedy = generate(model, primers, 10, 1.0, seed=3, top_k=1)
    assert (greedy == generate(model, primers, 10, 0.0, seed=9)).all(), "top_k 1 = temperature 0"
    assert (greedy == greedy[0]).all()


# --- Composer ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def composer(tmp_path_factory):
    project = write_tiny_genre(tmp_path_factory.mktemp("project"))
    return Composer.load(project / "models" / "tiny")


def test_compose_gives_every_sample_its_notes_in_one_reproducible_batch(composer):
    primers = np.stack([np.arange(1, SEQ_LEN + 1) % len(composer.vocab)] * 2).astype(np.int32)
    pieces = composer.compose(primers, Sampling(40, 1.0, top_p=0.95, seed=5))
    assert len(pieces) == 2
    for tokens in pieces:
        assert sum(is_note(t, "rhythm") for t in tokens) == 40 and is_note(tokens[-1], "rhythm")
        assert "<unk>" not in tokens
        assert {t for t in tokens if t.startswith("+")}, "rhythm: time moves on between onsets"
    assert composer.compose(primers, Sampling(40, 1.0, top_p=0.95, seed=5)) == pieces, "same seed, same music"
    follow, index = follow_matrix(composer.vocab.tokens, "rhythm"), {t: i for i, t in enumerate(composer.vocab.tokens)}
    assert all(follow[index[a], index[b]] for tokens in pieces for a, b in zip(tokens, tokens[1:])), \
        "well-formed: chords rise, shifts shrink"
    greedy = composer.compose(primers, Sampling(40, 0.0, seed=1))
    assert greedy[0] == greedy[1], "temperature 0 is deterministic: same primer, same piece"
    assert composer.tokens_per_note() > 1.5


def test_every_row_composes_what_it_would_alone(composer):
    """The web app batches concurrent requests: each answer must be the one its request gets alone."""
    val = np.arange(1, 4 * SEQ_LEN + 1) % (len(composer.vocab) - 1) + 1
    rows = [Sampling(30, 1.0, seed=3), Sampling(12, 0.7, top_k=3, seed=4), Sampling(45, 1.3, top_p=0.9, seed=5),
            Sampling(30, 0.0, seed=6), Sampling(30, 1.0, seed=3)]
    primers = np.stack([validation_primers(val, SEQ_LEN, row.seed, 1)[0][0] for row in rows])
    together = composer.compose(primers, rows)
    alone = [composer.compose(primers[r : r + 1], row)[0] for r, row in enumerate(rows)]
    assert together == alone
    assert [sum(is_note(t, "rhythm") for t in piece) for piece in together] == [30, 12, 45, 30, 30]
    assert together[0] == together[4] and together[0] != together[1], "seed and settings decide, not the row"
    with pytest.raises(ValueError, match="one per window"):
        composer.compose(primers, rows[:2])


def test_sampling_takes_the_given_values_else_the_params():
    from jukebox.params import parse_params

    params = parse_params({"n_notes": 99, "temperature": 0.8, "top_k": 5, "top_p": 0.9, "seed": 7,
                           "genres": {"g": {"source": "local", "path": "x"}}})
    assert Sampling.chosen(params) == Sampling(99, 0.8, 5, 0.9, 7)
    assert Sampling.chosen(params, n_notes=10, temperature=0.0, top_k=0, seed=0) == Sampling(10, 0.0, 0, 0.9, 0), \
        "0 is a value, not a missing one"


def test_validation_primers_are_chosen_by_the_seed():
    val = np.arange(100, dtype=np.int32)
    primers, starts = validation_primers(val, 8, seed=3, count=4)
    assert primers.shape == (4, 8) and all((primers[i] == val[s : s + 8]).all() for i, s in enumerate(starts))
    again, _ = validation_primers(val, 8, seed=3, count=1)
    assert (again[0] == primers[0]).all(), "the first window depends on the seed alone, not on how many"


def test_a_remi_genre_composes_whole_bars_and_writes_its_meter(tmp_path):
    from jukebox.encodings.remi import bar_report
    from jukebox.midi_io import read_music

    remi = Composer.load(write_tiny_genre(tmp_path / "project", encoding="remi") / "models" / "tiny")
    primer = write_tune(tmp_path / "primer.mid", 3)
    primers = np.stack([primer_of(remi, read_primer(primer, remi.seq_len), primer)[0]] * 3)
    pieces = remi.compose(primers, Sampling(60, 1.5, seed=4))  # hot: a barely trained model left to itself
    for tokens in pieces:
        bars, whole = bar_report(tokens)
        assert bars >= 3 and whole == bars, "every bar the grammar lets it write holds its meter"
    write_midi(notes_to_stream(remi.events(pieces[0]), meters=remi.encoder.meters(pieces[0])), tmp_path / "out.mid")
    assert read_music(tmp_path / "out.mid").meters == [(0.0, "4/4")]
