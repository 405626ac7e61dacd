"""The networks: the 2018 bidirectional LSTM over a window, causal LSTM/GRU stacks and a decoder-only transformer.

`bilstm` reads a whole window and predicts the token after it. `lstm`, `gru` and `transformer` read left to right
and predict the next token at every position, so one window teaches `seq_len` targets. Composing carries a
recurrent model's state forward one note at a time, and a transformer's keys and values (a cache), so each new
note costs one step rather than a re-read of the window.

A model's settings travel with it: `ModelConfig` is saved as config.json beside model.keras and read back by
`jukebox.generation.Composer.load`.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass
from pathlib import Path

ARCHITECTURES = ("bilstm", "lstm", "gru", "transformer")
CAUSAL = ("lstm", "gru", "transformer")
OPTIMIZERS = ("rmsprop", "adam", "adamw")
PRECISIONS = ("float32", "mixed_bfloat16")
# Windows a forward pass scores where nothing trains (validation, evaluate): on 2 cores, 1,024 windows took half the
# time they took in batches of 8 (batch_size), and the saved model's probabilities were the same to the bit.
SCORING_BATCH = 64


def is_causal(architecture: str) -> bool:
    """True for architectures trained on the next token at every position."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {ARCHITECTURES}")
    return architecture in CAUSAL


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build, train and use a genre's model; saved beside it as config.json."""

    architecture: str = "transformer"
    seq_len: int = 200
    encoding: str = "rhythm"
    step: float = 0.5  # quarter notes between tokens of the 2018 `pitch` encoding
    layers: int = 1
    embedding_dim: int = 32  # recurrent models; a transformer embeds at its width, `units`
    units: int = 64  # recurrent units, or the transformer's width
    heads: int = 4  # transformer attention heads
    dropout: float = 0.5
    optimizer: str = "rmsprop"
    learning_rate: float = 0.001
    warmup_steps: int = 0  # adam/adamw: steps of linear warm-up before the cosine decay
    decay_steps: int = 0  # adam/adamw: steps of cosine decay to a tenth of learning_rate; 0 keeps it constant
    precision: str = "float32"
    token_conv: int = 0  # transformer: width of a causal convolution over the token embeddings; 0 or 1 = none

    @classmethod
    def from_params(cls, params, decay_steps: int = 0) -> "ModelConfig":
        """The model settings of a Params (jukebox.params), with the training run's length for the decay."""
        names = {f.name for f in dataclasses.fields(cls)} - {"decay_steps"}
        return cls(**{n: getattr(params, n) for n in names}, decay_steps=decay_steps)

    @classmethod
    def load(cls, path: str | Path) -> "ModelConfig":
        """Read a config.json written by `save`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"no model config at {path}; run `dvc repro train@<genre>` first") from None
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown model settings {sorted(unknown)}; it was written by another version "
                             "of AI Jukebox: retrain with `dvc repro train@<genre>`")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        """Write config.json atomically."""
        from .artifacts import write_json

        write_json(Path(path), dataclasses.asdict(self))

    @property
    def causal(self) -> bool:
        return is_causal(self.architecture)


def build_model(vocab_size: int, config: ModelConfig, every_position: bool | None = None):
    """A compiled Keras model over windows of token ids.

    `bilstm` (the 2018 model) outputs the next token's probabilities (batch, vocab). Causal models output
    them at every position (batch, seq_len, vocab) for training; `every_position=False` builds the same
    network returning the last position only, the form saved for the generate and evaluate stages.
    """
    import keras

    causal = config.causal
    every_position = causal if every_position is None else every_position
    if every_position and not causal:
        raise ValueError(f"architecture {config.architecture!r} predicts only the token after the window")
    # The policy is global in Keras; set it for every build so a float32 model after a bf16 one stays float32.
    keras.mixed_precision.set_dtype_policy(config.precision)
    if config.architecture == "transformer":
        # Every position: any length up to the window (the tests read shorter ones); the saved form crops to one.
        tokens = keras.Input(shape=(None if every_position else config.seq_len,), dtype="int32")
        model = _transformer(tokens, vocab_size, config, every_position)
    else:
        tokens = keras.Input(shape=(config.seq_len,), dtype="int32")
        model = keras.Sequential([tokens, *_recurrent_layers(vocab_size, config, every_position)],
                                 name=config.architecture)
    compile_model(model, config)
    return model


def compile_model(model, config: ModelConfig) -> None:
    """Compile a model with a fresh optimizer: when built, and again after fine-tuning freezes some of its layers."""
    model.compile(
        optimizer=make_optimizer(config),
        loss="sparse_categorical_crossentropy",
        # Weighted for causal models, so validation accuracy, like val_loss, scores the token after each window.
        **({"weighted_metrics": ["accuracy"]} if config.causal else {"metrics": ["accuracy"]}),
    )


def _recurrent_layers(vocab_size: int, config: ModelConfig, every_position: bool) -> list:
    from keras import layers as kl

    recurrent = {"bilstm": kl.LSTM, "lstm": kl.LSTM, "gru": kl.GRU}[config.architecture]
    stack = [kl.Embedding(vocab_size, config.embedding_dim)]
    for i in range(config.layers):
        layer = recurrent(config.units, return_sequences=i < config.layers - 1 or every_position)
        stack += [kl.Bidirectional(layer) if config.architecture == "bilstm" else layer, kl.Dropout(config.dropout)]
    return stack + [kl.Dense(config.units, activation="relu"), kl.Dropout(config.dropout),
                    kl.Dense(vocab_size, activation="softmax", dtype="float32")]


def _transformer(tokens, vocab_size: int, config: ModelConfig, every_position: bool):
    import keras
    from keras import layers as kl

    if config.units % config.heads:
        raise ValueError(f"units {config.units} must be a multiple of heads {config.heads} (each head gets "
                         "units / heads dimensions)")
    # Llama blocks (keras-hub): rotary positions make attention depend on how far back a note is, not where the
    # window happens to start, which is how a phrase four bars back is found again. Against keras-hub's
    # TransformerDecoder with sine positions, at the same width and speed, celtic's validation loss after
    # 3 epochs was 1.30 against 1.63 (README, "Architectures"). Initialized as keras-hub's LlamaBackbone does.
    x = kl.Embedding(vocab_size, config.units, embeddings_initializer=keras.initializers.RandomNormal(stddev=0.01),
                     name="token_embedding")(tokens)
    if config.token_conv > 1:
        # Each position also sees the few tokens before it, so one attention layer can look up where the last note
        # was played before and what followed (an induction head), which plain 2-layer blocks are slow to learn.
        x = kl.Add(name="token_mixed")([x, kl.Conv1D(config.units, config.token_conv, padding="causal",
                                                     name="token_conv")(x)])
    block = llama_block()
    for i in range(config.layers):
        # Windows are never padded; each block masks the future itself.
        x = block(intermediate_dim=4 * config.units, num_query_heads=config.heads, num_key_value_heads=config.heads,
                  layer_norm_epsilon=1e-5, kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
                  dropout=config.dropout, name=f"transformer_layer_{i}")(x)
    x = kl.RMSNormalization(epsilon=1e-5, name="final_norm")(x)
    if not every_position:
        # The last position only, with plain layers so the saved file loads in safe mode.
        x = kl.Flatten()(kl.Cropping1D((config.seq_len - 1, 0))(x))
    return keras.Model(tokens, kl.Dense(vocab_size, activation="softmax", dtype="float32")(x), name="transformer")


@functools.cache
def llama_block():
    """keras-hub's Llama decoder block as a layer that saves and loads on its own.

    keras-hub 0.32 calls it only inside its LlamaBackbone, which saves its own settings; the block's get_config
    reads `rope_scaling_factor`, which it neither has nor takes. Registered here so safe mode loads it.
    """
    import keras
    from keras_hub.src.models.llama.llama_decoder import LlamaTransformerDecoder

    @keras.saving.register_keras_serializable(package="jukebox")
    class LlamaBlock(LlamaTransformerDecoder):
        def get_config(self):
            self.rope_scaling_factor = self.rope_position_scaling_factor
            config = super().get_config()
            config["rope_position_scaling_factor"] = config.pop("rope_scaling_factor")
            return config

    return LlamaBlock


def make_optimizer(config: ModelConfig):
    """RMSprop at a constant rate (the 2018 choice), or Adam/AdamW with linear warm-up and cosine decay."""
    import keras

    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=config.learning_rate)
    kind = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW}[config.optimizer]
    # Clipping keeps one bad batch early in warm-up from throwing the weights far off.
    return kind(learning_rate=learning_rate_schedule(config), clipnorm=1.0)


def learning_rate_schedule(config: ModelConfig):
    """Adam/AdamW's rate: linear warm-up to learning_rate, then cosine decay to a tenth of it (or constant)."""
    import keras

    if not (config.warmup_steps or config.decay_steps):
        return config.learning_rate
    # Without decay steps, alpha 1 holds the rate constant after the warm-up.
    return keras.optimizers.schedules.CosineDecay(
        0.0 if config.warmup_steps else config.learning_rate, max(config.decay_steps, 1),
        alpha=0.1 if config.decay_steps else 1.0,
        warmup_target=config.learning_rate if config.warmup_steps else None, warmup_steps=config.warmup_steps)


def next_token_model(model, config: ModelConfig):
    """The trained model as window -> next-token probabilities (batch, vocab), sharing no state with it.

    A causal model trained on every position is rebuilt returning the last position only and given the same
    weights; a `bilstm` is returned as it is.
    """
    if not config.causal:
        return model
    vocab_size = model.output_shape[-1]
    last = build_model(vocab_size, config, every_position=False)
    last.set_weights(model.get_weights())
    # Built optimizer slots make the saved file load without Keras' "skipping optimizer variables" warning.
    last.optimizer.build(last.trainable_variables)
    return last


def step_model(model):
    """A functional copy of a causal recurrent model that takes and returns its recurrent states.

    Inputs `[tokens (batch, time), *states]`, outputs `[probabilities (batch, time, vocab), *states]`: run it
    once over the primer from zero states, then one token at a time, so each new note costs one step.
    Dropout and the last-position cropping are left out (inference only); the weights are the trained model's.
    """
    import keras

    if model.name not in ("lstm", "gru"):
        raise ValueError(f"a {model.name!r} model has no recurrent state to carry forward")
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
    """`(start, advance)` for composing with any saved model, every sample of a batch at once, as plain
    TensorFlow functions that jukebox.generation compiles into one loop.

    `start(primers)` -> (next-token probabilities, state) after the primer windows (batch, seq_len);
    `advance(state, tokens)` -> the same after appending one token per sample. A recurrent model's state is
    its recurrent state and a transformer's its attention cache, so a step reads one token; a `bilstm`'s is
    the window, re-read whole every step. The state is a nest of tensors of fixed shapes.
    """
    import tensorflow as tf

    if model.name == "transformer":
        return _transformer_steps(model)
    if model.name == "bilstm":
        def start(primers):
            return model(primers, training=False), primers

        def advance(window, tokens):
            window = tf.concat([window[:, 1:], tokens[:, None]], axis=1)
            return model(window, training=False), window

        return start, advance

    stepper = step_model(model)

    def start_causal(primers):
        primers = tf.convert_to_tensor(primers, tf.int32)
        states = [tf.zeros((tf.shape(primers)[0], s.shape[-1])) for s in stepper.inputs[1:]]
        probs, *states = stepper([primers, *states], training=False)
        return probs[:, -1], states

    def advance_causal(states, tokens):
        probs, *states = stepper([tokens[:, None], *states], training=False)
        return probs[:, -1], states

    return start_causal, advance_causal


def _transformer_steps(model):
    """A transformer's (start, advance) over a key/value cache of seq_len positions.

    Once the cache is full it rolls: the oldest position leaves and every cached key is turned back one position,
    so each new token sees the last seq_len - 1 tokens. With rotary positions attention depends only on the distance
    between two positions, so the rolled cache is exactly sliding-window attention over everything composed so far.
    With `token_conv`, the state also holds the embeddings of the token_conv - 1 tokens before the next one.
    """
    import tensorflow as tf

    blocks = [layer for layer in model.layers if layer.name.startswith("transformer_layer_")]
    if not blocks:
        raise ValueError("this transformer was saved by an older AI Jukebox, whose composing loop is gone; retrain it "
                         "with `dvc repro train@<genre>`")
    embedding, norm, head = model.get_layer("token_embedding"), model.get_layer("final_norm"), model.layers[-1]
    rotations = [block._self_attention_layer.rotary_embedding_layer for block in blocks]
    conv = next((layer for layer in model.layers if layer.name == "token_conv"), None)
    seq_len = model.input_shape[1]
    width = conv.kernel_size[0] - 1 if conv else 0  # embeddings of the tokens before the new one that conv needs

    def run(tokens, caches, index, before):
        x = embedding(tokens)
        if conv:
            seen = tf.concat([before, x], axis=1)
            x, before = x + conv(seen)[:, width:], seen[:, -width:]
        updated = []
        for block, cache in zip(blocks, caches):
            x, cache = block(x, self_attention_cache=cache, self_attention_cache_update_index=index)
            updated.append(cache)
        return head(norm(x[:, -1])), updated, before

    def roll(cache, rotation):
        # cache: (batch, keys/values, seq_len, heads, dims); keys are stored already rotated to their positions.
        # Under mixed_bfloat16 each turn rounds a key again: after seq_len turns about 2^-9 * sqrt(seq_len) of it.
        keys = rotation(cache[:, 0, 1:], positions=tf.fill([seq_len - 1], -1.0))
        kept = tf.stack([keys, cache[:, 1, 1:]], axis=1)
        return tf.concat([kept, tf.zeros_like(cache[:, :, :1])], axis=2)

    def start(primers):
        batch = tf.shape(primers)[0]
        shape = (batch, 2, seq_len, blocks[0].num_key_value_heads,
                 embedding.output_dim // blocks[0].num_query_heads)
        before = tf.zeros((batch, width, embedding.output_dim), dtype=embedding.compute_dtype)
        probs, caches, before = run(primers, [tf.zeros(shape, dtype=block.compute_dtype) for block in blocks], 0,
                                    before)
        return probs, (caches, tf.constant(seq_len), before)

    def advance(state, tokens):
        caches, filled, before = state
        full = filled == seq_len
        caches = [tf.cond(full, lambda c=c, r=r: roll(c, r), lambda c=c: c) for c, r in zip(caches, rotations)]
        index = tf.where(full, seq_len - 1, filled)
        probs, caches, before = run(tokens[:, None], caches, index, before)
        return probs, (caches, tf.minimum(filled + 1, seq_len), before)

    return start, advance


def save_model(model, path: str | Path) -> None:
    """Save a model as a .keras file whose bytes depend only on the model: the same weights, the same file.

    Keras writes the time of saving into the file (its zip entries' dates and metadata.json's `date_saved`) and
    numbers shared objects by their memory addresses; those are fixed here, so that DVC's hash of a retrained model
    changes only when the model does.
    """
    import re
    import zipfile

    model.save(path)
    with zipfile.ZipFile(path) as original:
        members = {info.filename: original.read(info) for info in original.infolist()}
    addresses: dict[str, str] = {}
    members["config.json"] = re.sub(
        rb'"shared_object_id": (\d+)',
        lambda m: b'"shared_object_id": ' + addresses.setdefault(m.group(1), str(len(addresses) + 1)).encode(),
        members["config.json"])
    metadata = json.loads(members["metadata.json"])
    metadata.pop("date_saved", None)
    members["metadata.json"] = json.dumps(metadata).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as fixed:
        for name, data in members.items():
            fixed.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)


def load_model(path: str | Path):
    """Load a model this project saved; safe_mode refuses Python code (lambdas) hidden in the file."""
    import keras

    llama_block()  # registers the transformer's blocks for loading

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no trained model at {path}; run `dvc repro` (or `dvc repro train@<genre>`) first")
    return keras.models.load_model(path, safe_mode=True)
