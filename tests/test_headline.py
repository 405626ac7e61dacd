"""Headline figures: picked from the three detailed metrics files, tolerant of missing fields, compared by revision."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from jukebox.headline import FIGURES, MEANINGS, comparison_table, headline, read_headlines
from tests.conftest import run_dvc

DATA = {"files": 400, "skipped_files": 0, "notes": 87849, "unique_notes": 242, "train_tokens": 158104}
TRAIN = {"loss": 2.1254, "val_loss": 1.8890807628631592, "val_accuracy": 0.5166, "train_seconds": 299.9}
EVALUATE = {
    "model": {"cross_entropy": 1.889, "perplexity": 6.613286455866826, "cross_entropy_per_note": 3.5123456},
    "baselines": {"ngram_perplexity": 4.348095473555102, "perplexity_ratio": 1.520961647711855, "beats_ngram": False},
    "music": {"overlap_mean": 0.7310044474200038, "notes_per_bar": {"overlap": 0.5}},
    "originality": {"generated": {"copy_rate": 0.08803763440860216, "distinct_8grams": 0.81234},
                    "held_out": {"copy_rate": 0.53, "distinct_8grams": 0.6549}},
    "realness": {"classifier_accuracy": 0.71875},
}


def test_every_figure_from_its_file_rounded():
    assert headline(DATA, TRAIN, EVALUATE) == {
        "files": 400, "notes": 87849, "unique": 242, "val_loss": 1.8891, "ppl": 6.61, "ngram": 4.35, "ratio": 1.521,
        "d8": 0.812, "d8_held": 0.655, "copy": 0.088, "overlap": 0.731, "secs": 300, "real": 0.719, "ce_note": 3.512}
    # The listening test's figures come from their own file (metrics/_listening/<genre>.json), read beside these.
    assert list(headline(DATA, TRAIN, EVALUATE)) == [name for name, source, *_ in FIGURES if source != "listening"], \
        "columns in a fixed order"
    assert headline(None, None, None, {"decided": 12, "fooled": 0.41666}) == {"heard": 12, "fooled": 0.417}
    assert set(MEANINGS) == {name for name, *_ in FIGURES}, "every figure is explained"


def test_fields_an_older_evaluation_lacks_are_left_out():
    older = json.loads(json.dumps(EVALUATE))
    del older["realness"], older["model"]["cross_entropy_per_note"], older["originality"]["held_out"]
    figures = headline(DATA, TRAIN, older)
    assert {"real", "ce_note", "d8_held"}.isdisjoint(figures) and figures["d8"] == 0.812
    assert headline(DATA, None, None) == {"files": 400, "notes": 87849, "unique": 242}


def test_values_that_are_not_figures_are_left_out():
    odd = {**EVALUATE, "model": {"perplexity": "n/a"}, "realness": {"classifier_accuracy": None},
           "baselines": {"ngram_perplexity": True}}
    assert {"ppl", "real", "ngram"}.isdisjoint(headline(DATA, TRAIN, odd))


def test_a_table_of_genres():
    table = comparison_table({"workspace": {"folk": {"files": 500, "ppl": 8.11}, "celtic": {"files": 400, "ppl": 6.61}}})
    assert table.splitlines() == ["genre   files   ppl", "celtic    400  6.61", "folk      500  8.11"]


def test_two_revisions_with_the_change():
    table = comparison_table({"main": {"celtic": {"val_loss": 1.8891, "ppl": 6.61, "files": 400}},
                              "exp-a1": {"celtic": {"val_loss": 1.7, "ppl": 5.47, "files": 400},
                                         "mine": {"val_loss": 2.5}}})
    lines = table.splitlines()
    assert lines[0].split() == ["genre", "rev", "files", "val_loss", "ppl"]
    assert [line.split() for line in lines[1:4]] == [["celtic", "main", "400", "1.8891", "6.61"],
                                                      ["exp-a1", "400", "1.7", "5.47"],
                                                      ["change", "0", "-0.1891", "-1.14"]]
    assert [line.split() for line in lines[4:]] == [["mine", "main", "-", "-", "-"], ["exp-a1", "-", "2.5", "-"],
                                                     ["change"]], "a genre missing on one side has no change"


@pytest.fixture
def repo_with_two_runs(tmp_path) -> Path:
    """A git + DVC repository whose summarize stage's headline.json changed between two commits."""
    def commit(message):
        for cmd in (["git", "add", "-A"], ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", message]):
            subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True)

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    run_dvc(tmp_path, "init", "-q")  # the environment's dvc, as CI runs .venv/bin/pytest without activating
    (tmp_path / "dvc.yaml").write_text("stages:\n  summarize:\n    foreach: [celtic, folk]\n    do:\n"
                                       "      cmd: 'true'\n      metrics:\n"
                                       "        - metrics/${item}/headline.json:\n            cache: false\n")
    for genre, ppl in (("celtic", 6.61), ("folk", 8.11)):
        (tmp_path / "metrics" / genre).mkdir(parents=True)
        (tmp_path / "metrics" / genre / "headline.json").write_text(json.dumps({"files": 400, "ppl": ppl}))
    commit("first")
    (tmp_path / "metrics" / "celtic" / "headline.json").write_text(json.dumps({"files": 400, "ppl": 5.0}))
    commit("second")
    return tmp_path


def test_headlines_read_through_dvc_at_two_revisions(repo_with_two_runs):
    by_rev = read_headlines(repo_with_two_runs, ["HEAD~1", "HEAD"])
    assert by_rev == {"HEAD~1": {"celtic": {"files": 400, "ppl": 6.61}, "folk": {"files": 400, "ppl": 8.11}},
                      "HEAD": {"celtic": {"files": 400, "ppl": 5.0}, "folk": {"files": 400, "ppl": 8.11}}}
    assert read_headlines(repo_with_two_runs, ["workspace"]) == {"workspace": by_rev["HEAD"]}


def test_jukebox_compare_prints_the_change(repo_with_two_runs, capsys):
    from jukebox.cli import main

    main(["--project", str(repo_with_two_runs), "compare", "HEAD~1"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["genre", "rev", "files", "ppl"]
    assert [line.split() for line in lines[1:4]] == [["celtic", "HEAD~1", "400", "6.61"], ["workspace", "400", "5"],
                                                      ["change", "0", "-1.61"]]


def test_jukebox_compare_names_an_unknown_revision(repo_with_two_runs):
    from jukebox.cli import main

    with pytest.raises(SystemExit, match="unknown Git revision 'nope'.*`dvc exp show` lists them"):
        main(["--project", str(repo_with_two_runs), "compare", "nope", "HEAD"])
