"""Training set-up: the seeded model, its config and the streams of a training run, as the train stage fits them."""
from __future__ import annotations

import contextlib

from .dataset import key_weights, training_dataset, transposition_tables, validation_data
from .encodings import END, transpose_token
from .model import ModelConfig, build_model


def train_keys(seq_dir):
    """The training pieces' keys, in order, from a genre's split.json; None where it has none (written by hand, or
    before keys were)."""
    import json

    split = seq_dir / "split.json"
    return json.loads(split.read_text()).get("train_keys") if split.is_file() else None


def prepare(params, train, val, tokens, scope=None, keys=None):
    """The seeded, compiled model, its ModelConfig, the training stream, the validation data and the steps per epoch
    of a training run: what the train stage fits, and what benchmarks/variants.py fits side by side. `keys` are the
    training pieces' keys, in order (split.json's train_keys), which transpose_into genre_keys needs."""
    import keras

    steps = -(-params.windows_per_epoch // params.batch_size)
    config = ModelConfig.from_params(params, decay_steps=params.epochs * steps)
    keras.utils.set_random_seed(params.seed)
    with scope or contextlib.nullcontext():
        model = build_model(len(tokens), config)
    moves = (transposition_tables(tokens, params.transpose, lambda token, k: transpose_token(token, k, params.encoding))
             if params.transpose else None)
    end_id = tokens.index(END) if END in tokens else None
    weights = None
    if moves is not None and params.transpose_into == "genre_keys":
        if keys is None or end_id is None:
            raise ValueError("transpose_into genre_keys needs each training piece's key and pieces closed by "
                             f"{END}: rerun the sequences stage (dvc repro), which writes them, or set "
                             "transpose_into: any")
        weights = key_weights(keys, params.transpose)
    train_ds = training_dataset(train, params.seq_len, params.batch_size, params.windows_per_epoch, params.seed,
                                every_position=config.causal, transpositions=moves, end_id=end_id, weights=weights)
    return model, config, train_ds, validation_data(val, params.seq_len, params.val_windows, config.causal), steps

