"""The web scrapers against a local server that mimics Tadpole Tunes and MidiWorld; never the internet."""
from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from jukebox.params import load_params
from jukebox.scraper import Link, download_name, listing_links, scrape, site_links, url_list
from jukebox.http_session import PoliteSession, SiteUnreachable
from jukebox.http_session import Response as Fetched
from tests.conftest import ROOT, write_tune

MIDI = "audio/midi"


@pytest.fixture(scope="module")
def tunes(tmp_path_factory) -> list[bytes]:
    """Six distinct tiny MIDI files, as bytes."""
    folder = tmp_path_factory.mktemp("tunes")
    return [write_tune(folder / f"t{i}.mid", shift).read_bytes() for i, shift in enumerate([0, 2, 4, 5, 7, 9])]


@pytest.fixture(scope="module")
def server():
    # Threaded, so a handler that sleeps (the read-timeout case) does not hold up the next request.
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    srv.start()
    yield srv
    srv.clear()
    srv.stop()


class Site:
    """A fake web site: each path answers with its responses in turn (the last repeats); hits are counted."""

    def __init__(self, server: HTTPServer):
        self.server, self.routes, self.hits = server, {}, Counter()
        server.clear()
        server.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    def add(self, path: str, *responses) -> None:
        self.routes[path] = list(responses)

    def page(self, path: str, html: str) -> None:
        self.add(path, Response(html, content_type="text/html"))

    def midi(self, path: str, data: bytes, **headers) -> None:
        self.add(path, Response(data, content_type=MIDI, headers=headers))

    def handle(self, request: Request) -> Response:
        path = request.full_path.rstrip("?")
        self.hits[path] += 1
        answers = self.routes.get(path)
        if not answers:
            return Response("not found", status=404)
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return answer(request) if callable(answer) and not isinstance(answer, Response) else answer


@pytest.fixture
def site(server) -> Site:
    return Site(server)


def session(**overrides) -> PoliteSession:
    """A session for tests: no delay and no backoff, short timeouts."""
    return PoliteSession(**{"delay": 0, "retries": 2, "backoff": 0, "timeout": (2, 2), **overrides})


def run(links, tmp_path: Path, polite: PoliteSession | None = None, max_pieces=0, max_bytes=100_000) -> list[dict]:
    return list(scrape(links, polite or session(), tmp_path / "raw", tmp_path / "cache", max_pieces, max_bytes))


def by_status(records: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in records:
        out.setdefault(r["status"], []).append(r)
    return out


# ---- listings ---------------------------------------------------------------------------------------


def test_tadpole_listing_reads_tune_names_and_resolves_relative_links():
    html = """<html><body><table><tr><td>
      <b><a href="silver.mid">The Silver Spear</a></b><br>
      <a href="DROWSY.MID"><b>Drowsy Maggie</b></a><br>
      <b><a href="http://www.tadpoletunes.com/tunes/celtic1/kesh.mid">The Kesh</a></b>
      <b><a href="silver.mid#top">The Silver Spear</a></b>
      <a href="../index.htm">Home</a> <a href="mailto:x@y">mail</a> <a href="tune.abc">ABC</a>
    </td></tr></table></body></html>"""
    links, pages = listing_links(html, "http://www.tadpoletunes.com/tunes/celtic1/celtic.htm", "tadpoletunes")
    base = "http://www.tadpoletunes.com/tunes/celtic1/"
    assert links[:3] == [Link(base + "silver.mid", "The Silver Spear"), Link(base + "DROWSY.MID", "Drowsy Maggie"),
                         Link(base + "kesh.mid", "The Kesh")]
    assert links[3].url == base + "silver.mid", "fragments are dropped, so the duplicate is recognisable"
    assert pages == []


def test_midiworld_listing_reads_titles_downloads_and_pager():
    html = """<div id="page"><ul><li><a href="/">Home</a></li></ul><ul>
      <li><span>Sandstorm</span> - by Darude (Dance) - <a href="https://www.midiworld.com/download/4111">download</a></li>
      <li>Children - by Robert Miles (Dance) - <a href="/download/4112" target="_blank">download</a></li>
      <li><a href="/midis/other/dance/blue.mid">Blue (Da Ba Dee)</a></li>
      </ul>
      <a href="/search/2/?q=dance">2</a> <a href="/search/3/?q=dance">3</a> <a href="/search/2/?q=rock">rock</a>
      <a href="https://elsewhere.example/search/2/?q=dance">2</a></div>"""
    links, pages = listing_links(html, "https://www.midiworld.com/search/?q=dance", "midiworld")
    assert links == [Link("https://www.midiworld.com/download/4111", "Sandstorm - by Darude (Dance)"),
                     Link("https://www.midiworld.com/download/4112", "Children - by Robert Miles (Dance)"),
                     Link("https://www.midiworld.com/midis/other/dance/blue.mid", "Blue (Da Ba Dee)")]
    assert pages == ["https://www.midiworld.com/search/2/?q=dance", "https://www.midiworld.com/search/3/?q=dance"]


def test_url_list_skips_comments_and_duplicates_and_rejects_non_urls(tmp_path):
    good = tmp_path / "game.txt"
    good.write_text("# a comment\n\nhttps://x.org/a/Eyes%20On%20Me.mid\n  https://x.org/a/b.MID  \nhttps://x.org/a/b.MID\n")
    assert url_list(good) == [Link("https://x.org/a/Eyes%20On%20Me.mid", "Eyes On Me"), Link("https://x.org/a/b.MID", "b")]
    bad = tmp_path / "bad.txt"
    bad.write_text("https://x.org/a.mid\n/etc/passwd\n")
    with pytest.raises(ValueError, match=r"bad.txt:2"):
        url_list(bad)
    with pytest.raises(FileNotFoundError, match="urls_file"):
        url_list(tmp_path / "missing.txt")


def test_the_2018_table_names_the_talks_sources():
    table = load_params(ROOT / "params.yaml").genres_2018
    assert {n: g.source for n, g in table.items()} == {"celtic": "web", "dance": "web", "classical": "web", "game": "urls"}
    assert table["celtic"].site == "tadpoletunes" and len(table["celtic"].listing) == 3
    assert table["dance"].site == "midiworld" and table["dance"].max_pieces == 200
    assert len(url_list(ROOT / table["game"].urls_file)) == 92


# ---- whole sites ------------------------------------------------------------------------------------


def test_tadpole_site_three_index_pages_duplicates_once(site, tunes, tmp_path):
    site.page("/tunes/celtic1/celtic.htm", '<b><a href="a.mid">Reel A</a></b> <b><a href="b.mid">Jig B</a></b>')
    site.page("/tunes/celtic2/celtic2.htm", f'<b><a href="{site.url("/tunes/celtic2/c.MID")}">Air C</a></b>'
                                            '<b><a href="../celtic1/a.mid">Reel A</a></b>')
    site.page("/tunes/celtic3/celtic3.htm", '<b><a href="d.mid">Reel A</a></b>')
    for path, data in [("/tunes/celtic1/a.mid", tunes[0]), ("/tunes/celtic1/b.mid", tunes[1]),
                       ("/tunes/celtic2/c.MID", tunes[2]), ("/tunes/celtic3/d.mid", tunes[0])]:
        site.midi(path, data)
    listing = [site.url(f"/tunes/celtic{i}/celtic{'' if i == 1 else i}.htm") for i in (1, 2, 3)]
    polite = session()
    records = run(site_links(polite, "tadpoletunes", listing, 100_000), tmp_path, polite)
    statuses = by_status(records)
    assert [r["file"] for r in statuses["kept"]] == ["Reel_A.mid", "Jig_B.mid", "Air_C.mid"]
    assert statuses["duplicate"][0]["url"].endswith("/celtic3/d.mid")
    assert statuses["duplicate"][0]["duplicate_of"] == "Reel_A.mid", "same bytes under another URL are kept once"
    assert site.hits["/tunes/celtic1/a.mid"] == 1, "a link listed twice is fetched once"
    assert (tmp_path / "raw/Jig_B.mid").read_bytes() == tunes[1]


def test_midiworld_follows_pages_and_names_files_from_content_disposition(site, tunes, tmp_path):
    site.page("/search/?q=dance", f"""<ul><li>Song One - by DJ A (Dance) - <a href="{site.url('/download/1')}">download</a></li>
        <li>Song Two - by DJ B (Dance) - <a href="/download/2">download</a></li></ul>
        <a href="/search/2/?q=dance">2</a>""")
    site.page("/search/2/?q=dance", """<ul><li>Song Three - by DJ C (Dance) - <a href="/download/3">download</a></li>
        <li><a href="/midis/dance/four.mid">Old Four</a></li></ul>
        <a href="/search/?q=dance">1</a> <a href="/search/3/?q=dance" rel="next">next</a>""")
    site.page("/search/3/?q=dance", "<p>found nothing!</p>")
    site.midi("/download/1", tunes[0], **{"Content-Disposition": 'attachment; filename="DJ_A_-_Song_One.mid"'})
    site.midi("/download/2", tunes[1])
    site.midi("/download/3", tunes[2], **{"Content-Disposition": "attachment; filename*=UTF-8''Caf%C3%A9%20Three.mid"})
    site.midi("/midis/dance/four.mid", tunes[3])
    polite = session()
    records = run(site_links(polite, "midiworld", [site.url("/search/?q=dance")], 100_000), tmp_path, polite)
    assert [r["file"] for r in records] == ["DJ_A_-_Song_One.mid", "Song_Two_-_by_DJ_B_Dance.mid", "Cafe_Three.mid",
                                            "Old_Four.mid"]
    assert all(r["status"] == "kept" for r in records)
    assert site.hits["/search/?q=dance"] == 1 and site.hits["/search/3/?q=dance"] == 1


def test_max_pieces_stops_before_fetching_more(site, tunes, tmp_path):
    site.page("/search/?q=x", "".join(f'<li>T{i} - <a href="/download/{i}">download</a></li>' for i in range(5))
              + '<a href="/search/2/?q=x">2</a>')
    for i in range(5):
        site.midi(f"/download/{i}", tunes[i])
    polite = session()
    records = run(site_links(polite, "midiworld", [site.url("/search/?q=x")], 100_000), tmp_path, polite, max_pieces=2)
    assert [r["status"] for r in records] == ["kept", "kept"]
    assert site.hits["/download/2"] == 0 and site.hits["/search/2/?q=x"] == 0


# ---- failures ---------------------------------------------------------------------------------------


def test_http_errors_are_recorded_and_the_genre_goes_on(site, tunes, tmp_path):
    site.add("/404.mid", Response("gone", status=404))
    site.add("/flaky.mid", Response("oops", status=500), Response(tunes[0], content_type=MIDI))
    site.add("/down.mid", Response("oops", status=503))
    site.page("/page.mid", "<!DOCTYPE html><html><body>Please log in</body></html>")
    site.midi("/huge.mid", b"MThd" + bytes(5000))
    site.midi("/ok.mid", tunes[1])
    links = [Link(site.url(p)) for p in ("/404.mid", "/flaky.mid", "/down.mid", "/page.mid", "/huge.mid", "/ok.mid")]
    records = run(links, tmp_path, max_bytes=2000)
    reasons = {r["url"].rsplit("/", 1)[1]: (r["status"], r.get("reason", "")) for r in records}
    assert reasons["404.mid"] == ("failed", "HTTP 404")
    assert reasons["flaky.mid"][0] == "kept" and site.hits["/flaky.mid"] == 2, "a 500 is retried"
    assert reasons["down.mid"] == ("failed", "HTTP 503 after retries") and site.hits["/down.mid"] == 3
    assert reasons["page.mid"] == ("rejected", "not a MIDI file: an HTML page")
    assert reasons["huge.mid"][0] == "rejected" and "max_bytes 2000" in reasons["huge.mid"][1]
    assert reasons["ok.mid"][0] == "kept"
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["flaky.mid", "ok.mid"]


def test_429_waits_as_long_as_retry_after_says(site, tunes, tmp_path):
    site.add("/busy.mid", Response("slow down", status=429, headers={"Retry-After": "1"}),
             Response(tunes[0], content_type=MIDI))
    started = time.monotonic()
    records = run([Link(site.url("/busy.mid"))], tmp_path)
    assert records[0]["status"] == "kept" and site.hits["/busy.mid"] == 2
    assert time.monotonic() - started >= 1.0, "backoff is 0 in tests, so only Retry-After can explain the wait"


def test_read_timeout_fails_one_file_only(site, tunes, tmp_path):
    def stall(request):
        time.sleep(1.0)
        return Response(tunes[0], content_type=MIDI)

    site.add("/stalls.mid", stall)
    site.midi("/fine.mid", tunes[1])
    records = run([Link(site.url("/stalls.mid")), Link(site.url("/fine.mid"))], tmp_path,
                  session(retries=1, timeout=(2, 0.25)))
    assert records[0]["status"] == "failed" and records[0]["reason"].startswith("timed out")
    assert site.hits["/stalls.mid"] == 2, "a read timeout is retried"
    assert records[1]["status"] == "kept"


def test_a_host_that_keeps_failing_is_declared_unreachable(site, tunes, tmp_path):
    def stall(request):
        time.sleep(0.5)
        return Response(b"", content_type=MIDI)

    for i in range(8):
        site.add(f"/s{i}.mid", stall)
    with pytest.raises(SiteUnreachable, match="failed 5 times in a row"):
        run([Link(site.url(f"/s{i}.mid")) for i in range(8)], tmp_path, session(retries=0, timeout=(2, 0.1)))
    assert sum(site.hits[f"/s{i}.mid"] for i in range(8)) == 5


def test_robots_txt_disallowed_paths_are_never_requested(site, tunes, tmp_path):
    site.add("/robots.txt", Response("User-agent: *\nDisallow: /private/\n", content_type="text/plain"))
    site.midi("/private/secret.mid", tunes[0])
    site.midi("/public/tune.mid", tunes[1])
    records = run([Link(site.url("/private/secret.mid")), Link(site.url("/public/tune.mid"))], tmp_path)
    assert records[0] == {"url": site.url("/private/secret.mid"), "piece": "", "status": "rejected",
                          "reason": "robots.txt disallows it"}
    assert records[1]["status"] == "kept"
    assert site.hits["/private/secret.mid"] == 0 and site.hits["/robots.txt"] == 1


def test_user_agent_names_the_project(site, tunes, tmp_path):
    seen = []

    def remember(request):
        seen.append(request.headers.get("User-Agent", ""))
        return Response(tunes[0], content_type=MIDI)

    site.add("/ua.mid", remember)
    run([Link(site.url("/ua.mid"))], tmp_path)
    assert seen[0].startswith("ai-jukebox/") and "+http" in seen[0]


def test_an_unreachable_site_ends_with_one_error_naming_the_url(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    listing = [f"http://127.0.0.1:{port}/tunes/celtic1/celtic.htm"]
    with pytest.raises(SiteUnreachable, match=rf"http://127.0.0.1:{port}/robots.txt: network error"):
        list(site_links(session(retries=0), "tadpoletunes", listing, 100_000))


def test_delay_spaces_requests_to_one_host(site, tunes, tmp_path):
    for i in range(3):
        site.midi(f"/d{i}.mid", tunes[i])
    started = time.monotonic()
    run([Link(site.url(f"/d{i}.mid")) for i in range(3)], tmp_path, session(delay=0.2))
    assert time.monotonic() - started >= 0.6, "robots.txt then three files: three pauses of 0.2 s"


# ---- zips and names ---------------------------------------------------------------------------------


def test_zip_members_are_read_safely(site, tunes, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("Set/Good Reel.mid", tunes[0])
        z.writestr("../escape.mid", tunes[1])
        z.writestr("/etc/absolute.mid", tunes[2])
        z.writestr("inner.zip", b"PK\x03\x04 nested")
        z.writestr("readme.txt", "hello")
        z.writestr("fake.mid", "<html>no</html>")
        z.writestr("big.mid", b"MThd" + bytes(5000))  # deflates to a few bytes: the cap applies to the member
    assert len(buffer.getvalue()) < 3000
    site.add("/set.zip", Response(buffer.getvalue(), content_type="application/zip"))
    records = run([Link(site.url("/set.zip"), "A set")], tmp_path, max_bytes=3000)
    verdicts = {r["member"]: (r["status"], r.get("reason", "")) for r in records}
    assert verdicts == {
        "Set/Good Reel.mid": ("kept", ""),
        "../escape.mid": ("rejected", "unsafe path in zip"),
        "/etc/absolute.mid": ("rejected", "unsafe path in zip"),
        "inner.zip": ("rejected", "nested zip not opened"),
        "readme.txt": ("rejected", "not a MIDI member"),
        "fake.mid": ("rejected", "not a MIDI file: an HTML page"),
        "big.mid": ("rejected", "too large: 5004 bytes > max_bytes 3000"),
    }
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.mid"))
    assert written == ["raw/Good_Reel.mid"], "nothing lands outside the genre folder"


@pytest.mark.parametrize("disposition, title, expected", [
    ('attachment; filename="../../etc/passwd.mid"', "", "passwd.mid"),
    ('attachment; filename="..\\\\..\\\\win.ini.mid"', "", "win.ini.mid"),
    ("attachment; filename*=UTF-8''%2E%2E%2Fsecret%0A%07bell.mid", "", "secret_bell.mid"),
    ("", "Tune/With\\Slashes: and \x00 nulls", "Tune_With_Slashes_and_nulls.mid"),
    ("", "..", "untitled.mid"),
    ("", "x" * 300, "x" * 80 + ".mid"),
])
def test_hostile_names_become_safe_file_names(site, tunes, tmp_path, disposition, title, expected):
    headers = {"Content-Disposition": disposition} if disposition else {}
    site.midi("/download/7", tunes[0], **headers)
    records = run([Link(site.url("/download/7"), title)], tmp_path)
    assert records[0]["file"] == expected
    assert [p.name for p in (tmp_path / "raw").iterdir()] == [expected]


def test_download_name_prefers_content_disposition_then_title_then_url():
    link = Link("https://x.org/midis/abbey_reel.mid", "The Abbey Reel")
    assert download_name(Fetched(link.url, 200, b"", content_disposition='inline; filename="Abbey.mid"'), link) == "Abbey"
    assert download_name(Fetched(link.url, 200, b""), link) == "The Abbey Reel"
    assert download_name(Fetched(link.url, 200, b""), Link(link.url)) == "abbey_reel"


def test_same_names_get_numbered_in_listing_order(site, tunes, tmp_path):
    for i in range(3):
        site.midi(f"/t{i}.mid", tunes[i])
    records = run([Link(site.url(f"/t{i}.mid"), "Reel") for i in range(3)], tmp_path)
    assert [r["file"] for r in records] == ["Reel.mid", "Reel-2.mid", "Reel-3.mid"]


# ---- resumption -------------------------------------------------------------------------------------


class Interrupted(PoliteSession):
    """A session whose user presses Ctrl-C before its nth fetch of a MIDI file."""

    def __init__(self, at: int, **kw):
        super().__init__(**kw)
        self.at, self.midi_fetches = at, 0

    def fetch(self, url, max_bytes=None):
        if url.endswith(".mid"):
            self.midi_fetches += 1
            if self.midi_fetches == self.at:
                raise KeyboardInterrupt
        return super().fetch(url, max_bytes)


def test_an_interrupted_run_resumes_without_fetching_twice(site, tunes, tmp_path):
    site.page("/tunes/celtic1/celtic.htm", "".join(f'<b><a href="t{i}.mid">Tune {i}</a></b>' for i in range(6)))
    for i in range(6):
        site.midi(f"/tunes/celtic1/t{i}.mid", tunes[i])
    listing = [site.url("/tunes/celtic1/celtic.htm")]
    first = Interrupted(at=4, delay=0, retries=0, backoff=0)
    with pytest.raises(KeyboardInterrupt):
        run(site_links(first, "tadpoletunes", listing, 100_000), tmp_path, first)
    assert len(list((tmp_path / "raw").glob("*.mid"))) == 3
    assert not list(tmp_path.rglob("*.partial")), "no half-written file is left behind"
    polite = session()
    records = run(site_links(polite, "tadpoletunes", listing, 100_000), tmp_path, polite)
    assert [r["status"] for r in records] == ["kept"] * 6
    assert all(site.hits[f"/tunes/celtic1/t{i}.mid"] == 1 for i in range(6)), site.hits
    fresh = run([Link(r["url"], r["piece"]) for r in records], tmp_path / "fresh")
    assert [(r["file"], r["sha256"]) for r in fresh] == [(r["file"], r["sha256"]) for r in records], \
        "a resumed run names files exactly as an uninterrupted one"


def test_a_damaged_cache_entry_is_fetched_again(site, tunes, tmp_path):
    site.midi("/c.mid", tunes[0])
    run([Link(site.url("/c.mid"))], tmp_path)
    for body in (tmp_path / "cache").glob("*.body"):
        body.write_bytes(b"MThd truncated")
    records = run([Link(site.url("/c.mid"))], tmp_path / "again") + run([Link(site.url("/c.mid"))], tmp_path)
    assert records[-1]["sha256"] == records[0]["sha256"] and site.hits["/c.mid"] == 3


# ---- the stage --------------------------------------------------------------------------------------


def write_params(folder: Path, genre: dict, **extra) -> None:
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.update({"request_delay": 0.0, **extra})
    params["genres"] = {"celtic": genre}
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_stage_writes_the_manifest_with_counts(site, tunes, tmp_path, monkeypatch):
    from stages import scrape as stage

    site.page("/tunes/celtic1/celtic.htm", '<b><a href="a.mid">A</a></b><b><a href="gone.mid">Gone</a></b>'
                                           '<b><a href="b.mid">B</a></b>')
    site.midi("/tunes/celtic1/a.mid", tunes[0])
    site.midi("/tunes/celtic1/b.mid", tunes[0])
    write_params(tmp_path, {"source": "web", "site": "tadpoletunes", "listing": [site.url("/tunes/celtic1/celtic.htm")]})
    monkeypatch.chdir(tmp_path)
    stage.main("celtic")
    manifest = json.loads((tmp_path / "data/raw/celtic/manifest.json").read_text())
    assert (manifest["kept"], manifest["skipped"]) == (1, 2)
    assert manifest["counts"] == {"kept": 1, "failed": 1, "duplicate": 1} and manifest["stopped"] == ""
    assert {"url", "piece", "file", "sha256", "bytes", "status"} <= set(manifest["files"][0])
    assert list((tmp_path / "data/downloads").glob("*.body")), "downloads are cached outside the DVC output"


def test_stage_scrapes_a_url_list(site, tunes, tmp_path, monkeypatch):
    from stages import scrape as stage

    site.midi("/game/Eyes On Me.mid", tunes[0])  # the server sees the path decoded
    site.midi("/game/battle.mid", tunes[1])
    (tmp_path / "game.txt").write_text(f"# game\n{site.url('/game/Eyes%20On%20Me.mid')}\n{site.url('/game/battle.mid')}\n")
    write_params(tmp_path, {"source": "urls", "urls_file": "game.txt"})
    monkeypatch.chdir(tmp_path)
    stage.main("celtic")
    manifest = json.loads((tmp_path / "data/raw/celtic/manifest.json").read_text())
    assert [r.get("file", r.get("reason")) for r in manifest["files"]] == ["Eyes_On_Me.mid", "battle.mid"]


def test_stage_says_when_a_listing_has_no_midi_links(site, tmp_path, monkeypatch):
    from stages import scrape as stage

    site.page("/tunes/celtic1/celtic.htm", "<p>This site has moved.</p>")
    write_params(tmp_path, {"source": "web", "site": "tadpoletunes", "listing": [site.url("/tunes/celtic1/celtic.htm")]})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="no MIDI links found on the tadpoletunes listing pages"):
        stage.main("celtic")


def test_stage_names_the_unreachable_url_and_the_offline_way(tmp_path, monkeypatch):
    from stages import scrape as stage

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/tunes/celtic1/celtic.htm"
    write_params(tmp_path, {"source": "web", "site": "tadpoletunes", "listing": [url]})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(stage, "PoliteSession", lambda delay: session(retries=0))
    with pytest.raises(SystemExit) as exc:
        stage.main("celtic")
    message = str(exc.value)
    assert f"cannot reach http://127.0.0.1:{port}/robots.txt" in message
    assert "offline" in message and "corpus or local" in message


@pytest.mark.slow
def test_the_pipeline_runs_on_a_genre_scraped_from_the_local_server(site, tunes, tmp_path):
    """dvc exp run -S 'genres=${genres_2018}' in a copy of the project, the 2018 table pointing at the local server."""
    import yaml

    from tests.conftest import copy_project

    site.page("/tunes/celtic1/celtic.htm", "".join(f'<b><a href="t{i}.mid">Tune {i}</a></b>' for i in range(6)))
    for i in range(6):
        site.midi(f"/tunes/celtic1/t{i}.mid", tunes[i])
    (tmp_path / "project").mkdir()
    project = copy_project(tmp_path / "project")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params.update(seq_len=8, units=8, embedding_dim=8, epochs=1, windows_per_epoch=64, val_windows=16, batch_size=16,
                  n_notes=16, n_samples=1, eval_samples=0, val_fraction=0.3, patience=1, jobs=1, request_delay=0.0)
    params["genres_2018"] = {"celtic": {"source": "web", "site": "tadpoletunes",
                                        "listing": [site.url("/tunes/celtic1/celtic.htm")]}}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "tiny"], cwd=project, check=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["dvc", "exp", "run", "-S", "genres=${genres_2018}"], cwd=project, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((project / "data/raw/celtic/manifest.json").read_text())
    assert manifest["source"] == "web" and manifest["kept"] == 6
    data = json.loads((project / "metrics/celtic/data.json").read_text())
    assert data["files"] == 6 and data["notes"] > 0
    assert len(list((project / "data/generated/celtic").glob("*.mid"))) == 1
    assert not (project / "data/raw/folk").exists(), "the offline genres are not run after the switch"
