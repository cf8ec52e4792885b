"""Devices and tf.distribute strategies for a run (``--distribute mirrored|multiworker``)."""
from __future__ import annotations

import json
import os

from cnnspec.errors import CnnspecError


def configure_devices() -> None:
    """``CNNSPEC_LOGICAL_CPUS=N`` splits the CPU into N logical devices (before TF initializes)."""
    n = os.environ.get("CNNSPEC_LOGICAL_CPUS")
    if not n:
        return
    import tensorflow as tf

    try:
        k = int(n)
        cpu = tf.config.list_physical_devices("CPU")[0]
        if k > 1:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(k)])
    except (ValueError, RuntimeError) as exc:
        raise CnnspecError(f"CNNSPEC_LOGICAL_CPUS={n}: {exc}") from exc


def _tf_config() -> dict:
    try:
        tfc = json.loads(os.environ.get("TF_CONFIG", "{}"))
    except ValueError as exc:
        raise CnnspecError("TF_CONFIG is not valid JSON") from exc
    if not isinstance(tfc, dict):
        raise CnnspecError("TF_CONFIG must be a JSON object")
    return tfc


def make_strategy(kind: str | None):
    """None (one device), MirroredStrategy over the GPUs or logical CPUs, or MultiWorkerMirrored."""
    import tensorflow as tf

    if kind in (None, "", "none"):
        return None
    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy()
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=cpus,
                                              cross_device_ops=tf.distribute.ReductionToOneDevice())
    if kind == "multiworker":
        _tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise CnnspecError(f"unknown --distribute {kind!r}: choose mirrored or multiworker")


def worker_count() -> int:
    """Chief + workers listed in TF_CONFIG's cluster."""
    cluster = _tf_config().get("cluster") or {}
    if not isinstance(cluster, dict):
        raise CnnspecError("TF_CONFIG's cluster must be a JSON object")
    return sum(len(v) for k, v in cluster.items() if k in ("chief", "worker") and isinstance(v, list))


def is_chief() -> tuple[bool, int]:
    """(this task writes the run directory, task index) from TF_CONFIG."""
    try:
        tfc = _tf_config()
    except CnnspecError:
        return True, 0
    task = tfc.get("task") or {}
    typ, idx = task.get("type", "chief"), int(task.get("index", 0))
    if typ == "chief":
        return True, 0
    has_chief = "chief" in (tfc.get("cluster") or {})
    return (typ == "worker" and idx == 0 and not has_chief), idx


def devices_of(strategy) -> tuple[int, list[str]]:
    """(replicas in sync, device names) of a strategy (None: the first CPU)."""
    import tensorflow as tf

    if strategy is None:
        return 1, [d.name for d in tf.config.list_logical_devices("CPU")][:1]
    return strategy.num_replicas_in_sync, list(strategy.extended.worker_devices)
