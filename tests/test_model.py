import dataclasses
import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from jukebox.dataset import validation_data
from jukebox.model import (ModelConfig, build_model, generation_steps, learning_rate_schedule, load_model,
                           next_token_model, step_model)

VOCAB, SEQ = 9, 6
X = np.random.default_rng(0).integers(1, VOCAB, (4, SEQ)).astype(np.int32)


def config(architecture: str, layers: int = 2, **changes) -> ModelConfig:
    settings = dict(architecture=architecture, seq_len=SEQ, layers=layers, embedding_dim=4,
                    units=8 if architecture == "transformer" else 5, heads=2, dropout=0.0,
                    learning_rate=0.05 if architecture != "transformer" else 0.01,
                    optimizer="rmsprop" if architecture != "transformer" else "adam")
    return ModelConfig(**{**settings, **changes})


@functools.cache
def trained_like(architecture: str, layers: int = 2, **changes):
    """A small model with non-trivial weights (a few steps of training on random windows)."""
    model = build_model(VOCAB, config(architecture, layers, **changes))
    y = np.roll(X, -1, axis=1) if config(architecture).causal else X[:, 0]
    model.fit(X, y, epochs=3, verbose=0)
    return model


def test_bilstm_is_the_2018_model():
    model = build_model(VOCAB, config("bilstm", 1, dropout=0.5))
    kinds = [layer.__class__.__name__ for layer in model.layers]
    assert kinds == ["Embedding", "Bidirectional", "Dropout", "Dense", "Dropout", "Dense"]
    assert model.output_shape == (None, VOCAB) and not config("bilstm").causal
    assert model.optimizer.__class__.__name__ == "RMSprop"
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model(VOCAB, config("mamba"))


@pytest.mark.parametrize("architecture, block, token_conv", [("lstm", "LSTM", 0), ("gru", "GRU", 0),
                                                             ("transformer", "LlamaBlock", 0),
                                                             ("transformer", "LlamaBlock", 3)])
def test_causal_models_predict_every_position_and_stack(architecture, block, token_conv):
    # Seeded: a 4-unit, 3-layer GRU drawn at random was once left by its one epoch nearly blind to its input (later
    # predictions moved by under 1e-5 when a token changed), which says nothing about causality.
    keras.utils.set_random_seed(0)
    model = build_model(VOCAB, config(architecture, 3, token_conv=token_conv))
    assert model.output_shape == (None, None if architecture == "transformer" else SEQ, VOCAB)
    kinds = [layer.__class__.__name__ for layer in model.layers]
    assert kinds.count(block) == 3 and kinds.count("Conv1D") == (token_conv > 1)
    model.fit(X, np.roll(X, -1, axis=1), epochs=1, verbose=0)  # non-trivial weights
    # Causal: changing a later token leaves every earlier prediction unchanged.
    changed = X.copy()
    changed[:, 3] = (changed[:, 3] % (VOCAB - 1)) + 1
    a, b = model.predict(X, verbose=0), model.predict(changed, verbose=0)
    assert np.allclose(a[:, :3], b[:, :3], atol=1e-6) and not np.allclose(a[:, 3:], b[:, 3:])


def test_transformer_width_must_split_over_heads():
    with pytest.raises(ValueError, match="multiple of heads"):
        build_model(VOCAB, config("transformer", units=10, heads=4))


@pytest.mark.parametrize("architecture, token_conv", [("lstm", 0), ("gru", 0), ("transformer", 0),
                                                     ("transformer", 3)])
def test_next_token_model_is_the_last_position_and_survives_saving(architecture, token_conv, tmp_path):
    model = trained_like(architecture, token_conv=token_conv)
    last = next_token_model(model, config(architecture, token_conv=token_conv))
    assert last.output_shape == (None, VOCAB)
    assert np.allclose(last.predict(X, verbose=0), model.predict(X, verbose=0)[:, -1], atol=1e-6)
    last.save(tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")
    assert loaded.name == architecture
    assert np.allclose(loaded.predict(X, verbose=0), last.predict(X, verbose=0), atol=1e-6)


def test_config_travels_with_the_model(tmp_path):
    saved = config("transformer", warmup_steps=10, decay_steps=100, precision="mixed_bfloat16")
    saved.save(tmp_path / "config.json")
    assert ModelConfig.load(tmp_path / "config.json") == saved
    (tmp_path / "old.json").write_text('{"seq_len": 6, "encoding": "pitch", "guess": 1}')
    with pytest.raises(ValueError, match="old.json: unknown model settings \\['guess'\\]"):
        ModelConfig.load(tmp_path / "old.json")


def test_adam_warms_up_then_decays():
    schedule = learning_rate_schedule(config("transformer", warmup_steps=10, decay_steps=100))
    rates = [float(schedule(step)) for step in (0, 5, 10, 60, 110)]
    assert rates[0] == 0 and rates[1] == pytest.approx(0.005) and rates[2] == pytest.approx(0.01)
    assert rates[2] > rates[3] > rates[4] == pytest.approx(0.001)  # cosine down to a tenth
    steady = learning_rate_schedule(config("transformer", warmup_steps=10))
    assert [float(steady(step)) for step in (5, 10, 1000)] == pytest.approx([0.005, 0.01, 0.01])


def test_mixed_bfloat16_computes_in_bf16_and_outputs_float32():
    model = build_model(VOCAB, config("transformer", precision="mixed_bfloat16"))
    assert model.layers[1].compute_dtype == "bfloat16" and model.layers[1].variable_dtype == "float32"
    assert model.predict(X, verbose=0).dtype == np.float32
    assert build_model(VOCAB, config("transformer")).layers[1].compute_dtype == "float32"


@pytest.mark.parametrize("architecture", ["lstm", "gru"])
def test_step_model_carries_state_one_token_at_a_time(architecture):
    model = trained_like(architecture)
    stepper = step_model(next_token_model(model, config(architecture)))
    states = [tf.zeros((len(X), s.shape[-1])) for s in stepper.inputs[1:]]
    whole = stepper([tf.constant(X), *states])[0].numpy()
    for t in range(SEQ):
        probs, *states = stepper([tf.constant(X[:, t : t + 1]), *states])
        assert np.allclose(probs.numpy()[:, 0], whole[:, t], atol=1e-5)
    assert np.allclose(whole, model.predict(X, verbose=0), atol=1e-5)


@pytest.mark.parametrize("architecture", ["bilstm", "lstm", "gru", "transformer"])
def test_generation_steps_match_the_model(architecture):
    model = trained_like(architecture, layers=1)
    saved = next_token_model(model, config(architecture, 1))
    start, advance = generation_steps(saved)
    probs, state = start(X)
    assert np.allclose(probs.numpy(), saved.predict(X, verbose=0), atol=1e-5)
    tokens = np.array([1, 2, 3, 4], dtype=np.int32)
    probs, state = advance(state, tf.constant(tokens))
    longer = np.concatenate([X, tokens[:, None]], axis=1)
    if architecture in ("lstm", "gru"):
        # The state remembers the whole primer: the same as the model reading primer + token in one go.
        full = build_model(VOCAB, config(architecture, 1, seq_len=SEQ + 1))
        full.set_weights(model.get_weights())
        expected = full.predict(longer, verbose=0)[:, -1]
    elif architecture == "transformer":
        # A full cache rolls: one layer reads the new token with the seq_len - 1 before it, the last whole window.
        expected = model.predict(longer[:, -SEQ:], verbose=0)[:, -1]
    else:
        expected = saved.predict(longer[:, 1:], verbose=0)
    assert np.allclose(probs.numpy(), expected, atol=1e-5)


def sliding_window_attention(model, stream: np.ndarray) -> np.ndarray:
    """Next-token probabilities after every position of `stream` (batch, time), reading the whole stream at once with
    each position attending, in every layer, to itself and the SEQ - 1 positions before it."""
    n = stream.shape[1]
    before, after = np.arange(n)[None, :], np.arange(n)[:, None]
    band = np.broadcast_to((before <= after) & (after - before < SEQ), (len(stream), n, n))
    x = model.get_layer("token_embedding")(stream)
    if any(layer.name == "token_conv" for layer in model.layers):
        x = x + model.get_layer("token_conv")(x)  # causal: each position with the few tokens before it
    for block in (layer for layer in model.layers if layer.name.startswith("transformer_layer_")):
        x = block(x, decoder_attention_mask=band.astype("int32"))
    return model.layers[-1](model.get_layer("final_norm")(x)).numpy()


@pytest.mark.parametrize("token_conv", [0, 3])
def test_transformer_steps_are_sliding_window_attention_over_everything_composed(token_conv):
    model = trained_like("transformer", token_conv=token_conv)
    start, advance = generation_steps(next_token_model(model, config("transformer", token_conv=token_conv)))
    tokens = np.random.default_rng(2).integers(1, VOCAB, (len(X), 3 * SEQ)).astype(np.int32)
    expected = sliding_window_attention(model, np.concatenate([X, tokens], axis=1))
    probs, state = start(X)
    assert np.allclose(probs.numpy(), expected[:, SEQ - 1], atol=1e-5)
    for t in range(tokens.shape[1]):
        probs, state = advance(state, tf.constant(tokens[:, t]))
        # Two layers: the cached keys of layer 2 carry what their tokens saw then, further back than one window,
        # exactly as the banded attention does, and unlike reading the last window afresh.
        assert np.allclose(probs.numpy(), expected[:, SEQ + t], atol=1e-4), t
    assert not np.allclose(expected[:, -1], model.predict(np.concatenate([X, tokens], axis=1)[:, -SEQ:],
                                                          verbose=0)[:, -1], atol=1e-4)


@pytest.mark.parametrize("architecture", ["lstm", "transformer"])
def test_the_compiled_composing_loop_draws_what_the_steps_and_sample_draw_one_by_one(architecture):
    from jukebox.generation import CHUNK, generate, sample

    # The transformer as the default has it: the convolution's few tokens before the new one travel in the state.
    changes = {"token_conv": 3} if architecture == "transformer" else {}
    saved = next_token_model(trained_like(architecture, **changes), config(architecture, **changes))
    n = CHUNK + 2 * SEQ  # past a chunk's end, with the transformer's cache rolling
    composed = generate(saved, X, n, 1.0, seed=5, top_p=0.9)
    uniforms = np.stack([np.random.default_rng([5, r]).random(n) for r in range(len(X))])
    start, advance = generation_steps(saved)
    probs, state = start(X)
    expected = []
    for i in range(n):
        allowed = probs.numpy()
        allowed[:, 0] = 0.0  # the unknown token
        token = sample(allowed, 1.0, uniforms[:, i], top_p=0.9)
        expected.append(token.numpy())
        probs, state = advance(state, token)
    assert (composed == np.stack(expected, axis=1)).all()


def test_causal_val_loss_is_the_loss_of_the_token_after_each_window():
    model = trained_like("lstm")
    tokens = np.random.default_rng(1).integers(1, VOCAB, 200).astype(np.int32)
    x, y, weights = validation_data(tokens, SEQ, 50, every_position=True)
    probs = next_token_model(model, config("lstm")).predict(x, verbose=0)
    expected = -np.log(probs[np.arange(len(x)), y[:, -1]]).mean()
    loss, accuracy = model.evaluate(x, y, sample_weight=weights, batch_size=16, verbose=0)
    assert loss == pytest.approx(expected, rel=1e-4)
    assert accuracy == pytest.approx((probs.argmax(-1) == y[:, -1]).mean(), abs=1e-6)


def test_a_saved_model_depends_only_on_its_weights(tmp_path, monkeypatch):
    """Keras writes the time and memory addresses into a .keras file; save_model's bytes depend on the model alone."""
    import time
    import zipfile

    from jukebox.model import save_model

    c = config("transformer")
    keras.utils.clear_session()  # layer names count from the start, as in a fresh process
    model = build_model(VOCAB, c)
    save_model(next_token_model(model, c), tmp_path / "first.keras")
    clock = time.time()
    monkeypatch.setattr(time, "time", lambda: clock + 86_400 * 400)  # another day, another year
    keras.utils.clear_session()
    other = build_model(VOCAB, c)  # the same model in other Python objects (other memory addresses)
    other.set_weights(model.get_weights())
    save_model(next_token_model(other, c), tmp_path / "second.keras")
    assert (tmp_path / "first.keras").read_bytes() == (tmp_path / "second.keras").read_bytes()
    with zipfile.ZipFile(tmp_path / "first.keras") as saved:
        assert {i.date_time for i in saved.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert b"date_saved" not in saved.read("metadata.json")
    loaded = load_model(tmp_path / "first.keras")
    np.testing.assert_allclose(loaded.predict(X[:2], verbose=0), next_token_model(model, c).predict(X[:2], verbose=0),
                               rtol=1e-6)
