"""Shared fixtures: tiny MIDI files written by the tests themselves, and a scratch copy of the project."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

# The suite's compiled composing loops go to a folder of its own (shared by its workers and their stages, pruned
# like any), not to the user's ~/.cache; set before jukebox loads, which reads it (entrypoint.cache_compiled_loops).
os.environ.setdefault("JUKEBOX_XLA_CACHE", str(Path(tempfile.gettempdir()) / "jukebox-tests-xla"))

from jukebox.midi_io import notes_to_stream, write_midi  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# CI (.ci/run, the README's test command) sets this: a missing browser or synthesizer then fails the run instead of
# skipping the tests that need it, so a green run has tested both.
REQUIRE_TOOLS = os.environ.get("JUKEBOX_REQUIRE_TOOLS") == "1"
# The suite runs in one worker per core (pytest-xdist), each with TensorFlow and stages of its own: on a GPU machine
# each process would otherwise reserve nearly all of the GPU's memory, and the second would fail.
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
SETUP = "scripts/setup installs them (Debian packages chromium, chromium-driver, fluidsynth, fluid-soundfont-gm)"


def missing_tools() -> list[str]:
    """The external programs some tests need that this machine lacks: Chromium, chromedriver, FluidSynth, a SoundFont."""
    from jukebox.render import SOUNDFONTS

    missing = [name for name in ("chromium", "chromedriver", "fluidsynth") if shutil.which(name) is None]
    if not any(Path(p).is_file() for p in SOUNDFONTS):
        missing.append("a General MIDI SoundFont")
    return missing


def need(present: bool, what: str) -> None:
    """Skip a test whose tool is missing, saying so; under JUKEBOX_REQUIRE_TOOLS=1 (CI) fail it instead."""
    if present:
        return
    if REQUIRE_TOOLS:
        pytest.fail(f"{what} is missing, and JUKEBOX_REQUIRE_TOOLS=1 asks for every test to run; {SETUP}")
    pytest.skip(f"{what} is not installed; {SETUP}")


def pytest_sessionstart(session) -> None:
    """Under JUKEBOX_REQUIRE_TOOLS=1 a run without the browser or the synthesizer stops at once, naming them."""
    missing = missing_tools() if REQUIRE_TOOLS else []
    if missing:
        raise pytest.UsageError(f"JUKEBOX_REQUIRE_TOOLS=1, but this machine lacks {', '.join(missing)}; {SETUP}")

# A few phrases with notes, a chord and varied rhythm; transposed to make distinct pieces.
PHRASE = [(0.0, 1.0, (60,)), (1.0, 0.5, (62,)), (1.5, 0.5, (64,)), (2.0, 1.0, (60, 64, 67)),
          (3.0, 1.0, (65,)), (4.0, 0.5, (67,)), (4.5, 0.5, (65,)), (5.0, 1.0, (64,)), (6.0, 2.0, (60,))]


def phrase_events(transpose: int = 0, repeats: int = 2):
    """Events of a short tune: the phrase repeated, moved by `transpose` semitones."""
    length = 8.0
    return [(onset + r * length, dur, tuple(p + transpose for p in pitches))
            for r in range(repeats) for onset, dur, pitches in PHRASE]


def write_tune(path: Path, transpose: int = 0, repeats: int = 2) -> Path:
    """Write a tiny real MIDI file."""
    write_midi(notes_to_stream(phrase_events(transpose, repeats)), path)
    return path


@pytest.fixture
def midi_folder(tmp_path: Path) -> Path:
    """A folder of six small MIDI tunes."""
    folder = tmp_path / "tunes"
    for i, shift in enumerate([0, 2, 4, 5, 7, 9]):
        write_tune(folder / f"tune_{i}.mid", shift, repeats=3)
    return folder


def copy_project(dest: Path) -> Path:
    """Copy the project's source (no data, models or metrics) into a fresh git repository with DVC."""
    # models/_base and metrics/_base: the frozen pretrain stage's outputs, which the repository ships.
    for name in ["dvc.yaml", "params.yaml", "app_genres.yaml", "pyproject.toml", "stages", "jukebox", "urls", ".dvc",
                 ".dvcignore", "models/_base", "metrics/_base"]:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "tmp", "cache"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    (dest / ".gitignore").write_text("__pycache__/\n")
    # The listening test's folder, which dvc.yaml names as metrics: a clone has it empty, without anyone's answers.
    (dest / "metrics/_listening").mkdir(parents=True)
    (dest / "metrics/_listening/.gitkeep").touch()
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init"]):
        subprocess.run(cmd, cwd=dest, check=True)
    return dest


# Small enough that a genre goes through every stage in about half a minute on two cores.
# A genre fine-tunes the shipped base (init: base) for finetune_epochs, in the base's shape whatever units say.
WEB_TINY = dict(seq_len=8, units=8, embedding_dim=8, epochs=1, finetune_epochs=1, windows_per_epoch=64,
                val_windows=32, batch_size=32, n_notes=20, n_samples=1, eval_samples=2, val_fraction=0.25,
                patience=1, jobs=1, min_count=1, listen_pairs=2, listen_bars=1,
                upload_finetune_epochs=1)


def set_base_genre(root: Path, tunes: Path, settings: dict, message: str) -> None:
    """Make a project copy's one genre `base`, the MIDI files in `tunes`, with `settings` over params.yaml; commit."""
    import yaml

    params = yaml.safe_load((root / "params.yaml").read_text())
    params.update(settings)
    params["genres"] = {"base": {"source": "local", "path": str(tunes)}}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", message], cwd=root,
                   check=True)


def run_dvc(project: Path, *args: str, unset: tuple[str, ...] = (), stderr: bool = True) -> str:
    """Run dvc in a project with this environment's Python first on PATH (the stages call `python`).

    `unset` names environment variables the run goes without (as on a user's machine, where nothing set them).
    Returns what it printed; stderr=False leaves out its warnings (for output read as JSON).
    """
    import sys

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for name in unset:
        env.pop(name, None)
    result = subprocess.run(["dvc", *args], cwd=project, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + (result.stderr if stderr else "")


class Trained(NamedTuple):
    """The project `dvc repro` trained once per session, and what that repro printed."""

    root: Path
    repro_output: str


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory, worker_id) -> Trained:
    """A project copy with tiny parameters whose one genre, `base`, went through the whole pipeline, once a run.

    Tests never change it: each one that needs a trained project works on a copy (copy_trained), so one `dvc repro`
    serves the web tests, the remote round trip and the pipeline test. The suite runs in pytest-xdist workers, each its
    own session: the first to need the template builds it in the folder they share, the others wait for it.
    TensorFlow's log level is left unset, as on a user's machine, so its output shows whether the stages keep the
    console quiet (tests/test_remote.py).
    """
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent  # the run's folder, above each worker's own
    root, printed = shared / "trained", shared / "trained-repro.txt"
    with FileLock(shared / "trained.lock"):
        if printed.is_file():
            return Trained(root, printed.read_text())
        shutil.rmtree(root, ignore_errors=True)  # a worker that died building it left a part
        root.mkdir()
        copy_project(root)
        tunes = shared / "base-tunes"
        for i, shift in enumerate([0, 2, 3, 5, 7, 8]):
            write_tune(tunes / f"tune_{i}.mid", shift, repeats=2)
        set_base_genre(root, tunes, WEB_TINY, "tiny")
        output = run_dvc(root, "repro", unset=("TF_CPP_MIN_LOG_LEVEL",))
        printed.write_text(output)
        return Trained(root, output)


def copy_trained(template: Trained, dest: Path) -> Path:
    """Copy the trained project whole (git history, DVC cache, outputs) to `dest`, which must not exist yet."""
    def ignore(folder: str, names: list[str]) -> list[str]:
        # .dvc/tmp holds DVC's locks and its index of the template's own paths: a copy starts without them.
        return ["tmp"] if Path(folder) == template.root / ".dvc" else []

    shutil.copytree(template.root, dest, symlinks=True, ignore=ignore)
    return dest


@pytest.fixture(scope="session")
def trained_project(trained_template, tmp_path_factory) -> Path:
    """A copy of the trained project that the web tests share (they add and remove genres of their own in it)."""
    return copy_trained(trained_template, tmp_path_factory.mktemp("web") / "project")


def copier_probs(windows: np.ndarray, vocab_size: int) -> np.ndarray:
    """Next-token probabilities of a model that can only restate: after the window's last 3 tokens, what followed
    them the last time they were heard in the window (else nothing in particular)."""
    probs = np.full((len(windows), vocab_size), 1.0 / vocab_size)
    for row, window in zip(probs, windows):
        for i in range(len(window) - 4, -1, -1):
            if np.array_equal(window[i:i + 3], window[-3:]):
                row[:] = 0.01 / vocab_size
                row[window[i + 3]] += 0.99
                break
    return probs


def drum_band(bars: int = 2):
    """A few bars of a band: kick 36 / snare 38 / closed hi-hat 42 on the drum track, a bass line, a melody."""
    from jukebox.midi_io import MultiTrack, Track, TrackNote

    quarters = 4 * bars
    drums = [TrackNote(q / 2, 0.25, 42, 70) for q in range(2 * quarters)]
    drums += [TrackNote(float(q), 0.25, 36 if q % 2 == 0 else 38, 110) for q in range(quarters)]
    bass = [TrackNote(float(q), 1.0, (40, 43, 45, 47)[q % 4], 90) for q in range(quarters)]
    # Triplets, written as the parse records write times: rounded to 4 digits.
    melody = [TrackNote(round(q / 3, 4), round(1 / 3 if q % 2 else 2 / 3, 4), 72 + q % 7, 80)
              for q in range(0, 3 * quarters, 2)]
    return MultiTrack([Track(33, False, bass), Track(0, True, drums), Track(73, False, melody)], [(0.0, "4/4")], 100.0)


def melody_and_drums(path: Path, transpose: int = 0) -> Path:
    """A two-track MIDI file written with symusic: a flute melody (program 73) and kick, snare and hi-hat on channel 10."""
    import symusic

    score = symusic.Score(480)
    melody = symusic.Track("melody", program=73)
    for i, pitch in enumerate([72, 74, 76, 77, 79, 77, 76, 74]):
        melody.notes.append(symusic.Note(i * 480, 440, pitch + transpose, 90))
    drums = symusic.Track("drums", program=0, is_drum=True)
    for i in range(16):
        drums.notes.append(symusic.Note(i * 240, 120, 42, 70))  # closed hi-hat on every eighth
        if i % 4 == 0:
            drums.notes.append(symusic.Note(i * 240, 120, 36 if i % 8 == 0 else 38, 100))  # kick, snare
    score.tracks.extend([melody, drums])
    path.parent.mkdir(parents=True, exist_ok=True)
    score.dump_midi(str(path))
    return path
