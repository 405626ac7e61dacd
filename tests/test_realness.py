"""The realness classifier two-sample test on cases whose answer is known: real tunes against real tunes,
against the same notes shuffled in time, and against random pitches."""
import numpy as np
import pytest

from jukebox.encodings import group_onsets
from jukebox.evaluation import SEGMENT
from jukebox.realness import INTERVAL_EDGES, pieces_to_stretches, realness, stretch_vector
from tests.conftest import phrase_events


@pytest.fixture(scope="module")
def tunes(tmp_path_factory):
    """48 tunes of O'Neill's Music of Ireland, exported from music21's corpus and read as the pipeline does."""
    from jukebox.midi_io import read_notes
    from jukebox.sources import export_corpus

    folder = tmp_path_factory.mktemp("oneills")
    records = export_corpus("oneills1850", folder, 48, seed=1)
    pieces = [group_onsets(read_notes(folder / r["file"])) for r in records if r["status"] == "kept"]
    assert len(pieces) >= 40, "too few O'Neill tunes could be exported from music21's corpus"
    return pieces


def shuffled_in_time(events, rng):
    """The same notes in another order within each stretch: onsets stay, which note sounds at each is shuffled."""
    out = []
    for start in range(0, len(events), SEGMENT):
        block = events[start:start + SEGMENT]
        notes = [(duration, pitches) for _, duration, pitches in block]
        order = rng.permutation(len(notes))
        out += [(onset, *notes[i]) for (onset, _, _), i in zip(block, order)]
    return out


def random_pitches(events, rng):
    """The same rhythm with every pitch drawn at random from the piece's range."""
    pitches = [p for _, _, ps in events for p in ps]
    low, high = min(pitches), max(pitches)
    return [(onset, duration, tuple(sorted(set(rng.integers(low, high + 1, len(ps)).tolist()))))
            for onset, duration, ps in events]


@pytest.mark.slow
def test_real_tunes_against_other_real_tunes_cannot_be_told_apart(tunes):
    result = realness(tunes[0::2], tunes[1::2], seed=0)
    assert result["stretches"] >= 60 and result["grouped_by_piece"] and result["folds"] == 5
    assert result["classifier_accuracy"] < 0.62


@pytest.mark.slow
def test_real_tunes_against_their_notes_shuffled_in_time_are_told_apart(tunes):
    rng = np.random.default_rng(0)
    result = realness([shuffled_in_time(t, rng) for t in tunes[1::2]], tunes[0::2], seed=0)
    assert result["classifier_accuracy"] > 0.8


@pytest.mark.slow
def test_real_tunes_against_random_pitches_are_told_apart(tunes):
    rng = np.random.default_rng(0)
    result = realness([random_pitches(t, rng) for t in tunes[1::2]], tunes[0::2], seed=0)
    assert result["classifier_accuracy"] > 0.9


def test_stretch_vector_of_a_rising_scale_by_hand():
    scale = [(i * 0.5, 0.5, (p,)) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]
    vector = stretch_vector(scale)
    pitch_classes, intervals = vector[:12], vector[12:12 + len(INTERVAL_EDGES) - 1]
    assert pitch_classes[[0, 2, 4, 5, 7, 9, 11]] == pytest.approx([2 / 8, 1 / 8, 1 / 8, 1 / 8, 1 / 8, 1 / 8, 1 / 8])
    assert intervals.tolist() == [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]  # every interval a step up
    # distinct 2/3/4-grams of events (all different), of intervals (steps of 2, 2, 1, 2, 2, 2, 1 repeat),
    # then range, mean pitch, mean leap and chord share.
    assert vector[-10:].tolist() == pytest.approx([1, 1, 1, 3 / 6, 4 / 5, 1, 12, 66.25, 12 / 7, 0])


def test_only_full_stretches_of_sounding_events_count():
    piece = phrase_events(0, repeats=8)  # 72 events: two full stretches of 32, the last 8 dropped
    rests = [(onset, duration, ()) for onset, duration, _ in piece]
    rows, piece_of = pieces_to_stretches([piece, piece[:31], piece + rests])
    assert len(rows) == 4 and piece_of.tolist() == [0, 0, 2, 2]


def test_too_few_stretches_give_no_accuracy():
    piece = phrase_events(0, repeats=8)
    result = realness([piece[:40]], [piece], seed=0)
    assert result == {"classifier_accuracy": None, "low": None, "high": None, "stretches": 1, "folds": 0,
                      "grouped_by_piece": False}


def test_one_sample_shares_the_folds_and_the_result_is_seeded():
    rng = np.random.default_rng(3)
    real = [phrase_events(t, repeats=8) for t in range(6)]
    sample = [random_pitches(phrase_events(0, repeats=32), rng)]  # one piece: folds cannot keep it together
    first, again = realness(sample, real, seed=5), realness(sample, real, seed=5)
    assert first == again and not first["grouped_by_piece"] and first["stretches"] == 9
    assert first["classifier_accuracy"] > 0.9  # a tune against random notes in its rhythm


def test_wilson_interval_by_hand_and_at_the_ends():
    from jukebox.realness import wilson_interval

    # 57 right of 100: centre (0.57 + 1.96^2/200) / (1 + 1.96^2/100), half-width as Wilson (1927) gives it.
    low, high = wilson_interval(57, 100)
    assert (round(low, 4), round(high, 4)) == (0.4722, 0.6627)
    assert wilson_interval(0, 10)[0] == pytest.approx(0.0) and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(10, 10)[0] == pytest.approx(0.7225, abs=1e-4)
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def test_realness_reports_its_accuracy_inside_its_95_percent_interval(tunes):
    result = realness(tunes[:6], tunes[6:], seed=0)
    assert result["low"] <= result["classifier_accuracy"] <= result["high"]
    assert result["high"] - result["low"] < 1
