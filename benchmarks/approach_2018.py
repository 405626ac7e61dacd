"""The 2018 approach, re-implemented faithfully as the baseline of `benchmarks.speed` (the pipeline never uses it).

2018: every training window becomes a row of a float array, its token ids divided by the vocabulary size, shaped
(seq_len, 1); every target a one-hot row; `model.fit` on those arrays; composing calls `model.predict` once per
note for one piece at a time and takes the argmax.
"""
from __future__ import annotations

import numpy as np


def training_arrays(tokens: np.ndarray, seq_len: int, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Every window of `tokens` as normalised floats (windows, seq_len, 1) and its next token one-hot."""
    import keras

    network_input = [tokens[i : i + seq_len] for i in range(len(tokens) - seq_len)]
    network_output = tokens[seq_len:]
    n_patterns = len(network_input)
    x = np.reshape(network_input, (n_patterns, seq_len, 1)) / float(vocab_size)
    return x, keras.utils.to_categorical(network_output, num_classes=vocab_size)


def build_model(seq_len: int, vocab_size: int, units: int, dropout: float, learning_rate: float):
    """The 2018 network: a bidirectional LSTM over the float window, dense layers, softmax over the vocabulary."""
    import keras
    from keras import layers

    model = keras.Sequential([
        keras.Input(shape=(seq_len, 1)),
        layers.Bidirectional(layers.LSTM(units)),
        layers.Dropout(dropout),
        layers.Dense(units, activation="relu"),
        layers.Dropout(dropout),
        layers.Dense(vocab_size, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.RMSprop(learning_rate=learning_rate))
    return model


def compose(model, primer: np.ndarray, n_notes: int, vocab_size: int) -> list[int]:
    """The 2018 generation loop: one model.predict per note, argmax, slide the window."""
    pattern = list(primer)
    out = []
    for _ in range(n_notes):
        prediction_input = np.reshape(pattern, (1, len(pattern), 1)) / float(vocab_size)
        prediction = model.predict(prediction_input, verbose=0)
        index = int(np.argmax(prediction))
        out.append(index)
        pattern = pattern[1:] + [index]
    return out
