"""An uploaded collection keeps its instruments unless the upload says merge: the choice on the form and in the API,
checked by params.yaml's genre rules, written to app_genres.yaml, read by the parse stage and told on the job page."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import yaml

from jukebox.params import load_params
from jukebox.web import create_app
from tests.conftest import copy_project, melody_and_drums, run_dvc, set_base_genre, write_tune


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the project with one (untrained) genre; the tests add theirs through uploads and cancel them."""
    root = copy_project(tmp_path_factory.mktemp("instruments"))
    tunes = tmp_path_factory.mktemp("base-tunes")
    write_tune(tunes / "a.mid")
    set_base_genre(root, tunes, {}, "one genre")
    return root


@pytest.fixture(scope="module")
def client(project):
    return create_app({"PROJECT": str(project)}).test_client()


@pytest.fixture(scope="module")
def band(tmp_path_factory) -> list[bytes]:
    """Two two-track songs: a flute melody and a drum track on channel 10."""
    folder = tmp_path_factory.mktemp("band")
    return [melody_and_drums(folder / f"song_{i}.mid", 2 * i).read_bytes() for i in range(2)]


def post(client, name: str, songs: list[bytes], **choices):
    files = [(io.BytesIO(song), f"song_{i}.mid") for i, song in enumerate(songs)]
    return client.post("/api/collections", data={"name": name, "files": files, **choices},
                       content_type="multipart/form-data")


def entry(project: Path, name: str) -> dict:
    return yaml.safe_load((project / "app_genres.yaml").read_text())["genres"][name]


def untouched(project: Path) -> None:
    """Nothing of a refused or cancelled upload is left in the project."""
    assert not (project / "collections").exists() or not any((project / "collections").iterdir())
    assert yaml.safe_load((project / "app_genres.yaml").read_text()) == {"genres": {}}


def cancel(client, *jobs: dict) -> None:
    for job in jobs:
        assert client.post(f"/api/jobs/{job['id']}/cancel").get_json()["status"] == "cancelled"


@pytest.mark.parametrize("field, value, message", [
    ("instruments", "both", "instruments = 'both' is out of range; it must be one of ('merge', 'keep')"),
    ("instruments", "", "instruments = '' is out of range"),
    ("instruments", "keep\n", "instruments = 'keep\\n' is out of range"),
    ("drums", "yes", "drums = 'yes' has the wrong type; it must be true or false"),
    ("drums", "1", "drums = '1' has the wrong type; it must be true or false"),
])
def test_a_forged_choice_is_refused_naming_the_field(client, project, band, field, value, message):
    response = post(client, "forged", band, **{field: value})
    body = response.get_json()
    assert response.status_code == 400 and body["field"] == field and message in body["error"], body
    untouched(project)


def post_form(client, name: str, band, **choice):
    """An upload through the page's form, with its CSRF token and the choice's fields."""
    page = client.get("/collections").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    files = [(io.BytesIO(song), f"song_{i}.mid") for i, song in enumerate(band)]
    return client.post("/collections", data={"csrf_token": token, "name": name, "files": files, **choice},
                       content_type="multipart/form-data")


def test_a_forged_choice_on_the_page_shows_beside_its_field(client, project, band):
    response = post_form(client, "forged", band, instruments="keep", drums="maybe")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(r'<p class="error" id="drums-error">drums = &#39;maybe&#39; has the wrong type', page), page
    untouched(project)


def test_an_upload_keeps_its_instruments_unless_told_to_merge(client, project, band):
    page = client.get("/collections").get_data(as_text=True)
    assert re.search(r'<input checked id="instruments-0" name="instruments" type="radio" value="keep">', page)
    assert re.search(r'<input id="instruments-1" name="instruments" type="radio" value="merge">', page)
    assert re.search(r'<input checked id="drums-0" name="drums" type="radio" value="true">', page)

    kept = post(client, "kept", band)
    assert kept.status_code == 202, kept.get_json()
    # Each upload fine-tunes for params.yaml's upload_finetune_epochs at its upload_finetune_learning_rate, written
    # into its entry (where a user edits them), and is moved by any interval whatever params.yaml's transpose_into.
    params = load_params(project / "params.yaml")
    epochs, rate = params.upload_finetune_epochs, params.upload_finetune_learning_rate
    assert (epochs, rate) != (params.finetune_epochs, params.finetune_learning_rate)
    assert entry(project, "kept") == {"source": "local", "path": "collections/kept", "instruments": "keep",
                                      "drums": True, "finetune_epochs": epochs, "finetune_learning_rate": rate,
                                      "transpose_into": "any"}
    merged = post(client, "merged", band, instruments="merge", drums="false")
    assert merged.status_code == 202, merged.get_json()
    assert entry(project, "merged") == {"source": "local", "path": "collections/merged", "instruments": "merge",
                                        "drums": False, "finetune_epochs": epochs, "finetune_learning_rate": rate,
                                        "transpose_into": "any"}
    params = load_params(project / "params.yaml")
    genres = params.genres
    assert (genres["kept"].instruments, genres["merged"].instruments, genres["merged"].drums) == ("keep", "merge", False)
    assert params.init == "base" and params.epochs_of(genres["kept"]) == epochs == kept.get_json()["epochs"]

    # The job pages (and their API) say which was chosen: before parsing, the tracks' own instruments unnamed.
    kept, merged = kept.get_json(), merged.get_json()
    assert kept["instruments"].startswith("Instruments kept: each track plays its own")
    assert "Instruments merged into one stream, played on General MIDI program 0 (piano)." in \
        client.get(merged["page"]).get_data(as_text=True)

    # The page form sends the same choice.
    response = post_form(client, "paged", band, instruments="merge", drums="true")
    assert response.status_code == 303 and entry(project, "paged")["instruments"] == "merge"
    paged = client.get("/api" + response.headers["Location"]).get_json()
    cancel(client, kept, merged, paged)
    untouched(project)


@pytest.mark.slow
def test_the_parse_stage_reads_the_instruments_the_upload_chose(client, project, band):
    """Through DVC's own scrape and parse stages: kept instruments are named on the job page, dropped drums are gone."""
    jobs = {name: post(client, name, band, **choices).get_json() for name, choices in
            [("kept", {}), ("nodrums", {"drums": "false"}), ("merged", {"instruments": "merge"})]}
    run_dvc(project, "repro", "--single-item", *(f"{stage}@{name}" for name in jobs for stage in ("scrape", "parse")))

    def summary(name: str) -> dict:
        return json.loads((project / "data/notes" / name / "summary.json").read_text())

    # 8 flute notes and 16 hi-hats + 4 kicks and snares a song.
    assert summary("kept")["instruments"] == {"drums": 40, "program 73": 16}
    assert summary("nodrums")["instruments"] == {"program 73": 16} and summary("nodrums")["dropped"]["drum_notes"] == 40
    assert "instruments" not in summary("merged") and summary("merged")["notes"] == 16
    story = {name: client.get(f"/api/jobs/{job['id']}").get_json()["instruments"] for name, job in jobs.items()}
    assert story["kept"] == "Instruments kept: drums, pipe."
    assert story["nodrums"] == "Instruments kept: pipe; the drum track dropped."
    assert story["merged"] == "Instruments merged into one stream, played on General MIDI program 0 (piano)."
    assert '<p id="instruments" class="intro">Instruments kept: drums, pipe.</p>' in \
        client.get(jobs["kept"]["page"]).get_data(as_text=True)
    cancel(client, *jobs.values())
    untouched(project)
