"""Latency / throughput of the ONNX runtime, optionally against Keras in the same process.

Latency: ``latency_runs`` single-image calls (batch 1) after ``warmup`` calls; p50/p95 in ms.
Throughput: ``throughput_runs`` calls at batch ``batch`` (256); images/s = images / total time.
Keras is timed through ``tf.function(lambda x: model(x, training=False), jit_compile=False)``
on pre-built tensors (not ``model.predict``, which adds per-call data-adapter overhead).
ORT gets numpy arrays (its native input); outputs are materialised as numpy on both sides.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np


def _time_calls(fn: Callable[[], object], n: int, warmup: int) -> np.ndarray:
    for _ in range(warmup):
        fn()
    out = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t0
    return out


def measure(call1: Callable[[], object], callb: Callable[[], object], batch: int, *,
            latency_runs: int = 300, throughput_runs: int = 20, warmup: int = 20) -> dict:
    lat = _time_calls(call1, latency_runs, warmup)
    thr = _time_calls(callb, throughput_runs, max(2, warmup // 5))
    return {
        "latency_ms_p50": float(np.percentile(lat, 50) * 1e3),
        "latency_ms_p95": float(np.percentile(lat, 95) * 1e3),
        "latency_runs": latency_runs,
        "throughput_ips": float(batch * throughput_runs / thr.sum()),
        "throughput_batch": batch,
        "throughput_runs": throughput_runs,
    }


def bench_onnx(model, *, batch: int = 256, seed: int = 0, **kw) -> dict:
    """``model`` is a :class:`cnnspec.runtime.OnnxModel`."""
    rng = np.random.default_rng(seed)
    shape = model.input_shape
    xb = (rng.integers(0, 256, size=(batch, *shape)).astype(np.float32) * model.scale + model.offset)
    x1 = np.ascontiguousarray(xb[:1])
    res = measure(lambda: model.run_scaled(x1), lambda: model.run_scaled(xb), batch, **kw)
    res.update({"engine": "onnxruntime", "device": model.device, "providers": model.providers})
    return res


def bench_keras(model, meta: dict, *, batch: int = 256, seed: int = 0, **kw) -> dict:
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    shape = tuple(meta["input_shape"])
    xb = (rng.integers(0, 256, size=(batch, *shape)).astype(np.float32) * np.float32(meta["scale"])
          + np.float32(meta["offset"]))
    tb, t1 = tf.constant(xb), tf.constant(xb[:1])
    fn = tf.function(lambda t: model(t, training=False), jit_compile=False)
    res = measure(lambda: fn(t1).numpy(), lambda: fn(tb).numpy(), batch, **kw)
    res.update({"engine": "keras " + _keras_version() + " (tf.function)"})
    return res


def _keras_version() -> str:
    import keras

    return keras.__version__


def ratios(ort: dict, keras: dict) -> dict:
    return {
        "latency_p50_ratio": ort["latency_ms_p50"] / keras["latency_ms_p50"],
        "latency_p95_ratio": ort["latency_ms_p95"] / keras["latency_ms_p95"],
        "throughput_ratio": ort["throughput_ips"] / keras["throughput_ips"],
    }
