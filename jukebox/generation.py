"""Composing: sampling the next token and running the model forward for many samples at once."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

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


def _allowed(probs: np.ndarray, banned: tuple[int, ...], follow: np.ndarray | None,
             previous: np.ndarray) -> np.ndarray:
    """Next-token probabilities without the banned ids and, with a grammar, only what may follow `previous`."""
    probs[:, list(banned)] = 0.0
    if follow is None:
        return probs
    allowed = probs * follow[previous]
    return np.where(allowed.sum(axis=-1, keepdims=True) > 0, allowed, probs)


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
        p = _allowed(probs.numpy(), banned, follow, out[:, i - 1] if i else np.asarray(primers)[:, -1])
        out[:, i] = sample(p, temperature, rng, top_k, top_p)
        if i + 1 < n_notes:
            probs, state = advance(state, tf.constant(out[:, i]))
    return out


def generate_rows(steps, primers: np.ndarray, lengths: Sequence[int], rows: Sequence[Sampling],
                  rngs: Sequence[np.random.Generator], banned: tuple[int, ...] = (0,),
                  follow: np.ndarray | None = None) -> np.ndarray:
    """generate with settings per row: row r draws lengths[r] tokens with its own temperature, top-k, top-p and rng.

    `steps` is the model's compiled (start, advance) (Composer.steps), reused so that a batch size seen before
    costs no new compilation.

    A row draws its random numbers from its own generator and only for its own tokens, so what it composes is
    what it would compose alone (the model's probabilities for a row do not depend on the other rows). Tokens
    past a row's length are left 0.
    """
    import tensorflow as tf

    start, advance = steps
    primers = np.asarray(primers, dtype=np.int32)
    probs, state = start(primers)
    steps = max(lengths, default=0)
    out = np.zeros((len(primers), steps), dtype=np.int32)
    for i in tqdm(range(steps), desc="generate", unit="note", leave=False):
        p = _allowed(probs.numpy(), banned, follow, out[:, i - 1] if i else primers[:, -1])
        for r, row in enumerate(rows):
            if i < lengths[r]:
                out[r, i] = sample(p[r : r + 1], row.temperature, rngs[r], row.top_k, row.top_p)[0]
        if i + 1 < steps:
            probs, state = advance(state, tf.constant(out[:, i]))
    return out


@dataclass(frozen=True)
class Sampling:
    """How one piece is composed: its notes, temperature, top-k, top-p and random seed.

    What the generate stage, `jukebox generate` and the web app share: each takes the values its user gave
    (a form's fields, a command's options) and params.yaml's for the rest (Sampling.chosen).
    """

    n_notes: int
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0

    @classmethod
    def chosen(cls, params, n_notes: int | None = None, temperature: float | None = None, top_k: int | None = None,
               top_p: float | None = None, seed: int | None = None) -> "Sampling":
        """The values given, each one left None taken from `params` (params.yaml's n_notes, temperature, ...)."""
        given = {"n_notes": n_notes, "temperature": temperature, "top_k": top_k, "top_p": top_p, "seed": seed}
        return cls(**{key: getattr(params, key) if value is None else value for key, value in given.items()})

    def describe(self) -> str:
        """The settings in one phrase, for logs and messages."""
        return (f"{self.n_notes} notes, temperature {self.temperature:g}, top_k {self.top_k}, top_p {self.top_p:g}, "
                f"seed {self.seed}")


def validation_primers(val: np.ndarray, seq_len: int, seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` primer windows (count, seq_len) of a genre's validation tokens, chosen by the seed, and their starts."""
    from .dataset import window_starts, windows

    starts = np.random.default_rng(seed).choice(window_starts(len(val), seq_len, len(val)), size=count)
    primers, _ = windows(val, starts, seq_len)
    return primers, starts


class Composer:
    """A trained genre model with its vocabulary: what the generate stage, the CLI and the web app share."""

    def __init__(self, model, vocab, config, key_mode: str = "keep"):
        self.model, self.vocab, self.config = model, vocab, config
        self.seq_len, self.encoding, self.step = config.seq_len, config.encoding, config.step
        self.encoder = get_encoding(config.encoding)  # the encoding itself; `encoding` stays its name, as samples record it
        self.key_mode = key_mode  # `c`: the genre was learnt in C major / A minor, and so must a primer be read

    @classmethod
    def load(cls, model_dir: str | Path) -> "Composer":
        """Load models/<genre>/ as written by the train stage: the model, its vocabulary and its ModelConfig."""
        from .dataset import Vocabulary
        from .model import ModelConfig, load_model

        model_dir = Path(model_dir)
        config = ModelConfig.load(model_dir / "config.json")
        model = load_model(model_dir / "model.keras")
        vocab_json = json.loads((model_dir / "vocab.json").read_text())
        return cls(model, Vocabulary.from_json(vocab_json), config, vocab_json.get("key_mode", "keep"))

    def primer_tokens(self, midi_path: str | Path) -> tuple[list[str], dict[str, str | None]]:
        """The opening seq_len tokens of a MIDI file in this genre's vocabulary, and the swaps that took.

        A token the genre never had (a note out of its range, an odd duration) becomes the nearest known
        token (None: none of its kind, dropped); the swaps map each such token to its replacement.
        """
        from .primers import opening_music

        return self.primer_tokens_of(opening_music(midi_path, self.seq_len), midi_path)

    def primer_tokens_of(self, music: tuple, where: str | Path) -> tuple[list[str], dict[str, str | None]]:
        """primer_tokens for a primer's opening already read: (notes, meters, key), as primers.opening_music gives it
        (the web app reads it in a time-limited process pool)."""
        from .bars import in_c

        notes, meters, key = music
        if not notes:
            raise ValueError(f"{where}: the primer has no notes (no pitched notes); choose a MIDI file with notes "
                             "in it")
        notes = [tuple(n) for n in notes]
        if self.key_mode == "c":
            notes, key, _ = in_c(notes, key)
        tokens = self.encoder.encode(notes, [tuple(m) for m in meters], key)[: self.seq_len]
        known = self.vocab.tokens[1:]
        swaps = {t: self.encoder.nearest(t, known) for t in dict.fromkeys(tokens) if t not in known}
        tokens = [swaps.get(t, t) for t in tokens if swaps.get(t, t) is not None]
        if not any(self.encoder.is_note(t) for t in tokens):
            raise ValueError(f"{where}: none of the primer's notes can be matched to this genre's vocabulary "
                             f"({len(known)} tokens, {self.encoding} encoding); choose another primer or genre")
        return tokens, swaps

    def primer(self, midi_path: str | Path) -> np.ndarray:
        """A primer window (seq_len ids) from the opening of a MIDI file, ending where the new music begins.

        Swapped tokens are logged; a primer shorter than the window is repeated so that it still ends the window.
        """
        return self.primer_window(*self.primer_tokens(midi_path), midi_path)

    def primer_window(self, tokens: list[str], swaps: dict[str, str | None], where: str | Path) -> np.ndarray:
        """The primer window of primer_tokens' result (swaps logged, a short primer repeated to fill it)."""
        if swaps:
            shown = ", ".join(f"{t} -> {s or 'dropped'}" for t, s in list(swaps.items())[:8])
            log.warning("primer %s: %d distinct tokens are not in this genre's vocabulary (%s encoding); using the "
                        "nearest known ones: %s%s", where, len(swaps), self.encoding, shown,
                        ", ..." if len(swaps) > 8 else "")
        ids = self.vocab.ids(tokens)
        return np.tile(ids, -(-self.seq_len // len(ids)))[-self.seq_len :]

    def steps(self):
        """The model's compiled (start, advance), made once: each new batch shape compiles once, then is reused."""
        if getattr(self, "_steps", None) is None:
            from .model import generation_steps

            self._steps = generation_steps(self.model)
        return self._steps

    def tokens_per_note(self) -> float:
        """How many tokens the genre's music spends per note (1 for `pitch`; time shifts add to it in `rhythm`)."""
        notes = sum(c for t, c in zip(self.vocab.tokens, self.vocab.counts) if self.encoder.is_note(t))
        return max(1.0, sum(self.vocab.counts) / max(notes, 1))

    def compose(self, primers: np.ndarray, sampling: Sampling | Sequence[Sampling]) -> list[list[str]]:
        """Token lists continuing each primer window (all in one batch), row r holding its Sampling's n_notes notes.

        `sampling` is one for every row or one per row. Each row composes exactly what it would alone: its own
        random generator (its seed), its own settings and its own rounds, however many rows share the batch.
        """
        window = np.array(primers, dtype=np.int32)
        rows = [sampling] * len(window) if isinstance(sampling, Sampling) else list(sampling)
        if len(rows) != len(window):
            raise ValueError(f"{len(rows)} sampling settings for {len(window)} primer windows; give one per window")
        rngs = [np.random.default_rng(row.seed) for row in rows]
        pieces: list[list[str]] = [[] for _ in window]
        per_note = self.tokens_per_note()
        follow = self.encoder.grammar(self.vocab.tokens, window)  # remi's remembers each row's bar
        counts, done = [0] * len(rows), [False] * len(rows)
        for _ in range(MAX_ROUNDS):
            # A little more than the genre's usual share of time shifts; the rare piece still short gets another round.
            lengths = [0 if done[r] else int(np.ceil((row.n_notes - counts[r]) * per_note * 1.1))
                       for r, row in enumerate(rows)]
            if not any(lengths):
                break
            ids = generate_rows(self.steps(), window, lengths, rows, rngs, follow=follow)
            for r, length in enumerate(lengths):
                if not length:
                    continue
                pieces[r].extend(self.vocab.decode(ids[r, :length]))
                window[r] = np.concatenate([window[r], ids[r, :length]])[-window.shape[1] :]
                count = sum(self.encoder.is_note(t) for t in pieces[r])
                done[r] = count >= rows[r].n_notes or count == counts[r]
                counts[r] = count
        short = [c for c, row in zip(counts, rows) if c < row.n_notes]
        if short:
            log.warning("%d samples have fewer notes than asked (%s): the model writes mostly time shifts",
                        len(short), ", ".join(map(str, short)))
        return [self.encoder.first_notes(piece, row.n_notes) for piece, row in zip(pieces, rows)]

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
