"""The web app with a trained genre and real jobs: composing, a collection through DVC, and a worker killed mid-job."""
from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from jukebox.midi_io import notes_to_stream, read_notes, write_midi
from jukebox.web import create_app
from tests.conftest import melody_and_drums, run_dvc, write_tune

# Longer than the suite's 300 s (pyproject.toml): the first test of a run to need the trained project builds it
# through `dvc repro` (conftest.trained_template), then runs dvc or a browser on it itself.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def client(trained_project):
    return create_app({"PROJECT": str(trained_project)}).test_client()


def start_worker(project: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "jukebox.cli", "--project", str(project), "worker"],
                            stdout=open(log, "a"), stderr=subprocess.STDOUT)


def stop(worker: subprocess.Popen) -> None:
    worker.send_signal(signal.SIGTERM)
    worker.wait(30)


def wait_for(client, job_id: str, done, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").get_json()
        if done(job):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not get there in {timeout} s: {json.dumps(job)[:2000]}")


def upload(client, name: str, tunes: list[bytes]) -> dict:
    files = [(io.BytesIO(t), f"tune_{i}.mid") for i, t in enumerate(tunes)]
    response = client.post("/api/collections", data={"name": name, "files": files}, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def tunes(tmp_path: Path, count: int, repeats: int = 2) -> list[bytes]:
    return [write_tune(tmp_path / f"{i}.mid", 2 * i, repeats).read_bytes() for i in range(count)]


def outputs_of(project: Path, genre: str) -> dict[str, int]:
    """Modification times of every file the pipeline wrote for a genre."""
    files = {}
    for folder in ("data/raw", "data/notes", "data/sequences", "data/generated", "models", "metrics"):
        for path in (project / folder / genre).rglob("*"):
            if path.is_file():
                files[str(path.relative_to(project))] = path.stat().st_mtime_ns
    return files


def test_generate_composes_a_playable_sample_reproducibly(client):
    body = {"genre": "base", "n_notes": 24, "temperature": 0.9, "top_k": 5, "top_p": 0.9, "seed": 7}
    first = client.post("/api/generate", json=body).get_json()
    assert first["n_notes"] == 24 and first["seed"] == 7 and first["primer"].startswith("validation window")
    midi = client.get(first["urls"]["midi"])
    assert midi.status_code == 200 and midi.data.startswith(b"MThd")
    assert client.get(first["urls"]["png"]).data.startswith(b"\x89PNG")
    if first["urls"].get("flac"):
        assert client.get(first["urls"]["flac"]).data.startswith(b"fLaC")
    assert client.get(first["urls"]["musicxml"]).data.startswith(b"<?xml"), "written when first asked for"
    second = client.post("/api/generate", json=body).get_json()
    assert second["id"] != first["id"]
    assert client.get(second["urls"]["midi"]).data == midi.data, "same settings and seed, same piece"


def test_generate_is_the_same_as_the_jukebox_command(client, trained_project, tmp_path):
    from jukebox.cli import main

    body = {"genre": "base", "n_notes": 16, "temperature": 1.0, "top_k": 0, "top_p": 0.9, "seed": 11}
    web = client.get(client.post("/api/generate", json=body).get_json()["urls"]["midi"]).data
    main(["--project", str(trained_project), "generate", "--genre", "base", "--n-notes", "16", "--temperature", "1",
          "--top-k", "0", "--top-p", "0.9", "--seed", "11", "--out", str(tmp_path / "cli.mid")])
    assert (tmp_path / "cli.mid").read_bytes() == web


@pytest.mark.parametrize("change, field, limit", [
    ({"n_notes": 0}, "n_notes", {"min": 1, "max": 2000}),
    ({"n_notes": 2001}, "n_notes", {"min": 1, "max": 2000}),
    ({"n_notes": "many"}, "n_notes", {"min": 1, "max": 2000}),
    ({"temperature": -0.1}, "temperature", {"min": 0.0, "max": 10.0}),
    ({"temperature": 11}, "temperature", {"min": 0.0, "max": 10.0}),
    ({"top_k": -1}, "top_k", {"min": 0, "max": 1000}),
    ({"top_p": 0}, "top_p", {"above": 0, "max": 1}),
    ({"top_p": 1.5}, "top_p", {"above": 0, "max": 1}),
    ({"seed": -3}, "seed", {"min": 0, "max": 2**32 - 1}),
])
def test_generate_refuses_parameters_out_of_range(client, change, field, limit):
    response = client.post("/api/generate", json={"genre": "base", **change})
    body = response.get_json()
    assert response.status_code == 400 and body["field"] == field and body["error"].startswith(f"{field}: ")
    assert body["limit"] == limit


def test_generate_with_a_primer(client, tmp_path):
    primer = write_tune(tmp_path / "my primer.mid", 3).read_bytes()
    form = {"genre": "base", "n_notes": "12", "primer": (io.BytesIO(primer), "my primer.mid")}
    response = client.post("/api/generate", data=form, content_type="multipart/form-data")
    assert response.status_code == 200 and response.get_json()["primer"] == "opening of my primer.mid"
    write_midi(notes_to_stream([]), tmp_path / "silence.mid")
    for name, data, message in [("notes.mid", b"not midi", "is not a MIDI file"),
                                ("silence.mid", (tmp_path / "silence.mid").read_bytes(), "has no notes")]:
        response = client.post("/api/generate", data={"genre": "base", "primer": (io.BytesIO(data), name)},
                               content_type="multipart/form-data")
        body = response.get_json()
        assert response.status_code == 400 and body["field"] == "primer" and message in body["error"], body


def test_pages_show_the_trained_genre_and_compose(client):
    home = client.get("/").get_data(as_text=True)
    assert "badge ready" in home and '<audio controls preload="metadata" src="/files/base/sample_01.flac"' in home
    assert client.get("/files/base/sample_01.png").data.startswith(b"\x89PNG")
    assert client.get("/files/base/..%2F..%2Fparams.yaml").status_code == 404
    assert client.get("/files/base/samples.json").status_code == 404, "only sample files are served"
    page = client.get("/generate").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    response = client.post("/generate", data={"csrf_token": token, "genre": "base", "n_notes": "16", "temperature": "1",
                                               "top_k": "0", "top_p": "1", "seed": "1"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Your new piece" in page and 'class="piano-roll"' in page
    bad = client.post("/generate", data={"csrf_token": token, "genre": "base", "n_notes": "0"})
    assert bad.status_code == 400
    assert 'id="n_notes-error">must be a whole number of notes from 1 to 2000' in bad.get_data(as_text=True)


def test_collection_jobs_run_through_dvc_survive_a_killed_worker_and_leave_other_genres_alone(client, trained_project,
                                                                                              tmp_path):
    """Queued while no worker runs, a job runs when one starts. SIGKILL mid-train: the job is interrupted, its stage
    stopped, a queued job still runs, and a retry completes the genre's pipeline; the other genre's stages are left
    alone. (One test: each collection job trains a genre through DVC, the costliest step of the web tests.)"""
    before = outputs_of(trained_project, "base")
    log = tmp_path / "worker.log"
    # Four piano tunes and two flute-and-drums songs: an upload keeps their instruments (instruments: keep).
    band = [melody_and_drums(tmp_path / f"band_{i}.mid", i).read_bytes() for i in range(2)]
    cut = upload(client, "cut", tunes(tmp_path, 4) + band)
    assert cut["status"] == "queued" and cut["stages"][:5] == ["scrape", "parse", "sequences", "train", "generate"]
    few = upload(client, "few", tunes(tmp_path, 2, repeats=1)[:1])  # one short piece cannot be split to train
    time.sleep(1)
    assert client.get(cut["url"]).get_json()["status"] == "queued", "no worker yet"
    seen = set()
    worker = start_worker(trained_project, log)
    try:
        running = wait_for(client, cut["id"], lambda j: seen.add(j["stage"]) or j["stage"] == "train"
                           or j["status"] not in ("queued", "running"))
        assert running["status"] == "running" and running["stage"] == "train", running
        stored = client.application.extensions["jukebox"].jobs._load(cut["id"])
        orphan = stored["child"]["pid"]
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        assert client.get(cut["url"]).get_json()["status"] == "running", "nobody has noticed yet"
        worker = start_worker(trained_project, log)
        interrupted = wait_for(client, cut["id"], lambda j: j["status"] != "running", timeout=30)
        assert interrupted["status"] == "interrupted" and "retry" in interrupted["message"]
        assert not psutil.pid_exists(orphan) or psutil.Process(orphan).status() == psutil.STATUS_ZOMBIE, \
            "the cut-off dvc repro was stopped"
        genres = {g["name"]: g for g in client.get("/api/genres").get_json()["genres"]}
        assert not genres["cut"]["ready"] and genres["cut"]["samples"] == [], "partial outputs are not results"

        failed = wait_for(client, few["id"], lambda j: j["status"] not in ("queued", "running"))
        assert failed["status"] == "failed" and failed["message"].startswith("parse failed: parse[few]: ")
        assert "a genre needs at least 2 to train" in failed["message"]
        assert "few" not in yaml.safe_load((trained_project / "app_genres.yaml").read_text())["genres"]
        assert not (trained_project / "collections" / "few").exists(), "the genre is not left half-made"
        assert not (trained_project / "data" / "raw" / "few").exists()
        lock = yaml.safe_load((trained_project / "dvc.lock").read_text())["stages"]
        assert not [stage for stage in lock if stage.endswith("@few")], "its scrape is not left in dvc.lock"

        retried = client.post(f"{cut['url']}/retry").get_json()
        assert retried["status"] == "queued" and retried["attempt"] == 2
        done = wait_for(client, cut["id"],
                        lambda j: seen.add(j["stage"]) or j["status"] not in ("queued", "running"))
    finally:
        stop(worker)
    assert done["status"] == "succeeded", (done["message"], log.read_text()[-3000:])
    assert {"train", "generate"} <= seen, "the stage shows while it runs"
    assert done["progress"]["epoch"] == 1 and done["progress"]["loss"] > 0 and done["progress"]["val_loss"] > 0
    sample = done["samples"][0]
    midi = client.get(sample["urls"]["midi"])
    assert midi.status_code == 200
    path = tmp_path / "sample.mid"
    path.write_bytes(midi.data)
    assert len(read_notes(path)) >= 1 and sample["n_notes"] == 20
    genres = {g["name"]: g for g in client.get("/api/genres").get_json()["genres"]}
    assert genres["cut"]["ready"] and genres["cut"]["made_by_app"] and genres["cut"]["dataset"]["files"] == 6
    assert done["instruments"] == "Instruments kept: piano, drums, pipe.", "the parsed files' instruments, most notes first"
    leftovers = [p for p in outputs_of(trained_project, "cut") if Path(p).name.startswith(".")]
    assert leftovers == [], "no half-written file is left"
    assert outputs_of(trained_project, "base") == before, "no output of another genre was rewritten"
    assert "Data and pipelines are up to date" in run_dvc(trained_project, "status")
    assert yaml.safe_load((trained_project / "params.yaml").read_text())["genres"].keys() == {"base"}


def test_cancelling_a_job_in_training_leaves_git_and_dvc_as_before_the_upload(client, trained_project, tmp_path):
    """Cancelled in training, a job removed the genre's files but left its lines in data/raw/.gitignore,
    data/notes/.gitignore and data/sequences/.gitignore (staged by DVC's autostage)."""
    from tests.test_app_genres import git_state

    git_before, dvc_before = git_state(trained_project), run_dvc(trained_project, "status")
    job = upload(client, "gone", tunes(tmp_path, 6))
    worker = start_worker(trained_project, tmp_path / "worker.log")
    try:
        running = wait_for(client, job["id"], lambda j: j["stage"] == "train" or j["status"] not in ("queued", "running"))
        assert running["stage"] == "train", running
        assert "/gone" in (trained_project / "data/sequences/.gitignore").read_text().splitlines()
        client.post(f"{job['url']}/cancel")
        cancelled = wait_for(client, job["id"], lambda j: j["status"] not in ("queued", "running"), timeout=60)
    finally:
        stop(worker)
    assert cancelled["status"] == "cancelled", cancelled
    assert git_state(trained_project) == git_before
    assert run_dvc(trained_project, "status") == dvc_before
