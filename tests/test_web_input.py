"""The web app's input as an attacker sends it: redirects after login, JSON bodies, and primers that hold their readers."""
from __future__ import annotations

import io
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from jukebox.web import create_app
from jukebox.web.composing import PrimerReader
from jukebox.web.uploads import UploadError
from tests.conftest import write_tune
from tests.test_web import csrf_token
from tests.tiny_genre import write_tiny_genre


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A tiny trained genre the app counts as ready (DVC recorded its train and generate stages)."""
    root = write_tiny_genre(tmp_path_factory.mktemp("project"))
    (root / "dvc.lock").write_text("schema: '2.0'\nstages:\n  train@tiny: {}\n  generate@tiny: {}\n")
    (root / "data/generated/tiny").mkdir(parents=True)
    (root / "data/generated/tiny/samples.json").write_text("[]")
    return root


@pytest.fixture(scope="module")
def client(project):
    return create_app({"PROJECT": str(project)}).test_client()


@pytest.mark.parametrize("target", ["/%09/evil.example", "/%0d/evil.example", "/%0a/evil.example", "/\\evil.example",
                                    "\\\\evil.example", "/%5C/evil.example", "//evil.example", "https://evil.example",
                                    "%09//evil.example", "javascript:alert(1)", "/%09%0d%0a/evil.example/x"])
def test_login_redirects_only_to_paths_of_this_app(project, target):
    """`next=/%09/evil.example` went to //evil.example (the tab stripped after the check); `/%0d/...` was a 500."""
    client = create_app({"PROJECT": str(project), "TOKEN": "s3cret"}).test_client()
    token = csrf_token(client, "/login")
    response = client.post(f"/login?next={target}", data={"csrf_token": token, "token": "s3cret"})
    assert response.status_code == 303, response.status_code
    assert response.headers["Location"] == "/", response.headers["Location"]


def test_login_still_returns_to_the_page_that_asked(project):
    client = create_app({"PROJECT": str(project), "TOKEN": "s3cret"}).test_client()
    token = csrf_token(client, "/login")
    response = client.post("/login?next=/jobs/0123456789ab", data={"csrf_token": token, "token": "s3cret"})
    assert response.status_code == 303 and response.headers["Location"] == "/jobs/0123456789ab"


@pytest.mark.parametrize("body", ['["tiny"]', '"tiny"', "24", "null", "[" * 30_000 + "]" * 30_000,
                                  '{"a":' * 10_000 + "1" + "}" * 10_000, "{not json"])
def test_a_json_body_that_is_not_an_object_is_a_400(client, body):
    """A list, a string, or 100,000 levels deep gave a 500 (that deep is now past the JSON size limit: 413)."""
    response = client.post("/api/generate", data=body, content_type="application/json")
    assert response.status_code == 400, response.status_code
    assert "JSON object" in response.get_json()["error"]


@pytest.mark.parametrize("change, field", [({"n_notes": 1.5}, "n_notes"), ({"n_notes": True}, "n_notes"),
                                           ({"seed": 2.0}, "seed"), ({"top_k": False}, "top_k"),
                                           ({"genre": ["tiny"]}, "genre"), ({"genre": {"tiny": 1}}, "genre"),
                                           ({"temperature": True}, "temperature"), ({"top_p": [0.9]}, "top_p"),
                                           ({"n_notes": [12]}, "n_notes")])
def test_json_fields_of_the_wrong_type_are_refused_naming_the_field(client, change, field):
    """`"n_notes": 1.5` or `true` composed a 1-note piece with a 200; `"genre": ["tiny"]` was read as `tiny`."""
    response = client.post("/api/generate", json={"genre": "tiny", "n_notes": 12, **change})
    body = response.get_json()
    assert response.status_code == 400 and body["field"] == field, body
    assert body["error"].startswith(f"{field}: must be "), body


def test_json_fields_of_the_right_type_still_compose(client):
    response = client.post("/api/generate", json={"genre": "tiny", "n_notes": 12, "temperature": 1, "top_p": 0.9,
                                                  "top_k": 0, "seed": 5})
    assert response.status_code == 200, response.get_json()
    sample = response.get_json()
    assert sample["n_notes"] == 12
    # Served as what they are (Python's mimetypes said audio/sp-midi, and nothing for MusicXML).
    for kind, media in (("midi", "audio/midi"), ("musicxml", "application/vnd.recordare.musicxml+xml")):
        assert client.get(sample["urls"][kind]).mimetype == media, kind


def test_a_large_json_body_is_refused_with_its_own_limit(client, project):
    """A 10 MB JSON body was read whole: JSON shared the 50 MB upload limit."""
    from jukebox.web import JSON_MAX_BYTES

    body = json.dumps({"genre": "tiny", "pad": "x" * 10_000_000})
    response = client.post("/api/generate", data=body, content_type="application/json")
    assert response.status_code == 413, response.status_code
    message = response.get_json()["error"]
    assert f"the limit for a JSON body is {JSON_MAX_BYTES} bytes" in message and "multipart/form-data" in message
    # Sent without a length (chunked, as a server passes it on), the body is still cut at the limit, not read whole.
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    environ = EnvironBuilder(path="/api/generate", method="POST", data=b"", content_type="application/json",
                             headers={"Transfer-Encoding": "chunked"}).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ.update({"wsgi.input": io.BytesIO(body.encode()), "wsgi.input_terminated": True,
                    "REMOTE_ADDR": "127.0.0.1"})
    answer, status, _ = run_wsgi_app(client.application, environ, buffered=True)
    assert status.startswith("413"), status
    assert "is more than 64000 bytes" in json.loads(b"".join(answer))["error"]


def held_opening(path, max_notes, *rest):
    """The real primer reader, held inside music21's read of the opening until a file `release` appears beside the
    primer (never, for one that is to reach its time limit): slow by construction, not by the machine's speed."""
    import jukebox.midi_io as midi_io

    real = midi_io.read_music

    def held(opening):
        Path(f"{path}.started").touch()
        while not (Path(path).parent / "release").exists():
            time.sleep(0.05)
        return real(opening)

    midi_io.read_music = held
    from jukebox.primers import read_primer

    return read_primer(path, max_notes, *rest)


@pytest.fixture
def private_tmp(monkeypatch):
    """A temp directory of the test's own, for this process and the reader processes it starts."""
    import multiprocessing.util

    # multiprocessing keeps its sockets in a temp folder it picks once per process: let it pick the usual one first,
    # or every later test in this worker would look for it in the folder removed below. The folder is short
    # (not under tmp_path) because a socket's path must stay under about 100 characters.
    multiprocessing.util.get_temp_dir()
    folder = Path(tempfile.mkdtemp(prefix="jb-"))
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_primer_refused_at_its_time_limit_leaves_no_temporary_folder(private_tmp, tmp_path, monkeypatch):
    """Each primer killed at primer_timeout left jukebox-primer-*/opening.mid (700 KB) in the system's temp folder."""
    from jukebox.web import composing

    monkeypatch.setattr(composing, "read_primer", held_opening)
    reader = PrimerReader(timeout=2, workers=1)
    primers = tmp_path / "primers"
    try:
        for i in range(2):
            path = write_tune(primers / f"p{i}.mid", i)
            with pytest.raises(UploadError) as refused:
                reader.opening(path, 16, f"p{i}.mid")
            assert "took longer than primer_timeout" in refused.value.message
            assert Path(f"{path}.started").exists(), "the reader was inside its read when it was stopped"
    finally:
        reader.close()
    left = sorted(p.name for p in private_tmp.glob("jukebox-primer-*"))
    assert left == [], f"left behind: {left}"


def test_primers_wait_in_a_bounded_queue_and_one_more_gets_a_503(private_tmp, tmp_path, monkeypatch):
    """Four slow primers at once made an ordinary one wait 21 s (two readers, an unbounded queue)."""
    from jukebox.web import composing

    monkeypatch.setattr(composing, "read_primer", held_opening)
    reader = PrimerReader(timeout=120, workers=2, waiting=2)
    primers = tmp_path / "primers"
    paths = [write_tune(primers / f"p{i}.mid", i) for i in range(5)]
    results: dict[int, object] = {}

    def read(i: int) -> None:
        try:
            results[i] = reader.opening(paths[i], 16, f"p{i}.mid")
        except UploadError as exc:
            results[i] = exc

    threads = [threading.Thread(target=read, args=(i,)) for i in range(4)]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
                sum(Path(f"{p}.started").exists() for p in paths) == 2 and reader.pending == 4):
            time.sleep(0.05)
        assert sum(Path(f"{p}.started").exists() for p in paths) == 2 and reader.pending == 4, \
            "two primers being read, two waiting"
        started = time.monotonic()
        with pytest.raises(UploadError) as refused:
            reader.opening(paths[4], 16, "p4.mid")
        assert time.monotonic() - started < 5, "refused at once, not after the others"
        assert refused.value.status == 503 and refused.value.field == "primer"
        assert "4 primers are being read or waiting" in refused.value.message and "try again" in refused.value.message
        (primers / "release").touch()
        for thread in threads:
            thread.join(60)
        assert all(isinstance(results[i], dict) for i in range(4)), results
        assert reader.pending == 0
        assert reader.opening(paths[4], 16, "p4.mid")["notes"], "room again once they are read"
    finally:
        (primers / "release").touch()
        reader.close()
