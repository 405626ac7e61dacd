import numpy as np

from jukebox.generation import generate, sample
from jukebox.model import build_model


def test_temperature_zero_is_argmax():
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])
    assert sample(probs, 0, np.random.default_rng(0)).tolist() == [1, 0]


def test_sampling_follows_the_distribution_and_is_seeded():
    probs = np.tile([[0.1, 0.6, 0.3]], (20000, 1))
    draws = sample(probs, 1.0, np.random.default_rng(3))
    assert np.allclose(np.bincount(draws, minlength=3) / len(draws), [0.1, 0.6, 0.3], atol=0.015)
    assert (sample(probs[:50], 1.0, np.random.default_rng(3)) == draws[:50]).all()
    sharp = sample(probs, 0.25, np.random.default_rng(3))
    assert (sharp == 1).mean() > 0.9, "low temperature sharpens towards the mode"


def test_generate_batches_samples_and_never_draws_unknown():
    model = build_model(6, 5, "bilstm", 4, 4, 0.0, 0.01)
    primers = np.array([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]], dtype=np.int32)
    out = generate(model, primers, n_notes=12, temperature=1.0, seed=7)
    assert out.shape == (2, 12) and (out != 0).all() and out.max() < 6
    assert (generate(model, primers, 12, 1.0, seed=7) == out).all(), "same seed, same music"
