"""benchmarks/collection_sizes.py on a tiny project and a collection of four tunes, from a tiny base (the scratch
side is the same job in a copy whose params.yaml says init: scratch, checked without running it)."""
import json
import math

import pytest
import yaml

from jukebox.layout import Layout
from tests.conftest import WEB_TINY, copy_project, write_tune

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def fresh(folder):
    folder.mkdir()
    return folder


def tiny_base(project) -> None:
    """An untrained base of the shape pretrain.size asks for, saved as the pretrain stage saves one."""
    from jukebox.dataset import Vocabulary
    from jukebox.encodings.fixed import fixed_vocabulary
    from jukebox.model import ModelConfig, build_model
    from jukebox.params import load_params
    from jukebox.pretraining import base_params, save_base

    params = load_params(project / "params.yaml")
    vocabulary = fixed_vocabulary(params.encoding)
    config = ModelConfig.from_params(base_params(params), decay_steps=1)
    import keras

    keras.utils.set_random_seed(0)  # the same untrained base every run: what it composes decides the stretches
    model = build_model(len(vocabulary.tokens), config)
    tokens = tuple(vocabulary.tokens)
    save_base(Layout.of(project).base_model, model, config, vocabulary, Vocabulary(tokens, (1,) * len(tokens)), [])
    (Layout.of(project).base_metrics / "corpus.json").write_text(json.dumps({"trained": True, "pieces": 9,
                                                                             "excluded": 0}))


def test_the_benchmark_measures_a_size_from_the_base_through_the_jobs_own_repro(tmp_path, capsys):
    from benchmarks.collection_sizes import main
    from jukebox.web.collection_sizes import expectation, read_sizes

    source = copy_project(fresh(tmp_path / "source"))
    params = yaml.safe_load((source / "params.yaml").read_text())
    # Long enough tunes and samples for two 32-event stretches a side: the realness classifier gets its figure.
    params.update(WEB_TINY, vocabulary="fixed", encoding="rhythm", finetune_epochs=1, n_notes=140, eval_samples=3,
                  transpose=0)
    (source / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    tiny_base(source)  # params.yaml and the base left uncommitted: the benchmark copies the working tree
    tunes = tmp_path / "tunes"
    for i, shift in enumerate([0, 2, 5, 7]):
        write_tune(tunes / f"tune_{i}.mid", shift, repeats=8)
    out = tmp_path / "sizes.json"

    result = main(["--project", str(source), "--sizes", "4", "--inits", "base", "--collection", str(tunes),
                   "--out", str(out)])

    written = json.loads(out.read_text())
    assert written == result and read_sizes(out) == written  # what the collection page reads
    assert [(r["files"], r["init"]) for r in written["runs"]] == [(4, "base")]
    # The upload fine-tuned for params.yaml's upload_finetune_epochs.
    assert [(r["upload_epochs"], r["epochs"]) for r in written["runs"]] == [(1, 1)]
    for run in written["runs"]:
        assert run["pieces"] == 4 and 0 < run["first_sample_s"] <= run["total_s"]
        for key in ("perplexity", "ngram_perplexity", "perplexity_ratio", "classifier_accuracy", "low", "high"):
            assert isinstance(run[key], float) and math.isfinite(run[key]) and run[key] >= 0, (key, run)
        assert run["perplexity_ratio"] == pytest.approx(run["perplexity"] / run["ngram_perplexity"], rel=1e-6)
        assert run["low"] <= run["classifier_accuracy"] <= run["high"]
    base, = written["runs"]
    assert written["base_pieces"] == 9 and written["collection"] == "tunes"
    printed = capsys.readouterr().out
    assert "base / scratch = ratio" in printed and f"{base['perplexity_ratio']:.2f} / – = –" in printed
    assert expectation(written, 4, "base").startswith("With 4 files: a collection of 4 files of tunes, learned from "
                                                      "the base model")
    # The source project is untouched: no genre added, no output written.
    assert yaml.safe_load((source / "app_genres.yaml").read_text()) == {"genres": {}}
    assert not Layout.of(source).collection("files-4").exists() and not (source / "data").exists()


def test_a_collection_of_the_bases_corpus_is_refused(tmp_path, capsys):
    from benchmarks.collection_sizes import main

    with pytest.raises(SystemExit):
        main(["--project", str(copy_project(fresh(tmp_path / "source"))), "--collection", "bach", "--inits", "scratch"])
    assert "bach is in the base's corpus" in capsys.readouterr().err


def test_side_by_side_runs_are_not_written_where_the_collection_page_reads(tmp_path, capsys):
    from benchmarks.collection_sizes import main

    source = copy_project(fresh(tmp_path / "source"))
    for extra in (["--upload-epochs", "10", "6"], ["--repeats", "2"]):
        with pytest.raises(SystemExit):
            main(["--project", str(source), "--inits", "scratch", *extra])
        assert "write to another --out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--project", str(source), "--inits", "scratch", "--repeats", "0", "--out", str(tmp_path / "x.json")])
    assert "at least 1" in capsys.readouterr().err


def test_the_epochs_table_compares_medians_over_repeats_to_the_first_setting():
    from benchmarks.collection_sizes import epochs_table

    runs = [{"files": 20, "init": "base", "upload_epochs": epochs, "first_sample_s": first, "total_s": total,
             "val_loss": loss, "perplexity_ratio": ratio}
            for epochs, first, total, loss, ratio in [(10, 80, 130, 1.25, 0.24), (6, 60, 100, 1.30, 0.25),
                                                      (10, 100, 150, 1.25, 0.24), (6, 50, 90, 1.30, 0.25),
                                                      (10, 90, 140, 1.25, 0.24), (6, 90, 120, 1.30, 0.25)]]
    runs.append({"files": 20, "init": "scratch", "upload_epochs": None, "first_sample_s": 200, "total_s": 300,
                 "val_loss": 2.0, "perplexity_ratio": 0.5})
    rows = {tuple(line.split()[1:4]): line for line in epochs_table(runs).splitlines()[1:]}
    assert set(rows) == {("base", "10", "3"), ("base", "6", "3"), ("scratch", "-", "1")}
    # Medians of three: 90 s against 60 s to the first sample, 140 against 100 in all.
    assert "90 (1.00x)" in rows["base", "10", "3"] and "60 (0.67x)" in rows["base", "6", "3"]
    assert "100 (0.71x)" in rows["base", "6", "3"] and "1.300 (1.04x)" in rows["base", "6", "3"]
    assert "200 (1.00x)" in rows["scratch", "-", "1"]


def test_every_size_draws_from_the_same_pool_of_exported_pieces(tmp_path, monkeypatch):
    """`--sizes 20` alone measures the same 20 files as `--sizes 5 20 100`: the export does not depend on the sizes."""
    import benchmarks.collection_sizes as bench

    asked = []

    def export(collection, folder, count, seed, jobs):
        asked.append(count)
        return [{"file": f"{collection}_{i}.mid", "status": "kept"} for i in range(count)]

    monkeypatch.setattr(bench, "export_corpus", export)
    twenty = bench.collection_files("trecento", 20, tmp_path, 42, pool=100)
    five = bench.collection_files("trecento", 5, tmp_path, 42, pool=100)
    assert asked == [100, 100] and five == twenty[:5] and len(set(twenty)) == 20
    assert len(bench.collection_files("trecento", 120, tmp_path, 42, pool=100)) == 120 and asked[-1] == 120


def test_each_start_learns_in_a_copy_of_the_working_tree_that_names_it(tmp_path):
    """The scratch side of the benchmark: the same files and base, init: scratch, and nothing of the source's outputs."""
    import subprocess

    from benchmarks.collection_sizes import throwaway_project
    from jukebox.params import load_params

    source = copy_project(fresh(tmp_path / "source"))
    (source / "params.yaml").write_text((source / "params.yaml").read_text() + "\n")  # uncommitted: copied as it is
    (source / "data/raw/x").mkdir(parents=True)  # an output folder, ignored by git: left behind
    (source / ".gitignore").write_text("__pycache__/\n/data\n")
    for init in ("scratch", "base"):
        copy = throwaway_project(source, fresh(tmp_path / init), init)
        assert load_params(copy / "params.yaml").init == init
        assert (copy / "models/_base/model.keras").read_bytes() == (source / "models/_base/model.keras").read_bytes()
        assert (copy / "stages/train.py").is_file() and not (copy / "data").exists()
        status = subprocess.run(["git", "status", "--porcelain"], cwd=copy, capture_output=True, text=True).stdout
        assert status == "", "the copy is committed, so its jobs' dvc runs start from a clean tree"
