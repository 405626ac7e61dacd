"""The job page's training curve and where its model starts (jukebox/web/curve.py, jobs.py), through Flask's client."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from jukebox.layout import Layout
from jukebox.web.curve import loss_curve
from jukebox.web.jobs import base_pieces, starting_point, training_progress
from tests.conftest import ROOT


def write_losses(project: Path, genre: str, losses: list[float], val_losses: list[float]) -> None:
    """dvclive's two TSVs as the train stage writes them, one row per finished epoch."""
    plots = Layout.of(project).train_metrics(genre) / "plots" / "metrics"
    for folder, values in (("train", losses), ("eval", val_losses)):
        (plots / folder).mkdir(parents=True, exist_ok=True)
        rows = "".join(f"{i}\t{v}\n" for i, v in enumerate(values))
        (plots / folder / "loss.tsv").write_text("step\tloss\n" + rows)


def points(text: str) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in text.split()]


def test_training_progress_lists_every_epoch(tmp_path):
    write_losses(tmp_path, "reels", [3.0, 2.5, 2.2], [3.1, 2.8, 2.9])
    progress = training_progress(tmp_path, "reels")
    assert progress["losses"] == [3.0, 2.5, 2.2] and progress["val_losses"] == [3.1, 2.8, 2.9]
    assert (progress["epoch"], progress["best_epoch"], progress["val_loss"]) == (3, 2, 2.9)
    assert training_progress(tmp_path, "nothing") == {"epoch": 0, "losses": [], "val_losses": []}


def test_the_curve_spans_the_planned_epochs_and_falls_as_the_loss_falls():
    curve = loss_curve({"losses": [3.0, 2.0], "val_losses": [3.2, 2.6]}, planned_epochs=10)
    loss, val = points(curve["loss"]), points(curve["val_loss"])
    assert len(loss) == len(val) == 2 and curve["done"] == 2 and curve["epochs"] == 10
    # Epoch 1 at the left axis, epoch 2 a ninth of the way across: the rest of the schedule is still to come.
    assert loss[0][0] == curve["left"] and loss[1][0] == pytest.approx(curve["left"] + (curve["right"] - curve["left"]) / 9, abs=0.1)
    # SVG's y grows downwards: the highest loss (3.2) at the top, the lowest (2.0) at the bottom.
    assert val[0][1] == curve["top"] and loss[1][1] == curve["bottom"] and loss[0][1] > val[0][1]
    assert (curve["high"], curve["low"]) == ("3.20", "2.00")


def test_one_epoch_or_a_flat_curve_still_draws():
    one = loss_curve({"losses": [2.0], "val_losses": [2.0]}, planned_epochs=1)
    assert len(points(one["loss"])) == 2 and len(set(points(one["loss"]))) == 1  # a dot
    assert all(one["top"] < y < one["bottom"] for _, y in points(one["loss"]))
    empty = loss_curve({}, planned_epochs=None)
    assert empty["loss"] == empty["val_loss"] == "" and empty["done"] == 0


def test_the_starting_point_names_the_base_and_its_pieces(tmp_path):
    assert base_pieces(tmp_path) is None  # no corpus.json
    corpus = Layout.of(tmp_path).base_metrics / "corpus.json"
    corpus.parent.mkdir(parents=True)
    corpus.write_text(json.dumps({"trained": False, "why": "init is scratch"}))
    assert base_pieces(tmp_path) is None
    corpus.write_text(json.dumps({"trained": True, "pieces": 13000, "excluded": 12}))
    assert base_pieces(tmp_path) == 12988
    corpus.write_text("{not json")
    assert base_pieces(tmp_path) is None
    assert "which learned from 12,988 pieces of music" in starting_point({"init": "base", "base_pieces": 12988})
    assert starting_point({"init": "base", "base_pieces": None}).startswith("Fine-tuned from the base model:")
    assert "from scratch" in starting_point({"init": "scratch"}) and starting_point({}) == ""


@pytest.fixture
def app_project(tmp_path) -> Path:
    """A project with params.yaml's genres, init base, a trained base's corpus.json and one uploaded collection, which
    fine-tunes for its own 6 epochs (params.yaml's genres for 10)."""
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "app_genres.yaml").write_text(yaml.safe_dump({"genres": {"reels": {
        "source": "local", "path": "collections/reels", "finetune_epochs": 6}}}))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.update(init="base", vocabulary="fixed", encoding="rhythm", finetune_epochs=10)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    corpus = Layout.of(tmp_path).base_metrics / "corpus.json"
    corpus.parent.mkdir(parents=True)
    corpus.write_text(json.dumps({"trained": True, "pieces": 14000, "excluded": 0}))
    folder = Layout.of(tmp_path).collection("reels")
    folder.mkdir(parents=True)
    for i in range(7):
        (folder / f"tune_{i}.mid").write_bytes(b"MThd")
    return tmp_path


def test_a_job_page_draws_its_curve_and_says_it_starts_from_the_base(app_project):
    from jukebox.web import create_app

    app = create_app({"PROJECT": str(app_project), "COLLECTION_SIZES": str(app_project / "none.json")})
    jobs = app.extensions["jukebox"].jobs
    record = jobs.submit("reels")
    assert (record["init"], record["base_pieces"], record["files"], record["epochs"]) == ("base", 14000, 7, 6)
    client = app.test_client()
    page = client.get(f"/jobs/{record['id']}").get_data(as_text=True)
    assert "Fine-tuned from the base model, which learned from 14,000 pieces of music" in page
    assert 'id="curve-figure" hidden' in page  # no epoch yet

    write_losses(app_project, "reels", [3.0, 2.4, 2.1], [3.3, 2.9, 3.0])
    record.update(status="running", stage="train", progress=training_progress(app_project, "reels"))
    jobs._save(record)
    page = client.get(f"/jobs/{record['id']}").get_data(as_text=True)
    drawn = loss_curve(record["progress"], 6)
    assert 'id="curve-figure" hidden' not in page
    assert f'id="curve-loss" class="loss" points="{drawn["loss"]}"' in page
    assert f'id="curve-val-loss" class="val-loss" points="{drawn["val_loss"]}"' in page
    api = client.get(f"/api/jobs/{record['id']}").get_json()
    assert api["curve"] == drawn and api["starting_point"].startswith("Fine-tuned from the base model")
    assert api["progress"]["val_losses"] == [3.3, 2.9, 3.0]
    assert api["expectation"] == ""  # no measured collection sizes here


def test_a_job_from_scratch_says_so(app_project):
    from jukebox.web import create_app

    params = yaml.safe_load((app_project / "params.yaml").read_text())
    (app_project / "params.yaml").write_text(yaml.safe_dump({**params, "init": "scratch"}, sort_keys=False))
    app = create_app({"PROJECT": str(app_project)})
    record = app.extensions["jukebox"].jobs.submit("reels")
    assert (record["init"], record["base_pieces"], record["epochs"]) == ("scratch", None, params["epochs"])
    page = app.test_client().get(f"/jobs/{record['id']}").get_data(as_text=True)
    assert "Learned from scratch" in page and "base model" not in page
