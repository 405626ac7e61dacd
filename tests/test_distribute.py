import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from jukebox.distribute import cluster_config, is_chief, make_strategy
from tests.conftest import ROOT
from tests.test_train import next_token_loss, tiny_project


def cluster(index: int, ports: list[int], task: str = "worker") -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": task, "index": index}})


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_tf_config_is_validated_and_names_the_chief():
    assert cluster_config(None) == {} and is_chief(None) and is_chief("")
    assert is_chief(cluster(0, [1, 2])) and not is_chief(cluster(1, [1, 2]))
    with_chief = json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": "worker", "index": 0}})
    assert not is_chief(with_chief)
    for bad in ("not json", "[]", '{"task": {"type": "worker", "index": 0}}', '{"cluster": {}, "task": {}}'):
        with pytest.raises(ValueError, match="TF_CONFIG"):
            cluster_config(bad)


def test_strategies_by_name():
    import tensorflow as tf

    assert make_strategy("single") is tf.distribute.get_strategy()
    assert make_strategy("mirrored", devices=["/cpu:0"]).num_replicas_in_sync == 1
    with pytest.raises(ValueError, match="TF_CONFIG"):
        make_strategy("multi_worker", None)
    with pytest.raises(ValueError, match="unknown strategy"):
        make_strategy("parameter_server")


def run_python(code: str, cwd=ROOT, env=None, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)


@pytest.mark.slow
def test_mirrored_trains_on_two_logical_cpus():
    # Logical devices must be declared before TensorFlow starts, hence a fresh process.
    process = run_python("""
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from jukebox.dataset import training_dataset
        from jukebox.distribute import make_strategy
        from jukebox.model import ModelConfig, build_model
        strategy = make_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
        with strategy.scope():
            model = build_model(8, ModelConfig(architecture="lstm", seq_len=12, layers=2, embedding_dim=8, units=16,
                                               dropout=0.0, learning_rate=0.01))
        tokens = np.tile(np.arange(1, 8, dtype=np.int32), 60)
        history = model.fit(training_dataset(tokens, 12, 32, 320, 0, every_position=True), epochs=3, verbose=0)
        print("REPLICAS", strategy.num_replicas_in_sync, "LOSS", *history.history["loss"])
    """)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, out
    words = out.split("REPLICAS")[1].split()
    assert words[0] == "2"
    losses = [float(w) for w in words[2:]]
    assert losses[-1] < losses[0], "two replicas train one model"


@pytest.mark.slow
def test_multi_worker_stage_runs_on_two_local_workers(tmp_path):
    project = tiny_project(tmp_path, architecture="lstm", strategy="multi_worker", epochs=2)
    ports, scratch = free_ports(2), tmp_path / "scratch"
    scratch.mkdir()
    workers = [run_python("from stages import train; train.main('g')", cwd=project,
                          env={"TF_CONFIG": cluster(i, ports), "TMPDIR": str(scratch)}) for i in range(2)]
    outs = [w.communicate(timeout=150)[0] for w in workers]
    for w, out in zip(workers, outs):
        assert w.returncode == 0, out
        assert "2 replicas (multi_worker)" in out
    metrics = json.loads((project / "metrics/g/train/metrics.json").read_text())
    # The chief alone wrote outputs, and the loss it reports is over every validation window, not its share.
    assert metrics["val_loss"] == pytest.approx(next_token_loss(project, 12, 32), rel=1e-3)
    assert not list(scratch.glob("jukebox-worker-*")), "the other worker's throwaway outputs are gone"
