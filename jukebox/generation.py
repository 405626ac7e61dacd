"""Composing: sampling the next token and running the model forward for many samples at once."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm


def sample(probs: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """One token id per row of `probs` (batch, vocab); temperature 0 takes the most likely (the 2018 argmax)."""
    probs = np.asarray(probs, dtype=np.float64)
    if temperature == 0:
        return probs.argmax(axis=-1)
    logits = np.log(np.maximum(probs, 1e-12)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    weights /= weights.sum(axis=-1, keepdims=True)
    # Inverse-CDF draw: one uniform per row keeps the stream of random numbers independent of vocab size.
    u = rng.random((weights.shape[0], 1))
    return np.minimum((weights.cumsum(axis=-1) < u).sum(axis=-1), weights.shape[-1] - 1)


def generate(model, primers: np.ndarray, n_notes: int, temperature: float, seed: int,
             banned: tuple[int, ...] = (0,)) -> np.ndarray:
    """Continue every primer window (batch, seq_len) by n_notes tokens, all samples in one batch.

    One compiled forward pass per note for the whole batch; `banned` ids (the unknown token) are never drawn.
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    window = np.array(primers, dtype=np.int32)
    step = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    out = np.zeros((window.shape[0], n_notes), dtype=np.int32)
    for i in tqdm(range(n_notes), desc="generate", unit="note", leave=False):
        probs = step(tf.constant(window)).numpy()
        probs[:, list(banned)] = 0.0
        out[:, i] = sample(probs, temperature, rng)
        window = np.concatenate([window[:, 1:], out[:, i : i + 1]], axis=1)
    return out


class Composer:
    """A trained genre model with its vocabulary: what the generate stage, the CLI and the web app share."""

    def __init__(self, model, vocab, seq_len: int, encoding: str, step: float):
        self.model, self.vocab, self.seq_len, self.encoding, self.step = model, vocab, seq_len, encoding, step

    @classmethod
    def load(cls, model_dir: str | Path) -> "Composer":
        """Load models/<genre>/ as written by the train stage."""
        from .dataset import Vocabulary
        from .model import load_model

        model_dir = Path(model_dir)
        model = load_model(model_dir / "model.keras")
        vocab = Vocabulary.from_json(json.loads((model_dir / "vocab.json").read_text()))
        config = json.loads((model_dir / "config.json").read_text())
        return cls(model, vocab, config["seq_len"], config["encoding"], config["step"])

    def primer(self, midi_path: str | Path) -> np.ndarray:
        """The opening seq_len tokens of a MIDI file, as ids; a shorter file is repeated to fill the window."""
        from .encoding import encode
        from .midi_io import read_notes

        notes = read_notes(midi_path)
        if not notes:
            raise ValueError(f"{midi_path}: the primer has no pitched notes")
        ids = self.vocab.ids(encode(notes, self.encoding))
        if (ids != 0).sum() == 0:
            raise ValueError(f"{midi_path}: none of the primer's notes is in this genre's vocabulary")
        return np.resize(ids, self.seq_len)

    def compose(self, primers: np.ndarray, n_notes: int, temperature: float, seed: int) -> list[list[str]]:
        """Token lists continuing each primer window."""
        ids = generate(self.model, primers, n_notes, temperature, seed)
        return [self.vocab.decode(row) for row in ids]

    def write_midi(self, tokens: list[str], path: str | Path, program: int = 0, bpm: float = 120.0) -> None:
        """Render tokens as a MIDI file."""
        from .encoding import decode
        from .midi_io import notes_to_stream, write_midi

        write_midi(notes_to_stream(decode(tokens, self.encoding, self.step), program, bpm), path)
