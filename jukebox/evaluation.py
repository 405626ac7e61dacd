"""Judging a genre model by numbers: prediction quality, n-gram baselines, musical statistics and copying.

Every function here is pure: token ids, probabilities or events `(onset, duration, pitches)` in, numbers out.
The musical statistics follow Yang & Lerch, "On the evaluation of generative models in music" (2018): each
feature is a distribution over a set of pieces, and generated music is compared with held-out music by the
overlapping area of the two distributions (1 = indistinguishable, 0 = nothing in common).
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.stats import entropy

from .bars import Event, notes_per_bar, strong_beat_share
from .dataset import windows

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SEGMENT = 32  # events (or tokens) per stretch for the per-stretch features: ~8 bars of eighth notes
NGRAM_ORDERS = tuple(range(2, 9))  # candidate n for the Kneser-Ney baseline, chosen on the validation pieces
COPY_N = 8  # a generated 8-gram found verbatim in training counts as copied
DISTINCT_N = 4
REPEAT_CONTEXT = 7  # tokens (3 to 4 notes) that must match an earlier passage of the window for a repeated target
# Restating a whole phrase shows at 8-grams, where a short motif's repeats already show at 4-grams.
DISTINCT_LONG_N = 8
# Note values on a log2 scale in half-octave bins centred on a 32nd note .. a double whole note (in quarter
# notes), so dotted and triplet values fall between the plain ones instead of onto them.
RHYTHM_LOG2_EDGES = np.arange(-3.25, 3.26, 0.5)


# --- prediction quality ---------------------------------------------------------------------------------

def cross_entropy(target_probs: np.ndarray) -> float:
    """Mean negative log probability (nats) of the tokens that actually came next."""
    # Floor at float32's tiniest normal so a zero probability costs ~87 nats instead of infinity.
    return float(-np.mean(np.log(np.maximum(np.asarray(target_probs, dtype=np.float64), 1.2e-38))))


def cross_entropy_per_note(target_probs: np.ndarray, target_is_note: np.ndarray) -> float:
    """Negative log probabilities (nats) summed over all scored tokens, divided by how many of them are notes.

    Encodings spend different numbers of tokens per note (`rhythm` adds time shifts), so a per-token loss does
    not compare across them; the cost of writing down the same music, per note, does.
    """
    notes = int(np.count_nonzero(target_is_note))
    if notes == 0:
        raise ValueError(f"none of the {len(target_is_note)} scored validation tokens is a note, so there is no "
                         "cross-entropy per note; raise val_windows in params.yaml")
    return cross_entropy(target_probs) * len(target_probs) / notes


def prediction_scores(probs: np.ndarray, targets: np.ndarray, target_is_note: np.ndarray,
                      repeated: np.ndarray | None = None) -> dict:
    """Cross-entropy (nats; per token and per note), perplexity, top-1 and top-5 accuracy of next-token
    probabilities (windows, vocab); `target_is_note` marks the targets that are notes. With `repeated` (from
    `repeated_targets`), also the share of repeated targets and the cross-entropy on them."""
    probs, targets = np.asarray(probs), np.asarray(targets)
    rows = np.arange(len(targets))
    ce = cross_entropy(probs[rows, targets])
    k = min(5, probs.shape[1])
    top5 = np.argpartition(-probs, k - 1, axis=1)[:, :k]
    return {
        "cross_entropy": ce,
        "cross_entropy_per_note": cross_entropy_per_note(probs[rows, targets], target_is_note),
        "perplexity": float(np.exp(ce)),
        "top1_accuracy": float(np.mean(probs.argmax(axis=1) == targets)),
        "top5_accuracy": float(np.mean((top5 == targets[:, None]).any(axis=1))),
        **(on_repeats(probs[rows, targets], repeated) if repeated is not None else {}),
    }


def repeated_targets(windows: np.ndarray, targets: np.ndarray, context: int = REPEAT_CONTEXT) -> np.ndarray:
    """Per window (batch, time) and the target after it: whether the window's last `context` tokens, followed by
    the target, occur earlier in the window. Such a target continues a passage just heard, as a restated phrase
    does: a model can copy it from its context, where an n-gram can only count."""
    grams = sliding_window_view(np.concatenate([windows, np.asarray(targets)[:, None]], axis=1), context + 1, axis=1)
    return (grams[:, :-1] == grams[:, -1:]).all(axis=2).any(axis=1)


def heard_again_windows(tokens: np.ndarray, seq_len: int, count: int, seed: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The same targets twice: (first, again, targets), or None when `tokens` is too short.

    A passage of seq_len // 2 tokens is cut from `tokens` and one of its tokens is the target. `first` holds the
    windows that lead up to it as the music goes; `again` holds windows where the whole passage has just been
    heard and is being played a second time up to the target. A model that can restate what it hears (attention
    finding the earlier passage) predicts far better the second time; one that only knows the genre's habits
    predicts both alike. Real tunes restate phrases, but a corpus may hold too few restatements to teach that.
    """
    tokens = np.asarray(tokens)
    length = seq_len // 2
    # The target sits at least REPEAT_CONTEXT + 1 tokens into the passage, so there is a phrase to recognise.
    lowest = REPEAT_CONTEXT + 1
    first_start, last_start = seq_len - lowest, len(tokens) - length
    if length <= lowest or last_start < first_start:
        return None
    rng = np.random.default_rng(seed)
    starts = rng.integers(first_start, last_start + 1, count)
    offsets = rng.integers(lowest, length, count)
    before = np.arange(-seq_len, 0)[None, :]
    # Passage p = tokens[s:s+length]; first: the seq_len tokens before s+k. Again: the music up to the passage's
    # end, then p[:k] once more, the last seq_len of them.
    first, targets = windows(tokens, starts + offsets - seq_len, seq_len)
    again_index = np.where(before + offsets[:, None] >= 0,
                           starts[:, None] + before + offsets[:, None],   # p[:k] a second time
                           starts[:, None] + length + before + offsets[:, None])  # the music up to p's end
    return first, tokens[again_index], targets


def on_repeats(target_probs: np.ndarray, repeated: np.ndarray) -> dict:
    """The share of repeated targets and the cross-entropy (nats) on them (None when there are none)."""
    return {"repeated_share": float(np.mean(repeated)),
            "cross_entropy_on_repeats": cross_entropy(target_probs[repeated]) if repeated.any() else None}


# --- baselines ------------------------------------------------------------------------------------------

class NGramModel:
    """Interpolated Kneser-Ney n-gram model over token ids (Chen & Goodman 1999); order 1 is a discounted unigram.

    The highest order counts n-grams; lower orders count in how many different contexts a token follows
    (continuation counts), and the lowest interpolates with the uniform distribution over the vocabulary,
    so every id, the unknown token included, keeps some probability.
    """

    def __init__(self, tokens: np.ndarray, order: int, vocab_size: int):
        self.order, self.vocab_size = order, vocab_size
        tokens = np.asarray(tokens, dtype=np.int64)
        self.tables: list[dict] = []
        self.discounts: list[float] = []
        for k in range(1, order + 1):
            if k == order:
                grams, counts = unique_rows(sliding_window_view(tokens, k))
            else:
                longer, _ = unique_rows(sliding_window_view(tokens, k + 1))
                grams, counts = unique_rows(longer[:, 1:])
            n1, n2 = (counts == 1).sum(), (counts == 2).sum()
            # Ney's estimate of the discount; 0.75 where the counts cannot support it (tiny corpora).
            self.discounts.append(float(n1 / (n1 + 2 * n2)) if n1 and n2 else 0.75)
            self.tables.append(_by_context(grams, counts))

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        """Probabilities of every next token id after `context` (only its last order-1 ids matter)."""
        context = tuple(int(t) for t in context)[max(0, len(context) - self.order + 1):]
        p = np.full(self.vocab_size, 1.0 / self.vocab_size)
        for k in range(1, min(self.order, len(context) + 1) + 1):
            entry = self.tables[k - 1].get(context[len(context) - k + 1:])
            if entry is None:  # a context never seen in training: keep the shorter context's estimate
                continue
            following, counts = entry
            total, d = counts.sum(), self.discounts[k - 1]
            mixed = (d * len(following) / total) * p
            mixed[following] += np.maximum(counts - d, 0) / total
            p = mixed
        return p

    def target_probs(self, tokens: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Probability of tokens[p] given the tokens before it, for each position p."""
        return np.array([self.distribution(tokens[max(0, p - self.order + 1):p])[tokens[p]] for p in positions])


def unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(rows, axis=0, return_counts=True)` for non-negative integer rows, ranking one column at a time:
    1-D sorts instead of one sort of whole rows, which made the n-gram baselines the slowest part of evaluate."""
    rank = np.zeros(len(rows), dtype=np.int64)
    for column in rows.T:
        # Ranks of (rank so far, this column) pairs, in the order of the rows read up to this column.
        _, rank = np.unique(rank * (int(column.max()) + 1) + column, return_inverse=True)
    _, first, counts = np.unique(rank, return_index=True, return_counts=True)
    return rows[first], counts


def _by_context(grams: np.ndarray, counts: np.ndarray) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
    """Context -> (following ids, counts), from the lexicographically sorted rows np.unique returns."""
    contexts = grams[:, :-1]
    change = np.flatnonzero(np.any(contexts[1:] != contexts[:-1], axis=1)) + 1
    bounds = np.concatenate([[0], change, [len(grams)]])
    return {tuple(contexts[a].tolist()): (grams[a:b, -1], counts[a:b]) for a, b in zip(bounds[:-1], bounds[1:])}


def baseline_scores(train: np.ndarray, val: np.ndarray, positions: np.ndarray, vocab_size: int,
                    model_perplexity: float, target_is_note: np.ndarray, orders: Sequence[int] = NGRAM_ORDERS,
                    repeated: np.ndarray | None = None) -> dict:
    """Unigram and Kneser-Ney perplexities on the validation targets, n chosen there, against the model's;
    `target_is_note` marks the targets (val[positions]) that are notes, for the best n-gram's loss per note, and
    `repeated` (optional) the repeated targets, for the best n-gram's loss on them."""
    def target_probs(order: int) -> np.ndarray:
        return NGramModel(train, order, vocab_size).target_probs(val, positions)

    probs_by_n = {str(n): target_probs(n) for n in orders}
    by_n = {n: float(np.exp(cross_entropy(probs))) for n, probs in probs_by_n.items()}
    best = min(by_n, key=by_n.__getitem__)
    return {
        "unigram_perplexity": float(np.exp(cross_entropy(target_probs(1)))),
        "ngram_n": int(best),
        "ngram_perplexity": by_n[best],
        "ngram_cross_entropy_per_note": cross_entropy_per_note(probs_by_n[best], target_is_note),
        "ngram_perplexity_by_n": by_n,
        "beats_ngram": bool(model_perplexity < by_n[best]),
        "perplexity_ratio": model_perplexity / by_n[best],
        **({"ngram_cross_entropy_on_repeats": on_repeats(probs_by_n[best], repeated)["cross_entropy_on_repeats"]}
           if repeated is not None else {}),
    }


# --- musical statistics ---------------------------------------------------------------------------------

def histogram_overlap(p: np.ndarray, q: np.ndarray) -> float:
    """Overlapping area of two histograms after normalising each to sum 1 (1 = identical, 0 = disjoint)."""
    p, q = _shares(p), _shares(q)
    return float(np.minimum(p, q).sum())


def kl_divergence(p: np.ndarray, q: np.ndarray, floor: float = 1e-6) -> float:
    """KL(p || q) in bits of two histograms; `floor` keeps a bin that q never fills from making it infinite."""
    return float(entropy(_shares(p) + floor, _shares(q) + floor, base=2))


def distribution_overlap(a: Sequence[float], b: Sequence[float]) -> float:
    """Overlapping area of the distributions of one feature over two sets, binned on shared edges."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not len(a) or not len(b):
        return 0.0
    # Sturges' few bins: the generated set is small, and fine bins would punish it for sampling noise alone.
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
    return histogram_overlap(np.histogram(a, edges)[0], np.histogram(b, edges)[0])


def _shares(counts) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    return counts / total if total > 0 else counts


def pitch_class_histogram(pieces: Sequence[Sequence[Event]]) -> np.ndarray:
    """Share of each pitch class C..B among all sounding pitches; every note of a chord counts."""
    pcs = [p % 12 for events in pieces for _, _, pitches in events for p in pitches]
    return _shares(np.bincount(np.array(pcs, dtype=np.int64), minlength=12))


def rhythm_histogram(values: Sequence[float]) -> np.ndarray:
    """Share of note values (quarter notes) in half-octave bins from a 32nd note to a double whole note."""
    logs = np.log2(np.maximum(np.asarray(values, dtype=float), 1e-6))
    logs = np.clip(logs, RHYTHM_LOG2_EDGES[0], RHYTHM_LOG2_EDGES[-1])
    return _shares(np.histogram(logs, RHYTHM_LOG2_EDGES)[0])


def durations(pieces: Sequence[Sequence[Event]]) -> list[float]:
    """Every event's duration."""
    return [duration for events in pieces for _, duration, _ in events]


def inter_onsets(pieces: Sequence[Sequence[Event]]) -> list[float]:
    """Time between consecutive onsets within each piece."""
    return [gap for events in pieces for gap in np.diff([onset for onset, _, _ in events]).tolist()]


def stretches(items: Sequence, length: int = SEGMENT) -> list[Sequence]:
    """Consecutive stretches of `length` items (the ragged end is dropped); a shorter piece is one stretch."""
    if 0 < len(items) < length:
        return [items]
    return [items[i:i + length] for i in range(0, len(items) - length + 1, length)]


def stretch_features(pieces: Sequence[Sequence[Event]], length: int = SEGMENT) -> dict[str, np.ndarray]:
    """Per stretch of `length` events: pitch range (semitones), distinct pitches and the share of chords."""
    rows = []
    for events in pieces:
        for stretch in stretches([e for e in events if e[2]], length):
            pitches = [p for _, _, ps in stretch for p in ps]
            chords = sum(len(ps) > 1 for _, _, ps in stretch)
            rows.append((max(pitches) - min(pitches), len(set(pitches)), chords / len(stretch)))
    table = np.array(rows, dtype=float).reshape(-1, 3)
    return {"pitch_range": table[:, 0], "distinct_pitches": table[:, 1], "chord_share": table[:, 2]}


def meter_features(pieces: Sequence[Sequence[Event]], meters: Sequence[Sequence] | None = None,
                   length: int = SEGMENT) -> dict[str, np.ndarray]:
    """Per stretch of `length` events: notes per bar and the share of onsets on a beat of the bar.

    Bar lines come from each piece's meters `[(offset, "3/4"), ...]` (4/4 from 0 without, as MIDI assumes).
    """
    rows = [(notes_per_bar(stretch, piece_meters), strong_beat_share(stretch, piece_meters))
            for events, piece_meters in zip(pieces, meters or [()] * len(pieces))
            for stretch in stretches([e for e in events if e[2]], length)]
    table = np.array(rows, dtype=float).reshape(-1, 2)
    return {"notes_per_bar": table[:, 0], "strong_beat_share": table[:, 1]}


def token_entropy(tokens: Sequence) -> float:
    """Shannon entropy (bits) of the tokens' frequencies: 0 for one repeated token, log2(k) for k equally used."""
    return float(entropy(list(Counter(np.asarray(tokens).tolist()).values()), base=2)) if len(tokens) else 0.0


def musical_statistics(generated: Sequence[Sequence[Event]], held_out: Sequence[Sequence[Event]],
                       generated_tokens: Sequence[Sequence], held_out_tokens: Sequence[Sequence],
                       generated_meters: Sequence[Sequence] | None = None,
                       held_out_meters: Sequence[Sequence] | None = None) -> dict:
    """Each Yang & Lerch feature for generated against held-out music, with the overlap of the two distributions.

    The meters (per piece, as `Encoding.meters` and the note streams give them) place the bar lines for
    notes_per_bar and strong_beat_share; without them every piece is 4/4 from its start.
    """
    stats = {}
    for name, gen, real in (
        ("pitch_classes", pitch_class_histogram(generated), pitch_class_histogram(held_out)),
        ("durations", rhythm_histogram(durations(generated)), rhythm_histogram(durations(held_out))),
        ("inter_onsets", rhythm_histogram(inter_onsets(generated)), rhythm_histogram(inter_onsets(held_out))),
    ):
        stats[name] = {"overlap": histogram_overlap(gen, real), "kl": kl_divergence(real, gen)}
    gen_stretch, real_stretch = stretch_features(generated), stretch_features(held_out)
    gen_stretch["token_entropy"] = np.array([token_entropy(s) for t in generated_tokens for s in stretches(t)])
    real_stretch["token_entropy"] = np.array([token_entropy(s) for t in held_out_tokens for s in stretches(t)])
    gen_stretch.update(meter_features(generated, generated_meters))
    real_stretch.update(meter_features(held_out, held_out_meters))
    for name in ("pitch_range", "distinct_pitches", "chord_share", "token_entropy", "notes_per_bar",
                 "strong_beat_share"):
        gen, real = gen_stretch[name], real_stretch[name]
        stats[name] = {"overlap": distribution_overlap(gen, real), "generated": _mean(gen), "held_out": _mean(real)}
    stats["overlap_mean"] = float(np.mean([v["overlap"] for v in stats.values()]))
    return stats


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else 0.0


# --- structure and originality --------------------------------------------------------------------------

def ngram_set(tokens: Sequence[int], n: int) -> set[tuple]:
    """Every distinct n-gram of a token sequence."""
    tokens = np.asarray(tokens)
    if len(tokens) < n:
        return set()
    return set(map(tuple, sliding_window_view(tokens, n).tolist()))


def distinct_ngram_ratio(tokens: Sequence[int], n: int = DISTINCT_N) -> float:
    """Distinct n-grams over all n-grams of one sequence: 1 = never repeats itself, near 0 = one loop."""
    total = len(tokens) - n + 1
    return len(ngram_set(tokens, n)) / total if total > 0 else 0.0


def copy_rate(samples: Sequence[Sequence[int]], training: set[tuple], n: int = COPY_N) -> float:
    """Share of the samples' n-grams (all samples pooled) found verbatim among the training n-grams."""
    grams = [g for s in samples if len(s) >= n for g in map(tuple, sliding_window_view(np.asarray(s), n).tolist())]
    return sum(g in training for g in grams) / len(grams) if grams else 0.0


def longest_copies(samples: Sequence[Sequence[int]], training: Sequence[int]) -> list[int]:
    """For each sample, the length of its longest run of tokens found verbatim in the training sequence."""
    # Token ids as characters, so Python's substring search (C speed, one code point per token) finds the runs.
    # From each start a run only has to beat the longest found so far: about one search per token, where
    # difflib's longest match took 40 s for three 1,000-token samples against 160,000 training tokens.
    text = _as_text(training)
    sizes = []
    for sample in map(_as_text, samples):
        best = 0
        for start in range(len(sample)):
            while start + best < len(sample) and sample[start:start + best + 1] in text:
                best += 1
        sizes.append(best)
    return sizes


def _as_text(tokens: Sequence[int]) -> str:
    return "".join(map(chr, np.asarray(tokens, dtype=np.int64).tolist()))


def originality(samples: Sequence[Sequence[int]], training: np.ndarray, training_ngrams: set[tuple]) -> dict:
    """Distinct-4- and 8-gram ratios (means over samples), 8-gram copy rate and the longest verbatim copy of
    token-id samples. The ratios fall as a sequence grows, so compare only sets of samples of equal lengths."""
    return {
        "distinct_4grams": _mean(np.array([distinct_ngram_ratio(s, DISTINCT_N) for s in samples])),
        "distinct_8grams": _mean(np.array([distinct_ngram_ratio(s, DISTINCT_LONG_N) for s in samples])),
        "copy_rate": copy_rate(samples, training_ngrams, COPY_N),
        "longest_copy": max(longest_copies(samples, training), default=0),
    }


# --- restating, counted on notes --------------------------------------------------------------------------

ONSET_NGRAMS = (8, 16)  # onsets: a phrase of two to four bars
ONSET_STRETCH = 32  # onsets per stretch: every ratio is taken over stretches of this one length


def onsets(events: Sequence[Event]) -> list[tuple[int, ...]]:
    """The set of pitches sounding at each onset of a piece, in time order (events of one onset merged)."""
    sounding: dict[float, set[int]] = {}
    for onset, _, pitches in events:
        if pitches:
            sounding.setdefault(round(float(onset), 4), set()).update(pitches)
    return [tuple(sorted(sounding[t])) for t in sorted(sounding)]


def onset_ngram_ratios(pieces: Sequence[Sequence[Event]], orders: Sequence[int] = ONSET_NGRAMS,
                       length: int = ONSET_STRETCH) -> dict:
    """Distinct n-grams of note onsets over all of them, averaged over every full stretch of `length` onsets.

    A token 8-gram of `rhythm` spans about four notes, so a token ratio can match real music while whole phrases
    are never restated; counted on onsets (the pitches struck together), restating a 16-onset phrase shows.
    Pieces shorter than one stretch count for nothing, so samples and held-out pieces compare at one length.
    """
    cut = [s for events in pieces for s in stretches(onsets(events), length) if len(s) == length]
    symbols: dict = {}
    coded = [np.array([symbols.setdefault(o, len(symbols)) for o in s], dtype=np.int64) for s in cut]
    result = {f"distinct_{n}onsets": _mean(np.array([distinct_ngram_ratio(s, n) for s in coded])) for n in orders}
    return {**result, "onset_stretches": len(cut)}
