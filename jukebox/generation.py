"""Composing: sampling the next token and running the model forward for many samples at once."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from .bars import Event, transpose_notes
from .encodings import events_of, get_encoding

log = logging.getLogger(__name__)
# Rounds of generation Composer.compose runs at most to reach n_notes notes in every sample.
MAX_ROUNDS = 8
# Tokens one compiled call composes: the loop runs inside the graph, so Python is visited once per CHUNK tokens
# and a call's shapes (batch, CHUNK) never change with the length asked for (one compilation per batch size).
CHUNK = 64


def sample(probs, temperature, uniform, top_k=0, top_p=1.0):
    """One token id per row of `probs` (batch, vocab): temperature, then top-k and nucleus (top-p) filtering.

    Settings are one for every row or one per row; `uniform` holds one number in [0, 1) per row, the row's
    random draw (an inverse-CDF draw: the same numbers, the same tokens, whatever the other rows hold).
    Temperature 0 takes the most likely (the 2018 argmax); top_k 0 and top_p 1 switch their filter off.
    A token of probability 0 (a banned one) is never drawn, and a token tied with the last one a filter keeps
    is kept too. Plain TensorFlow: it runs eagerly on numpy arrays and inside the compiled composing loop.
    """
    import tensorflow as tf

    probs = tf.convert_to_tensor(probs, tf.float32)
    rows, vocab = tf.shape(probs)[0], tf.shape(probs)[1]
    per_row = lambda value, dtype: tf.broadcast_to(tf.cast(value, dtype), [rows])[:, None]  # noqa: E731
    temperature, uniform = per_row(temperature, tf.float32), per_row(uniform, tf.float32)
    top_k, top_p = per_row(top_k, tf.int32), per_row(top_p, tf.float32)
    logits = tf.math.log(probs) / tf.maximum(temperature, 1e-6)  # log 0 = -inf: impossible stays impossible
    weights = tf.exp(logits - tf.reduce_max(logits, axis=-1, keepdims=True))  # the most likely weighs 1
    k = tf.cast(tf.where((top_k > 0) & (top_k < vocab), top_k, vocab), tf.float32)
    weights = _kept(weights, lambda kept: tf.reduce_sum(tf.cast(kept > 0, tf.float32), -1, keepdims=True) >= k)
    # The nucleus: the most likely tokens until their mass reaches top_p (the first is always kept); the
    # tolerance keeps float round-off from adding a token when the mass lands exactly on top_p.
    mass = (top_p - 1e-6) * tf.reduce_sum(weights, axis=-1, keepdims=True)
    weights = _kept(weights, lambda kept: tf.reduce_sum(kept, -1, keepdims=True) >= mass)
    cdf = tf.cumsum(weights, axis=-1)
    drawn = tf.reduce_sum(tf.cast(cdf <= uniform * cdf[:, -1:], tf.int32), axis=-1)
    greedy = tf.argmax(probs, axis=-1, output_type=tf.int32)
    return tf.where(temperature[:, 0] == 0, greedy, tf.minimum(drawn, vocab - 1))


def _kept(weights, enough):
    """`weights` (at most 1 each) without those below the highest threshold t for which enough(weights >= t).

    The threshold is found by bisection to within 2**-32, the likely tokens' float precision and finer: on the
    CPU, 32 rounds of comparing and summing cost a tenth of sorting the vocabulary (0.2 against 1.8 ms a step
    for 32 rows of 473 tokens under XLA). The rounds are a loop in the graph, not 32 copies of it: the composing
    loop then compiles in about a second less, and draws the same tokens.
    """
    import tensorflow as tf

    def halve(low, high):
        middle = (low + high) / 2
        ok = enough(tf.where(weights >= middle, weights, 0.0))
        return tf.where(ok, middle, low), tf.where(ok, high, middle)

    low = tf.zeros_like(weights[:, :1])  # enough at low, not enough at high, throughout
    low, _ = tf.while_loop(lambda *_: True, halve, (low, tf.ones_like(low) * 1.5), maximum_iterations=32)
    return tf.where(weights >= low, weights, 0.0)


class ComposingLoop:
    """A model's composing loop, compiled with XLA: sampling, the grammar and the model's step in one graph.

    One call runs CHUNK steps for the whole batch, each row with its own temperature, top-k, top-p and random
    numbers; `banned` ids (the unknown token) are never drawn, and with a grammar (Encoding.grammar) only tokens
    allowed after each row's previous one. Each batch size compiles once and is then reused.
    """

    def __init__(self, model, grammar=None, banned: tuple[int, ...] = (0,)):
        import tensorflow as tf

        from .model import generation_steps

        start, advance = generation_steps(model)
        allowed = np.ones(model.output_shape[-1], np.float32)
        allowed[list(banned)] = 0.0
        self.allowed = allowed

        def draw(probs, previous, rules, settings, uniform, allowed):
            probs = probs * allowed
            if grammar is not None:
                mask, rules = grammar.mask(rules, previous)
                masked = probs * mask
                # A row the grammar leaves nothing for (it cannot happen in a grammar's own tokens) draws freely.
                probs = tf.where(tf.reduce_sum(masked, axis=-1, keepdims=True) > 0, masked, probs)
            temperature, top_k, top_p = settings
            return sample(probs, temperature, uniform, top_k, top_p), rules

        def chunk(probs, state, previous, rules, settings, uniforms, allowed):
            tokens = tf.TensorArray(tf.int32, size=CHUNK)

            def body(i, probs, state, previous, rules, tokens):
                token, rules = draw(probs, previous, rules, settings, uniforms[:, i], allowed)
                probs, state = advance(state, token)
                return i + 1, probs, state, token, rules, tokens.write(i, token)

            _, probs, state, previous, rules, tokens = tf.while_loop(
                lambda i, *_: i < CHUNK, body, (0, probs, state, previous, rules, tokens))
            return tf.transpose(tokens.stack()), probs, state, previous, rules

        self.start = tf.function(start, jit_compile=True)
        self.chunk = tf.function(chunk, jit_compile=True)
        self.grammar = grammar

    def __call__(self, primers: np.ndarray, lengths: Sequence[int], rows: Sequence["Sampling"],
                 rngs: Sequence[np.random.Generator], allowed: np.ndarray | None = None) -> np.ndarray:
        """Continue every primer window (batch, seq_len): row r draws lengths[r] tokens with rows[r]'s settings,
        and only tokens its row of `allowed` (batch, vocab; 1 allowed, 0 not) allows, when given.

        A row draws its random numbers from its own generator and only for its own tokens, so what it composes
        is what it would compose alone (the model's probabilities for a row do not depend on the other rows).
        Tokens past a row's length are left 0.
        """
        primers = np.asarray(primers, dtype=np.int32)
        steps = max(lengths, default=0)
        out = np.zeros((len(primers), -(-steps // CHUNK) * CHUNK), dtype=np.int32)
        uniforms = np.zeros(out.shape, dtype=np.float32)
        for r, length in enumerate(lengths):
            uniforms[r, :length] = rngs[r].random(length)
        settings = (np.array([row.temperature for row in rows], np.float32),
                    np.array([row.top_k for row in rows], np.int32), np.array([row.top_p for row in rows], np.float32))
        # One mask per row: the banned ids for all, times the row's own (a request's instruments).
        allowed = np.broadcast_to(self.allowed * (1.0 if allowed is None else allowed),
                                  (len(primers), len(self.allowed))).astype(np.float32)
        asked = np.array([bool(getattr(row, "instruments", ())) for row in rows])
        rules = self.grammar.state(primers, allowed, asked) if self.grammar is not None else ()
        probs, state = self.start(primers)
        previous = primers[:, -1]
        for begin in tqdm(range(0, steps, CHUNK), desc="generate", unit="chunk", leave=False):
            tokens, probs, state, previous, rules = self.chunk(probs, state, previous, rules, settings,
                                                               uniforms[:, begin : begin + CHUNK], allowed)
            out[:, begin : begin + CHUNK] = tokens.numpy()
        out = out[:, :steps]
        out[np.arange(steps)[None, :] >= np.asarray(lengths)[:, None]] = 0
        return out


def generate(model, primers: np.ndarray, n_notes: int, temperature: float, seed: int,
             banned: tuple[int, ...] = (0,), top_k: int = 0, top_p: float = 1.0, grammar=None) -> np.ndarray:
    """Continue every primer window (batch, seq_len) by n_notes tokens with one setting for all, seeded by `seed`
    (row r draws from the generator of (seed, r)); ComposingLoop with the model compiled afresh."""
    rows = [Sampling(n_notes, temperature, top_k, top_p, seed)] * len(primers)
    rngs = [np.random.default_rng([seed, r]) for r in range(len(primers))]
    return ComposingLoop(model, grammar, banned)(primers, [n_notes] * len(primers), rows, rngs)


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
    instruments: tuple[str, ...] = ()  # with a multi-track encoding: the instruments it may play (none: all)

    @classmethod
    def chosen(cls, params, n_notes: int | None = None, temperature: float | None = None, top_k: int | None = None,
               top_p: float | None = None, seed: int | None = None, instruments: Sequence[str] = ()) -> "Sampling":
        """The values given, each one left None taken from `params` (params.yaml's n_notes, temperature, ...);
        `instruments` (names, jukebox.instruments) restrict a multi-track piece to them."""
        given = {"n_notes": n_notes, "temperature": temperature, "top_k": top_k, "top_p": top_p, "seed": seed}
        return cls(**{key: getattr(params, key) if value is None else value for key, value in given.items()},
                   instruments=tuple(instruments))

    def describe(self) -> str:
        """The settings in one phrase, for logs and messages."""
        played = f", instruments {', '.join(self.instruments)}" if self.instruments else ""
        return (f"{self.n_notes} notes, temperature {self.temperature:g}, top_k {self.top_k}, top_p {self.top_p:g}, "
                f"seed {self.seed}{played}")


def instrument_of(token: str) -> int | None:
    """The instrument a token names: a Program_ token's program (-1: remi_plus's drum kit), -1 for rhythm's drum
    hits, None for any other token."""
    kind, _, value = token.partition("_")
    if kind == "Drum":
        return -1
    if kind == "Program" and value.lstrip("-").isdigit():
        return int(value)
    return None


def validation_primers(val: np.ndarray, seq_len: int, seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` primer windows (count, seq_len) of a genre's validation tokens, chosen by the seed, and their starts."""
    from .dataset import window_starts, windows

    starts = np.random.default_rng(seed).choice(window_starts(len(val), seq_len, len(val)), size=count)
    primers, _ = windows(val, starts, seq_len)
    return primers, starts


class Composer:
    """A trained genre model with its vocabulary: what the generate stage, the CLI and the web app share.

    It takes primer windows and hands back tokens, and the notes they stand for (events, piece_tracks); reading a
    primer is jukebox.primers', writing a piece jukebox.samples'.
    """

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

    def loop(self) -> ComposingLoop:
        """The model's compiled composing loop with the encoding's grammar, made once and reused."""
        if getattr(self, "_loop", None) is None:
            self._loop = ComposingLoop(self.model, self.encoder.grammar(self.vocab.tokens))
        return self._loop

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
        allowed = self.allowed(rows)
        pieces: list[list[str]] = [[] for _ in window]
        per_note = self.tokens_per_note()
        counts, done = [0] * len(rows), [False] * len(rows)
        for _ in range(MAX_ROUNDS):
            # A little more than the genre's usual share of time shifts; the rare piece still short gets another round.
            lengths = [0 if done[r] else int(np.ceil((row.n_notes - counts[r]) * per_note * 1.1))
                       for r, row in enumerate(rows)]
            if not any(lengths):
                break
            ids = self.loop()(window, lengths, rows, rngs, allowed)
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

    @property
    def multitrack(self) -> bool:
        """Whether the genre keeps its instruments: a multi-track encoding whose training pieces named some (a
        rhythm genre with instruments: merge names none: it is one stream, played on the genre's program)."""
        return self.encoder.multitrack and bool(self._played())

    def _played(self) -> dict[int, int]:
        """Training tokens naming each instrument: Program_ tokens by program, drum hits as -1 (the kit)."""
        played: dict[int, int] = {}
        for token, count in zip(self.vocab.tokens, self.vocab.counts):
            program = instrument_of(token)
            if program is not None and count:
                played[program] = played.get(program, 0) + count
        return played

    def allowed(self, rows: Sequence[Sampling]) -> np.ndarray | None:
        """Per row, the tokens it may draw (1) or not (0), None when all may: a multi-track genre plays the
        instruments its training pieces play (a fixed vocabulary names all 129, and a small model would wander
        among them), unless a row asks for instruments (jukebox.instruments), which it then plays alone."""
        if not self.multitrack:
            if any(row.instruments for row in rows):
                raise ValueError(f"this genre's {self.encoding} model plays one instrument; choosing instruments "
                                 "needs a genre with instruments: keep (encoding rhythm or remi_plus)")
            return None
        own = np.array([0.0 if instrument_of(t) is not None and not count else 1.0
                        for t, count in zip(self.vocab.tokens, self.vocab.counts)], np.float32)
        from .instruments import programs_of

        return np.stack([self.encoder.allowed(programs_of(row.instruments), self.vocab.tokens) if row.instruments
                         else own for row in rows])

    def instruments(self) -> list[str]:
        """The instrument families (jukebox.instruments) the genre's training pieces play, most notes first: what
        a request may choose from (empty for a single-stream genre)."""
        from .instruments import family

        if not self.multitrack:
            return []
        families: dict[str, int] = {}
        for program, count in self._played().items():
            families[family(program)] = families.get(family(program), 0) + count
        return sorted(families, key=lambda name: -families[name])

    def piece_tracks(self, tokens: list[str], bpm: float = 120.0, transpose: int = 0, instruments: Sequence[str] = (),
                     program: int = 0):
        """The multi-track piece (midi_io.MultiTrack) of a multi-track encoding's tokens at a tempo, its tracks in
        program order and the drums last, pitched tracks moved by `transpose` semitones; with `instruments`, only their
        tracks (a primer's last program token can force one note of another instrument before the grammar's ban
        takes hold). `program` plays rhythm's notes before any instrument is named."""
        from .encodings.base import moved_notes
        from .instruments import programs_of

        piece = self.encoder.decode_piece(tokens, bpm, program)
        # In program order, drums last: a sample's tracks (and its legend) read violin, viola, cello, bass.
        tracks = sorted(piece.tracks, key=lambda t: (t.is_drum, t.program))
        if instruments:
            programs = programs_of(instruments)
            tracks = [t for t in tracks if (-1 if t.is_drum else t.program) in programs]
        if transpose:
            tracks = [t if t.is_drum else t._replace(notes=moved_notes(t.notes, transpose)) for t in tracks]
        return piece._replace(tracks=tracks)

    def events(self, tokens: list[str], transpose: int = 0) -> list[Event]:
        """The notes of a single-stream encoding's tokens as events `(onset, duration, pitches)`, moved by `transpose`
        semitones (samples.Piece.write moves a piece composed from a primer back into the primer's key)."""
        events = self.encoder.decode(tokens, self.step)
        if transpose:
            events = events_of(transpose_notes([(on, dur, p) for on, dur, ps in events for p in ps], transpose))
        return events
