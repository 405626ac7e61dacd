"""Where training runs: one device, every GPU of one machine, or several machines, all through tf.distribute."""
from __future__ import annotations

import json
from typing import Sequence

STRATEGIES = ("single", "mirrored", "multi_worker")


def cluster_config(tf_config: str | None) -> dict:
    """TF_CONFIG's JSON as a dict ({} when unset), with an error that says what a valid one looks like."""
    if not tf_config:
        return {}
    example = '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
    try:
        config = json.loads(tf_config)
    except ValueError as exc:
        raise ValueError(f"TF_CONFIG is not JSON ({exc}); expected e.g. {example}") from None
    task = config.get("task") if isinstance(config, dict) else None
    if not (isinstance(task, dict) and {"type", "index"} <= task.keys() and isinstance(config.get("cluster"), dict)):
        raise ValueError(f"TF_CONFIG needs `cluster` and `task` with `type` and `index`; expected e.g. {example}")
    return config


def is_chief(tf_config: str | None) -> bool:
    """True for the one process that writes the model and metrics: alone, the `chief` task, or worker 0 without one."""
    config = cluster_config(tf_config)
    if not config:
        return True
    task = config["task"]
    if task["type"] == "chief":
        return True
    return task["type"] == "worker" and task["index"] == 0 and "chief" not in config["cluster"]


def make_strategy(name: str, tf_config: str | None = None, devices: Sequence[str] | None = None):
    """The tf.distribute strategy called `name` (the `strategy` parameter).

    `single` is TensorFlow's default strategy (one device); `mirrored` copies the model onto `devices`
    (default: every local GPU, else the CPU); `multi_worker` joins the cluster that the TF_CONFIG JSON
    `tf_config` describes, using this machine's GPUs. Create it before any other TensorFlow work.
    """
    import tensorflow as tf

    if name == "single":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker":
        config = cluster_config(tf_config)
        if not config:
            raise ValueError("strategy multi_worker needs TF_CONFIG set on every machine (see README, Scaling out)")
        resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec(config["cluster"]), task_type=config["task"]["type"],
            task_id=config["task"]["index"], rpc_layer="grpc",
            num_accelerators={"GPU": len(tf.config.list_physical_devices("GPU"))},
        )
        _fix_keras_multi_worker_fit()
        return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    raise ValueError(f"unknown strategy {name!r}; choose one of {STRATEGIES}")


def _fix_keras_multi_worker_fit() -> None:
    """Let Keras 3's model.fit run under MultiWorkerMirroredStrategy (keras-team/keras#20585, open in Keras 3.15).

    Two steps of Keras' TensorFlow trainer fail with several workers: the symbolic build averages a nested batch
    across workers (strategy.reduce takes one tensor, not a tuple), and the metrics are averaged along axis 0,
    which a scalar lacks. Both only need this replica's value: the batch for its shapes, and the metrics because
    Keras metric variables are already summed across replicas. Remove this once Keras fixes fit.
    """
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer, "_jukebox_multi_worker_fix", False):
        return

    def local(strategy, values):
        return tree.map_structure(
            lambda v: strategy.experimental_local_results(v)[0] if trainer._is_per_replica_instance(v) else v, values)

    reduce_per_replica = trainer.reduce_per_replica

    def reduce_metrics(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return local(strategy, values)
        return reduce_per_replica(values, strategy, reduction)

    symbolic_build = trainer.TensorFlowTrainer._maybe_symbolic_build

    def build_from_local_batch(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is None or strategy is None or not trainer._collective_all_reduce_multi_worker(strategy):
            return symbolic_build(self, iterator=iterator, data_batch=data_batch)
        for _, _, batches in iterator:
            data_batch = local(strategy, next(batches))
            break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    trainer.reduce_per_replica = reduce_metrics
    trainer.TensorFlowTrainer._maybe_symbolic_build = build_from_local_batch
    trainer._jukebox_multi_worker_fix = True
