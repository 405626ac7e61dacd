"""A real browser (Debian's headless Chromium through selenium) uses `jukebox serve`: upload, wait, listen, compose.

Screenshots go to a temporary folder, or to JUKEBOX_SCREENSHOTS (e.g. docs/screenshots) when it is set.
"""
from __future__ import annotations

import os
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, need, write_tune

# Longer than the suite's 300 s (pyproject.toml): the first test of a run to need the trained project builds it
# through `dvc repro` (conftest.trained_template), then runs dvc or a browser on it itself.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(trained_project, tmp_path_factory):
    """`jukebox serve` on a free port of 127.0.0.1, with its worker, until the module ends."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    process = subprocess.Popen([sys.executable, "-m", "jukebox.cli", "--project", str(trained_project), "serve",
                                "--port", str(port)], stdout=open(log, "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(url + "/api/genres", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        raise AssertionError(f"jukebox serve did not start:\n{log.read_text()[-3000:]}")
    yield url
    process.send_signal(signal.SIGINT)
    process.wait(60)
    assert "Booting worker with pid" in log.read_text(), "served by gunicorn, never Flask's debug server"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    need(Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), "Debian chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--window-size=1280,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("JUKEBOX_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(driver, path: Path) -> Path:
    """Save a full-page screenshot and check it is not blank (many colours, not one flat fill)."""
    from PIL import Image

    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height, 800), 4000))
    driver.save_screenshot(str(path))
    image = Image.open(path).convert("RGB")
    colours = image.getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50, f"{path} looks blank"
    assert max(count for count, _ in colours) < 0.97 * image.width * image.height, f"{path} is one flat colour"
    return path


def wait_until(driver, script: str, timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for: {script}")


def submit(driver, button: str, timeout: float = 120) -> None:
    """Click a form's submit button and wait for the answer's page, as a user does: a click returns before a
    multipart POST is answered, and reading the page at once reads the old one (it failed in CI)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    def gone(driver) -> bool:
        try:
            return expected_conditions.staleness_of(page)(driver)
        except WebDriverException as error:
            # Chromedriver sometimes reports a node of the page it just left this way instead of as stale
            # (SeleniumHQ/selenium#15401); it failed CI once.
            if "does not belong to the document" in str(error):
                return True
            raise

    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, button).click()
    WebDriverWait(driver, timeout).until(gone)


MEDIA_LOADED = """
const audios = [...document.querySelectorAll('audio')];
const rolls = [...document.querySelectorAll('img.piano-roll')];
return audios.length > 0 && rolls.length > 0
  && audios.every(a => a.readyState >= 1 && a.duration > 0 && !a.error)
  && rolls.every(i => i.complete && i.naturalWidth > 100);
"""


def test_upload_a_collection_and_listen_to_its_samples(server, browser, shots, tmp_path):
    from selenium.webdriver.common.by import By

    files = [write_tune(tmp_path / f"reel_{i}.mid", shift, repeats=2) for i, shift in enumerate([0, 2, 4, 5, 7, 9])]
    browser.get(server + "/collections")
    browser.find_element(By.ID, "name").send_keys("Bad Name")
    browser.find_element(By.ID, "files").send_keys("\n".join(str(f) for f in files))
    submit(browser, "form.collection button[type=submit]")
    assert "must be a short lowercase slug" in browser.find_element(By.ID, "name-error").text
    screenshot(browser, shots / "collection.png")

    name = browser.find_element(By.ID, "name")
    name.clear()
    name.send_keys("reels")
    browser.find_element(By.ID, "files").send_keys("\n".join(str(f) for f in files))
    submit(browser, "form.collection button[type=submit]")
    errors = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "[id$='-error']")]
    assert "/jobs/" in browser.current_url, f"still at {browser.current_url}; the page says {errors}"
    wait_until(browser, "return document.querySelector('#stages li.current')", timeout=120)
    screenshot(browser, shots / "job-running.png")
    wait_until(browser, "return document.getElementById('status').textContent.trim() == 'succeeded'", timeout=240)
    wait_until(browser, MEDIA_LOADED)
    assert browser.find_elements(By.CSS_SELECTOR, "#stages li.done")
    screenshot(browser, shots / "job.png")

    browser.get(server + "/")
    wait_until(browser, MEDIA_LOADED)
    assert browser.find_element(By.ID, "genre-reels").find_elements(By.TAG_NAME, "audio")
    screenshot(browser, shots / "home.png")


def test_compose_on_the_generate_page(server, browser, shots):
    """A musician's flow: a mood preset, "Surprise me", a progress indicator, the piece in view, the values kept."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.set_window_size(1280, 900)
    browser.get(server + "/generate")
    assert "composes a new piece in its style" in browser.find_element(By.CLASS_NAME, "intro").text
    Select(browser.find_element(By.ID, "genre")).select_by_value("base")
    notes = browser.find_element(By.ID, "n_notes")
    notes.clear()
    notes.send_keys("40")
    browser.find_element(By.XPATH, "//fieldset[@class='presets']/button[text()='Safe']").click()
    assert browser.find_element(By.ID, "temperature").get_attribute("value") == "0.7"
    seed = browser.find_element(By.ID, "seed")
    browser.find_element(By.ID, "surprise").click()
    chosen = seed.get_attribute("value")
    assert chosen.isdigit() and chosen != "42", "a new random seed"
    browser.find_element(By.ID, "compose").click()
    wait_until(browser, MEDIA_LOADED)
    assert "Your new piece" in browser.page_source
    in_view = browser.execute_script("const r = document.getElementById('result').getBoundingClientRect();"
                                     " return r.top >= 0 && r.top < window.innerHeight && window.scrollY > 0;")
    assert in_view, "the new piece is scrolled into view"
    kept = {name: browser.find_element(By.ID, name).get_attribute("value")
            for name in ("n_notes", "temperature", "seed")}
    assert kept == {"n_notes": "40", "temperature": "0.7", "seed": chosen}, "the form keeps its values"
    title = browser.find_element(By.CSS_SELECTOR, "#result .sample h2").text
    assert title == f"base_seed-{chosen}_40-notes", "a name a musician can tell apart"
    playing = browser.execute_script("return document.querySelector('#result audio').currentSrc")
    assert playing.endswith(f"/base_seed-{chosen}_40-notes.flac"), "the player streams the FLAC file"
    # The score is written when first asked for: its link answers with the real file, as the FLAC's does.
    for label, magic in (("MusicXML score", "<?xml"), ("FLAC audio (lossless)", "fLaC")):
        link = browser.find_element(By.LINK_TEXT, label).get_attribute("href")
        head = browser.execute_async_script(
            "const done = arguments[1]; fetch(arguments[0]).then(r => r.arrayBuffer())"
            ".then(b => done(String.fromCharCode(...new Uint8Array(b.slice(0, 5)))))", link)
        assert head.startswith(magic), (label, head)
    browser.save_screenshot(str(shots / "generate-result-in-view.png"))
    screenshot(browser, shots / "generate.png")


def test_the_generate_page_shows_progress_while_composing(server, browser, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(server + "/generate")
    Select(browser.find_element(By.ID, "genre")).select_by_value("base")
    notes = browser.find_element(By.ID, "n_notes")
    notes.clear()
    notes.send_keys("2000")  # the navigation is stopped below: the page is seen as its handler leaves it
    # The page's own submit handler runs first; the test stops the navigation to look at the page as it then is.
    browser.execute_script("document.getElementById('generate-form')"
                           ".addEventListener('submit', e => e.preventDefault())")
    browser.find_element(By.ID, "compose").click()
    assert browser.find_element(By.ID, "progress").is_displayed()
    assert "Composing" in browser.find_element(By.ID, "compose").text
    assert not browser.find_element(By.ID, "compose").is_enabled(), "one click, one piece"
    browser.save_screenshot(str(shots / "generate-progress.png"))


def test_a_refused_name_shows_the_slug_to_use(server, browser, shots, tmp_path):
    """"Folk Songs" was refused without a word of what would do; the page says what a genre needs."""
    from selenium.webdriver.common.by import By

    browser.get(server + "/collections")
    facts = browser.find_element(By.ID, "what-it-needs").text
    assert "at least 2 readable MIDI files" in facts and "lowercase slug" in facts
    assert "base (6 files) trained in" in facts, "how long training took here, measured"
    browser.find_element(By.ID, "name").send_keys("Folk Songs")
    browser.find_element(By.ID, "files").send_keys(str(write_tune(tmp_path / "t.mid")))
    submit(browser, "form.collection button[type=submit]")
    assert "try 'folk-songs'" in browser.find_element(By.ID, "name-error").text
    browser.find_element(By.ID, "name-suggestion").click()
    assert browser.find_element(By.ID, "name").get_attribute("value") == "folk-songs"
    screenshot(browser, shots / "collection-suggestion.png")


def test_remove_a_genre_from_the_pages(server, browser, shots, trained_project):
    """A finished genre (reels, uploaded above) is removed from the home page after a confirmation: gone from the
    pages, the project's files and DVC's records, and its job off the list."""
    import yaml
    from selenium.webdriver.common.by import By

    browser.get(server + "/")
    job_link = browser.find_element(By.CSS_SELECTOR, "#jobs a").get_attribute("href")
    browser.find_element(By.ID, "remove-reels").click()
    assert "Remove genre reels?" in browser.find_element(By.TAG_NAME, "h1").text
    screenshot(browser, shots / "remove-genre-confirm.png")
    submit(browser, "#confirm-remove")
    assert browser.current_url.rstrip("/") == server
    assert not browser.find_elements(By.ID, "genre-reels")
    assert "reels" not in (browser.find_elements(By.ID, "jobs")[0].text if browser.find_elements(By.ID, "jobs") else "")
    screenshot(browser, shots / "home-after-remove.png")
    assert "reels" not in (yaml.safe_load((trained_project / "app_genres.yaml").read_text())["genres"] or {})
    assert not (trained_project / "collections" / "reels").exists()
    assert not [s for s in yaml.safe_load((trained_project / "dvc.lock").read_text())["stages"] if s.endswith("@reels")]
    assert "/reels" not in (trained_project / "data/raw/.gitignore").read_text().splitlines()
    browser.get(job_link)
    assert "404" in browser.title, "its job went with it"


# Three genres' figures as evaluate leaves them: the network clearly ahead of counting, level with it, behind it.
THREE = {"celtic": (4.3756, 4.3844, 0.60), "classical": (3.1, 4.9, 0.55), "folk": (5.6, 5.2, 0.41)}


@pytest.fixture(scope="module")
def three_genres(tmp_path_factory):
    """The app on a project whose three genres look trained (figures, three rendered samples each, no training) and
    with one queued job; served by Werkzeug in a thread, since no job runs."""
    import yaml
    from werkzeug.serving import make_server

    from jukebox import render
    from jukebox.web import create_app

    need(render.audio_tools() is not None, "FluidSynth and a General MIDI SoundFont")
    project = tmp_path_factory.mktemp("three-genres")
    for name in ("params.yaml", "app_genres.yaml", "dvc.yaml"):
        shutil.copy(ROOT / name, project / name)
    sample = write_tune(tmp_path_factory.mktemp("sample") / "sample_01.mid", 0, repeats=4)
    rendered = render.render_sample(sample, 40, 132.0)
    stages = {}
    for genre, (ppl, ngram, accuracy) in THREE.items():
        (project / "models" / genre).mkdir(parents=True)
        (project / "models" / genre / "model.keras").touch()
        out, metrics = project / "data" / "generated" / genre, project / "metrics" / genre
        shutil.copytree(sample.parent, out)
        records = [{"name": f"sample_0{i}", "file": "sample_01.mid", **rendered} for i in (1, 2, 3)]
        (out / "samples.json").write_text(json.dumps(records))
        (metrics / "train").mkdir(parents=True)
        (metrics / "data.json").write_text(json.dumps({"files": 400, "notes": 87849, "unique_notes": 242}))
        (metrics / "train" / "metrics.json").write_text(json.dumps({"epochs": 8, "train_seconds": 166.2}))
        (metrics / "evaluate.json").write_text(json.dumps({"model": {"perplexity": ppl, "top1_accuracy": accuracy},
                                                           "baselines": {"ngram_perplexity": ngram, "ngram_n": 3}}))
        stages.update({f"train@{genre}": {}, f"generate@{genre}": {}})
    (project / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": stages}))
    app = create_app({"PROJECT": str(project)})
    app.extensions["jukebox"].jobs.submit("reels")  # queued for good: no worker runs here
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_the_home_page_shows_three_genres_compactly_in_words(three_genres, browser, shots):
    """It was 7,651 px tall with three genres, its jobs at the bottom and its figures unexplained."""
    from selenium.webdriver.common.by import By

    browser.set_window_size(1280, 900)
    browser.get(three_genres + "/")
    wait_until(browser, MEDIA_LOADED)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    assert height < 1600, f"the home page is {height} px tall with three genres"
    words = {genre: browser.find_element(By.ID, f"genre-{genre}").text for genre in THREE}
    assert "Predicts the next note better than counting: barely (perplexity 4.38 vs 4.38" in words["celtic"]
    assert "better than counting: yes (perplexity 3.10 vs 4.90" in words["classical"]
    assert "better than counting: no (perplexity 5.60 vs 5.20" in words["folk"]
    assert "Learned from 400 MIDI files: 87,849 notes" in words["celtic"] and "right 41% of the time" in words["folk"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#genre-folk audio")) == 3
    jobs = browser.find_element(By.ID, "jobs")
    assert "reels" in jobs.text and "queued" in jobs.text
    assert jobs.location["y"] + jobs.size["height"] < 900, "the jobs are seen without scrolling"
    screenshot(browser, shots / "home-three-genres.png")


def test_a_job_with_no_worker_says_so(three_genres, browser, shots):
    """A job with no worker running said "queued" forever."""
    from selenium.webdriver.common.by import By

    browser.get(three_genres + "/")
    browser.find_element(By.CSS_SELECTOR, "#jobs a").click()
    wait_until(browser, "return document.getElementById('message').textContent.includes('no worker is running')",
               timeout=30)
    assert "jukebox worker" in browser.find_element(By.ID, "message").text
    assert browser.find_element(By.ID, "status").text == "queued"
    screenshot(browser, shots / "job-no-worker.png")


@pytest.fixture(scope="module")
def fine_tuning(tmp_path_factory):
    """The app on a project whose base is trained (corpus.json) and measured collection sizes, with one uploaded
    collection of five files whose job is in training; its losses are dvclive TSVs the test writes. Werkzeug in a
    thread: no worker runs, the test moves the job itself."""
    import yaml
    from werkzeug.serving import make_server

    from jukebox.layout import Layout
    from jukebox.web import create_app

    project = tmp_path_factory.mktemp("fine-tuning")
    for name in ("app_genres.yaml", "dvc.yaml"):
        shutil.copy(ROOT / name, project / name)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.update(init="base", vocabulary="fixed", encoding="rhythm", finetune_epochs=8)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    layout = Layout.of(project)
    layout.base_metrics.mkdir(parents=True)
    (layout.base_metrics / "corpus.json").write_text(json.dumps({"trained": True, "pieces": 13912, "excluded": 12}))
    for i in range(5):
        write_tune(layout.collection("reels") / f"reel_{i}.mid", i)
    sizes = project / "collection_sizes.json"
    measured = [{"files": files, "init": init, "first_sample_s": seconds, "total_s": 2 * seconds,
                 "perplexity_ratio": ratio, "classifier_accuracy": accuracy, "low": accuracy - 0.1,
                 "high": min(accuracy + 0.1, 1.0), "copy_rate": copied, "held_out_copy_rate": 0.2}
                for files, init, seconds, ratio, accuracy, copied in [
                    (5, "base", 41.0, 0.81, 0.83, 0.6), (5, "scratch", 95.0, 1.31, 0.97, 0.7),
                    (20, "base", 52.0, 0.47, 0.64, 0.1), (20, "scratch", 190.0, 0.71, 0.8, 0.3),
                    (100, "base", 120.0, 0.41, 0.58, 0.05), (100, "scratch", 400.0, 0.52, 0.7, 0.1)]]
    sizes.write_text(json.dumps({"collection": "trecento", "cores": 2, "runs": measured}))
    app = create_app({"PROJECT": str(project), "COLLECTION_SIZES": str(sizes)})
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app.extensions["jukebox"].jobs, project
    server.shutdown()


def _epochs_done(project: Path, jobs, record: dict, losses: list[float], val_losses: list[float]) -> None:
    """The train stage finished len(losses) epochs: dvclive's TSVs, and the record as the worker refreshes it."""
    from jukebox.layout import Layout
    from jukebox.web.jobs import training_progress

    plots = Layout.of(project).train_metrics(record["genre"]) / "plots" / "metrics"
    for folder, values in (("train", losses), ("eval", val_losses)):
        (plots / folder).mkdir(parents=True, exist_ok=True)
        (plots / folder / "loss.tsv").write_text("step\tloss\n" + "".join(f"{i}\t{v}\n" for i, v in enumerate(values)))
    record.update(status="running", stage="train", heartbeat=time.time(),
                  progress=training_progress(project, record["genre"]))
    jobs._save(record)


POINTS = "return document.getElementById('{}').getAttribute('points').trim().split(/\\s+/).filter(Boolean).length"


def test_the_job_page_draws_the_fine_tuning_curve_as_it_grows(fine_tuning, browser, shots):
    """The job page showed the latest loss alone, and did not say whether the model started from the base."""
    from selenium.webdriver.common.by import By

    url, jobs, project = fine_tuning
    record = jobs.submit("reels")
    _epochs_done(project, jobs, record, [3.2, 2.6], [3.4, 2.9])
    browser.set_window_size(1280, 1000)
    browser.get(f"{url}/jobs/{record['id']}")
    curve = browser.find_element(By.ID, "curve")
    assert curve.is_displayed() and curve.size["width"] > 300
    assert browser.execute_script(POINTS.format("curve-loss")) == 2  # drawn by the server: two epochs
    assert browser.find_element(By.ID, "curve-epochs").text == "8"  # the x axis spans finetune_epochs
    start = browser.find_element(By.ID, "starting-point").text
    assert "Fine-tuned from the base model, which learned from 13,900 pieces of music" in start
    expected = browser.find_element(By.ID, "expectation").text
    assert "With 5 files: a collection of 5 files of trecento, learned from the base model" in expected
    assert "mostly learns them by heart" in expected
    # Two more epochs, val_loss rising again: job.js redraws from the API without a reload.
    browser.execute_script("window.notReloaded = true")
    _epochs_done(project, jobs, record, [3.2, 2.6, 2.3, 2.1], [3.4, 2.9, 2.8, 3.0])
    wait_until(browser, "return " + POINTS.format("curve-val-loss").removeprefix("return ") + " === 4", timeout=30)
    assert browser.execute_script("return window.notReloaded === true")
    assert browser.find_element(By.ID, "curve-high").text == "3.40" and browser.find_element(By.ID, "curve-low").text == "2.10"
    val = browser.execute_script("return document.getElementById('curve-val-loss').getAttribute('points')").split()
    heights = [float(p.split(",")[1]) for p in val]
    # SVG's y grows downwards: val_loss falling for three epochs, then rising, draws a line going down, then up.
    assert heights[0] < heights[1] < heights[2] > heights[3]
    shot = screenshot(browser, shots / "job-fine-tuning-curve.png")
    # The curve is drawn in its two colours, not left blank.
    from PIL import Image

    colours = {c for _, c in Image.open(shot).convert("RGB").getcolors(maxcolors=1_000_000)}
    assert (0x1f, 0x3b, 0x63) in colours and (0xc0, 0x57, 0x1b) in colours


def test_the_collection_page_tells_what_the_number_of_files_gets(fine_tuning, browser, shots):
    from selenium.webdriver.common.by import By

    url, _, _ = fine_tuning
    browser.get(url + "/collections")
    table = browser.find_element(By.ID, "collection-sizes")
    assert table.is_displayed()
    rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert rows[0] == ["5", "41 s", "95 s", "0.81×", "1.31×", "83% (73–93%)", "97% (87–100%)"]
    assert [r[0] for r in rows] == ["5", "20", "100"]
    screenshot(browser, shots / "collection-sizes.png")


def test_the_collection_form_offers_to_keep_or_merge_the_instruments(fine_tuning, browser, shots, tmp_path):
    """An upload merged every part into one stream played on one instrument, its drums lost, and nobody was asked."""
    import yaml
    from selenium.webdriver.common.by import By

    from tests.conftest import melody_and_drums

    url, _, project = fine_tuning
    browser.get(url + "/collections")
    keep, merge = browser.find_element(By.ID, "instruments-0"), browser.find_element(By.ID, "instruments-1")
    assert keep.is_displayed() and keep.is_selected() and not merge.is_selected(), "kept unless told otherwise"
    choices = browser.find_element(By.ID, "instruments").text
    assert "keep each track's instrument" in choices and "merge all parts into one stream" in choices
    assert browser.find_element(By.ID, "drums-0").is_selected() and "drop the drums" in browser.find_element(By.ID, "drums").text
    screenshot(browser, shots / "collection-instruments.png")

    files = [melody_and_drums(tmp_path / f"song_{i}.mid", i) for i in range(2)]
    browser.find_element(By.ID, "name").send_keys("band")
    browser.find_element(By.ID, "files").send_keys("\n".join(str(f) for f in files))
    merge.click()
    submit(browser, "form.collection button[type=submit]")
    assert "/jobs/" in browser.current_url, browser.find_element(By.TAG_NAME, "main").text
    said = "Instruments merged into one stream, played on General MIDI program 0 (piano)."
    assert browser.find_element(By.ID, "instruments").text == said
    wait_until(browser, "return document.getElementById('message').textContent.includes('no worker')", timeout=30)
    assert browser.find_element(By.ID, "instruments").text == said, "job.js keeps what the page said"
    assert yaml.safe_load((project / "app_genres.yaml").read_text())["genres"]["band"]["instruments"] == "merge"
    screenshot(browser, shots / "job-instruments.png")
