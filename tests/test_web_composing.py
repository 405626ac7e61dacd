"""Composing on request without HTTP: primers read in a time-limited pool before any lock, one Sampling for all."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from jukebox import render
from jukebox.artifacts import read_npy
from jukebox.generation import Composer, Sampling, validation_primers
from jukebox.midi_io import notes_to_stream, write_midi
from jukebox.web import composing
from jukebox.web.composing import PrimerReader, Studio
from jukebox.web.services import Services
from jukebox.web.uploads import UploadError
from tests import held
from tests.conftest import need, write_tune
from tests.tiny_genre import write_tiny_genre


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return write_tiny_genre(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="module")
def services(project):
    studio = Studio(project, primer_timeout=5)
    yield Services(project, None, studio, None, 2000)
    studio.primers.close()


def test_a_heavy_primer_is_refused_at_its_time_limit_without_holding_the_genre(services, tmp_path, monkeypatch):
    """A 99,000-note primer within every cap held a genre's lock for 30 s; under gunicorn's sync worker, a 500.

    The heavy primer is one whose read never ends on its own (tests/held.py), on any machine: only the time limit
    can answer it, and it must do so while another request holds the genre.
    """
    monkeypatch.setattr(composing, "read_primer", held.read_primer)  # the pool's workers run it by reference
    light = write_tune(tmp_path / "light.mid", 2).read_bytes()
    heavy = held.held_midi(light, tmp_path / "never-created")
    services.compose("tiny", Sampling(8, seed=1), ("warm.mid", light))  # the pool's processes are up
    with services.studio._lock("tiny"):  # another request composing: a primer must not wait for it
        with pytest.raises(UploadError) as refused:
            services.compose("tiny", Sampling(8, seed=1), ("heavy.mid", heavy))
    assert refused.value.field == "primer" and "'heavy.mid' took longer than primer_timeout = 5 s" in refused.value.message
    sample = services.compose("tiny", Sampling(8, seed=1), ("light.mid", light))
    assert sample["primer"] == "opening of light.mid", "the killed reader was replaced"


def test_a_request_that_waits_past_compose_timeout_gets_a_503_naming_the_genre(project, caplog):
    """A genre's model held (stuck, or busy with a long burst): the request is answered, not left waiting."""
    studio = Studio(project, primer_timeout=5, compose_timeout=0.5)
    services = Services(project, None, studio, None, 2000)
    try:
        with studio._lock("tiny"):  # the model is composing and does not finish
            with pytest.raises(UploadError) as refused:
                services.compose("tiny", Sampling(8, seed=1))
        assert (refused.value.status, refused.value.field, refused.value.limit) == (503, "genre", {"compose_timeout": 0.5})
        assert refused.value.message == ("genre 'tiny' is still composing other pieces after compose_timeout = 0.5 s; "
                                         "try again in a few minutes")
        stuck = [r.getMessage() for r in caplog.records if r.name == "jukebox.web.composing"]
        assert len(stuck) == 1 and stuck[0].startswith("compose[tiny]: no piece after compose_timeout = 0.5 s; "
                                                       "1 request(s) waiting; the composing thread is at:"), stuck
        assert stuck[0].endswith("in _run\n    with self._busy:\n"), "where the composing thread waits: the held lock"
        studio.compose_timeout = 300
        assert services.compose("tiny", Sampling(8, seed=1))["n_notes"] > 0, "the genre composes again once free"
    finally:
        studio.primers.close()


@pytest.mark.parametrize("data, message", [(b"not midi", "'bad.mid': the primer is not a MIDI file"),
                                           (b"MThd\x00\x00\x00\x06\x00\x01", "'bad.mid': not a readable MIDI file")])
def test_a_primer_that_is_no_midi_file_is_refused_with_its_name(services, data, message):
    with pytest.raises(UploadError) as refused:
        services.compose("tiny", Sampling(8, seed=1), ("bad.mid", data))
    assert refused.value.field == "primer" and message in refused.value.message


def test_the_web_composes_what_the_library_composes(services, project):
    """Sampling and the validation window chosen by the seed: one code path for the stage, the command and the app."""
    sampling = Sampling(20, 0.9, top_k=4, top_p=0.95, seed=12)
    sample = services.compose("tiny", sampling)
    composer = Composer.load(project / "models/tiny")
    primer, starts = validation_primers(read_npy(project / "data/sequences/tiny/val.npy"), composer.seq_len, 12, 1)
    tokens = composer.compose(primer, sampling)[0]
    write_midi(notes_to_stream(composer.events(tokens), 73, 100, composer.encoder.meters(tokens)), project / "library.mid")
    midi = project / ".jukebox/samples" / sample["id"] / sample["file"]
    assert midi.read_bytes() == (project / "library.mid").read_bytes()
    assert sample["primer"] == f"validation window at token {int(starts[0])}"
    params = services.params()
    assert services.sampling(temperature=0.0) == Sampling(24, 0.0, params.top_k, params.top_p, params.seed), \
        "params.yaml's for the rest (n_notes 24 in this project)"


def test_concurrent_requests_are_one_batch_and_each_answer_is_the_one_alone(services, project, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    requests = [Sampling(30, 1.0, seed=1), Sampling(10, 0.5, top_k=3, seed=2), Sampling(40, 1.2, top_p=0.9, seed=3),
                Sampling(30, 0.0, seed=4), Sampling(25, 1.0, seed=5)]
    composer = services.studio._composer("tiny")
    batches = []
    real = composer.compose
    monkeypatch.setattr(composer, "compose", lambda windows, rows: batches.append(len(rows)) or real(windows, rows))
    busy, batcher = services.studio._lock("tiny"), services.studio._batcher("tiny")
    busy.acquire()  # the model is composing: the five requests arrive meanwhile
    with ThreadPoolExecutor(len(requests)) as pool:
        futures = [pool.submit(services.compose, "tiny", s) for s in requests]
        while len(batcher._pending) < len(requests):  # all five are queued, however long each took to get there
            time.sleep(0.05)
        assert not any(f.done() for f in futures)
        busy.release()
        together = [f.result(timeout=300) for f in futures]
    assert batches == [8], "one call, five rows padded to a power of two"
    alone = [services.compose("tiny", s) for s in requests]
    assert batches[1:] == [1] * 5
    for a, b in zip(together, alone):
        midi = [(project / ".jukebox/samples" / s["id"] / s["file"]).read_bytes() for s in (a, b)]
        assert midi[0] == midi[1] and a["n_notes"] == b["n_notes"] and a["seed"] == b["seed"]
    assert [s["n_notes"] for s in together] == [30, 10, 40, 30, 25]


def test_the_audio_starts_after_the_answer_and_piano_roll_and_score_when_asked(services, project, monkeypatch):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from jukebox.web import create_app

    need(render.audio_tools() is not None, "FluidSynth and a General MIDI SoundFont")
    release, started = threading.Event(), []
    real = render.render_later

    def held(midi, suffix, *args):  # the renderings wait until the answer is in
        started.append(suffix)
        assert release.wait(60)
        return real(midi, suffix, *args)

    monkeypatch.setattr(render, "render_later", held)
    sample = services.compose("tiny", Sampling(20, seed=3))
    folder, files = project / ".jukebox/samples" / sample["id"], sample["files"]
    assert not (folder / files["png"]).exists() and not (folder / files["flac"]).exists(), "answered before them"
    assert not (folder / files["musicxml"]).exists(), "left for later"
    # The player asks for the audio at once: the request waits for the rendering under way, and starts no other.
    asked = ThreadPoolExecutor(1).submit(services.studio.sample_file, sample["id"], files["flac"])
    time.sleep(0.5)
    assert not asked.done()
    release.set()
    assert asked.result(60) == folder / files["flac"]
    client = create_app({"PROJECT": str(project)}).test_client()
    base = f"/samples/{sample['id']}/"
    for kind, magic in (("flac", b"fLaC"), ("png", b"\x89PNG"), ("musicxml", b"<?xml")):
        answer = client.get(base + files[kind])
        assert answer.status_code == 200 and answer.data.startswith(magic), kind
        assert (folder / files[kind]).read_bytes() == answer.data, "written once, then served from disk"
    assert started[0] == ".flac" and started.count(".flac") == started.count(".png") == 1, \
        "the audio started with the answer, the piano roll when asked, once each"
    for name in ("other.musicxml", files["midi"] + ".musicxml", "sample.musicxml", "other.flac"):
        assert client.get(base + name).status_code == 404, name
    assert client.get("/samples/0123456789ab/x.musicxml").status_code == 404, "no such sample"


def test_composing_makes_room_before_it_writes_oldest_first(project):
    """Old samples over the limit go, oldest first, before the new one is written; one being written stays."""
    studio = Studio(project, primer_timeout=5, samples_max_mb=1)
    store = studio.samples_dir
    shutil.rmtree(store, ignore_errors=True)  # the other tests' samples
    old = time.time() - 3600
    made = []
    for i, name in enumerate(["ñandú", "a b", "日本", "0123456789ab"]):
        (store / name).mkdir(parents=True, exist_ok=True)
        (store / name / "sample.ogg").write_bytes(bytes(300_000))
        made.append(store / name)
        os.utime(store / name, (old + i, old + i))
    try:
        services = Services(project, None, studio, None, 2000)
        with studio.store.writing(made[1], 100_000):  # its audio being rendered meanwhile
            sample = services.compose("tiny", Sampling(8, seed=4))
            # The new sample's audio is written on the renderer's thread: wait for it while "a b" is still being
            # written, so that the test does not depend on which finishes first.
            studio._renderer.shutdown(wait=True)
    finally:
        studio.primers.close()
    left = {p.name for p in store.iterdir()}
    assert {sample["id"], "a b"} <= left, "the new sample and the one being written are spared"
    by_age = ["ñandú", "日本", "0123456789ab"]
    gone = [name for name in by_age if name not in left]
    assert gone and gone == by_age[: len(gone)], "oldest first"
    assert studio.store.size() <= 1_000_000, "within samples_max_mb, the new sample's audio included"


def test_batches_are_padded_to_few_sizes():
    from jukebox.web.composing import batch_size

    assert [batch_size(n) for n in (1, 2, 3, 5, 8, 9, 16, 17, 20, 24, 25, 32)] == \
        [1, 2, 4, 8, 8, 16, 16, 24, 24, 24, 32, 32]


class Clock:
    """Virtual time for a Batcher (its `time`): it moves only when the test moves it, and only while the batcher's
    thread sleeps, so the thread sees every moment the test stops at, however slow the machine."""

    def __init__(self):
        import threading

        self.now, self.wake_at, self.stopped = 0.0, None, False
        self._changed = threading.Condition()

    def monotonic(self) -> float:
        with self._changed:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._changed:
            if self.stopped:
                return
            self.wake_at = self.now + seconds
            self._changed.notify_all()
            self._changed.wait_for(lambda: self.wake_at is None)

    def advance(self, seconds: float) -> None:
        """Once the thread sleeps, move time on; if that ends its sleep, return once it has looked and sleeps again."""
        with self._changed:
            self._changed.wait_for(lambda: self.wake_at is not None)
            self.now += seconds
            if self.now >= self.wake_at - 1e-9:
                self.wake_at = None
                self._changed.notify_all()
                self._changed.wait_for(lambda: self.wake_at is not None)

    def stop(self) -> None:
        """Let the thread's sleeps end at once (it then finds nothing to do and ends)."""
        with self._changed:
            self.stopped, self.wake_at = True, None
            self._changed.notify_all()


def test_a_batch_starts_once_its_burst_has_arrived(monkeypatch):
    """Requests trickling in (a busy machine) join one batch; an endless trickle still starts by GATHER_MAX_S.

    On a virtual clock: the requests arrive at the times the test says, however fast or busy the machine is.
    """
    import threading

    import numpy as np

    clock = Clock()
    monkeypatch.setattr(composing, "time", clock)
    monkeypatch.setattr(composing, "GATHER_S", 0.3)
    monkeypatch.setattr(composing, "GATHER_MAX_S", 1.5)
    batches = []
    batcher = composing.Batcher(lambda windows, rows: batches.append(len(rows)) or [[]] * len(rows),
                                threading.Lock())

    def until_answered(futures) -> None:
        while not all(f.done() for f in futures):  # the batcher's last sleeps end as time goes on
            clock.advance(0.05)
        [f.result() for f in futures]

    futures = []
    for _ in range(6):  # 6 requests 0.05 s apart: 0.25 s in all, longer than a fixed wait of 0.05 s
        futures.append(batcher.submit(np.zeros(4, np.int32), Sampling(1)))
        clock.advance(0.05)
    until_answered(futures)
    assert batches == [6]
    batches.clear()
    futures = []
    for _ in range(30):  # one request every 0.1 s for 3 s: never quiet for 0.3 s
        futures.append(batcher.submit(np.zeros(4, np.int32), Sampling(1)))
        clock.advance(0.1)
    until_answered(futures)
    clock.stop()
    assert len(batches) >= 2 and batches[0] < len(futures), "the first batch did not wait for the trickle to end"
    assert sum(batches) == len(futures)
