"""The web app through Flask's test client: every page and route, and every kind of bad input (no training here)."""
from __future__ import annotations

import io
import re
import stat
import zipfile
from pathlib import Path

import pytest
import yaml

from jukebox.web import create_app
from tests.conftest import copy_project, set_base_genre, write_tune

LIMITS = {"upload_max_files": 5, "upload_max_bytes": 60_000, "upload_max_ratio": 50, "generate_max_notes": 300}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the project with small upload limits and one (untrained) genre."""
    root = copy_project(tmp_path_factory.mktemp("webproject"))
    tunes = tmp_path_factory.mktemp("base-tunes")
    write_tune(tunes / "a.mid")
    set_base_genre(root, tunes, LIMITS, "web limits")
    return root


@pytest.fixture(scope="module")
def client(project):
    return create_app({"PROJECT": str(project)}).test_client()


@pytest.fixture(scope="module")
def tune(tmp_path_factory) -> bytes:
    return write_tune(tmp_path_factory.mktemp("tune") / "t.mid", 0, repeats=2).read_bytes()


def untouched(project: Path) -> None:
    """Nothing of a refused upload reached the project."""
    assert not (project / "collections").exists() or not any((project / "collections").iterdir())
    assert yaml.safe_load((project / "app_genres.yaml").read_text()) == {"genres": {}}


def post_files(client, files, name="mine", **headers):
    data = {"name": name, "files": [(io.BytesIO(content), filename) for filename, content in files]}
    return client.post("/api/collections", data=data, content_type="multipart/form-data", headers=headers)


def make_zip(members: list[tuple[str, bytes]], symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members:
            zf.writestr(name, content)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def csrf_token(client, path: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(path).get_data(as_text=True))[1]


@pytest.mark.parametrize("path, text", [("/", "Genres"), ("/generate", "No genre is trained yet"),
                                        ("/collections", "Your collection"), ("/login", "asks for no token")])
def test_pages_render(client, path, text):
    response = client.get(path)
    assert response.status_code == 200 and text in response.get_data(as_text=True)


def test_api_genres_lists_the_project_genres(client):
    genres = client.get("/api/genres").get_json()["genres"]
    assert [g["name"] for g in genres] == ["base"]
    assert genres[0]["ready"] is False and genres[0]["samples"] == []


@pytest.mark.parametrize("files, status, message", [
    ([], 400, "no files were uploaded"),
    ([("empty.mid", b"")], 400, "'empty.mid' is empty"),
    ([("song.mid", b"this is not MIDI at all")], 400, "'song.mid' is not a MIDI file"),
    ([("broken.mid", b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\xff")], 400, "'broken.mid' is not a readable"),
    ([("../evil.mid", b"x")], 400, "is not a plain file name"),
    ([("/etc/passwd", b"x")], 400, "is not a plain file name"),
    ([("bell\x07.mid", b"x")], 400, "is not a plain file name"),
])
def test_bad_files_are_refused_naming_the_field(client, project, files, status, message):
    response = post_files(client, files)
    body = response.get_json()
    assert response.status_code == status and body["field"] == "files" and message in body["error"], body
    untouched(project)


def test_a_midi_file_without_notes_is_refused(client, project, tmp_path):
    from jukebox.midi_io import notes_to_stream, write_midi

    write_midi(notes_to_stream([]), tmp_path / "silence.mid")
    body = post_files(client, [("silence.mid", (tmp_path / "silence.mid").read_bytes())]).get_json()
    assert "'silence.mid' has no notes" in body["error"]
    untouched(project)


def test_too_many_files(client, project, tune):
    response = post_files(client, [(f"t{i}.mid", tune) for i in range(LIMITS["upload_max_files"] + 1)])
    body = response.get_json()
    assert response.status_code == 413 and body["field"] == "files"
    assert body["limit"] == {"upload_max_files": 5} and "upload_max_files = 5" in body["error"]
    untouched(project)


def test_too_many_bytes_is_refused_before_the_body_is_read(client, project):
    class Unreadable(io.BytesIO):
        def read(self, *args):
            raise AssertionError("the body was read although its Content-Length is over the limit")

        readline = readinto = read

    response = client.post("/api/collections", input_stream=Unreadable(b"--x"),
                           content_type="multipart/form-data; boundary=x",
                           environ_overrides={"CONTENT_LENGTH": str(LIMITS["upload_max_bytes"] * 2)})
    body = response.get_json()
    assert response.status_code == 413 and body["field"] == "files"
    assert body["limit"] == {"upload_max_bytes": 60_000} and "upload_max_bytes = 60000" in body["error"]
    untouched(project)


def test_too_many_bytes_in_the_page_form_shows_beside_the_field(client, project, tune):
    token = csrf_token(client, "/collections")
    big = [(io.BytesIO(tune * 200), f"t{i}.mid") for i in range(3)]
    response = client.post("/collections", data={"csrf_token": token, "name": "big", "files": big},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 413
    assert re.search(r'class="field invalid">\s*<label for="files".*?upload_max_bytes = 60000', page, re.S)
    untouched(project)


@pytest.mark.parametrize("members, symlink, message", [
    ([("../../escape.mid", b"MThd")], None, "points outside the zip"),
    ([("/abs/path.mid", b"MThd")], None, "points outside the zip"),
    ([("C:/windows.mid", b"MThd")], None, "points outside the zip"),
    ([("ok.mid", b"MThd")], "link.mid", "is a symbolic link"),
    ([("inner.zip", b"PK\x03\x04")], None, "a zip inside the zip"),
    ([("sneaky.mid", make_zip([("x.mid", b"MThd")]))], None, "a zip inside the zip"),
    ([("bomb.mid", b"\0" * 50_000)], None, "zip bomb"),
    ([(f"t{i}.mid", b"MThd") for i in range(6)], None, "upload_max_files = 5"),
    ([("notes.txt", b"just text")], None, "'notes.txt' is not a MIDI file"),
])
def test_unsafe_zips_are_refused(client, project, members, symlink, message):
    response = post_files(client, [("music.zip", make_zip(members, symlink))])
    body = response.get_json()
    assert 400 <= response.status_code < 500 and body["field"] == "files" and message in body["error"], body
    untouched(project)


def test_zip_bomb_names_its_limit(client):
    body = post_files(client, [("music.zip", make_zip([("bomb.mid", b"\0" * 50_000)]))]).get_json()
    assert body["limit"] == {"upload_max_ratio": 50}


@pytest.mark.parametrize("name, status, message", [
    ("", 400, "must be a short lowercase slug"),
    ("Bad Name", 400, "must be a short lowercase slug"),
    ("../etc", 400, "must be a short lowercase slug"),
    ("x" * 40, 400, "must be a short lowercase slug"),
    ("base", 409, "exists already"),
    ("base\n", 400, "must be a short lowercase slug"),  # `$` let a trailing newline through re.match
    ("celtic\n", 400, "must be a short lowercase slug"),
])
def test_bad_genre_names(client, project, tune, name, status, message):
    response = post_files(client, [("t.mid", tune)], name=name)
    body = response.get_json()
    assert response.status_code == status and body["field"] == "name" and message in body["error"]
    untouched(project)


def test_cross_site_requests_are_refused(client, project, tune):
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site"}):
        response = post_files(client, [("t.mid", tune)], **headers)
        assert response.status_code == 403 and "cross-site" in response.get_json()["error"]
    untouched(project)
    same_origin = post_files(client, [], **{"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert same_origin.status_code == 400, "the app's own pages pass"


def test_unknown_host_is_refused(client):
    response = client.get("/", headers={"Host": "rebinding.attacker.example"})
    assert response.status_code == 400 and response.get_json()["field"] == "Host"


def test_page_forms_need_their_csrf_token(client, project, tune):
    response = client.post("/collections", data={"name": "mine", "files": [(io.BytesIO(tune), "t.mid")]},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    untouched(project)


def test_page_form_shows_the_message_next_to_the_field(client, project):
    token = csrf_token(client, "/collections")
    response = client.post("/collections", data={"csrf_token": token, "name": "Bad Name", "files": []},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(r'class="field invalid">\s*<label for="name".*?<p class="error" id="name-error">must be a short',
                     page, re.S)
    untouched(project)


def test_generate_refuses_an_unknown_genre(client):
    response = client.post("/api/generate", json={"genre": "jazz"})
    body = response.get_json()
    assert response.status_code == 404 and body["field"] == "genre" and "'jazz'" in body["error"]


def test_jobs_api_unknown_job(client):
    assert client.get("/api/jobs/0123456789ab").status_code == 404
    assert client.get("/api/jobs/../../etc").status_code == 404
    assert client.post("/api/jobs/0123456789ab/cancel").status_code == 404
    assert client.get("/jobs/0123456789ab").status_code == 404


def test_upload_queues_a_job_and_cancel_removes_the_genre(client, project, tune):
    """No worker runs here: the job waits in the queue; content decides MIDI, names are made safe."""
    response = post_files(client, [("Süße Melodie (1).txt", tune), ("Süße Melodie (1).mid", tune[:-1] + tune[-1:])])
    job = response.get_json()
    assert response.status_code == 202 and job["status"] == "queued" and job["genre"] == "mine"
    assert response.headers["Location"] == f"/api/jobs/{job['id']}"
    stored = sorted(p.name for p in (project / "collections" / "mine").iterdir())
    assert stored == ["Sue_Melodie_1-2.mid", "Sue_Melodie_1.mid"]
    assert yaml.safe_load((project / "app_genres.yaml").read_text())["genres"]["mine"]["path"] == "collections/mine"
    assert "mine" in [g["name"] for g in client.get("/api/genres").get_json()["genres"]]
    assert "queued" in client.get(job["page"]).get_data(as_text=True)
    waiting = client.get(job["url"]).get_json()
    assert waiting["status"] == "queued" and not waiting["worker_running"], "no worker runs here, and it says so"
    assert "no worker is running" in waiting["message"] and "jukebox worker" in waiting["message"]
    assert post_files(client, [("t.mid", tune)], name="mine").status_code == 409, "never overwritten"

    assert client.post(f"/api/jobs/{job['id']}/retry").status_code == 409, "only an interrupted job is retried"
    cancelled = client.post(f"/api/jobs/{job['id']}/cancel").get_json()
    assert cancelled["status"] == "cancelled" and "removed" in cancelled["message"]
    untouched(project)
    assert client.post(f"/api/jobs/{job['id']}/cancel").status_code == 409
    assert client.post(f"/api/jobs/{job['id']}/remove").get_json() == {"id": job["id"], "removed": True}
    assert client.get(job["url"]).status_code == 404, "a removed job is off the list"


@pytest.mark.parametrize("name, slug", [("Folk Songs", "folk-songs"), ("  Über Jazz! ", "uber-jazz"),
                                        ("2020 Reels", "reels"), ("my_reels", "my_reels"), ("日本", ""),
                                        ("A" * 40, "a" * 32)])
def test_a_refused_name_gets_a_slug_to_use(name, slug):
    from jukebox.params import is_genre_name
    from jukebox.web.forms import suggest_name

    assert suggest_name(name) == slug and (slug == "" or is_genre_name(slug))


def test_the_collection_page_suggests_a_name(client, project, tune):
    token = csrf_token(client, "/collections")
    response = client.post("/collections", data={"csrf_token": token, "name": "Folk Songs",
                                                 "files": [(io.BytesIO(tune), "t.mid")]},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "try &#39;folk-songs&#39;" in page and 'data-value="folk-songs"' in page
    assert "at least <strong>2</strong> readable MIDI files" in page
    untouched(project)


def test_page_upload_redirects_to_its_job(client, project, tune):
    token = csrf_token(client, "/collections")
    response = client.post("/collections", data={"csrf_token": token, "name": "paged",
                                                 "files": [(io.BytesIO(make_zip([("a.mid", tune)])), "a.zip")]},
                           content_type="multipart/form-data")
    assert response.status_code == 303
    job_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Genre paged" in job_page and "queued" in job_page
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    token = re.search(r'name="csrf_token" value="([^"]+)"', job_page)[1]
    assert client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": token}).status_code == 303
    assert "cancelled" in client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert client.post(f"/jobs/{job_id}/retry", data={"csrf_token": token}).status_code == 409
    assert client.post(f"/jobs/{job_id}/restart", data={"csrf_token": token}).status_code == 404
    untouched(project)


def test_files_are_served_only_from_their_folders(client):
    assert client.get("/files/base/sample_01.mid").status_code == 404, "base has no finished samples"
    assert client.get("/files/Bad/x.mid").status_code == 404
    assert client.get("/samples/0123456789ab/x.mid").status_code == 404
    assert client.get("/samples/..%2F..%2Fparams/params.yaml").status_code == 404
    assert client.get("/static/style.css").status_code == 200


def test_a_token_guards_writes_when_the_app_asks_one(project, tune):
    client = create_app({"PROJECT": str(project), "TOKEN": "s3cret"}).test_client()
    assert client.get("/").status_code == 200, "reading needs no token"
    refused = post_files(client, [("t.mid", tune)])
    assert refused.status_code == 401 and refused.get_json()["field"] == "Authorization"
    wrong = post_files(client, [], Authorization="Bearer nope")
    assert wrong.status_code == 401
    allowed = post_files(client, [], Authorization="Bearer s3cret")
    assert allowed.status_code == 400 and "no files" in allowed.get_json()["error"]
    assert client.post("/collections", data={}).headers["Location"].startswith("/login")
    token = csrf_token(client, "/login")
    assert client.post("/login", data={"csrf_token": token, "token": "nope"}).status_code == 401
    assert client.post("/login", data={"csrf_token": token, "token": "s3cret"}).status_code == 303
    assert post_files(client, []).status_code == 400, "the browser session now holds the token"
    untouched(project)


def test_the_page_form_refuses_a_name_ending_in_a_newline(client, project, tune):
    token = csrf_token(client, "/collections")
    response = client.post("/collections", data={"csrf_token": token, "name": "folk\n",
                                                 "files": [(io.BytesIO(tune), "t.mid")]},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and "must be a short lowercase slug" in response.get_data(as_text=True)
    untouched(project)


def test_ids_with_a_trailing_newline_are_not_ids(client):
    from jukebox.web.jobs import JOB_ID
    from jukebox.web.composing import SAMPLE_ID

    assert not JOB_ID.match("0123456789ab\n") and not SAMPLE_ID.match("0123456789ab\n")
    assert client.get("/api/jobs/0123456789ab%0A").status_code == 404
    assert client.get("/samples/0123456789ab%0A/x.mid").status_code == 404
    assert client.get("/files/base%0A/sample_01.mid").status_code == 404


def test_without_a_token_writes_come_only_from_this_machine(client, project, tune):
    """The README's gunicorn route ran without a token and took writes from anyone who sent `Host: localhost`."""
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    for path in ("/api/collections", "/api/generate", "/collections", "/api/jobs/0123456789ab/cancel"):
        response = client.post(path, data={"name": "mine"}, headers={"Host": "localhost"}, environ_overrides=remote)
        assert response.status_code == 403 and "from this machine only" in response.get_data(as_text=True), path
    assert client.get("/", environ_overrides=remote).status_code == 200, "reading stays open"
    forwarded = post_files(client, [("t.mid", tune)], **{"X-Forwarded-For": "203.0.113.9"})
    assert forwarded.status_code == 403, "a proxy the app was not told about speaks for clients anywhere"
    for local in ("127.0.0.1", "::1"):
        response = client.post("/api/collections", data={"name": "mine"}, environ_overrides={"REMOTE_ADDR": local})
        assert response.status_code == 400 and "no files" in response.get_json()["error"], local
    untouched(project)


def test_behind_a_trusted_proxy_the_forwarded_client_address_counts(project, tune):
    client = create_app({"PROJECT": str(project), "PROXIES": 1}).test_client()
    via_proxy = {"environ_overrides": {"REMOTE_ADDR": "127.0.0.1"}}
    remote = post_files(client, [("t.mid", tune)], **{"X-Forwarded-For": "203.0.113.9"}, **{})
    assert remote.status_code == 403 and "203.0.113.9" in remote.get_json()["error"]
    local = client.post("/api/collections", data={"name": "mine"}, headers={"X-Forwarded-For": "127.0.0.1"},
                        **via_proxy)
    assert local.status_code == 400
    untouched(project)


def test_a_non_ascii_token_is_a_401_not_a_500(project):
    client = create_app({"PROJECT": str(project), "TOKEN": "s3cret"}).test_client()
    assert post_files(client, [], Authorization="Bearer sécrèt").status_code == 401
    client = create_app({"PROJECT": str(project), "TOKEN": "sécrèt"}).test_client()
    assert post_files(client, [], Authorization="Bearer nope").status_code == 401
    token = csrf_token(client, "/login")
    assert client.post("/login", data={"csrf_token": token, "token": "sécrèt"}).status_code == 303


def test_settings_from_env():
    from jukebox.web import settings_from_env

    assert settings_from_env({}) == {"PROJECT": ".", "TOKEN": None, "TRUSTED_HOSTS": None, "SECRET_KEY": None,
                                     "REDIS_URL": None, "PROXIES": 0, "VOTES_URL": None}
    settings = settings_from_env({"JUKEBOX_PROJECT": "/srv/jukebox", "JUKEBOX_TOKEN": "t", "JUKEBOX_PROXIES": "1",
                                  "JUKEBOX_HOSTS": " music.example , ,10.0.0.2", "JUKEBOX_SECRET_KEY": "k",
                                  "JUKEBOX_REDIS_URL": "redis://r", "JUKEBOX_VOTES_URL": "postgresql://db/votes"})
    assert settings == {"PROJECT": "/srv/jukebox", "TOKEN": "t", "TRUSTED_HOSTS": ["music.example", "10.0.0.2"],
                        "SECRET_KEY": "k", "REDIS_URL": "redis://r", "PROXIES": 1, "VOTES_URL": "postgresql://db/votes"}
    assert settings_from_env({"JUKEBOX_TOKEN": ""})["TOKEN"] is None, "an empty token is no token"
    with pytest.raises(ValueError, match="JUKEBOX_PROXIES = 'yes'"):
        settings_from_env({"JUKEBOX_PROXIES": "yes"})


@pytest.mark.parametrize("host, extra, names", [
    ("127.0.0.1", [], ["127.0.0.1", "localhost", "::1"]),
    ("::1", ["music.local"], ["127.0.0.1", "localhost", "::1", "music.local"]),
    ("0.0.0.0", ["music.example"], ["music.example"]),
    ("192.168.1.5", ["192.168.1.5", "box"], ["192.168.1.5", "box"]),
])
def test_trusted_hosts(host, extra, names):
    from jukebox.web.server import trusted_hosts

    assert trusted_hosts(host, extra) == names


def test_serve_refuses_a_public_bind_without_a_token(project, monkeypatch):
    from jukebox.web import server

    started = []
    monkeypatch.setattr(server._Gunicorn, "run", lambda self: started.append(self.settings))
    monkeypatch.setattr(server.subprocess, "Popen", lambda *a, **k: started.append(a))
    with pytest.raises(SystemExit, match="set JUKEBOX_TOKEN"):
        server.serve(project, "0.0.0.0", 8000, None, [])
    assert started == [], "nothing was started"
    server.serve(project, "127.0.0.1", 8000, None, [], worker=False, proxies=1)
    assert started[0]["TOKEN"] is None and started[0]["PROXIES"] == 1
    assert started[0]["TRUSTED_HOSTS"] == ["127.0.0.1", "localhost", "::1"]


def busy_midi(n_notes: int, seed: int) -> bytes:
    """A valid MIDI file of random notes: it deflates only a few times over, so zips of it pass upload_max_ratio."""
    import random
    import struct

    rng = random.Random(seed)
    body = b"".join(bytes([rng.randrange(1, 100), 0x90, rng.randrange(40, 90), 80, rng.randrange(1, 100), 0x80,
                           rng.randrange(40, 90), 0]) for _ in range(n_notes)) + b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 96) + b"MTrk" + struct.pack(">I", len(body)) + body


def test_the_unzipped_size_limit_holds_over_the_whole_request(client, project):
    """Five zips, each within upload_max_bytes, together over it: 240 MB reached collections/ this way."""
    zips = [(f"part{i}.zip", make_zip([(f"m{i}.mid", busy_midi(2500, i))])) for i in range(4)]
    assert all(len(data) < LIMITS["upload_max_bytes"] / 4 for _, data in zips), "the request itself is small"
    assert all(20_000 < zipfile.ZipFile(io.BytesIO(d)).infolist()[0].file_size < LIMITS["upload_max_bytes"]
               for _, d in zips), "each zip alone is within the limit"
    response = post_files(client, zips)
    body = response.get_json()
    assert response.status_code == 413 and body["limit"] == {"upload_max_bytes": 60_000}, body
    assert "m2.mid" in body["error"] and "upload_max_bytes = 60000" in body["error"]
    untouched(project)
    files = post_files(client, [(f"z{i}.zip", make_zip([("a.mid", busy_midi(10, i))])) for i in range(3)]
                       + [("b.mid", busy_midi(10, 9)), ("c.zip", make_zip([("c.mid", busy_midi(10, 8)), ("d.mid", busy_midi(10, 7))]))])
    assert files.status_code == 413 and "file 6 of this upload" in files.get_json()["error"], "files count too"
    untouched(project)


def test_uploaded_files_stream_to_disk_under_safe_names(tmp_path):
    from jukebox.web.uploads import Limits, collect_midi

    tune = busy_midi(50, 1)
    archive = make_zip([("dir/Süß.mid", tune), ("__MACOSX/._x", b"junk"), ("other.mid", tune)])
    names = collect_midi([("one.mid", io.BytesIO(tune)), ("music.zip", io.BytesIO(archive))],
                         Limits(5, 10_000, 50), tmp_path)
    assert names == ["one.mid", "Su.mid", "other.mid"]
    assert all((tmp_path / n).read_bytes() == tune for n in names)
