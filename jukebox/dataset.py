"""Vocabulary, the train/validation split by piece, and training windows streamed from token arrays."""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .encodings.base import END

UNKNOWN = "<unk>"


@dataclass(frozen=True)
class Vocabulary:
    """Tokens by id (id 0 is the unknown token) and how often each occurred in the training pieces."""

    tokens: tuple[str, ...]
    counts: tuple[int, ...]

    @classmethod
    def build(cls, pieces: Sequence[Sequence[str]], min_count: int = 1, semitones: int = 0,
              transpose=None) -> "Vocabulary":
        """Most frequent first; tokens seen fewer than min_count times fold into the unknown token (END, which
        closes each piece, is kept however few the pieces are).

        With `semitones` (and `transpose(token, interval)`, None when a token cannot move) a token is judged as
        the pieces moved by every interval -semitones..+semitones would count it, so that training windows moved
        on the fly stay in the vocabulary; `counts` stay the pieces' own (0 for a token only a move makes).
        """
        counts = Counter(t for piece in pieces for t in piece)
        judged = counts
        if semitones:
            judged = Counter()
            for token, count in counts.items():
                for interval in range(-semitones, semitones + 1):
                    moved = transpose(token, interval)
                    if moved is not None:
                        judged[moved] += count
        keep = {t for t, c in judged.items() if c >= min_count or t == END}
        kept = sorted(keep, key=lambda t: (-counts[t], -judged[t], t))
        unknown = sum(c for t, c in counts.items() if t not in keep)
        return cls((UNKNOWN, *kept), (unknown, *(counts[t] for t in kept)))

    @classmethod
    def from_json(cls, data: dict) -> "Vocabulary":
        return cls(tuple(data["tokens"]), tuple(data["counts"]))

    def to_json(self) -> dict:
        return {"tokens": list(self.tokens), "counts": list(self.counts)}

    def __len__(self) -> int:
        return len(self.tokens)

    def ids(self, tokens: Sequence[str]) -> np.ndarray:
        """Token ids, unknown tokens as 0."""
        index = {t: i for i, t in enumerate(self.tokens)}
        return np.array([index.get(t, 0) for t in tokens], dtype=np.int32)

    def decode(self, ids: Sequence[int]) -> list[str]:
        return [self.tokens[i] for i in ids]


def split_pieces(n_pieces: int, val_fraction: float, seed: int,
                 groups: Sequence | None = None) -> tuple[list[int], list[int]]:
    """Seeded split of piece indices into train and validation; each side gets at least one piece.

    Pieces with the same `groups` key go to the same side, so that a tune in two versions (Bach harmonized
    one chorale melody several times) is not learnt on one side and scored on the other. When the groups leave
    no way to give each side a piece, the split is by piece."""
    if n_pieces < 2:
        raise ValueError(f"need at least 2 pieces to split train/validation, got {n_pieces}")
    members: dict = {}
    for index, group in enumerate(range(n_pieces) if groups is None else groups):
        members.setdefault(group, []).append(index)
    if len(members) < 2:
        members = {index: [index] for index in range(n_pieces)}
    order = list(members.values())
    random.Random(seed).shuffle(order)
    n_val = min(n_pieces - 1, max(1, round(n_pieces * val_fraction)))
    val: list[int] = []
    for group in order:
        if len(val) >= n_val:
            break
        if len(val) + len(group) < n_pieces:
            val.extend(group)
    return sorted(set(range(n_pieces)) - set(val)), sorted(val)


def melody_key(notes: Sequence[Sequence[float]], length: int = 12) -> tuple[int, ...]:
    """The opening of a piece's top line as `length` intervals: the same for two versions of one tune, whatever
    their key or harmony. Notes are (onset, duration, pitch)."""
    top: dict[float, int] = {}
    for onset, _, pitch in notes:
        top[onset] = max(top.get(onset, 0), int(pitch))
    line = [top[onset] for onset in sorted(top)][:length + 1]
    return tuple(b - a for a, b in zip(line, line[1:]))


def window_starts(n_tokens: int, seq_len: int, count: int) -> np.ndarray:
    """Up to `count` evenly spaced window starts over a token array (deterministic, for validation)."""
    n_starts = n_tokens - seq_len
    if n_starts < 1:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.linspace(0, n_starts - 1, num=min(count, n_starts)).astype(np.int64))


def windows(tokens: np.ndarray, starts: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of `seq_len` tokens at `starts` and the token after each."""
    index = starts[:, None] + np.arange(seq_len)[None, :]
    return tokens[index], tokens[starts + seq_len]


def sequence_windows(tokens: np.ndarray, starts: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of `seq_len` tokens at `starts` and the same windows shifted by one: the next token at every position."""
    index = starts[:, None] + np.arange(seq_len + 1)[None, :]
    cut = tokens[index]
    return cut[:, :-1], cut[:, 1:]


def validation_data(tokens: np.ndarray, seq_len: int, count: int, every_position: bool = False) -> tuple:
    """Evenly spaced validation windows for Keras: (x, next token), or (x, shifted window, weights) for causal models.

    A causal model's weights put the whole loss on the last position, scaled by seq_len because Keras divides
    a batch's weighted loss by its number of elements: its val_loss is then the mean loss of the token after
    each window, the very quantity a `bilstm` reports, so the two compare directly.
    """
    starts = window_starts(len(tokens), seq_len, count)
    if not every_position:
        return windows(tokens, starts, seq_len)
    x, y = sequence_windows(tokens, starts, seq_len)
    weights = np.zeros(y.shape, dtype=np.float32)
    weights[:, -1] = seq_len
    return x, y, weights


def transposition_tables(tokens: Sequence[str], semitones: int, transpose) -> np.ndarray:
    """Token id -> id of the same token moved by each interval -semitones..+semitones: (2*semitones+1, vocab).

    `transpose(token, interval)` gives the moved token (None when it cannot be moved); an id whose moved token
    is not in the vocabulary maps to -1.
    """
    index = {t: i for i, t in enumerate(tokens)}
    return np.array([[index.get(transpose(t, k), -1) if i else 0 for i, t in enumerate(tokens)]
                     for k in range(-semitones, semitones + 1)], dtype=np.int32)


def key_weights(keys: Sequence[str | None], semitones: int) -> np.ndarray:
    """Log-weights (pieces, 2 * semitones + 1) for transpose_into genre_keys: moving piece i by k semitones weighs as
    many training pieces as are in the key it lands in, so that moved pieces sit in the genre's keys as often as
    its own pieces do. A piece without a key moves by any interval alike."""
    from .bars import transpose_key

    counts = Counter(keys)
    rows = [[counts[transpose_key(key, k)] if key else 1 for k in range(-semitones, semitones + 1)] for key in keys]
    with np.errstate(divide="ignore"):
        return np.log(np.array(rows, dtype=np.float32).reshape(len(keys), 2 * semitones + 1))


def training_dataset(tokens: np.ndarray, seq_len: int, batch_size: int, windows_per_epoch: int, seed: int,
                     every_position: bool = False, transpositions: np.ndarray | None = None,
                     end_id: int | None = None, weights: np.ndarray | None = None):
    """A tf.data pipeline of (window, next token) batches cut on the fly from one token array.

    Memory holds the token array only, whatever seq_len is. Each epoch draws `windows_per_epoch`
    random starts (a new, seeded draw every epoch). With `every_position` the target is the window
    shifted by one (batch, seq_len), for models that predict the next token at every position.
    With `transpositions` (from `transposition_tables`) each window is moved by a random interval of the
    table; a window with a note that cannot be moved within the vocabulary is kept as it is. With `end_id` (the
    id of END, which closes every piece) each piece of a window draws its own interval, as its key is its own, and
    a piece that begins inside the window is left unmoved half the time. With `weights` (key_weights, one row per
    piece of `tokens`, which END closes) a piece's interval is drawn in proportion to its row.
    """
    import tensorflow as tf

    n_starts = len(tokens) - seq_len
    if n_starts < 1:
        raise ValueError(f"training split has {len(tokens)} tokens, too few for seq_len {seq_len}")
    table = tf.constant(tokens, dtype=tf.int32)
    offsets = tf.range(seq_len + 1, dtype=tf.int64)
    moves = tf.constant(transpositions if transpositions is not None else np.zeros((0, 0)), dtype=tf.int32)
    if weights is not None:
        if end_id is None or transpositions is None or weights.shape != (int((tokens == end_id).sum()),
                                                                          len(transpositions)):
            raise ValueError(f"weights {weights.shape} need transpositions, end_id and a row for each of the "
                             f"pieces END closes, a column for each interval")
        first_piece = tf.constant(np.cumsum(tokens == end_id) - (tokens == end_id), dtype=tf.int32)
        last_piece = len(weights) - 1
        log_weights = tf.constant(weights, dtype=tf.float32)

    def cut(draws):
        starts = tf.math.floormod(draws[:, 0], n_starts)
        window = tf.gather(table, starts[:, None] + offsets[None, :])
        if transpositions is not None:
            if end_id is None:
                interval = tf.cast(tf.math.floormod(draws[:, 1], len(transpositions)), tf.int32)[:, None]
            else:
                # Pieces numbered within the window from 0, each numbering drawn its own interval (stateless, from
                # the batch's seeded draws): moved together, two tunes side by side would be alike in key, where
                # in the corpus they are not, and a composed piece would inherit its key from the one before. A
                # piece that begins inside the window stays in its own key half the time, so that how a piece
                # begins is learnt from the genre's keys as often as from moved ones (README, "What <end> changed").
                piece = tf.cumsum(tf.cast(window == end_id, tf.int32), axis=1, exclusive=True)
                if weights is None:
                    drawn = tf.random.stateless_uniform(tf.shape(window), seed=draws[0], maxval=len(transpositions),
                                                        dtype=tf.int32)
                    # The second row seeds the coin; an epoch's last batch may hold one window, whose row serves
                    # twice.
                    second = draws[tf.minimum(1, tf.shape(draws)[0] - 1)]
                    coin = tf.random.stateless_uniform(tf.shape(window), seed=second, maxval=2, dtype=tf.int32)
                    stays = (piece > 0) & (tf.gather(coin, piece, batch_dims=1) == 0)
                    interval = tf.where(stays, len(transpositions) // 2, tf.gather(drawn, piece, batch_dims=1))
                else:
                    # Gumbel-max over each piece's log-weights: the window's j-th piece is the array's piece
                    # first + j. Intervals into keys the genre never uses weigh -inf and are never drawn. No coin:
                    # the weighted moves already keep a piece's opening in the genre's keys.
                    shape = tf.concat([tf.shape(window), [len(transpositions)]], axis=0)
                    uniform = tf.random.stateless_uniform(shape, seed=draws[0], minval=1e-7, maxval=1.0)
                    whose = tf.minimum(tf.gather(first_piece, starts)[:, None] + tf.range(seq_len + 1)[None, :],
                                       last_piece)
                    drawn = tf.argmax(tf.gather(log_weights, whose) - tf.math.log(-tf.math.log(uniform)), axis=-1,
                                      output_type=tf.int32)
                    interval = tf.gather(drawn, piece, batch_dims=1)
            moved = tf.gather_nd(moves, tf.stack([tf.broadcast_to(interval, tf.shape(window)), window], axis=-1))
            window = tf.where(tf.reduce_all(moved >= 0, axis=1, keepdims=True), moved, window)
        if every_position:
            return window[:, :-1], window[:, 1:]
        return window[:, :-1], window[:, -1]

    # Two seeded draws per window: where it starts and how far it is transposed.
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    return draws.take(windows_per_epoch).batch(batch_size).map(cut, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE
    )
