"""The network: the 2018 bidirectional LSTM over a window of tokens, predicting the next token."""
from __future__ import annotations

from pathlib import Path


def build_model(vocab_size: int, seq_len: int, architecture: str, embedding_dim: int, units: int, dropout: float,
                learning_rate: float):
    """A compiled Keras model: window of token ids -> probabilities of the next token."""
    import keras
    from keras import layers

    if architecture != "bilstm":
        raise ValueError(f"unknown architecture {architecture!r}")
    model = keras.Sequential(
        [
            keras.Input(shape=(seq_len,), dtype="int32"),
            layers.Embedding(vocab_size, embedding_dim),
            layers.Bidirectional(layers.LSTM(units)),
            layers.Dropout(dropout),
            layers.Dense(units, activation="relu"),
            layers.Dropout(dropout),
            layers.Dense(vocab_size, activation="softmax"),
        ],
        name=architecture,
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def load_model(path: str | Path):
    """Load a model this project saved; safe_mode refuses Python code (lambdas) hidden in the file."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no trained model at {path}; run `dvc repro` (or `dvc repro train@<genre>`) first")
    return keras.models.load_model(path, safe_mode=True)
