"""End to end through real DVC: tiny parameters, every stage, then an experiment that changes seq_len."""
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from jukebox.midi_io import read_notes
from tests.conftest import copy_project, run_dvc

pytestmark = pytest.mark.slow

TINY = dict(seq_len=12, units=8, embedding_dim=8, epochs=2, windows_per_epoch=256, val_windows=64, batch_size=64,
            n_notes=30, n_samples=2, val_fraction=0.25, patience=1, jobs=2)


dvc = run_dvc


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    tunes = tmp_path_factory.mktemp("tunes")
    from tests.conftest import write_tune

    for i, shift in enumerate([0, 2, 3, 5, 7, 8, 10, 12]):
        write_tune(tunes / f"tune_{i}.mid", shift, repeats=2)
    copy_project(root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params.update(TINY)
    params["genres"] = {
        "celtic": {**params["genres"]["celtic"], "max_pieces": 8},
        "mine": {"source": "local", "path": str(tunes)},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "tiny"], cwd=root, check=True)
    dvc(root, "repro")
    return root


def test_repro_builds_every_stage_for_every_genre(project):
    for genre in ("celtic", "mine"):
        raw = json.loads((project / f"data/raw/{genre}/manifest.json").read_text())
        assert raw["kept"] >= 6
        data = json.loads((project / f"metrics/{genre}/data.json").read_text())
        assert data["files"] == raw["kept"] and data["notes"] > 0 and data["unique_notes"] > 3
        train = json.loads((project / f"metrics/{genre}/train/metrics.json").read_text())
        assert train["epochs"] >= 1 and train["val_loss"] > 0 and 0 <= train["val_accuracy"] <= 1
        assert (project / f"models/{genre}/model.keras").is_file()
        generated = project / f"data/generated/{genre}"
        records = json.loads((generated / "samples.json").read_text())
        assert len(records) == TINY["n_samples"] == len(list(generated.glob("*.mid")))
        for record in records:
            assert record["n_notes"] == TINY["n_notes"] and record["tokens"], "n_notes notes per sample"
            assert read_notes(generated / record["file"]), "the MIDI file plays notes"
            assert all(f is None or (generated / f).is_file() for f in record["files"].values())
        assert (generated / "index.html").is_file()
        assert (project / f"metrics/{genre}/train/plots/metrics/eval/loss.tsv").is_file()
        headline = json.loads((project / f"metrics/{genre}/headline.json").read_text())
        assert headline["files"] == data["files"] and headline["val_loss"] == round(train["val_loss"], 4)
        assert headline["ppl"] > 1 and 0 <= headline["copy"] <= 1
    shown = dvc(project, "metrics", "show").splitlines()
    rows = {line.split()[0]: line for line in shown[1:] if line.strip()}
    assert set(rows) == {"metrics/celtic/headline.json", "metrics/mine/headline.json"}, "one row per genre"
    assert max(len(line) for line in shown) <= 160, "\n".join(shown)


def test_experiment_on_seq_len_reruns_only_what_depends_on_it(project):
    parsed = project / "data/notes/celtic/pieces.jsonl"
    before = parsed.stat().st_mtime_ns
    out = dvc(project, "exp", "run", "-S", "seq_len=10")
    for stage in ("scrape@celtic", "parse@celtic", "scrape@mine", "parse@mine"):
        assert f"Stage '{stage}' didn't change" in out
    for stage in ("sequences@celtic", "train@celtic", "generate@mine"):
        assert f"Running stage '{stage}'" in out
    assert parsed.stat().st_mtime_ns == before
    table = dvc(project, "exp", "show", "--csv", "--no-pager").splitlines()
    column = table[0].split(",").index("seq_len")
    assert {row.split(",")[column] for row in table[1:]} >= {"12", "10"}, "baseline and experiment are listed"
    diff = dvc(project, "metrics", "diff")
    assert "val_loss" in diff


def test_every_stage_command_passes_the_genre_name_as_one_quoted_word():
    """Whatever the genre table holds, its name reaches the stage as one argument, never split into a second command."""
    import shlex

    from tests.conftest import ROOT

    hostile = "folk\necho split"  # what an unchecked name with a newline did: the real genre's scrape ran
    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        command = stage["do"]["cmd"].replace("${item}", "--source local").replace("${key}", hostile)
        words = shlex.split(command)
        assert words[:4] == ["python", "-m", f"stages.{name}", hostile], f"{name}: {stage['do']['cmd']}"


def test_experiment_in_remi_with_keys_in_c_writes_bars_and_meters(project):
    from jukebox.bars import bar_report
    from jukebox.midi_io import read_music

    out = dvc(project, "exp", "run", "-S", "encoding=remi", "-S", "key_mode=c")
    assert "Stage 'parse@celtic' didn't change" in out and "Running stage 'sequences@celtic'" in out
    vocab = json.loads((project / "data/sequences/celtic/vocab.json").read_text())
    assert vocab["encoding"] == "remi" and vocab["key_mode"] == "c"
    assert {t for t in vocab["tokens"] if t.startswith("K:")} <= {"K:C", "K:Am"}, "every piece in C or A minor"
    pieces = [json.loads(line) for line in (project / "data/notes/celtic/pieces.jsonl").read_text().splitlines()]
    for record in json.loads((project / "data/generated/celtic/samples.json").read_text()):
        bars, whole = bar_report(record["tokens"])
        assert bars >= 1 and whole == bars
        meters = {m for _, m in read_music(project / "data/generated/celtic" / record["file"]).meters}
        assert meters <= {m for p in pieces for _, m in p["meters"]}, "the samples' meters are the genre's"
    music = json.loads((project / "metrics/celtic/evaluate.json").read_text())["music"]
    assert 0 <= music["strong_beat_share"]["overlap"] <= 1 and music["notes_per_bar"]["generated"] > 0
