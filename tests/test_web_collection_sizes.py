"""What the number of files gets: the measured table on the collection page, and one sentence on a job's page."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from markupsafe import escape

from jukebox.layout import Layout
from jukebox.web.collection_sizes import expectation, read_sizes, size_table
from tests.conftest import ROOT


def run(files: int, init: str, **figures) -> dict:
    return {"files": files, "init": init, "first_sample_s": 30.0, "total_s": 60.0, "perplexity_ratio": 0.5,
            "classifier_accuracy": 0.6, "low": 0.55, "high": 0.65, "copy_rate": 0.1, "held_out_copy_rate": 0.2,
            **figures}


MEASURED = {"collection": "trecento", "cores": 2, "runs": [
    run(5, "base", first_sample_s=41.4, perplexity_ratio=0.812, classifier_accuracy=0.83, low=0.71, high=0.9,
        copy_rate=0.6, held_out_copy_rate=0.2),
    run(5, "scratch", first_sample_s=95.0, perplexity_ratio=1.31, classifier_accuracy=0.97, low=None, high=None),
    run(20, "base", first_sample_s=52.0, perplexity_ratio=0.47),
    run(20, "scratch", first_sample_s=190.0, perplexity_ratio=0.71),
    run(100, "base", first_sample_s=120.0, perplexity_ratio=0.41, copy_rate=0.05, held_out_copy_rate=0.05),
]}


def write(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_the_table_has_one_row_per_file_count_with_both_starts(tmp_path):
    rows = size_table(read_sizes(write(tmp_path / "sizes.json", MEASURED)))
    assert [r["files"] for r in rows] == [5, 20, 100]
    assert rows[0]["base"]["perplexity_ratio"] == 0.812 and rows[0]["scratch"]["perplexity_ratio"] == 1.31
    assert rows[2]["scratch"] is None  # not measured
    assert size_table(None) == []


@pytest.mark.parametrize("data", [
    "", "{", "[]", "null", {"runs": []}, {"runs": "many"}, {"runs": [{"files": 5}]},
    {"runs": [run(5, "base", perplexity_ratio="0.5")]}, {"runs": [run(True, "base")]},
    {"runs": [run(0, "base")]}, {"runs": [run(5, "elsewhere")]}, {"runs": [run(5, "base"), 7]},
])
def test_a_file_not_as_the_benchmark_writes_it_gives_no_table(tmp_path, data):
    assert read_sizes(write(tmp_path / "sizes.json", data)) is None


def test_a_missing_file_gives_no_table(tmp_path):
    assert read_sizes(tmp_path / "absent.json") is None


def test_the_sentence_comes_from_the_nearest_measured_collection_for_the_jobs_start():
    five = expectation(MEASURED, 3, "base")
    assert five.startswith("With 3 files: a collection of 5 files of trecento, learned from the base model, was "
                           "measured: the first sample came after 41 s; the model's perplexity was 0.81× its n-gram's")
    assert "83% of the time (between 71% and 90% with 95% confidence; 50% is the best" in five
    assert "mostly learns them by heart" in five
    scratch = expectation(MEASURED, 8, "scratch")
    assert "5 files of trecento, learned from scratch" in scratch and "1.31×" in scratch
    assert "97% of the time (50% is the best" in scratch  # no interval measured, none claimed
    assert "by heart" not in scratch and "no more often than real pieces do" in scratch
    assert "a collection of 20 files" in expectation(MEASURED, 40, "base")  # 40 is nearer 20 than 100
    assert "a collection of 100 files" in expectation(MEASURED, 500, "base")
    assert "a collection of 20 files" in expectation(MEASURED, 500, "scratch")  # scratch has no 100-file row
    assert expectation(MEASURED, None, "base") == expectation(None, 5, "base") == expectation(MEASURED, 5, None) == ""


@pytest.fixture
def project(tmp_path) -> Path:
    """params.yaml's genres (none trained), init scratch, and one uploaded collection of 4 files."""
    for name in ("app_genres.yaml", "dvc.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({**params, "init": "scratch"}, sort_keys=False))
    folder = Layout.of(tmp_path).collection("songs")
    folder.mkdir(parents=True)
    for i in range(4):
        (folder / f"song_{i}.mid").write_bytes(b"MThd")
    return tmp_path


def client_for(project: Path, sizes: Path):
    from jukebox.web import create_app

    app = create_app({"PROJECT": str(project), "COLLECTION_SIZES": str(sizes)})
    return app, app.test_client()


def test_the_collection_page_shows_the_measured_table(project):
    _, client = client_for(project, write(project / "sizes.json", MEASURED))
    page = client.get("/collections").get_data(as_text=True)
    assert 'id="collection-sizes"' in page and "measured on trecento, 2 cores" in page
    row = page[page.index('data-files="5"'):]
    row = row[:row.index("</tr>")]
    assert [cell.split("</td>")[0] for cell in row.split("<td>")[1:]] == [
        "5", "41 s", "95 s", "0.81×", "1.31×", "83% (71–90%)", "97%"]
    assert "–" in page[page.index('data-files="100"'):]  # no scratch run of 100 files


@pytest.mark.parametrize("content", [None, "{broken", {"runs": [{"files": "five", "init": "base"}]}])
def test_without_good_figures_the_collection_page_shows_no_table_and_works(project, content):
    sizes = project / "sizes.json"
    if content is not None:
        write(sizes, content)
    _, client = client_for(project, sizes)
    response = client.get("/collections")
    assert response.status_code == 200 and "Your collection" in response.get_data(as_text=True)
    assert "collection-sizes" not in response.get_data(as_text=True)


def test_a_jobs_page_says_what_its_number_of_files_got(project):
    app, client = client_for(project, write(project / "sizes.json", MEASURED))
    record = app.extensions["jukebox"].jobs.submit("songs")
    assert record["files"] == 4
    page = client.get(f"/jobs/{record['id']}").get_data(as_text=True)
    sentence = expectation(MEASURED, 4, "scratch")
    assert sentence.startswith("With 4 files: a collection of 5 files of trecento, learned from scratch")
    assert f'<p id="expectation" class="intro">{escape(sentence)}</p>' in page
    assert client.get(f"/api/jobs/{record['id']}").get_json()["expectation"] == sentence


def test_the_package_ships_the_figures_it_reads():
    """The committed data file, once the benchmark has written it, is one the pages can read."""
    from jukebox.web.collection_sizes import DATA_FILE

    if DATA_FILE.exists():
        assert read_sizes(DATA_FILE) is not None, f"{DATA_FILE} is not what benchmarks/collection_sizes.py writes"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"collection_sizes.json"' in pyproject, "the data file is package data, so an installed app finds it"
