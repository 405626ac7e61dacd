import json
import math

from benchmarks.music_stats import distinct_durations, distinct_ngram_fraction, main
from tests.tiny_genre import write_tiny_genre


def test_distinct_ngrams_tell_a_loop_from_variety():
    loop = ["C4", "D4", "E4"] * 10
    assert distinct_ngram_fraction([loop]) == 3 / 23
    assert distinct_ngram_fraction([[str(i) for i in range(20)]]) == 1.0
    assert math.isnan(distinct_ngram_fraction([["C4"] * 5]))


def test_distinct_durations():
    assert distinct_durations([[(0.0, 1.0, (60,)), (1.0, 0.5, (62,))], [(0.0, 1.0, (64, 67))]]) == 2


def test_measures_a_trained_genre(tmp_path, capsys):
    project = write_tiny_genre(tmp_path)
    notes = project / "data/notes/tiny"
    notes.mkdir(parents=True)
    notes.joinpath("pieces.jsonl").write_text('{"piece": "a", "notes": [[0.0, 1.0, 60], [1.0, 0.5, 62], [1.5, 0.49, 64]]}\n')
    main(["--project", str(project), "--n-notes", "20", "--json", str(tmp_path / "stats.json")])
    printed = capsys.readouterr().out
    assert "tiny" in printed and "rhythm" in printed
    stats = json.loads((tmp_path / "stats.json").read_text())["tiny"]
    assert 0 < stats["distinct_8grams_t0"] <= 1 and 0 < stats["distinct_8grams_sampled"] <= 1
    assert stats["samples"] == 2 and stats["n_notes"] == 20
    assert stats["durations_data"] == 3 and stats["durations_data_on_grid"] == 2
