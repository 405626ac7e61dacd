"""Every metric on inputs whose answer is known by hand."""
import math

import numpy as np
import pytest

from jukebox.encodings import decode
from jukebox.evaluation import (
    NGramModel,
    unique_rows,
    baseline_scores,
    copy_rate,
    cross_entropy_per_note,
    distinct_ngram_ratio,
    distribution_overlap,
    heard_again_windows,
    histogram_overlap,
    inter_onsets,
    kl_divergence,
    longest_copies,
    meter_features,
    musical_statistics,
    ngram_set,
    originality,
    pitch_class_histogram,
    prediction_scores,
    repeated_targets,
    rhythm_histogram,
    stretch_features,
    stretches,
    token_entropy,
)
from tests.conftest import copier_probs, phrase_events

CYCLE = np.tile([1, 2, 3, 4], 100)


def test_uniform_predictions_have_perplexity_vocab_size():
    scores = prediction_scores(np.full((6, 10), 0.1), np.arange(6), np.ones(6, dtype=bool))
    assert scores["cross_entropy"] == pytest.approx(math.log(10))
    assert scores["perplexity"] == pytest.approx(10)
    assert scores["cross_entropy_per_note"] == pytest.approx(math.log(10))  # every token a note: per note = per token


def test_cross_entropy_per_note_sums_every_token_and_divides_by_notes():
    # Two notes cost log 2 each, the time shift between them log 4: 2 log 2 + log 4 = 4 log 2 nats over 2 notes.
    probs, is_note = np.array([0.5, 0.25, 0.5]), np.array([True, False, True])
    assert cross_entropy_per_note(probs, is_note) == pytest.approx(2 * math.log(2))
    # The same music written with its shift predicted for sure costs the same per note, though less per token.
    assert cross_entropy_per_note(np.array([0.5, 1.0, 0.5]), is_note) == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="raise val_windows"):
        cross_entropy_per_note(probs, np.zeros(3, dtype=bool))


def test_top1_and_top5_accuracy():
    probs = np.array([[0.40, 0.20, 0.15, 0.10, 0.08, 0.07],   # target 0: first choice
                      [0.40, 0.20, 0.15, 0.10, 0.08, 0.07],   # target 4: fifth choice
                      [0.40, 0.20, 0.15, 0.10, 0.08, 0.07]])  # target 5: sixth choice
    scores = prediction_scores(probs, np.array([0, 4, 5]), np.ones(3, dtype=bool))
    assert scores["top1_accuracy"] == pytest.approx(1 / 3)
    assert scores["top5_accuracy"] == pytest.approx(2 / 3)
    assert scores["cross_entropy"] == pytest.approx(-(math.log(0.4) + math.log(0.08) + math.log(0.07)) / 3)


def test_repeated_targets_continue_a_passage_heard_earlier_in_the_window():
    phrase = [5, 6, 7, 8, 9, 10, 11, 12]
    windows = np.array([[1, *phrase, 2, *phrase[:7]],   # the phrase again: its last note repeats
                        [1, *phrase, 2, *phrase[:7]],   # the same opening, then another note
                        [1, *phrase, 2, 3, *phrase[1:7]],  # only 6 tokens of context match
                        [*phrase, 9, 9, 9, 9, 9, 9, 9, 9, 9]])  # a held note: 7 nines, then a nine, heard just before
    targets = np.array([12, 4, 12, 9])
    assert repeated_targets(windows, targets, context=7).tolist() == [True, False, False, True]
    probs = np.full((4, 13), 0.01)
    probs[np.arange(4), targets] = [0.9, 0.5, 0.5, 0.6]
    scores = prediction_scores(probs, targets, np.ones(4, dtype=bool), repeated_targets(windows, targets, context=7))
    assert scores["repeated_share"] == 0.5
    assert scores["cross_entropy_on_repeats"] == pytest.approx(-(math.log(0.9) + math.log(0.6)) / 2)
    none = prediction_scores(probs[1:3], targets[1:3], np.ones(2, dtype=bool), np.zeros(2, dtype=bool))
    assert none["repeated_share"] == 0 and none["cross_entropy_on_repeats"] is None


def test_heard_again_tells_a_model_that_restates_from_one_that_counts():
    tokens = np.random.default_rng(0).integers(1, 40, 3000)
    first, again, targets = heard_again_windows(tokens, seq_len=64, count=50, seed=1)
    assert first.shape == again.shape == (50, 64) and targets.shape == (50,)
    # The first hearing is the music as it goes: every window is a stretch of it, followed by its target.
    where = [np.flatnonzero((np.lib.stride_tricks.sliding_window_view(tokens, 65) == np.append(w, t)).all(1))
             for w, t in zip(first, targets)]
    assert all(len(found) == 1 for found in where)
    rows = np.arange(50)

    def loss(probs):
        return -np.mean(np.log(probs[rows, targets]))

    copy_first, copy_again = loss(copier_probs(first, 40)), loss(copier_probs(again, 40))
    assert copy_again < 0.1 and copy_first > 2.5  # random tokens: nothing to restate on first hearing
    # A 3-gram model sees only the last two tokens, the same both times: it predicts both hearings alike.
    ngram = NGramModel(tokens, 3, vocab_size=40)
    assert np.array_equal(*[[ngram.distribution(w)[t] for w, t in zip(x, targets)] for x in (first, again)])
    # Too short to hold a window before a whole passage: no figure rather than a wrong one.
    assert heard_again_windows(tokens[:80], seq_len=64, count=5, seed=1) is None
    assert heard_again_windows(tokens, seq_len=16, count=5, seed=1) is None  # an 8-token passage: nothing to recognise


def test_ngram_on_a_deterministic_cycle_has_perplexity_near_one():
    model = NGramModel(CYCLE, 3, vocab_size=6)
    probs = model.target_probs(CYCLE, np.arange(10, 50))
    assert np.exp(-np.mean(np.log(probs))) < 1.02


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_ngram_distributions_sum_to_one_for_seen_and_unseen_contexts(order):
    rng = np.random.default_rng(0)
    model = NGramModel(rng.integers(1, 8, 300), order, vocab_size=9)
    for context in ([], [3], [3, 5, 1], [8, 8, 8], [0, 0]):  # 0 and 8 never occur in training
        p = model.distribution(context)
        assert p.sum() == pytest.approx(1.0) and (p > 0).all()


@pytest.mark.parametrize("width", [1, 3, 9])
def test_unique_rows_equal_numpys_unique_rows(width):
    rows = np.random.default_rng(width).integers(0, 5, (2000, width))
    rows[:, 0] *= 1000  # a wide column, as token ids of a large vocabulary are
    grams, counts = unique_rows(rows)
    expected, expected_counts = np.unique(rows, axis=0, return_counts=True)
    assert np.array_equal(grams, expected) and np.array_equal(counts, expected_counts)


def test_unigram_of_equally_used_tokens_is_uniform():
    model = NGramModel(np.tile(np.arange(5), 20), 1, vocab_size=5)
    assert model.distribution([]) == pytest.approx(np.full(5, 0.2))


def test_baselines_choose_n_and_compare_the_model():
    positions = np.arange(8, 200)
    notes = CYCLE[positions] != 4  # token 4 plays the part of a time shift
    scores = baseline_scores(CYCLE, CYCLE, positions, vocab_size=6, model_perplexity=4.0, target_is_note=notes,
                             orders=(2, 3))
    assert scores["unigram_perplexity"] == pytest.approx(4, rel=0.02)
    assert scores["ngram_n"] in (2, 3) and scores["ngram_perplexity"] < 1.02
    assert scores["ngram_cross_entropy_per_note"] == pytest.approx(math.log(scores["ngram_perplexity"]) * 4 / 3)
    assert scores["beats_ngram"] is False and scores["perplexity_ratio"] > 3.9
    assert baseline_scores(CYCLE, CYCLE, positions, 6, 1.0, notes, orders=(2,))["beats_ngram"] is True
    # Its loss on chosen targets: the notes only, here, each of which the cycle predicts for certain.
    assert "ngram_cross_entropy_on_repeats" not in scores
    on_notes = baseline_scores(CYCLE, CYCLE, positions, 6, 4.0, notes, orders=(2,), repeated=notes)
    assert 0 < on_notes["ngram_cross_entropy_on_repeats"] < 0.02


def test_histogram_overlap_and_kl():
    p = np.array([1, 2, 3, 0])
    assert histogram_overlap(p, 10 * p) == pytest.approx(1.0)
    assert kl_divergence(p, 10 * p) == pytest.approx(0.0, abs=1e-9)
    assert histogram_overlap([1, 0], [0, 1]) == 0.0
    assert histogram_overlap([1, 1], [1, 0]) == pytest.approx(0.5)
    assert kl_divergence([1, 1], [1, 0]) > 5  # q misses half of p's mass
    assert distribution_overlap([1, 2, 3, 4], [1, 2, 3, 4]) == pytest.approx(1.0)
    assert distribution_overlap([0, 0, 0], [9, 9, 9]) == 0.0
    assert distribution_overlap([], [1, 2]) == 0.0


def test_pitch_class_histogram_counts_every_chord_note():
    events = [(0, 1, (60,)), (1, 1, (60, 64, 67)), (2, 1, (72,))]  # C, C-E-G, C an octave up
    assert pitch_class_histogram([events]) == pytest.approx([0.6, 0, 0, 0, 0.2, 0, 0, 0.2, 0, 0, 0, 0])


def test_rhythm_histogram_bins_note_values_apart():
    quarters, eighths = rhythm_histogram([1, 1, 1]), rhythm_histogram([0.5, 0.5, 0.5])
    assert quarters.max() == 1.0 and eighths.max() == 1.0
    assert histogram_overlap(quarters, eighths) == 0.0
    assert histogram_overlap(rhythm_histogram([1.5]), quarters) == 0.0  # dotted quarter is its own value


def test_inter_onsets_of_fixed_step_decoding():
    events = decode(["C4", "E4", "0.4.7", "G4"], "pitch", 0.5)
    assert inter_onsets([events, events]) == [0.5] * 6


def test_stretch_features_by_hand():
    events = [(0, 1, (60,)), (1, 1, (67,)), (2, 1, (60, 64)), (3, 1, (72,))] * 2
    features = stretch_features([events], length=4)
    assert features["pitch_range"].tolist() == [12, 12]
    assert features["distinct_pitches"].tolist() == [4, 4]
    assert features["chord_share"].tolist() == [0.25, 0.25]
    assert [len(s) for s in stretches(list(range(10)), 4)] == [4, 4]
    assert stretches([1, 2], 4) == [[1, 2]]


def test_notes_per_bar_and_strong_beat_share_by_hand():
    # A 3/4 waltz: a chord on the downbeat, then two off-beat notes; 4 notes in each bar, 1 onset in 3 on a beat.
    waltz = [e for bar in range(4) for e in ((3 * bar, 1, (48, 55)), (3 * bar + 1.5, 0.5, (64,)),
                                             (3 * bar + 2.5, 0.5, (67,)))]
    features = meter_features([waltz], [[(0.0, "3/4")]], length=6)
    assert features["notes_per_bar"].tolist() == [4.0, 4.0]
    assert features["strong_beat_share"].tolist() == pytest.approx([1 / 3, 1 / 3])
    # The same notes read as 4/4: bar lines elsewhere, so other figures.
    as_common = meter_features([waltz], None, length=12)
    assert as_common["notes_per_bar"].tolist() == [16 / 3]
    # A jig in 6/8: beats are dotted quarters, so the eighths at 1/2 and 1 are off the beat.
    jig = [(i / 2, 0.5, (67,)) for i in range(12)]
    assert meter_features([jig], [[(0.0, "6/8")]], length=12)["strong_beat_share"].tolist() == [4 / 12]


def test_token_entropy():
    assert token_entropy([7] * 10) == 0.0
    assert token_entropy([1, 2, 3, 4] * 3) == pytest.approx(2.0)


def test_samples_like_the_held_out_music_overlap_fully():
    pieces = [phrase_events(t, repeats=8) for t in (0, 2, 5)]
    tokens = [np.tile(np.arange(9), 8) + t for t in (0, 2, 5)]
    stats = musical_statistics(pieces, pieces, tokens, tokens)
    assert stats["overlap_mean"] == pytest.approx(1.0)
    assert stats["pitch_classes"]["kl"] == pytest.approx(0.0, abs=1e-9)
    assert stats["chord_share"]["generated"] == stats["chord_share"]["held_out"] > 0
    assert stats["notes_per_bar"]["overlap"] == pytest.approx(1.0) and stats["strong_beat_share"]["held_out"] > 0
    # Off by an eighth note: every onset leaves the beat it was on.
    late = [[(on + 0.5, dur, ps) for on, dur, ps in piece] for piece in pieces]
    moved = musical_statistics(late, pieces, tokens, tokens)
    assert moved["strong_beat_share"]["generated"] < moved["strong_beat_share"]["held_out"]


def test_fixed_rhythm_samples_do_not_overlap_real_rhythm():
    real = [phrase_events(0, repeats=8)]
    fixed = [decode(["C4"] * 72, "pitch", 0.5)]
    stats = musical_statistics(fixed, real, [[1] * 72], [list(range(72))])
    assert stats["durations"]["overlap"] == pytest.approx(4 / 9)  # only the eighth notes match
    assert stats["token_entropy"]["generated"] == 0.0
    assert stats["token_entropy"]["overlap"] == 0.0


def test_a_sequence_repeating_one_4gram_has_4_distinct_4grams():
    loop = [1, 2, 3, 4] * 5  # 17 4-grams, only the 4 rotations distinct
    assert distinct_ngram_ratio(loop, 4) == pytest.approx(4 / 17)
    assert distinct_ngram_ratio(list(range(20)), 4) == 1.0


def test_distinct_8grams_count_a_restated_phrase_but_not_a_returning_motif():
    phrase = list(range(1, 9)) + [1, 2, 3, 4]  # a motif (1 2 3 4) returns inside the phrase; the phrase is played twice
    summary = originality([phrase * 2], np.arange(100, 120), set())
    # 4-grams: 12 starts in one period, one of them the motif's return, so 11 distinct of 21.
    assert summary["distinct_4grams"] == pytest.approx(11 / 21)
    # 8-grams: the 12 starts of one period all differ; only the second statement of the phrase repeats them.
    assert summary["distinct_8grams"] == pytest.approx(12 / 17)
    assert originality([list(range(40))], np.arange(100, 120), set())["distinct_8grams"] == 1.0


def test_a_sample_copied_from_training_has_copy_rate_one():
    rng = np.random.default_rng(1)
    training = rng.integers(1, 30, 500)
    copied, novel = training[100:160], np.arange(100, 160)
    grams = ngram_set(training, 8)
    assert copy_rate([copied], grams) == 1.0
    assert copy_rate([novel], grams) == 0.0
    assert copy_rate([np.concatenate([copied[:20], novel[:20]])], grams) == pytest.approx(13 / 33)
    assert longest_copies([copied, novel], training) == [60, 0]
    summary = originality([copied], training, grams)
    assert summary["copy_rate"] == 1.0 and summary["longest_copy"] == 60


def test_a_piece_restating_a_16_onset_phrase_has_the_distinct_onset_ratios_worked_out_by_hand():
    from jukebox.evaluation import onset_ngram_ratios

    # 16 different onsets (a chord at one of them, its notes as two events of different lengths), played twice.
    phrase = [(60 + i,) for i in range(15)] + [(48, 55)]
    events = []
    for beat, pitches in enumerate(phrase * 2):
        if len(pitches) > 1:
            events += [(beat * 0.5, 0.5, pitches[:1]), (beat * 0.5, 1.0, pitches[1:])]
        else:
            events.append((beat * 0.5, 0.5, pitches))
    ratios = onset_ngram_ratios([events])
    # 32 onsets, one stretch: of its 25 8-grams those starting at 16..24 restate those at 0..8, leaving 16 distinct;
    # of its 17 16-grams the one at 16 restates the one at 0.
    assert ratios == {"distinct_8onsets": 16 / 25, "distinct_16onsets": 16 / 17, "onset_stretches": 1}
    # Never restating: every n-gram distinct. A piece shorter than the stretch counts for nothing.
    fresh = [(i * 0.5, 0.5, (40 + i,)) for i in range(32)]
    assert onset_ngram_ratios([fresh, events[:10]]) == {"distinct_8onsets": 1.0, "distinct_16onsets": 1.0,
                                                        "onset_stretches": 1}
