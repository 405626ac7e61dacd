"""The stage entry point's quiet TensorFlow: chatter dropped on a machine without a GPU, everything else kept."""
from __future__ import annotations

import os
import subprocess
import sys

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
