"""The web app's job queue: huey tasks that run one genre's pipeline through DVC, each with a live record.

A record is JSON in huey's own key-value store (a SQLite file in the project, or Redis), so the web app and
any number of workers share it through the same backend as the queue.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from pathlib import Path

import psutil
import yaml
from huey import SqliteHuey
from huey.constants import EmptyData
from huey.exceptions import TaskLockedException
from huey.signals import SIGNAL_INTERRUPTED

from .app_genres import remove_genre
from ..layout import Layout
from ..params import load_params

log = logging.getLogger("jukebox.jobs")

HOST = socket.gethostname()
JOB_ID = re.compile(r"\A[0-9a-f]{12}\Z")  # \Z: `$` would let "<id>\n" through
HEARTBEAT_S = 1.0  # how often a running job's record is refreshed (stage, epoch, losses)
STALE_S = 30.0  # a running record not refreshed for this long has lost its worker: it reads as interrupted
WORKER_BEAT_S = 2.0  # how often a worker says it is alive, busy or idle
WORKER_GONE_S = 6.0  # no word from any worker for this long: a queued job says that nobody will run it
NO_WORKER = ("no worker is running to take this job: start one with `jukebox worker --project <folder>` "
             "(`jukebox serve` starts one beside the app); the job waits in the queue until then")
RUNNING_STAGE = re.compile(r"Running stage '([\w-]+)@")


def make_huey(project: Path, redis_url: str | None = None):
    """The queue: a SQLite file in the project's .jukebox/ folder, or Redis when several machines share it."""
    if redis_url:
        from huey import RedisHuey

        return RedisHuey("jukebox", url=redis_url)
    layout = Layout.of(project)
    layout.state.mkdir(exist_ok=True)
    return SqliteHuey("jukebox", filename=str(layout.jobs_db), strict_fifo=True)


def pipeline_stages(project: Path) -> list[str]:
    """The names of dvc.yaml's per-genre stages in order (scrape ... summarize); pretrain, run once for all, is not."""
    stages = yaml.safe_load(Layout.of(project).dvc_yaml.read_text())["stages"]
    return [name for name, stage in stages.items() if "foreach" in stage]


def _read_tsv_column(path: Path, column: str) -> list[float]:
    try:
        with open(path, newline="") as f:
            return [float(row[column]) for row in csv.DictReader(f, delimiter="\t") if row.get(column)]
    except (FileNotFoundError, ValueError, KeyError):
        return []


def training_progress(project: Path, genre: str) -> dict:
    """Epochs done, the latest and best loss and val_loss, and both per epoch, from what train logs with dvclive."""
    plots = Layout.of(project).train_metrics(genre) / "plots" / "metrics"
    loss = _read_tsv_column(plots / "train" / "loss.tsv", "loss")
    val_loss = _read_tsv_column(plots / "eval" / "loss.tsv", "loss")
    progress: dict = {"epoch": len(val_loss), "losses": [round(x, 4) for x in loss],
                      "val_losses": [round(x, 4) for x in val_loss]}
    if loss:
        progress["loss"] = round(loss[-1], 4)
    if val_loss:
        progress["val_loss"] = round(val_loss[-1], 4)
        best = min(range(len(val_loss)), key=val_loss.__getitem__)
        progress["best_epoch"], progress["best_val_loss"] = best + 1, round(val_loss[best], 4)
    return progress


def starting_point(record: dict) -> str:
    """Where the job's model starts: the base model (and how many pieces it learned from) or random weights."""
    if record.get("init") == "base":
        pieces = record.get("base_pieces")
        learned = f", which learned from {pieces:,} pieces of music" if pieces else ""
        return (f"Fine-tuned from the base model{learned}: it starts knowing music in general and learns this "
                "collection's style on top (init: base in params.yaml).")
    if record.get("init") == "scratch":
        return ("Learned from scratch: the model starts from random weights and knows only this collection "
                "(init: scratch in params.yaml).")
    return ""


def base_pieces(project: Path) -> int | None:
    """How many pieces the base model learned from (metrics/_base/corpus.json), or None when none is trained."""
    try:
        corpus = json.loads((Layout.of(project).base_metrics / "corpus.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(corpus, dict) or corpus.get("trained") is not True or not isinstance(corpus.get("pieces"), int):
        return None
    # The genres' validation pieces it found in the corpus were left out: it never learned from them.
    return corpus["pieces"] - int(corpus.get("excluded") or 0)


def repro_command(genre: str, stages: list[str]) -> list[str]:
    """The `dvc repro` a job runs: every per-genre stage of `genre` by name, in order, and only those."""
    # --single-item: a collection is learned from the base model as it is, never by retraining the base for it.
    return [sys.executable, "-m", "dvc", "repro", "--single-item", *(f"{stage}@{genre}" for stage in stages)]


def stage_environment() -> dict[str, str]:
    """The environment the stages run in: they call `python`, which must be the one running this process."""
    return {**os.environ, "PYTHONUNBUFFERED": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def training_notes(record: dict) -> list[str]:
    """What a job's training figures mean, in sentences: the two losses, the best epoch, why training stopped."""
    progress, epochs = record.get("progress") or {}, record.get("epochs")
    if not progress.get("epoch"):
        return []
    notes = ["loss is how surprised the model is by the next note of the music it learns from; val_loss is the same "
             "on pieces held back that it never learns from. Both fall while it learns the style; lower is better."]
    done, best = progress["epoch"], progress.get("best_epoch")
    if best:
        notes.append(f"{'Best' if record.get('status') == 'succeeded' else 'Best so far'}: epoch {best} (val_loss {progress['best_val_loss']}); the model keeps that "
                     "epoch's weights.")
    if best and done > best:
        notes.append(f"val_loss has not improved since epoch {best} (now {progress['val_loss']} at epoch {done}): "
                     f"from epoch {best + 1} on the model began to learn these pieces by heart rather than their style.")
    if record.get("status") == "succeeded":
        patience = record.get("patience")
        if epochs and done < epochs:
            notes.append(f"Training stopped early at epoch {done} of {epochs}: val_loss had not improved for "
                         f"{patience if patience else done - best} epochs (patience in params.yaml).")
        else:
            key = ("finetune_epochs: the genre's in app_genres.yaml, else params.yaml's" if record.get("init") == "base"
                   else "epochs in params.yaml")
            notes.append(f"Training ran all {done} epoch{'' if done == 1 else 's'} ({key}).")
    return notes


def failure_reason(lines: list[str]) -> str:
    """What a failed `dvc repro` says went wrong: the stage's own last words, then DVC's error line."""
    for i, line in enumerate(lines):
        if line.startswith("ERROR:"):
            before = [ln.strip() for ln in lines[:i] if ln.strip()]
            dvc_error = line.removeprefix("ERROR:").strip()
            return f"{before[-1]} ({dvc_error})" if before else dvc_error
    tail = [ln.strip() for ln in lines if ln.strip()]
    return tail[-1] if tail else "dvc repro failed without a message"


def _alive(child: dict | None) -> psutil.Process | None:
    """The process recorded in `child` if it still runs on this host (the same pid and start time)."""
    if not child or child.get("host") != HOST:
        return None
    try:
        proc = psutil.Process(child["pid"])
        return proc if abs(proc.create_time() - child["started"]) < 1 else None
    except psutil.Error:
        return None


def _kill_group(child: dict | None, grace: float = 10.0) -> None:
    """Stop a job's `dvc repro` and the stage it runs (its own process group): SIGTERM, then SIGKILL."""
    proc = _alive(child)
    if proc is None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(grace)
            return
        except psutil.TimeoutExpired:
            continue


class Jobs:
    """Submit, follow, cancel and retry pipeline jobs; inside a worker the same object runs them."""

    def __init__(self, project: Path, huey):
        self.project = Path(project).resolve()
        self.huey = huey
        # One training at a time, across every worker on this backend (DVC locks a project to one run anyway).
        self._training = huey.lock_task("jukebox-training")
        self._task = huey.task(name="pipeline")(self._execute)
        self._stopping = threading.Event()
        self._current: dict | None = None
        huey.signal(SIGNAL_INTERRUPTED)(self._on_interrupted)

    # -- records --------------------------------------------------------------------------------------------
    def _save(self, record: dict) -> None:
        self.huey.storage.put_data(f"jukebox.job.{record['id']}", json.dumps(record).encode())

    def _load(self, job_id: str) -> dict | None:
        if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
            return None
        raw = self.huey.storage.peek_data(f"jukebox.job.{job_id}")
        return None if raw is EmptyData else json.loads(raw)

    def _view(self, record: dict) -> dict:
        if record["status"] == "running" and time.time() - record.get("heartbeat", 0) > STALE_S:
            return {**record, "status": "interrupted",
                    "message": "its worker stopped in the middle of the job; retry it to run the rest"}
        if record["status"] == "queued" and not self.worker_alive():
            return {**record, "worker": "none", "message": NO_WORKER}
        return record

    def worker_alive(self) -> bool:
        """Whether some worker on this backend said it was alive within WORKER_GONE_S."""
        raw = self.huey.storage.peek_data("jukebox.worker")
        return raw is not EmptyData and time.time() - json.loads(raw).get("seen", 0) <= WORKER_GONE_S

    def _beat(self) -> None:
        """A worker's heartbeat, busy or idle, for as long as its process lives."""
        while True:
            self.huey.storage.put_data("jukebox.worker", json.dumps(
                {"host": HOST, "pid": os.getpid(), "seen": time.time()}).encode())
            time.sleep(WORKER_BEAT_S)

    def get(self, job_id: str) -> dict | None:
        """A job's record as the pages and the API show it, or None."""
        record = self._load(job_id)
        return None if record is None else self._view(record)

    def all(self) -> list[dict]:
        """Every job, newest first."""
        records = [json.loads(v) for k, v in self.huey.storage.result_items().items() if k.startswith("jukebox.job.")]
        alive = self.worker_alive()
        views = [{**r, "worker": "none", "message": NO_WORKER} if r["status"] == "queued" and not alive
                 else self._view(r) if r["status"] == "running" else r for r in records]
        return sorted(views, key=lambda r: r["created"], reverse=True)

    def latest_by_genre(self) -> dict[str, dict]:
        """The newest job of each genre that has one."""
        latest: dict[str, dict] = {}
        for record in self.all():
            latest.setdefault(record["genre"], record)
        return latest

    # -- the web side ---------------------------------------------------------------------------------------
    def submit(self, genre: str) -> dict:
        """Queue the pipeline of a genre just added; returns its record."""
        layout = Layout.of(self.project)
        stages, params = pipeline_stages(self.project), load_params(layout.params)
        folder = layout.collection(genre)
        files = sum(1 for f in folder.iterdir() if f.is_file()) if folder.is_dir() else None
        record = {"id": uuid.uuid4().hex[:12], "genre": genre, "status": "queued", "stage": "", "stages": stages,
                  "progress": {}, "epochs": params.epochs_of(params.genres.get(genre)),
                  "patience": params.patience, "message": "", "log": [], "created": time.time(), "attempt": 1,
                  "init": params.init, "base_pieces": base_pieces(self.project) if params.init == "base" else None,
                  "files": files}
        self._enqueue(record)
        return record

    def _enqueue(self, record: dict) -> None:
        task = self._task.s(record["id"])
        record["task_id"] = task.id
        self._save(record)  # before enqueueing, so the worker always finds the record
        self.huey.enqueue(task)

    def cancel(self, job_id: str) -> dict:
        """Cancel a queued, running or interrupted job; the genre it was making is removed."""
        record = self._load(job_id)
        if record is None:
            raise KeyError(job_id)
        view = self._view(record)
        # The worker polls this flag (also if it picks the job up right now), stops `dvc repro`, removes the genre.
        self.huey.storage.put_data(f"jukebox.cancel.{job_id}", b"1")
        if view["status"] == "running":
            return {**view, "message": "cancelling"}
        if view["status"] not in ("queued", "interrupted"):
            raise ValueError(f"job {job_id} is {view['status']}; only a queued, running or interrupted job can be "
                             "cancelled")
        self.huey.revoke_by_id(record["task_id"])
        _kill_group(record.get("child"))
        remove_genre(self.project, record["genre"])
        record.update(status="cancelled", stage="", message="cancelled; the genre was removed", finished=time.time())
        self._save(record)
        return record

    def remove(self, job_id: str) -> dict:
        """Forget a job that has ended (succeeded, failed or cancelled); a live one is cancelled first."""
        record = self._load(job_id)
        if record is None:
            raise KeyError(job_id)
        status = self._view(record)["status"]
        if status not in ("succeeded", "failed", "cancelled"):
            raise ValueError(f"job {job_id} is {status}; cancel it first (that removes its genre), then remove it")
        self.huey.storage.delete_data(f"jukebox.job.{job_id}")
        return record

    def forget_genre(self, genre: str) -> list[str]:
        """Forget every ended job of a genre (the genre was removed); returns their ids."""
        gone = [r["id"] for r in self.all() if r["genre"] == genre and r["status"] in ("succeeded", "failed", "cancelled")]
        for job_id in gone:
            self.huey.storage.delete_data(f"jukebox.job.{job_id}")
        return gone

    def retry(self, job_id: str) -> dict:
        """Queue an interrupted job again; DVC re-runs the stages whose outputs it had not recorded."""
        record = self._load(job_id)
        if record is None:
            raise KeyError(job_id)
        if self._view(record)["status"] != "interrupted":
            raise ValueError(f"job {job_id} is {self._view(record)['status']}; only an interrupted job can be retried")
        _kill_group(record.get("child"))  # a stage orphaned by a killed worker would hold DVC's lock
        record.update(status="queued", stage="", progress={}, message="", attempt=record["attempt"] + 1)
        record.pop("child", None)
        self._enqueue(record)
        return record

    # -- the worker side ------------------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """At worker start: jobs cut off mid-run on this host are marked interrupted and their stages stopped."""
        marked = []
        for record in self.all():
            stored = self._load(record["id"])
            if stored["status"] != "running":
                continue
            worker = stored.get("worker", {})
            pid = worker.get("pid", -1)
            orphaned = worker.get("host") == HOST and (pid == os.getpid() or not psutil.pid_exists(pid))
            if orphaned or record["status"] == "interrupted":
                _kill_group(stored.get("child"))
                stored.update(status="interrupted", message=record.get("message") or
                              "its worker stopped in the middle of the job; retry it to run the rest")
                self._save(stored)
                marked.append(stored["id"])
        return marked

    def _on_interrupted(self, signal_name, task, *args) -> None:
        """The consumer is shutting down under a running job: stop its stage and mark it for a retry."""
        self._stopping.set()
        record = self._current
        if record is not None:
            _kill_group(record.get("child"))
            record.update(status="interrupted", message="the worker was stopped during the job; retry it")
            self._save(record)

    def _execute(self, job_id: str) -> None:
        record = self._load(job_id)
        if record is None or record["status"] != "queued":
            return  # cancelled while queued, or run already
        try:
            with self._training:
                self._run(record)
        except TaskLockedException:
            # Another worker on this backend is training: this job waits its turn in the queue.
            record["task_id"] = self._task.schedule((job_id,), delay=10).id
            self._save(record)

    def _run(self, record: dict) -> None:
        genre, job_id = record["genre"], record["id"]
        command = repro_command(genre, record["stages"])
        log.info("job %s: %s", job_id, " ".join(command[2:]))
        record.update(status="running", started=time.time(), heartbeat=time.time(), stage="", progress={},
                      worker={"host": HOST, "pid": os.getpid()})
        proc = subprocess.Popen(command, cwd=self.project, env=stage_environment(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
        record["child"] = {"host": HOST, "pid": proc.pid, "started": psutil.Process(proc.pid).create_time()}
        self._current = record
        self._save(record)
        lines: deque[str] = deque(maxlen=200)

        def follow() -> None:
            for line in proc.stdout:
                lines.append(line.rstrip().split("\r")[-1])  # a progress bar's last state, not all of them
                match = RUNNING_STAGE.search(line)
                if match:
                    record["stage"] = match.group(1)

        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        cancelled = False
        while proc.poll() is None:
            try:
                proc.wait(HEARTBEAT_S)
            except subprocess.TimeoutExpired:
                pass
            if not cancelled and self.huey.storage.peek_data(f"jukebox.cancel.{job_id}") is not EmptyData:
                cancelled = True
                threading.Thread(target=_kill_group, args=(record["child"],), daemon=True).start()
            if record["stage"] == "train":
                record["progress"] = training_progress(self.project, genre)
            record.update(heartbeat=time.time(), log=list(lines)[-12:])
            if not self._stopping.is_set():
                self._save(record)
        reader.join(5)
        self._current = None
        if self._stopping.is_set():
            return  # shutting down: _on_interrupted recorded the job as interrupted
        record.update(finished=time.time(), log=list(lines)[-12:])
        if cancelled:
            remove_genre(self.project, genre)
            record.update(status="cancelled", message="cancelled; the genre was removed")
        elif proc.returncode == 0:
            record.update(status="succeeded", stage="", progress=training_progress(self.project, genre),
                          message=f"done in {record['finished'] - record['started']:.0f} s")
        else:
            reason = failure_reason(list(lines))
            # A genre whose pipeline failed is removed whole, so it is never left half-made.
            remove_genre(self.project, genre)
            record.update(status="failed", message=f"{record['stage'] or 'dvc'} failed: {reason}; "
                                                   "the genre was removed, fix the files and upload again")
        self.huey.storage.delete_data(f"jukebox.cancel.{job_id}")
        self._save(record)
        log.info("job %s: %s", job_id, record["status"])

    def run_worker(self) -> None:
        """Run one huey consumer thread in this process until SIGINT/SIGTERM (what `jukebox worker` does)."""
        threading.Thread(target=self._beat, name="jukebox-worker-beat", daemon=True).start()
        for job_id in self.recover():
            log.warning("job %s was cut off mid-run; marked interrupted (retry it from its page)", job_id)
        # SIGTERM (what `jukebox serve` sends on exit) stops at once: the running job is marked interrupted.
        consumer = self.huey.create_consumer(workers=1, worker_type="thread", periodic=False, flush_locks=True)
        consumer.run()
