"""The networks: the 2018 bidirectional LSTM over a window, and causal LSTM/GRU stacks that predict every next token.

`bilstm` reads a whole window and predicts the token after it. `lstm` and `gru` read left to right and
predict the next token at every position, so one window teaches `seq_len` targets and composing carries the
recurrent state forward one note at a time (`step_model`).
"""
from __future__ import annotations

from pathlib import Path

ARCHITECTURES = ("bilstm", "lstm", "gru")
CAUSAL = ("lstm", "gru")


def is_causal(architecture: str) -> bool:
    """True for architectures trained on the next token at every position."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {ARCHITECTURES}")
    return architecture in CAUSAL


def build_model(vocab_size: int, seq_len: int, architecture: str, embedding_dim: int, units: int, dropout: float,
                learning_rate: float, layers: int = 1, every_position: bool | None = None):
    """A compiled Keras model over windows of token ids.

    `bilstm` (the 2018 model) outputs the next token's probabilities (batch, vocab). Causal models output
    them at every position (batch, seq_len, vocab) for training; `every_position=False` builds the same
    network returning the last position only, the form saved for the generate and evaluate stages.
    """
    import keras
    from keras import layers as kl

    causal = is_causal(architecture)
    every_position = causal if every_position is None else every_position
    if every_position and not causal:
        raise ValueError(f"architecture {architecture!r} predicts only the token after the window")
    recurrent = {"bilstm": kl.LSTM, "lstm": kl.LSTM, "gru": kl.GRU}[architecture]
    stack = [keras.Input(shape=(seq_len,), dtype="int32"), kl.Embedding(vocab_size, embedding_dim)]
    for i in range(layers):
        sequences = i < layers - 1 or every_position
        layer = recurrent(units, return_sequences=sequences)
        stack += [kl.Bidirectional(layer) if architecture == "bilstm" else layer, kl.Dropout(dropout)]
    stack += [kl.Dense(units, activation="relu"), kl.Dropout(dropout), kl.Dense(vocab_size, activation="softmax")]
    model = keras.Sequential(stack, name=architecture)
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        # Weighted for causal models, so validation accuracy, like val_loss, scores the token after each window.
        **({"weighted_metrics": ["accuracy"]} if causal else {"metrics": ["accuracy"]}),
    )
    return model


def next_token_model(model):
    """The trained model as window -> next-token probabilities (batch, vocab), sharing no state with it.

    A causal model trained on every position is rebuilt with its last recurrent layer returning the final
    step only and given the same weights; a `bilstm` is returned as it is.
    """
    architecture = model.name
    if not is_causal(architecture):
        return model
    recurrent = [l for l in model.layers if l.__class__.__name__ in ("LSTM", "GRU")]
    embedding = model.layers[0]
    learning_rate = float(model.optimizer.learning_rate.numpy()) if model.optimizer else 0.001
    dropout = next((l.rate for l in model.layers if l.__class__.__name__ == "Dropout"), 0.0)
    last = build_model(embedding.input_dim, model.input_shape[1], architecture, embedding.output_dim,
                       recurrent[0].units, dropout, learning_rate, layers=len(recurrent), every_position=False)
    last.set_weights(model.get_weights())
    # Built optimizer slots make the saved file load without Keras' "skipping optimizer variables" warning.
    last.optimizer.build(last.trainable_variables)
    return last


def step_model(model):
    """A functional copy of a causal model that takes and returns its recurrent states.

    Inputs `[tokens (batch, time), *states]`, outputs `[probabilities (batch, time, vocab), *states]`: run it
    once over the primer from zero states, then one token at a time, so each new note costs one step.
    Dropout is left out (inference only); the weights are the trained model's.
    """
    import keras
    from keras import layers as kl

    if not is_causal(model.name):
        raise ValueError(f"a {model.name!r} model reads whole windows; it has no state to carry forward")
    tokens = keras.Input(shape=(None,), dtype="int32")
    inputs, outputs, copies = [tokens], [], []
    x = tokens
    for layer in model.layers:
        kind = layer.__class__.__name__
        if kind == "Dropout":
            continue
        config = layer.get_config()
        config.pop("name", None)
        if kind in ("LSTM", "GRU"):
            config.update(return_sequences=True, return_state=True)
            copy = layer.__class__.from_config(config)
            n_states = 2 if kind == "LSTM" else 1
            states = [keras.Input(shape=(layer.units,)) for _ in range(n_states)]
            x, *new_states = copy(x, initial_state=states if n_states > 1 else states[0])
            inputs += states
            outputs += new_states
        else:
            copy = layer.__class__.from_config(config)
            x = copy(x)
        copies.append((layer, copy))
    stepper = keras.Model(inputs, [x, *outputs], name=f"{model.name}_step")
    for layer, copy in copies:
        copy.set_weights(layer.get_weights())
    return stepper


def generation_steps(model):
    """Compiled `(start, advance)` for composing with any saved model, every sample of a batch at once.

    `start(primers)` -> (next-token probabilities, state) after the primer windows (batch, seq_len);
    `advance(state, tokens)` -> the same after appending one token per sample. A causal model's state is
    its recurrent state, so a step reads one token; a `bilstm`'s is the window, re-read whole every step.
    """
    import tensorflow as tf

    # XLA: on CPU a compiled step ran 2-4x faster than the plain graph (benchmarks/speed.py measures it).
    if not is_causal(model.name):
        forward = tf.function(lambda window: model(window, training=False), jit_compile=True)

        def start(primers):
            window = tf.constant(primers, tf.int32)
            return forward(window), window

        def advance(window, tokens):
            window = tf.concat([window[:, 1:], tokens[:, None]], axis=1)
            return forward(window), window

        return start, advance

    stepper = step_model(model)

    @tf.function(jit_compile=True)
    def step(tokens, states):
        probs, *states = stepper([tokens[:, None], *states], training=False)
        return probs[:, -1], states

    def start_causal(primers):
        # The primer goes through the same one-token step: one compilation, and a few ms per primer note.
        primers = tf.constant(primers, tf.int32)
        states = [tf.zeros((primers.shape[0], s.shape[-1])) for s in stepper.inputs[1:]]
        for t in range(primers.shape[1]):
            probs, states = step(primers[:, t], states)
        return probs, states

    return start_causal, lambda states, tokens: step(tokens, states)


def load_model(path: str | Path):
    """Load a model this project saved; safe_mode refuses Python code (lambdas) hidden in the file."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no trained model at {path}; run `dvc repro` (or `dvc repro train@<genre>`) first")
    return keras.models.load_model(path, safe_mode=True)
