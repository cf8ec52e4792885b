"""Latency / throughput of the ONNX runtime (no TensorFlow here; the Keras side is in cnnspec.keras.bench).

Latency: ``latency_runs`` single-image calls (batch 1) after ``warmup`` calls; p50/p95 in ms.
Throughput: ``throughput_runs`` calls at batch ``batch`` (256); images/s = batch / median call
time (the median resists the odd call slowed down by another process on a shared machine;
``throughput_ips_mean`` = images / total time is reported too).
Keras is timed through ``tf.function(lambda x: model(x, training=False), jit_compile=False)``
on pre-built tensors (not ``model.predict``, which adds per-call data-adapter overhead).
ORT gets numpy arrays (its native input); outputs are materialised as numpy on both sides.

:func:`cnnspec.keras.bench.compare` alternates the two engines for ``rounds`` rounds (pausing between blocks so
neither measures the other's still-spinning worker threads) and keeps each engine's best
round (lowest p50 / p95, highest throughput): on a shared 2-core machine a stray process
otherwise decides the ratio. Every round is kept in the report.
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
            latency_runs: int = 300, throughput_runs: int = 30, warmup: int = 20) -> dict:
    lat = _time_calls(call1, latency_runs, warmup)
    thr = _time_calls(callb, throughput_runs, max(2, warmup // 5))
    return {
        "latency_ms_p50": float(np.percentile(lat, 50) * 1e3),
        "latency_ms_p95": float(np.percentile(lat, 95) * 1e3),
        "latency_runs": latency_runs,
        "throughput_ips": float(batch / np.median(thr)),
        "throughput_ips_mean": float(batch * throughput_runs / thr.sum()),
        "throughput_batch": batch,
        "throughput_runs": throughput_runs,
    }


def bench_onnx(model, *, batch: int = 256, seed: int = 0, **kw) -> dict:
    """``model`` is a :class:`cnnspec.deploy.runtime.OnnxModel`."""
    rng = np.random.default_rng(seed)
    shape = model.input_shape
    xb = (rng.integers(0, 256, size=(batch, *shape)).astype(np.float32) * model.scale + model.offset)
    x1 = np.ascontiguousarray(xb[:1])
    res = measure(lambda: model.run_scaled(x1), lambda: model.run_scaled(xb), batch, **kw)
    res.update({"engine": "onnxruntime", "device": model.device, "providers": model.providers})
    return res


def best_of(rounds: list[dict]) -> dict:
    best = dict(rounds[0])
    for key in ("latency_ms_p50", "latency_ms_p95"):
        best[key] = min(r[key] for r in rounds)
    for key in ("throughput_ips", "throughput_ips_mean"):
        best[key] = max(r[key] for r in rounds)
    best["rounds"] = len(rounds)
    return best


def ratios(ort: dict, keras: dict) -> dict:
    return {
        "latency_p50_ratio": ort["latency_ms_p50"] / keras["latency_ms_p50"],
        "latency_p95_ratio": ort["latency_ms_p95"] / keras["latency_ms_p95"],
        "throughput_ratio": ort["throughput_ips"] / keras["throughput_ips"],
    }
