"""A real browser (Debian's headless Chromium through selenium) uses `jukebox serve`: upload, wait, listen, compose.

Screenshots go to a temporary folder, or to JUKEBOX_SCREENSHOTS (e.g. docs/screenshots) when it is set.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import need, write_tune

pytestmark = pytest.mark.slow

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
    browser.find_element(By.CSS_SELECTOR, "form.collection button").click()
    assert "must be a short lowercase slug" in browser.find_element(By.ID, "name-error").text
    screenshot(browser, shots / "collection.png")

    name = browser.find_element(By.ID, "name")
    name.clear()
    name.send_keys("reels")
    browser.find_element(By.ID, "files").send_keys("\n".join(str(f) for f in files))
    browser.find_element(By.CSS_SELECTOR, "form.collection button").click()
    assert "/jobs/" in browser.current_url
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
    browser.save_screenshot(str(shots / "generate-result-in-view.png"))
    screenshot(browser, shots / "generate.png")


def test_the_generate_page_shows_progress_while_composing(server, browser, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(server + "/generate")
    Select(browser.find_element(By.ID, "genre")).select_by_value("base")
    notes = browser.find_element(By.ID, "n_notes")
    notes.clear()
    notes.send_keys("2000")  # long enough to be seen composing
    # The page's own submit handler runs first; the test stops the navigation to look at the page as it then is.
    browser.execute_script("document.getElementById('generate-form')"
                           ".addEventListener('submit', e => e.preventDefault())")
    browser.find_element(By.ID, "compose").click()
    assert browser.find_element(By.ID, "progress").is_displayed()
    assert "Composing" in browser.find_element(By.ID, "compose").text
    assert not browser.find_element(By.ID, "compose").is_enabled(), "one click, one piece"
    browser.save_screenshot(str(shots / "generate-progress.png"))
