"""Composing on request: the steps of `jukebox generate`, with each genre's model kept loaded between requests."""
from __future__ import annotations

import json
import logging
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..artifacts import write_json
from ..generation import Sampling
from ..layout import Layout
from ..primers import read_primer
from ..params import Genre
from ..parsing import reader_pool, stop_pool
from ..samples import Piece, Primer, choose_primers
from .sample_store import SampleStore
from .uploads import UploadError

log = logging.getLogger(__name__)

SAMPLE_ID_LENGTH = 12
MAX_BATCH = 32  # requests composed in one batched call at most; more wait for the next round
RENDERERS = 2  # samples' audio (FluidSynth processes) and scores written at once, after their answers
# A batch starts once no request has joined it for GATHER_S, or GATHER_MAX_S after its first: requests sent together
# reach the batcher over a few hundred milliseconds when the machine is busy (20 at once came as batches of 9 and
# 11 with a fixed 50 ms wait), and a lone request waits 50 ms.
GATHER_S, GATHER_MAX_S = 0.05, 1.0
SAMPLE_ID = re.compile(r"\A[0-9a-f]{12}\Z")  # uuid4's hex; \Z, not $, which allows a trailing newline


@dataclass(frozen=True)
class Request:
    """What the Generate page and POST /api/generate ask for (already checked against the limits)."""

    genre: Genre
    sampling: Sampling
    primer_record: dict | None = None  # an uploaded primer as PrimerReader read it (primers.read_primer), or None
    primer_name: str = ""


class PrimerReader:
    """Reads uploaded primers in a pebble process pool with a time limit per file, as the parse stage reads MIDI.

    music21 can take a minute over a heavy file within every size cap; here such a primer costs one worker
    process (killed and replaced at primer_timeout) and never a thread holding a genre's model. At most `waiting`
    primers wait for a reader: past that a request is refused at once (503) rather than queued behind slow ones.
    """

    def __init__(self, timeout: float, workers: int = 2, waiting: int = 2):
        self.timeout, self.workers, self.waiting = timeout, workers, waiting
        self._pool = None
        self._guard = threading.Lock()
        self._room = threading.BoundedSemaphore(workers + waiting)
        self.pending = 0  # primers being read or waiting for a reader

    def _started(self):
        with self._guard:
            if self._pool is None:
                self._pool = reader_pool(self.workers)
            return self._pool

    def opening(self, path: Path, max_notes: int, name: str, tracks: bool = False) -> dict:
        """The primer at `path` as primers.read_primer reads it: its opening (max_notes a track), or with `tracks` (a
        multi-track genre) every track with its instrument, as `jukebox generate --primer` reads it; UploadError
        naming `name`."""
        from pebble import ProcessExpired

        if not self._room.acquire(blocking=False):
            raise UploadError("primer", f"the server is busy with primers: {self.workers + self.waiting} primers are "
                                        f"being read or waiting ({self.workers} readers); try again in a few seconds, "
                                        "or compose without a primer", status=503)
        # The scratch folder is made and removed here, in the process that outlives a reader killed at its limit.
        scratch = tempfile.mkdtemp(prefix="jukebox-primer-")
        with self._guard:
            self.pending += 1
        try:
            future = self._started().schedule(read_primer, (str(path), max_notes, tracks, scratch),
                                              timeout=self.timeout)
            return future.result()
        except (TimeoutError, FutureTimeout):
            raise UploadError("primer", f"primer {name!r} took longer than primer_timeout = {self.timeout:g} s to "
                                        "read; choose a shorter MIDI file (only its opening is used)",
                              {"primer_timeout": self.timeout}, 422) from None
        except ProcessExpired as exc:
            raise UploadError("primer", f"primer {name!r}: its reader process died on it (exit code {exc.exitcode}); "
                                        "choose another MIDI file", status=422) from None
        except ValueError as exc:
            raise UploadError("primer", str(exc).replace(str(path), repr(name))) from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            with self._guard:
                self.pending -= 1
            self._room.release()

    def close(self) -> None:
        """Stop the pool's worker processes."""
        with self._guard:
            if self._pool is not None:
                stop_pool(self._pool)
                self._pool = None


class Batcher:
    """One genre's composing thread: the requests that arrive together are composed in one batched call.

    A request hands over its primer window and Sampling and waits on a future; the thread takes every request
    pending (up to MAX_BATCH), composes them as the rows of one batch (each row with its own settings, so its
    answer is the one it would get alone) and sets each future. Rendering is the requests' own, afterwards.
    """

    def __init__(self, compose, busy: threading.Lock):
        self._compose = compose  # (windows, rows) -> token lists, run on this thread only
        self._busy = busy  # held while the model composes: whatever arrives meanwhile joins the next batch
        self._pending: list[tuple[np.ndarray, Sampling, Future]] = []
        self._guard = threading.Lock()
        self._running = False
        self._thread: threading.Thread | None = None

    def submit(self, window: np.ndarray, sampling: Sampling) -> Future:
        """Queue one piece (its primer window, seq_len ids); the future gives its tokens."""
        future: Future = Future()
        with self._guard:
            self._pending.append((window, sampling, future))
            if not self._running:
                self._running = True
                self._thread = threading.Thread(target=self._run, name="jukebox-batcher", daemon=True)
                self._thread.start()
        return future

    def where(self) -> str:
        """What the composing thread is doing now: its stack, or a line saying it is not running."""
        import traceback

        thread = self._thread
        frame = sys._current_frames().get(thread.ident) if thread is not None else None
        if frame is None:
            return "no composing thread is running"
        with self._guard:
            waiting = len(self._pending)
        return f"{waiting} request(s) waiting; the composing thread is at:\n" + "".join(traceback.format_stack(frame))

    def _gather(self) -> None:
        """Wait while the requests of a burst are still arriving (GATHER_S, GATHER_MAX_S)."""
        deadline, seen = time.monotonic() + GATHER_MAX_S, -1
        while time.monotonic() < deadline:
            with self._guard:
                count = len(self._pending)
            if count == seen or count >= MAX_BATCH:
                return
            seen = count
            time.sleep(GATHER_S)

    def _run(self) -> None:
        while True:
            self._gather()
            with self._busy:
                with self._guard:
                    batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                    if not batch:
                        self._running = False
                        return
                try:
                    pieces = self._compose(np.stack([w for w, _, _ in batch]), [s for _, s, _ in batch])
                except BaseException as exc:  # handed to the waiting requests, whose handlers report it
                    for _, _, future in batch:
                        future.set_exception(exc)
                    continue
            for (_, _, future), piece in zip(batch, pieces):
                future.set_result(piece)


def batch_size(requests: int) -> int:
    """The batch `requests` rows are composed in: 1, 2, 4, 8 or a multiple of 8. The composing loop compiles once
    per batch size (about 5 s), and every row costs time at every step, so 20 requests pad to 24, not 32."""
    return 1 << (requests - 1).bit_length() if requests <= 8 else -(-requests // 8) * 8


def padded(windows: np.ndarray, rows: list[Sampling]) -> tuple[np.ndarray, list[Sampling]]:
    """A batch grown to batch_size with rows that compose nothing."""
    extra = batch_size(len(rows)) - len(rows)
    return (np.concatenate([windows, np.repeat(windows[:1], extra, axis=0)]),
            rows + [Sampling(n_notes=0)] * extra)


class Studio:
    """Loads each genre's Composer once (again after retraining); composes each genre's requests in batches."""

    def __init__(self, project: Path, primer_timeout: float = 10.0, samples_max_mb: int = 0,
                 compose_timeout: float = 300.0):
        self.project, self.layout = project, Layout.of(project)
        self.compose_timeout = compose_timeout
        self.samples_dir = self.layout.app_samples
        self.samples_max_bytes = samples_max_mb * 1_000_000
        self.store = SampleStore(self.samples_dir, self.samples_max_bytes)
        self._renderer = ThreadPoolExecutor(RENDERERS, thread_name_prefix="jukebox-render")
        self._renders: dict[Path, Future] = {}
        self.primers = PrimerReader(primer_timeout)
        self._composers: dict[str, tuple[float, object]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._batchers: dict[str, Batcher] = {}
        self._guard = threading.Lock()

    def primer_reading(self, genre: str) -> tuple[int, bool]:
        """How a primer for a genre is read: its model's window (seq_len) and whether the genre keeps its
        instruments (a multi-track encoding whose training pieces named some), read without loading the model."""
        from ..encodings import get_encoding
        from ..generation import instrument_of
        from ..model import ModelConfig

        config = ModelConfig.load(self.layout.model(genre) / "config.json")
        vocab = json.loads((self.layout.model(genre) / "vocab.json").read_text())
        named = any(instrument_of(t) is not None and c for t, c in zip(vocab["tokens"], vocab["counts"]))
        return config.seq_len, get_encoding(config.encoding).multitrack and named

    def _composer(self, genre: str):
        from ..generation import Composer

        model_dir = self.layout.model(genre)
        stamp = (model_dir / "model.keras").stat().st_mtime
        with self._guard:
            cached = self._composers.get(genre)
            if cached is None or cached[0] != stamp:
                self._composers[genre] = (stamp, Composer.load(model_dir))
            return self._composers[genre][1]

    def _lock(self, genre: str) -> threading.Lock:
        """Held while the genre's model composes (by its Batcher's thread, the only one that calls it)."""
        with self._guard:
            return self._locks.setdefault(genre, threading.Lock())

    def _batcher(self, genre: str) -> Batcher:
        def compose(windows: np.ndarray, rows: list[Sampling]) -> list[list[str]]:
            return self._composer(genre).compose(*padded(windows, rows))[: len(rows)]

        lock = self._lock(genre)
        with self._guard:
            return self._batchers.setdefault(genre, Batcher(compose, lock))

    def primer(self, request: Request, composer) -> Primer:
        """The primer of a request (samples.choose_primers): its uploaded primer, else a validation window."""
        try:
            return choose_primers(composer, self.layout.val_tokens(request.genre.name), request.sampling.seed,
                                  primer=request.primer_name if request.primer_record is not None else None,
                                  record=request.primer_record)[0]
        except ValueError as exc:  # no pitched notes, or none the genre knows
            raise UploadError("primer", str(exc)) from None

    def compose(self, request: Request) -> dict:
        """Compose, write and render one sample; returns its record (the fields of samples.json, plus `id`)."""
        name = request.genre.name
        composer = self._composer(name)
        primer = self.primer(request, composer)
        # The model composes on its genre's batcher thread, with whatever other requests came at the same time;
        # this thread waits, then writes and renders its own sample in parallel with the others.
        batcher = self._batcher(name)
        try:
            tokens = batcher.submit(primer.window, request.sampling).result(timeout=self.compose_timeout)
        except FutureTimeout:
            # A request never waits forever: a model stuck (or a burst longer than the limit) costs a 503, and the
            # log says where the composing thread is. The piece, if it ever comes, is dropped.
            log.error("compose[%s]: no piece after compose_timeout = %g s; %s", name, self.compose_timeout,
                      batcher.where())
            raise UploadError("genre", f"genre {name!r} is still composing other pieces after compose_timeout = "
                                       f"{self.compose_timeout:g} s; try again in a few minutes",
                              {"compose_timeout": self.compose_timeout}, 503) from None
        piece = Piece(composer, request.genre, tokens, primer, request.sampling)
        sample_id = uuid.uuid4().hex[:SAMPLE_ID_LENGTH]
        folder = self.samples_dir / sample_id
        # A name a musician can tell apart and find again: the genre, the piece's number (seed) and its length.
        midi = folder / f"{name}_seed-{request.sampling.seed}_{request.sampling.n_notes}-notes.mid"
        with self.store.writing(folder, self.store.expected("")):  # room made before the sample is written
            record = {"id": sample_id, "genre": name, **piece.write(midi, later=True)}
            write_json(folder / "sample.json", record)
            # The audio is started now (FluidSynth, its own process) so that it is ready, or nearly, when the player
            # asks; the piano roll (0.2 s of Python) waits to be asked for, so it never holds up a burst's answers.
            if record["files"]["flac"]:
                self._render(folder / record["files"]["flac"], record)
        return record

    def _render(self, path: Path, record: dict) -> Future:
        """The one rendering of a sample's LATER file, started now unless it already is."""
        from ..render import render_later

        with self._guard:
            future = self._renders.get(path)
            if future is None:
                # Room for the file is made when its rendering starts, not when it is queued behind others.
                future = self._renders[path] = self._renderer.submit(
                    self._write_later, path, record, render_later)
                # Once written, the file itself answers; a failed one may be tried again.
                future.add_done_callback(lambda _: self._renders.pop(path, None))
            return future

    def _write_later(self, path: Path, record: dict, render_later) -> Path:
        """Write a sample's LATER file with `render_later` within the store's limit (a renderer thread's task)."""
        if not (path.parent / record["file"]).is_file():
            return path  # the sample was pruned while this waited its turn: nothing left to render
        seconds = float(record.get("seconds") or 0)
        written = self.store.run_writing(path.parent, self.store.expected(path.suffix, seconds), render_later,
                                         path.parent / record["file"], path.suffix, record["program"], record["bpm"])
        if path.suffix in (".flac", ".wav"):
            self.store.learn_audio(path, seconds)
        return written

    def sample_file(self, sample_id: str, name: str) -> Path | None:
        """The path of a sample's file, once written if it is one left for later (LATER); None if there is none."""
        from ..render import LATER

        folder = self.samples_dir / sample_id
        path = folder / name
        if path.is_file():
            return path
        try:
            record = json.loads((folder / "sample.json").read_text())
        except FileNotFoundError:
            return None
        if path.suffix not in LATER or name not in record["files"].values():
            return None
        self._render(path, record).result()
        return path
