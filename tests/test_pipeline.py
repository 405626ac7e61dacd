"""End to end through real DVC: tiny parameters, every stage for two genres, then an experiment on seq_len and remi."""
import json
import subprocess

import pytest
import yaml

from jukebox.midi_io import read_notes
from tests.conftest import ROOT, WEB_TINY, copy_trained, run_dvc

# Longer than the suite's 300 s (pyproject.toml): the first test of a run to need the trained project builds it
# through `dvc repro` (conftest.trained_template), then runs dvc or a browser on it itself.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

dvc = run_dvc


@pytest.fixture(scope="module")
def project(trained_template, tmp_path_factory):
    """The session's trained project (genre `base`, local files) with a corpus genre added: `celtic`, 8 pieces.

    `base` went through every stage in the session's `dvc repro`; this repro runs celtic's, and leaves base's alone.
    """
    root = copy_trained(trained_template, tmp_path_factory.mktemp("pipeline") / "project")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["jobs"] = 2  # two parser processes; no stage depends on it, so base's parse stays up to date
    params["genres"]["celtic"] = {**yaml.safe_load((ROOT / "params.yaml").read_text())["genres"]["celtic"],
                                  "max_pieces": 8}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "celtic"], cwd=root,
                   check=True)
    out = dvc(root, "repro")
    assert "Running stage 'train@celtic'" in out and "Stage 'train@base' didn't change" in out, out
    return root


def test_repro_builds_every_stage_for_every_genre(project):
    for genre in ("celtic", "base"):
        raw = json.loads((project / f"data/raw/{genre}/manifest.json").read_text())
        assert raw["kept"] >= 6
        data = json.loads((project / f"metrics/{genre}/data.json").read_text())
        assert data["files"] == raw["kept"] and data["notes"] > 0 and data["unique_notes"] > 3
        train = json.loads((project / f"metrics/{genre}/train/metrics.json").read_text())
        assert train["epochs"] >= 1 and train["val_loss"] > 0 and 0 <= train["val_accuracy"] <= 1
        assert (project / f"models/{genre}/model.keras").is_file()
        generated = project / f"data/generated/{genre}"
        records = json.loads((generated / "samples.json").read_text())
        assert len(records) == WEB_TINY["n_samples"] == len(list(generated.glob("*.mid")))
        composed = json.loads((generated / "pieces.json").read_text())
        assert len(composed) == WEB_TINY["eval_samples"] > WEB_TINY["n_samples"], "evaluate judges more than it renders"
        assert [p["tokens"] for p in composed[:len(records)]] == [r["tokens"] for r in records]
        assert len({p["seed"] for p in composed}) == len(composed), "each piece its own random stream"
        for record in records:
            assert record["n_notes"] == WEB_TINY["n_notes"] and record["tokens"], "n_notes notes per sample"
            assert read_notes(generated / record["file"]), "the MIDI file plays notes"
            assert all(f is None or (generated / f).is_file() for f in record["files"].values())
        assert (generated / "index.html").is_file()
        assert (project / f"metrics/{genre}/train/plots/metrics/eval/loss.tsv").is_file()
        headline = json.loads((project / f"metrics/{genre}/headline.json").read_text())
        assert headline["files"] == data["files"] and headline["val_loss"] == round(train["val_loss"], 4)
        assert headline["ppl"] > 1 and 0 <= headline["copy"] <= 1
    shown = dvc(project, "metrics", "show").splitlines()
    rows = {line.split()[0]: line for line in shown[1:] if line.strip()}
    assert set(rows) == {"metrics/celtic/headline.json", "metrics/base/headline.json"}, "one row per genre"
    assert max(len(line) for line in shown) <= 160, "\n".join(shown)


def test_every_stage_command_passes_the_genre_name_as_one_quoted_word():
    """Whatever the genre table holds, its name reaches the stage as one argument, never split into a second command."""
    import shlex

    from tests.conftest import ROOT

    hostile = "folk\necho split"  # what an unchecked name with a newline did: the real genre's scrape ran
    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        if "foreach" not in stage:
            assert "${" not in stage["cmd"], f"{name} runs once, for no genre"
            continue
        command = stage["do"]["cmd"].replace("${item}", "--source local").replace("${key}", hostile)
        words = shlex.split(command)
        assert words[:4] == ["python", "-m", f"stages.{name}", hostile], f"{name}: {stage['do']['cmd']}"


def test_an_experiment_reruns_only_what_depends_on_its_parameters_and_remi_writes_bars_and_meters(project):
    """seq_len and remi with keys in C, in one `dvc exp run` of the corpus genre (training is the suite's slowest part).

    `dvc status` first shows that seq_len alone reaches every genre's sequences and train stages, and neither scrape
    nor parse; the experiment then reruns celtic's sequences and the stages after them, and leaves its parsed notes
    alone.
    """
    from jukebox.artifacts import read_npy
    from jukebox.encodings.remi import bar_report
    from jukebox.midi_io import read_music

    params = (project / "params.yaml").read_text()
    (project / "params.yaml").write_text(params.replace(f"seq_len: {WEB_TINY['seq_len']}\n", "seq_len: 10\n", 1))
    changed = json.loads(dvc(project, "status", "--json", stderr=False))
    (project / "params.yaml").write_text(params)
    for genre in ("celtic", "base"):
        for stage in ("sequences", "train"):
            reasons = [c.get("changed deps") for c in changed[f"{stage}@{genre}"]]
            assert {"params.yaml": {"seq_len": "modified"}} in reasons, changed
        assert f"scrape@{genre}" not in changed and f"parse@{genre}" not in changed, changed

    parsed = project / "data/notes/celtic/pieces.jsonl"
    before = parsed.stat().st_mtime_ns
    # 200 notes: enough that a sample holds whole bars whatever the tiny model's bars hold (20 may fit in one).
    # remi has no fixed vocabulary, so no base: its genres learn their own tokens from scratch.
    out = dvc(project, "exp", "run", "-S", "seq_len=10", "-S", "encoding=remi", "-S", "vocabulary=data", "-S",
              "init=scratch", "-S", "key_mode=c", "-S", "n_notes=200",
              "summarize@celtic")
    for stage in ("scrape@celtic", "parse@celtic"):
        assert f"Stage '{stage}' didn't change" in out
    for stage in ("sequences@celtic", "train@celtic", "generate@celtic", "evaluate@celtic"):
        assert f"Running stage '{stage}'" in out
    assert parsed.stat().st_mtime_ns == before
    table = dvc(project, "exp", "show", "--csv", "--no-pager").splitlines()
    column = table[0].split(",").index("seq_len")
    assert {row.split(",")[column] for row in table[1:]} >= {str(WEB_TINY["seq_len"]), "10"}, \
        "baseline and experiment are listed"
    assert "val_loss" in dvc(project, "metrics", "diff")
    vocab = json.loads((project / "data/sequences/celtic/vocab.json").read_text())
    assert vocab["encoding"] == "remi" and vocab["key_mode"] == "c"
    # The keys the pieces are written in; the vocabulary also holds the keys `transpose` moves them to in training.
    sequences = project / "data/sequences/celtic"
    keys = {vocab["tokens"][i] for name in ("train.npy", "val.npy") for i in read_npy(sequences / name)
            if vocab["tokens"][i].startswith("K:")}
    assert keys and keys <= {"K:C", "K:Am"}, "every piece in C or A minor"
    pieces = [json.loads(line) for line in (project / "data/notes/celtic/pieces.jsonl").read_text().splitlines()]
    for record in json.loads((project / "data/generated/celtic/samples.json").read_text()):
        bars, whole = bar_report(record["tokens"])
        assert bars >= 1 and whole == bars
        meters = {m for _, m in read_music(project / "data/generated/celtic" / record["file"]).meters}
        assert meters <= {m for p in pieces for _, m in p["meters"]}, "the samples' meters are the genre's"
    music = json.loads((project / "metrics/celtic/evaluate.json").read_text())["music"]
    assert 0 <= music["strong_beat_share"]["overlap"] <= 1 and music["notes_per_bar"]["generated"] > 0
