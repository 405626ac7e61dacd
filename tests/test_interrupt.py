"""Killing real stage processes and rerunning them: nothing half-written is taken as valid, and the rerun ends with
the same outputs as a run never interrupted.

Each interruption is sent once the work has visibly started (a cache entry, a checkpoint), and the parse tests add
a file whose parse never ends on its own (tests/held.py), so the stage cannot finish before the signal arrives on
any machine.

Interruption points covered:
- parse, SIGKILL while it parses (after some files' cache entries are written): the rerun takes those from the
  cache, parses the rest and writes what an uninterrupted run writes; no partial file is left in its outputs, and
  one left in the cache (a kill inside a cache write) is swept by the next run.
- parse, Ctrl-C (SIGINT to its process group) mid-run: one line and exit status 130, no traceback, no worker left.
- any atomic write, SIGKILL between writing half a file and renaming it: the old file stays whole.
- train, SIGKILL after its first epoch's checkpoint: the rerun resumes after that epoch and saves the very model
  (same weights) and metrics an uninterrupted run saves, then removes the checkpoint.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import ROOT, write_tune

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}


def _as_a_foreground_job() -> None:
    """In the stage's process before exec: Ctrl-C's default action, as a shell gives a job it runs in a terminal.
    A parent started in the background (`cmd &`, as a CI runner may be) ignores SIGINT, and an ignored signal stays
    ignored across exec: the stage then never saw this test's Ctrl-C and parsed on to its normal end."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# `python -m stages.parse`, with tests.held's read_piece in place of the real one (its pool workers run it too).
HELD_PARSE = ("import runpy, sys, jukebox.parsing, tests.held; jukebox.parsing.read_piece = tests.held.read_piece; "
              "sys.argv[0] = 'stages.parse'; runpy.run_module('stages.parse', run_name='__main__', alter_sys=True)")


def start_stage(project: Path, stage: str, genre: str = "g", held: bool = False) -> subprocess.Popen:
    """`python -m stages.<stage> <genre>` in its own process group (a terminal's Ctrl-C reaches the whole group).

    `held`: the parse stage, holding files marked by tests.held.held_midi until their gate exists.
    """
    command = ["-c", HELD_PARSE] if held else ["-m", f"stages.{stage}"]
    # PYTHONFAULTHANDLER: a stage that hangs prints every thread's stack on SIGABRT (ended_after_ctrl_c).
    return subprocess.Popen([sys.executable, *command, genre], cwd=project,
                            env={**ENV, "PYTHONFAULTHANDLER": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_as_a_foreground_job)


def run_stage(project: Path, stage: str) -> str:
    proc = start_stage(project, stage)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"{stage} failed:\n{out}\n{err}"
    return err


def wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the stage ended before {what}:\n{proc.communicate()[1]}"
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.02)


def group_is_gone(pgid: int, timeout: float = 15) -> bool:
    """True once no process of the group is left (its pool workers included)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def partial_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".partial") or ".partial" in p.name]


HELD = "aa_held.mid"  # first in the manifest, so a worker takes it first


def write_manifest(raw: Path, names: list[str]) -> None:
    files = [{"file": n, "status": "kept"} for n in names]
    (raw / "manifest.json").write_text(json.dumps({"genre": "g", "kept": len(files), "skipped": 0, "files": files}))


def parse_project(root: Path, n_files: int = 16, held: bool = False) -> Path:
    """A project whose genre `g` has n_files tunes in data/raw/g/, as the scrape stage leaves them.

    With `held`, also a file held until a gate that is never created (start the stage with `held`), and the
    longest parse_timeout: the stage cannot finish before an interruption a test sends once it has started, on
    any machine.
    """
    from tests.held import held_midi

    raw = root / "data/raw/g"
    names = [write_tune(raw / f"tune_{i:02d}.mid", i, repeats=4).name for i in range(n_files)]
    (raw / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06 broken")
    if held:
        (raw / HELD).write_bytes(held_midi((raw / names[0]).read_bytes(), root / "never-created"))
    write_manifest(raw, [HELD] * held + [*names, "broken.mid"])
    (root / "params.yaml").write_text(yaml.safe_dump({"jobs": 2, "parse_timeout": 86_400 if held else 60,
                                                      "genres": {"g": {"source": "local", "path": "x"}}}))
    return root


def without_the_held_file(project: Path) -> None:
    """The interrupted project made like the uninterrupted one: its held file gone, as if never added."""
    raw = project / "data/raw/g"
    (raw / HELD).unlink()
    write_manifest(raw, [f["file"] for f in json.loads((raw / "manifest.json").read_text())["files"]
                         if f["file"] != HELD])


def cache_entries(project: Path) -> list[Path]:
    return list((project / ".jukebox-cache/notes").glob("*/*.json"))


@pytest.fixture(scope="module")
def uninterrupted_parse(tmp_path_factory) -> dict[str, str]:
    project = parse_project(tmp_path_factory.mktemp("whole"))
    run_stage(project, "parse")
    return {name: (project / "data/notes/g" / name).read_text() for name in ("pieces.jsonl", "summary.json")}


def test_parse_killed_while_parsing_resumes_from_its_cache(tmp_path, uninterrupted_parse):
    project = parse_project(tmp_path, held=True)
    proc = start_stage(project, "parse", held=True)
    wait_for(lambda: len(cache_entries(project)) >= 3, proc, "three parsed files")
    proc.kill()  # SIGKILL to the stage alone, as `kill -9 <pid>` would; its pool workers must not linger
    proc.wait()
    assert group_is_gone(proc.pid), "the pool's workers outlived the killed stage"
    done = len(cache_entries(project))
    assert 3 <= done <= 17, "the held file is never cached"
    assert all(json.loads(p.read_text())["status"] in ("kept", "skipped") for p in cache_entries(project))
    assert not (project / "data/notes/g/summary.json").exists(), "killed before the end"
    without_the_held_file(project)

    log = run_stage(project, "parse")
    assert f"{done} more from the cache" in log, log
    for name, text in uninterrupted_parse.items():
        assert (project / "data/notes/g" / name).read_text() == text, f"{name} differs from an uninterrupted run"
    assert not partial_files(project / "data")
    # A kill that lands inside a cache write leaves its temporary file, which no reader takes; the next run
    # sweeps it once it is stale (a write under way in another process is a few milliseconds old).
    leftover = next((project / ".jukebox-cache/notes").iterdir()) / ".0123abcd.json.x1y2.partial"
    leftover.write_text('{"status": "ke')
    os.utime(leftover, (time.time() - 3600,) * 2)
    run_stage(project, "parse")
    assert not partial_files(project / ".jukebox-cache")


def ended_after_ctrl_c(proc: subprocess.Popen, timeout: float = 120) -> str:
    """The stage's stderr once it has ended; if it has not within `timeout`, fail with the stack of every one of
    its threads (this test hung once in CI in about twenty runs; the stacks say where).

    The stage waits at most 10 s for its reader pool (parsing.stop_pool). Once more in CI, 60 s ran out with the
    main thread inside that bounded wait, so it had entered it 50 s after the Ctrl-C, on a machine whose clock
    also jumped in other ways that day: the margin is now 12 times the stage's own bound.
    """
    try:
        return proc.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGABRT)
        err = proc.communicate(timeout=30)[1]
        raise AssertionError(f"the stage had not ended {timeout:g} s after Ctrl-C; its threads:\n{err[-8000:]}")


def test_parse_interrupted_by_ctrl_c_says_so_in_one_line(tmp_path, uninterrupted_parse):
    """Deterministic: the Ctrl-C is sent once a file is parsed, and the held file keeps the stage from finishing first."""
    project = parse_project(tmp_path, held=True)
    proc = start_stage(project, "parse", held=True)
    wait_for(lambda: len(cache_entries(project)) >= 1, proc, "a parsed file")
    os.killpg(proc.pid, signal.SIGINT)
    err = ended_after_ctrl_c(proc)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("parse[g]: interrupted;")
    assert group_is_gone(proc.pid)
    without_the_held_file(project)
    run_stage(project, "parse")
    for name, text in uninterrupted_parse.items():
        assert (project / "data/notes/g" / name).read_text() == text


def test_a_write_killed_halfway_leaves_the_old_file_whole(tmp_path):
    target = tmp_path / "notes.json"
    target.write_text('{"old": true}')
    writer = (f"import os, signal\nfrom jukebox.artifacts import atomic_path\n"
              f"with atomic_path({str(target)!r}) as tmp:\n"
              f"    with open(tmp, 'w') as f:\n"
              f"        f.write('{{\"new\": [1, 2,'); f.flush()\n"
              f"        os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", writer], env=ENV, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL
    assert json.loads(target.read_text()) == {"old": True}, "the target is the old file, whole"
    leftovers = [p.name for p in tmp_path.iterdir() if p != target]
    assert leftovers and all(n.startswith(".notes.json.") and n.endswith(".partial") for n in leftovers)


TUNE = [1, 2, 3, 4, 5, 3, 2, 1, 6, 7, 6, 5, 4, 3, 2, 1]
TRAIN = dict(seq_len=12, units=16, embedding_dim=8, dropout=0.2, learning_rate=0.01, epochs=4, patience=4,
             windows_per_epoch=1024, val_windows=32, batch_size=32)


def train_project(root: Path) -> Path:
    """A project with the sequences of genre `g` (a repeated tune, slightly varied) ready to train."""
    seq = root / "data/sequences/g"
    seq.mkdir(parents=True)
    rng = np.random.default_rng(0)
    tune = np.tile(np.array(TUNE, dtype=np.int32), 60)
    tune[rng.choice(len(tune), 80, replace=False)] = rng.integers(1, 8, 80)
    np.save(seq / "train.npy", tune)
    np.save(seq / "val.npy", np.roll(np.tile(np.array(TUNE, dtype=np.int32), 6), 3))
    tokens = ["<unk>", "C4", "D4", "E4", "F4", "G4", "A4", "B4"]
    (seq / "vocab.json").write_text(json.dumps({"encoding": "pitch", "tokens": tokens, "counts": [0] + [1] * 7}))
    (root / "params.yaml").write_text(yaml.safe_dump({**TRAIN, "genres": {"g": {"source": "local", "path": "x"}}}))
    return root


def trained(project: Path) -> tuple[list[np.ndarray], dict, list[str]]:
    from jukebox.model import load_model

    weights = load_model(project / "models/g/model.keras").get_weights()
    metrics = json.loads((project / "metrics/g/train/metrics.json").read_text())
    losses = (project / "metrics/g/train/plots/metrics/eval/loss.tsv").read_text().splitlines()
    return weights, metrics, [line.split("\t", 1)[1] for line in losses]  # without dvclive's timestamps


@pytest.mark.slow
@pytest.mark.timeout(600)  # two trainings and a third run
def test_train_killed_after_an_epoch_resumes_to_the_same_model(tmp_path):
    whole = train_project(tmp_path / "whole")
    run_stage(whole, "train")

    project = train_project(tmp_path / "killed")
    state = project / ".jukebox-cache/train/g/state.json"
    proc = start_stage(project, "train")
    wait_for(state.exists, proc, "a checkpoint")
    proc.kill()
    proc.wait()
    epochs_done = len(json.loads(state.read_text())["logs"])
    assert 1 <= epochs_done < TRAIN["epochs"], "killed mid-training"
    assert not (project / "models/g/model.keras").exists()

    log = run_stage(project, "train")
    assert f"after epoch {epochs_done}" in log, "the rerun resumed from the checkpoint"
    assert not state.parent.exists(), "the checkpoint is removed once the model is saved"
    (weights, metrics, losses), (weights_whole, metrics_whole, losses_whole) = trained(project), trained(whole)
    assert all(np.array_equal(a, b) for a, b in zip(weights, weights_whole)), "the same model as an uninterrupted run"
    timing = ("train_seconds", "windows_per_second")
    assert {k: v for k, v in metrics.items() if k not in timing} == \
        {k: v for k, v in metrics_whole.items() if k not in timing}
    assert losses == losses_whole and len(losses) == TRAIN["epochs"] + 1, "every epoch's val_loss, header included"
    assert not partial_files(project)


def test_a_checkpoint_of_other_parameters_is_not_resumed(tmp_path):
    import keras

    from jukebox.checkpoints import Checkpoint
    from jukebox.model import ModelConfig, build_model

    model = build_model(8, ModelConfig(architecture="lstm", seq_len=4, embedding_dim=4, units=4, dropout=0.0))
    model.optimizer.build(model.trainable_variables)
    stop = keras.callbacks.EarlyStopping(patience=2)
    stop.on_train_begin()  # as fit does: it sets the counters the checkpoint records
    saved = Checkpoint(tmp_path, "key-a", stop)
    saved.set_model(model)
    saved.logs = [{"loss": 1.0, "val_loss": 1.0}]
    saved._save(1)
    assert Checkpoint(tmp_path, "key-a", stop).restore(model) == 1
    assert Checkpoint(tmp_path, "key-b", stop).restore(model) == 0, "other parameters or data: start afresh"
    (tmp_path / "state.json").write_text('{"key": "key-a", "fi')  # as if torn (it never is: written atomically)
    assert Checkpoint(tmp_path, "key-a", stop).restore(model) == 0
