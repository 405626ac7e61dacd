"""The listening test's pure parts (excerpts, levels, the report) and the listen stage's rendered files."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from jukebox.listening import (ONE_SIDED_MIN, bar_starts, cut, fit_length, interval, level_pair,
                               matching_excerpts, real_excerpts, report, rms_db)
from tests.conftest import need
from tests.listening_project import GENRE, PAIRS, listening_project

WALTZ = [(float(i), 1.0, (60 + i % 7,)) for i in range(36)]  # 12 bars of 3/4, a note on every beat


def test_windows_start_on_bar_lines_and_hold_whole_bars():
    windows = bar_starts(WALTZ, [(0.0, "3/4")], 4)
    assert [w[0] for w in windows] == [3.0 * k for k in range(9)]
    assert {w[1:] for w in windows} == {(12.0, "3/4")}


def test_a_bar_without_notes_does_not_start_or_end_an_excerpt():
    gappy = [e for e in WALTZ if not 3 <= e[0] < 6]  # bar 2 is silent
    starts = [w[0] for w in bar_starts(gappy, [(0.0, "3/4")], 2)]
    assert 3.0 not in starts and 0.0 not in starts and 6.0 in starts


def test_cut_moves_to_zero_and_clips_the_last_note():
    assert cut([(1.0, 1.0, (60,)), (2.5, 4.0, (62,)), (9.0, 1.0, (64,))], 1.0, 3.0) == [
        (0.0, 1.0, (60,)), (1.5, 1.5, (62,))]


def test_pairs_are_as_long_as_each_other_and_never_reuse_a_stretch():
    rng = np.random.default_rng(0)
    real = real_excerpts([("waltz", WALTZ, [(0.0, "3/4")])], 2, 5, rng)
    sample = [(float(i) / 2, 0.5, (70,)) for i in range(80)]  # no meters, as a rhythm-encoded sample
    pairs = matching_excerpts(real, [("s", sample, [])], 2, rng)
    assert len(pairs) == 5
    assert all(a.quarters == b.quarters == 6.0 and b.meter == "3/4" for a, b in pairs)
    starts = sorted(float(b.origin.rsplit(" ", 1)[1]) for _, b in pairs)
    assert all(later - earlier >= 6.0 for earlier, later in zip(starts, starts[1:]))


def test_levelled_pair_has_one_loudness_and_no_clipping():
    rng = np.random.default_rng(1)
    quiet, loud = rng.normal(0, 0.01, (44100, 2)), rng.normal(0, 0.3, (44100, 2))
    a, b = level_pair(quiet, loud)
    assert abs(rms_db(a) - rms_db(b)) < 0.01
    assert max(np.abs(a).max(), np.abs(b).max()) <= 0.98 + 1e-9


def test_fit_length_pads_or_cuts_to_the_excerpt_plus_its_tail():
    assert fit_length(np.ones((10, 2)), 100, 1.0).shape == (200, 2)
    assert fit_length(np.ones((500, 2)), 100, 1.0).shape == (200, 2)


def _answers(picks, real_sides, session=lambda i: f"s{i}", **extra):
    return [{"genre": "g", "model_version": "v1", "answer": a, "real_side": r, "session": session(i),
             "rating_left": extra.get("left"), "rating_right": extra.get("right")}
            for i, (a, r) in enumerate(zip(picks, real_sides))]


def test_all_answers_right_fool_nobody():
    sides = ["left", "right"] * 10
    picks = ["right" if s == "left" else "left" for s in sides]  # always the sample
    (row,) = report(_answers(picks, sides))
    assert (row["answers"], row["fooled"], row["fooled_low"]) == (20, 0.0, 0.0)
    assert row["fooled_high"] == pytest.approx(1 - 0.025 ** (1 / 20), abs=1e-3)  # exact interval at 0 of 20


def test_random_answers_give_an_interval_around_one_half():
    rng = np.random.default_rng(7)
    sides = rng.choice(["left", "right"], 400).tolist()
    picks = rng.choice(["left", "right"], 400).tolist()
    (row,) = report(_answers(picks, sides))
    assert row["fooled_low"] < 0.5 < row["fooled_high"]
    assert 0.4 < row["fooled"] < 0.6


def test_always_left_scores_half_and_is_flagged_one_sided():
    rng = np.random.default_rng(3)
    sides = rng.choice(["left", "right"], 200).tolist()
    (row,) = report(_answers(["left"] * 200, sides, session=lambda i: "clicker"))
    assert row["fooled_low"] < 0.5 < row["fooled_high"]
    assert (row["one_sided_sessions"], row["one_sided_answers"]) == (1, 200)
    (few,) = report(_answers(["left"] * (ONE_SIDED_MIN - 1), sides, session=lambda i: "brief"))
    assert few["one_sided_sessions"] == 0


def test_unsure_answers_count_apart_and_ratings_follow_the_excerpt_not_the_side():
    rows = _answers(["unsure", "left", "right"], ["left", "right", "right"], left=5, right=1)
    (row,) = report(rows)
    assert (row["answers"], row["decided"], row["unsure"], row["fooled"]) == (3, 2, 1, 0.5)
    # real on the left once (rated 5), on the right twice (rated 1): mean real (5+1+1)/3, generated (1+5+5)/3
    assert (row["rating_real"], row["rating_generated"]) == (2.33, 3.67)


def test_versions_are_reported_apart():
    rows = _answers(["left"], ["left"]) + [{**_answers(["left"], ["right"])[0], "model_version": "v2"}]
    assert [(r["model_version"], r["fooled"]) for r in report(rows)] == [("v1", 1.0), ("v2", 0.0)]


def test_interval_without_answers_is_everything():
    assert interval(0, 0) == (0.0, 1.0)


@pytest.mark.slow
def test_every_rendered_pair_has_equal_length_and_loudness(tmp_path):
    import soundfile

    need(shutil.which("fluidsynth") is not None, "fluidsynth")
    project = listening_project(tmp_path / "project")
    out = project / "data" / "listening" / GENRE
    table = json.loads((out / "pairs.json").read_text())
    assert table["program"] == 73 and len(table["pairs"]) == PAIRS
    measured = []
    for pair in table["pairs"]:
        real, rate = soundfile.read(out / f"{pair['real']}.flac", always_2d=True)
        generated, rate2 = soundfile.read(out / f"{pair['generated']}.flac", always_2d=True)
        assert rate == rate2
        seconds = (len(real) / rate, len(generated) / rate)
        levels = (rms_db(real), rms_db(generated))
        measured.append((abs(seconds[0] - seconds[1]), abs(levels[0] - levels[1])))
        assert abs(seconds[0] - pair["seconds"] - 1.0) < 0.01  # the bars' length plus the release tail
    assert max(m[0] for m in measured) <= 0.5 and max(m[1] for m in measured) <= 1.0, measured
    # Nothing served names the origin: files are named by a hash of their audio.
    names = {p.name for p in out.iterdir()}
    assert names == {"pairs.json"} | {f"{p[k]}.flac" for p in table["pairs"] for k in ("real", "generated")}


def test_listen_params_are_validated():
    from jukebox.params import ParamError, parse_params

    base = {"genres": {"g": {"source": "local", "path": "x"}}}
    assert parse_params({**base, "listen_pairs": 5, "listen_bars": 4}).listen_bars == 4
    for key, value in (("listen_pairs", 0), ("listen_bars", 65), ("listen_bars", 2.5)):
        with pytest.raises(ParamError, match=key):
            parse_params({**base, key: value})


@pytest.mark.slow
def test_dvc_metrics_show_and_compare_print_the_listening_figures(tmp_path, capsys):
    from jukebox.cli import main
    from jukebox.layout import Layout
    from tests.conftest import copy_project, run_dvc

    project = copy_project(tmp_path)
    layout = Layout.of(project)
    layout.metrics("folk").mkdir(parents=True)
    layout.listening_reports.mkdir(exist_ok=True)  # a clone has it, empty
    (layout.metrics("folk") / "headline.json").write_text(json.dumps({"real": 0.61}))
    layout.listening_report("folk").write_text(json.dumps({"model_version": "abc", "decided": 40, "fooled": 0.325}))
    shown = run_dvc(project, "metrics", "show")
    assert "metrics/_listening/folk.json" in shown and "0.325" in shown
    main(["--project", str(project), "compare"])
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["genre", "real", "heard", "fooled"] and table[1].split() == ["folk", "0.61", "40",
                                                                                            "0.325"]
