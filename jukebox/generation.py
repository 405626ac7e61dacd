"""Composing: sampling the next token and running the model forward for many samples at once."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .encoding import get_encoding

log = logging.getLogger(__name__)
# Rounds of generation Composer.compose runs at most to reach n_notes notes in every sample.
MAX_ROUNDS = 8


def sample(probs: np.ndarray, temperature: float, rng: np.random.Generator, top_k: int = 0,
           top_p: float = 1.0) -> np.ndarray:
    """One token id per row of `probs` (batch, vocab): temperature, then top-k and nucleus (top-p) filtering.

    Temperature 0 takes the most likely (the 2018 argmax); top_k 0 and top_p 1 switch their filter off.
    A token of probability 0 (a banned one) is never drawn.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if temperature == 0:
        return probs.argmax(axis=-1)
    with np.errstate(divide="ignore"):
        logits = np.log(probs) / temperature  # log 0 = -inf: impossible stays impossible at any temperature
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    if 0 < top_k < weights.shape[-1]:
        kth = -np.partition(-weights, top_k - 1, axis=-1)[:, top_k - 1 : top_k]
        weights = np.where(weights >= kth, weights, 0.0)
    if top_p < 1:
        order = np.argsort(-weights, axis=-1, kind="stable")
        ranked = np.take_along_axis(weights, order, axis=-1)
        ranked /= ranked.sum(axis=-1, keepdims=True)
        # The nucleus: the most likely tokens until their mass reaches top_p (the first is always kept);
        # the 1e-9 keeps float round-off from adding a token when the mass lands exactly on top_p.
        keep = np.zeros(weights.shape, dtype=bool)
        np.put_along_axis(keep, order, ranked.cumsum(axis=-1) - ranked < top_p - 1e-9, axis=-1)
        weights = np.where(keep, weights, 0.0)
    cdf = weights.cumsum(axis=-1)
    # Inverse-CDF draw: one uniform per row keeps the stream of random numbers independent of vocab size,
    # and scaling it by the total never lands on a token of weight 0.
    u = rng.random((weights.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=-1), weights.shape[-1] - 1)


def generate(model, primers: np.ndarray, n_notes: int, temperature: float, seed: int,
             banned: tuple[int, ...] = (0,), top_k: int = 0, top_p: float = 1.0,
             follow: np.ndarray | None = None) -> np.ndarray:
    """Continue every primer window (batch, seq_len) by n_notes tokens, all samples in one batch.

    One compiled step per note for the whole batch (a causal model carries its state forward and reads one
    token; a bilstm re-reads the window); `banned` ids (the unknown token) are never drawn, and with a
    `follow` matrix (vocab, vocab) of 0/1 only tokens allowed after each sample's previous one.
    """
    import tensorflow as tf

    from .model import generation_steps

    rng = np.random.default_rng(seed)
    start, advance = generation_steps(model)
    probs, state = start(np.asarray(primers, dtype=np.int32))
    out = np.zeros((len(primers), n_notes), dtype=np.int32)
    for i in tqdm(range(n_notes), desc="generate", unit="note", leave=False):
        p = probs.numpy()
        p[:, list(banned)] = 0.0
        if follow is not None:
            allowed = p * follow[out[:, i - 1] if i else np.asarray(primers)[:, -1]]
            p = np.where(allowed.sum(axis=-1, keepdims=True) > 0, allowed, p)
        out[:, i] = sample(p, temperature, rng, top_k, top_p)
        if i + 1 < n_notes:
            probs, state = advance(state, tf.constant(out[:, i]))
    return out


class Composer:
    """A trained genre model with its vocabulary: what the generate stage, the CLI and the web app share."""

    def __init__(self, model, vocab, seq_len: int, encoding: str, step: float, key_mode: str = "keep"):
        self.model, self.vocab, self.seq_len, self.encoding, self.step = model, vocab, seq_len, encoding, step
        self.encoder = get_encoding(encoding)  # the encoding itself; `encoding` stays its name, as samples record it
        self.key_mode = key_mode  # `c`: the genre was learnt in C major / A minor, and so must a primer be read

    @classmethod
    def load(cls, model_dir: str | Path) -> "Composer":
        """Load models/<genre>/ as written by the train stage."""
        from .dataset import Vocabulary
        from .model import load_model

        model_dir = Path(model_dir)
        model = load_model(model_dir / "model.keras")
        vocab_json = json.loads((model_dir / "vocab.json").read_text())
        vocab = Vocabulary.from_json(vocab_json)
        config = json.loads((model_dir / "config.json").read_text())
        return cls(model, vocab, config["seq_len"], config["encoding"], config.get("step", 0.5),
                   vocab_json.get("key_mode", "keep"))

    def primer_tokens(self, midi_path: str | Path) -> tuple[list[str], dict[str, str | None]]:
        """The opening seq_len tokens of a MIDI file in this genre's vocabulary, and the swaps that took.

        A token the genre never had (a note out of its range, an odd duration) becomes the nearest known
        token (None: none of its kind, dropped); the swaps map each such token to its replacement.
        """
        from .bars import in_c
        from .midi_io import check_midi_file, read_music
        from .parsing import size_problem

        check_midi_file(midi_path, "primer")
        problem = size_problem(midi_path)  # a primer reads like a training file: an absurd one would hang music21
        if problem:
            raise ValueError(f"{midi_path}: the primer is too big to read: {problem}; choose a shorter MIDI file")
        music = read_music(midi_path)
        if not music.notes:
            raise ValueError(f"{midi_path}: the primer has no pitched notes; choose a MIDI file with notes in it")
        notes, key = music.notes, music.key
        if self.key_mode == "c":
            notes, key, _ = in_c(notes, key)
        tokens = self.encoder.encode(notes, music.meters, key)[: self.seq_len]
        known = self.vocab.tokens[1:]
        swaps = {t: self.encoder.nearest(t, known) for t in dict.fromkeys(tokens) if t not in known}
        tokens = [swaps.get(t, t) for t in tokens if swaps.get(t, t) is not None]
        if not any(self.encoder.is_note(t) for t in tokens):
            raise ValueError(f"{midi_path}: none of the primer's notes can be matched to this genre's vocabulary "
                             f"({len(known)} tokens, {self.encoding} encoding); choose another primer or genre")
        return tokens, swaps

    def primer(self, midi_path: str | Path) -> np.ndarray:
        """A primer window (seq_len ids) from the opening of a MIDI file, ending where the new music begins.

        Swapped tokens are logged; a primer shorter than the window is repeated so that it still ends the window.
        """
        tokens, swaps = self.primer_tokens(midi_path)
        if swaps:
            shown = ", ".join(f"{t} -> {s or 'dropped'}" for t, s in list(swaps.items())[:8])
            log.warning("primer %s: %d distinct tokens are not in this genre's vocabulary (%s encoding); using the "
                        "nearest known ones: %s%s", midi_path, len(swaps), self.encoding, shown,
                        ", ..." if len(swaps) > 8 else "")
        ids = self.vocab.ids(tokens)
        return np.tile(ids, -(-self.seq_len // len(ids)))[-self.seq_len :]

    def tokens_per_note(self) -> float:
        """How many tokens the genre's music spends per note (1 for `pitch`; time shifts add to it in `rhythm`)."""
        notes = sum(c for t, c in zip(self.vocab.tokens, self.vocab.counts) if self.encoder.is_note(t))
        return max(1.0, sum(self.vocab.counts) / max(notes, 1))

    def compose(self, primers: np.ndarray, n_notes: int, temperature: float, seed: int, top_k: int = 0,
                top_p: float = 1.0) -> list[list[str]]:
        """Token lists continuing each primer window (all in one batch), each holding n_notes notes."""
        window = np.asarray(primers, dtype=np.int32)
        pieces: list[list[str]] = [[] for _ in window]
        per_note = self.tokens_per_note()
        follow = self.encoder.grammar(self.vocab.tokens, window)
        counts = [0] * len(pieces)
        for round_ in range(MAX_ROUNDS):
            missing = max(n_notes - c for c in counts)
            if missing <= 0:
                break
            # A little more than the genre's usual share of time shifts; the rare piece still short gets another round.
            n_tokens = int(np.ceil(missing * per_note * 1.1))
            ids = generate(self.model, window, n_tokens, temperature, seed + round_, top_k=top_k, top_p=top_p,
                           follow=follow)
            window = np.concatenate([window, ids], axis=1)[:, -window.shape[1] :]
            for piece, row in zip(pieces, ids):
                piece.extend(self.vocab.decode(row))
            new_counts = [sum(self.encoder.is_note(t) for t in piece) for piece in pieces]
            if new_counts == counts:
                break
            counts = new_counts
        if min(counts) < n_notes:
            log.warning("some samples have fewer than %d notes (%d): the model writes mostly time shifts",
                        n_notes, min(counts))
        return [self.encoder.first_notes(piece, n_notes) for piece in pieces]

    def primer_shift(self, midi_path: str | Path) -> int:
        """Semitones a primer was moved to be read in this genre's key (key_mode c); 0 under key_mode keep."""
        from .bars import key_shift
        from .midi_io import read_music

        return key_shift(read_music(midi_path).key) if self.key_mode == "c" else 0

    def write_midi(self, tokens: list[str], path: str | Path, program: int = 0, bpm: float = 120.0,
                   transpose: int = 0) -> None:
        """Render tokens as a MIDI file for a General MIDI program at a tempo, moved by `transpose` semitones
        (`-primer_shift(primer)` puts a sample composed from a primer back into the primer's key)."""
        from .encoding import events_of, transpose_notes
        from .midi_io import notes_to_stream, write_midi

        events = self.encoder.decode(tokens, self.step)
        if transpose:
            events = events_of(transpose_notes([(on, dur, p) for on, dur, ps in events for p in ps], transpose))
        write_midi(notes_to_stream(events, program, bpm, self.encoder.meters(tokens)), path)
