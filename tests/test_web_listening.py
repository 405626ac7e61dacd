"""The listening test in the web app: the pages (Flask's client), a real browser session with screenshots, and
answers that survive a SIGKILL of `jukebox serve`."""
from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from jukebox.layout import Layout
from jukebox.votes import VoteStore, sqlite_url
from tests.conftest import need
from tests.listening_project import GENRE, PAIRS, listening_project
from tests.test_web_browser import CHROMEDRIVER, CHROMIUM, free_port

pytestmark = pytest.mark.slow
SHOTS = Path(os.environ.get("JUKEBOX_SCREENSHOTS") or "/tmp/i32-shots")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    import shutil

    need(shutil.which("fluidsynth") is not None, "fluidsynth")
    return listening_project(tmp_path_factory.mktemp("listen") / "project")


@pytest.fixture
def app(project, tmp_path):
    from jukebox.web import create_app

    app = create_app({"PROJECT": str(project), "SECRET_KEY": "test", "TESTING": True,
                      "VOTES_URL": sqlite_url(tmp_path / "votes.sqlite3")})
    return app


def _form(html: str) -> dict:
    return {"csrf_token": re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1),
            "pair": re.search(r'name="pair" value="([0-9a-f]+)"', html).group(1)}


def test_the_page_names_no_origin_and_serves_only_pool_audio(app, project):
    client = app.test_client()
    page = client.get(f"/listen/{GENRE}").get_data(as_text=True)
    pairs = json.loads((Layout.of(project).listening(GENRE) / "pairs.json").read_text())["pairs"]
    shown = re.findall(r"/audio/([0-9a-f]{16})\.flac", page)
    assert len(shown) == 2 and any(set(shown) == {p["real"], p["generated"]} for p in pairs)
    for word in ("real_from", "generated", "tune_", "seed"):
        assert word not in page
    assert client.get(f"/listen/{GENRE}/audio/{shown[0]}.flac").status_code == 200
    assert client.get(f"/listen/{GENRE}/audio/{'0' * 16}.flac").status_code == 404
    assert client.get(f"/listen/{GENRE}/pairs.json").status_code == 404
    assert client.get("/listen/nosuch").status_code == 404
    assert client.get("/listen/..%2fdata").status_code == 404


def test_one_answer_per_pair_csrf_and_the_order_stays(app):
    client = app.test_client()
    page = client.get(f"/listen/{GENRE}").get_data(as_text=True)
    again = client.get(f"/listen/{GENRE}").get_data(as_text=True)
    assert re.findall(r"/audio/(\w+)\.flac", page) == re.findall(r"/audio/(\w+)\.flac", again)  # stored order
    form = _form(page)
    assert client.post(f"/listen/{GENRE}", data={**form, "csrf_token": "", "answer": "left"}).status_code == 400
    assert client.post(f"/listen/{GENRE}", data={**form, "answer": "left", "rating_left": "4"}).status_code == 302
    second = client.post(f"/listen/{GENRE}", data={**form, "answer": "right"})
    assert "answered that pair already" in second.get_data(as_text=True)
    assert client.post(f"/listen/{GENRE}", data={**form, "answer": "middle"}).status_code == 400
    assert client.post(f"/listen/{GENRE}", data={**form, "answer": "left", "rating_left": "9"}).status_code == 400
    rows = app.extensions["jukebox_votes"].answers()
    assert [(r["answer"], r["rating_left"], r["rating_right"]) for r in rows] == [("left", 4, None)]


def test_the_server_draws_the_order_both_ways(app):
    sides = set()
    for _ in range(40):  # 40 new sessions: all one way has probability 2**-39
        client = app.test_client()
        client.get(f"/listen/{GENRE}")
    store = app.extensions["jukebox_votes"]
    with store.engine.connect() as db:
        from jukebox.votes import served

        sides = {row.real_side for row in db.execute(served.select())}
    assert sides == {"left", "right"}


def test_a_session_answering_too_fast_is_stopped(app, monkeypatch):
    from jukebox.web import listening

    monkeypatch.setattr(listening, "RATE_ANSWERS", 3)
    client = app.test_client()
    codes = []
    for _ in range(4):
        form = _form(client.get(f"/listen/{GENRE}").get_data(as_text=True))
        codes.append(client.post(f"/listen/{GENRE}", data={**form, "answer": "left"}).status_code)
    assert codes == [302, 302, 302, 429]


def test_answers_write_the_metrics_file_and_the_report_command_prints_it(app, project, tmp_path, capsys):
    from jukebox.cli import main

    client = app.test_client()
    for _ in range(2):
        form = _form(client.get(f"/listen/{GENRE}").get_data(as_text=True))
        client.post(f"/listen/{GENRE}", data={**form, "answer": "unsure"})
    figures = json.loads(Layout.of(project).listening_report(GENRE).read_text())
    assert (figures["answers"], figures["unsure"], figures["model_version"]) == (2, 2, "unrecorded")
    main(["--project", str(project), "listening-report", "--votes-url", sqlite_url(tmp_path / "votes.sqlite3")])
    out = capsys.readouterr().out
    assert re.search(rf"^{GENRE}\s+unrecord\s+2\s+2\s+-", out, re.M), out


def _start(project: Path, port: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "jukebox.cli", "--project", str(project), "serve", "--port",
                                str(port), "--no-worker"], stdout=open(log, "a"), stderr=subprocess.STDOUT,
                               start_new_session=True)  # its own process group: gunicorn's workers die with it
    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/listen", timeout=2)
            return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise AssertionError(f"jukebox serve did not start:\n{log.read_text()[-3000:]}")


def _report_answers(url: str) -> int:
    html = urllib.request.urlopen(url + "/listen/report", timeout=10).read().decode()
    found = re.search(r'<td class="answers">(\d+)</td>', html)
    return int(found.group(1)) if found else 0


def test_answers_survive_a_sigkill_and_a_restart(project, tmp_path):
    port, log = free_port(), tmp_path / "serve.log"
    url = f"http://127.0.0.1:{port}"
    store = VoteStore(sqlite_url(Layout.of(project).votes_db))
    before = len(store.answers())
    process = _start(project, port, log)
    try:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        for _ in range(3):
            form = _form(opener.open(f"{url}/listen/{GENRE}", timeout=10).read().decode())
            body = urllib.parse.urlencode({**form, "answer": "right", "rating_right": "2"}).encode()
            assert opener.open(f"{url}/listen/{GENRE}", body, timeout=10).status == 200  # redirected to the next
        assert _report_answers(url) == before + 3
    finally:
        # Every process of the server at once, no shutdown of any kind: what a crash or an OOM kill leaves.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
    process = _start(project, port, log)
    try:
        assert _report_answers(url) == before + 3
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)


def test_a_browser_session_answers_ten_pairs_by_keyboard_and_click(project, tmp_path):
    need(Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), "Debian chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    SHOTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    store = VoteStore(sqlite_url(Layout.of(project).votes_db))
    before = len(store.answers())
    process = _start(project, port, tmp_path / "serve.log")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,900", "--no-first-run",
                 "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(f"{url}/listen")
        driver.find_element(By.LINK_TEXT, GENRE).click()
        for i in range(10):
            assert f"{i} of {PAIRS} pairs answered" in driver.find_element(By.ID, "progress").text
            if i == 0:
                driver.save_screenshot(str(SHOTS / "listen-desktop.png"))
            if i % 2:  # half by keyboard (1 / 2 / 0), half by clicking, with a rating
                driver.find_element(By.CSS_SELECTOR, "body").send_keys("120"[i % 3])
            else:
                driver.find_element(By.CSS_SELECTOR, "input[name=rating_left][value='4']").click()
                driver.find_element(By.ID, "answer-right").click()
            WebDriverWait(driver, 30, ignored_exceptions=[StaleElementReferenceException]).until(
                expected_conditions.text_to_be_present_in_element((By.ID, "progress"), f"{i + 1} of {PAIRS}"))
        driver.set_window_size(390, 844)  # a phone
        driver.refresh()
        driver.save_screenshot(str(SHOTS / "listen-phone.png"))
        driver.get(f"{url}/listen/report")
        assert driver.find_element(By.CSS_SELECTOR, "#report td.answers").text == str(before + 10)
        driver.save_screenshot(str(SHOTS / "listen-report-phone.png"))
        driver.set_window_size(1280, 900)
        driver.refresh()
        driver.save_screenshot(str(SHOTS / "listen-report-desktop.png"))
    finally:
        driver.quit()
        process.send_signal(signal.SIGINT)
        process.wait(60)
    answers = store.answers()[before:]
    assert len(answers) == 10 and len({a["session"] for a in answers}) == 1
    assert {a["answer"] for a in answers} >= {"left", "right"}
