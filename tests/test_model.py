import functools

import numpy as np
import pytest
import tensorflow as tf

from jukebox.dataset import validation_data
from jukebox.model import build_model, generation_steps, is_causal, load_model, next_token_model, step_model

VOCAB, SEQ = 9, 6
X = np.random.default_rng(0).integers(1, VOCAB, (4, SEQ)).astype(np.int32)


@functools.cache
def trained_like(architecture: str, layers: int = 2):
    """A small model with non-trivial weights (a few steps of training on random windows)."""
    model = build_model(VOCAB, SEQ, architecture, 4, 5, 0.0, 0.05, layers=layers)
    y = np.roll(X, -1, axis=1) if is_causal(architecture) else X[:, 0]
    model.fit(X, y, epochs=3, verbose=0)
    return model


def test_bilstm_default_is_the_2018_model():
    model = build_model(VOCAB, SEQ, "bilstm", 4, 5, 0.5, 0.01)
    kinds = [layer.__class__.__name__ for layer in model.layers]
    assert kinds == ["Embedding", "Bidirectional", "Dropout", "Dense", "Dropout", "Dense"]
    assert model.output_shape == (None, VOCAB) and not is_causal("bilstm")
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model(VOCAB, SEQ, "transformer", 4, 5, 0.5, 0.01)


@pytest.mark.parametrize("architecture, recurrent", [("lstm", "LSTM"), ("gru", "GRU")])
def test_causal_models_predict_every_position_and_stack(architecture, recurrent):
    model = build_model(VOCAB, SEQ, architecture, 4, 5, 0.5, 0.01, layers=3)
    assert model.output_shape == (None, SEQ, VOCAB)
    assert [layer.__class__.__name__ for layer in model.layers].count(recurrent) == 3
    # Causal: changing a later token leaves every earlier prediction unchanged.
    changed = X.copy()
    changed[:, 3] = (changed[:, 3] % (VOCAB - 1)) + 1
    a, b = model.predict(X, verbose=0), model.predict(changed, verbose=0)
    assert np.allclose(a[:, :3], b[:, :3], atol=1e-6) and not np.allclose(a[:, 3:], b[:, 3:])


@pytest.mark.parametrize("architecture", ["lstm", "gru"])
def test_next_token_model_is_the_last_position_and_survives_saving(architecture, tmp_path):
    model = trained_like(architecture)
    last = next_token_model(model)
    assert last.output_shape == (None, VOCAB)
    assert np.allclose(last.predict(X, verbose=0), model.predict(X, verbose=0)[:, -1], atol=1e-6)
    last.save(tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")
    assert loaded.name == architecture
    assert np.allclose(loaded.predict(X, verbose=0), last.predict(X, verbose=0), atol=1e-6)


@pytest.mark.parametrize("architecture", ["lstm", "gru"])
def test_step_model_carries_state_one_token_at_a_time(architecture):
    model = trained_like(architecture)
    stepper = step_model(next_token_model(model))
    states = [tf.zeros((len(X), s.shape[-1])) for s in stepper.inputs[1:]]
    whole = stepper([tf.constant(X), *states])[0].numpy()
    for t in range(SEQ):
        probs, *states = stepper([tf.constant(X[:, t : t + 1]), *states])
        assert np.allclose(probs.numpy()[:, 0], whole[:, t], atol=1e-5)
    assert np.allclose(whole, model.predict(X, verbose=0), atol=1e-5)


@pytest.mark.parametrize("architecture", ["bilstm", "lstm", "gru"])
def test_generation_steps_match_the_model(architecture):
    model = trained_like(architecture, layers=1)
    saved = next_token_model(model)
    start, advance = generation_steps(saved)
    probs, state = start(X)
    assert np.allclose(probs.numpy(), saved.predict(X, verbose=0), atol=1e-5)
    tokens = np.array([1, 2, 3, 4], dtype=np.int32)
    probs, state = advance(state, tf.constant(tokens))
    longer = np.concatenate([X, tokens[:, None]], axis=1)
    if is_causal(architecture):
        # The state remembers the whole primer: the same as the model reading primer + token in one go.
        full = build_model(VOCAB, SEQ + 1, architecture, 4, 5, 0.0, 0.05, layers=1)
        full.set_weights(model.get_weights())
        expected = full.predict(longer, verbose=0)[:, -1]
    else:
        expected = saved.predict(longer[:, 1:], verbose=0)
    assert np.allclose(probs.numpy(), expected, atol=1e-5)


def test_causal_val_loss_is_the_loss_of_the_token_after_each_window():
    model = trained_like("lstm")
    tokens = np.random.default_rng(1).integers(1, VOCAB, 200).astype(np.int32)
    x, y, weights = validation_data(tokens, SEQ, 50, every_position=True)
    probs = next_token_model(model).predict(x, verbose=0)
    expected = -np.log(probs[np.arange(len(x)), y[:, -1]]).mean()
    loss, accuracy = model.evaluate(x, y, sample_weight=weights, batch_size=16, verbose=0)
    assert loss == pytest.approx(expected, rel=1e-4)
    assert accuracy == pytest.approx((probs.argmax(-1) == y[:, -1]).mean(), abs=1e-6)
