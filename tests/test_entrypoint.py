"""The stage entry point's quiet TensorFlow: chatter dropped on a machine without a GPU, everything else kept."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jukebox.entrypoint import NO_GPU_NOISE, filtered_stderr, has_nvidia_driver
from tests.conftest import ROOT

# What TensorFlow 2.21 printed on this project's CPU-only machine before quiet_tensorflow (one line of each).
CPU_ONLY_CHATTER = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796164345.383678    8002 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
    "not be used.",
    "E0000 00:00:1796164362.722144    8002 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed "
    "call to cuInit: UNKNOWN ERROR (303)",
    "I0000 00:00:1796164345.519999    8002 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.",
]


@pytest.mark.parametrize("line", CPU_ONLY_CHATTER)
def test_the_chatter_is_recognised(line):
    assert NO_GPU_NOISE.search(line)


@pytest.mark.parametrize("line", ["E0000 00:00:1.0  1 op_kernel.cc:1857] OP_REQUIRES failed at conv_ops.cc: OOM",
                                  "Traceback (most recent call last):", "ValueError: seq_len must be positive"])
def test_other_lines_are_not(line):
    assert not NO_GPU_NOISE.search(line)


def test_filtered_stderr_passes_every_other_line(capfd):
    with filtered_stderr(NO_GPU_NOISE):
        os.write(2, (CPU_ONLY_CHATTER[1] + "\nkeep me: from C\n").encode())
        print("keep me: from Python", file=sys.stderr)
    err = capfd.readouterr().err
    assert "keep me: from C" in err and "keep me: from Python" in err and "cudart_stub" not in err


def test_tensorflow_loads_quietly_and_still_finds_its_devices():
    """A fresh interpreter, as a stage or `jukebox` starts: import the package, then TensorFlow, then run an op."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = ("import jukebox, tensorflow as tf; print(tf.reduce_sum(tf.ones(3)).numpy()); "
            "print(len(tf.config.list_physical_devices('GPU')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    total, gpus = result.stdout.split()
    assert total == "3.0"
    if has_nvidia_driver():
        assert int(gpus) >= 1, "a GPU machine keeps its GPU: nothing hides devices"
    else:
        assert result.stderr == "", result.stderr


def test_a_gpu_machine_keeps_tensorflow_errors():
    code = ("import os, sys; from jukebox.entrypoint import quiet_tensorflow; quiet_tensorflow(gpu_driver=True); "
            "print(os.environ['TF_CPP_MIN_LOG_LEVEL'], any(type(f).__name__ == '_QuietTensorFlowImport' "
            "for f in sys.meta_path), os.environ.get('CUDA_VISIBLE_DEVICES'))")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    # entrypoint imported as a plain module, so that jukebox/__init__ does not first call it for this machine.
    result = subprocess.run([sys.executable, "-c", code.replace("from jukebox.entrypoint", "from entrypoint")],
                            cwd=ROOT / "jukebox", env=env, capture_output=True, text=True)
    assert result.stdout.split() == ["2", "False", "None"], result.stderr


def test_an_explicit_low_level_shows_everything():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"}
    result = subprocess.run([sys.executable, "-c", "import jukebox, sys; print(sys.meta_path[0].__class__.__name__)"],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() != "_QuietTensorFlowImport", result.stderr


# --- leaving a stage without TensorFlow's teardown --------------------------------------------------------------

DEMO_STAGE = """
import logging, sys
from jukebox.entrypoint import run_stage

def main(genre):
    if "--tensorflow" in sys.argv:
        import tensorflow
    logging.basicConfig(stream=sys.stderr, format="%(message)s")
    logging.getLogger("demo").warning("logged for %s", genre)
    print("printed, unflushed", end="")

run_stage("demo", main, sys.argv[1:2])
print(" | the interpreter went on")
"""


@pytest.mark.parametrize("tensorflow", [True, False])
def test_a_stage_that_loaded_tensorflow_ends_at_once_with_its_output_flushed(tmp_path, tensorflow):
    script = tmp_path / "demo_stage.py"
    script.write_text(DEMO_STAGE)
    result = subprocess.run([sys.executable, str(script), "tiny", *(["--tensorflow"] if tensorflow else [])],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "logged for tiny" in result.stderr
    assert result.stdout.startswith("printed, unflushed")
    # With TensorFlow loaded, run_stage ends the process itself; without it, the script goes on as usual.
    assert ("the interpreter went on" in result.stdout) is not tensorflow


def test_run_stage_called_by_other_code_returns_to_it():
    """A test or a benchmark that calls run_stage in its own process gets control back, TensorFlow loaded or not."""
    import tensorflow  # noqa: F401  (loaded in this process, as in every test that trains)

    from jukebox.entrypoint import run_stage

    ran = []
    run_stage("demo", ran.append, ["tiny"])
    assert ran == ["tiny"]


# --- the compiled composing loop, kept on disk ---------------------------------------------------------------

def test_the_xla_cache_folder_is_per_tensorflow_version_and_cpu_and_can_be_switched_off(monkeypatch, tmp_path):
    from importlib.metadata import version

    from jukebox.entrypoint import xla_cache_folder

    monkeypatch.setenv("JUKEBOX_XLA_CACHE", str(tmp_path))
    folder = xla_cache_folder()
    assert folder.parent == tmp_path and folder.name.startswith(f"tf{version('tensorflow')}-")
    monkeypatch.setenv("JUKEBOX_XLA_CACHE", str(tmp_path / "with space"))
    assert xla_cache_folder() is None, "TF_XLA_FLAGS splits on whitespace: such a path would break every process"
    monkeypatch.setenv("JUKEBOX_XLA_CACHE", "")
    assert xla_cache_folder() is None
    monkeypatch.delenv("JUKEBOX_XLA_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert xla_cache_folder().parent == tmp_path / "xdg" / "jukebox" / "xla"


def test_importing_jukebox_adds_the_cache_to_the_users_own_xla_flags(tmp_path):
    code = "import os, jukebox; print(os.environ['TF_XLA_FLAGS'])"
    env = {**os.environ, "JUKEBOX_XLA_CACHE": str(tmp_path), "TF_XLA_FLAGS": "--tf_xla_max_cluster_size=7"}
    flags = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=120, check=True).stdout.split()
    assert flags[0] == "--tf_xla_max_cluster_size=7"
    name, _, folder = flags[1].partition("=")
    assert name == "--tf_xla_persistent_cache_directory" and Path(folder).parent == tmp_path and Path(folder).is_dir()


COMPOSE = """
import json, sys
import numpy as np
from jukebox.generation import Composer, Sampling
composer = Composer.load(sys.argv[1])
primers = np.stack([np.arange(1, composer.seq_len + 1) % len(composer.vocab)] * 2).astype(np.int32)
print(json.dumps(composer.compose(primers, Sampling(30, 1.0, top_p=0.95, seed=3))))
"""


def test_a_loop_compiled_for_one_model_composes_another_of_its_shape_as_a_fresh_compile_would(tmp_path):
    """The cache must hold code, never weights: a genre composing with another genre's cached loop gets its own
    music, exactly what it composes with the cache switched off."""
    import keras

    from tests.tiny_genre import write_tiny_genre

    models = write_tiny_genre(tmp_path / "project") / "models"
    shutil.copytree(models / "tiny", models / "other")
    model = keras.saving.load_model(models / "other" / "model.keras")
    model.set_weights([w[::-1] if w.ndim == 2 else w for w in model.get_weights()])  # another model, the same shape
    model.save(models / "other" / "model.keras")
    script, cache = tmp_path / "compose.py", tmp_path / "cache"
    script.write_text(COMPOSE)

    def compose(folder: str, cache_root: str) -> list:
        # Without the flag this suite's own processes pass on (conftest's cache), as a user's shell starts.
        env = {**{k: v for k, v in os.environ.items() if k != "TF_XLA_FLAGS"}, "JUKEBOX_XLA_CACHE": cache_root}
        result = subprocess.run([sys.executable, str(script), str(models / folder)], cwd=ROOT, capture_output=True,
                                text=True, timeout=300, env=env)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.splitlines()[-1])

    first = compose("tiny", str(cache))
    compiled = sorted(cache.rglob("*.pb"))
    assert compiled, "the first process to compose writes its compiled loop"
    cached = compose("other", str(cache))
    assert sorted(cache.rglob("*.pb")) == compiled, "the second loads it: nothing new compiled"
    assert cached == compose("other", ""), "and composes what a fresh compile composes"
    assert cached != first, "with its own weights"
