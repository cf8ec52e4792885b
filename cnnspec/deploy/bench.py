"""Latency / throughput of every installed engine x precision (no TensorFlow here; the Keras side
is in :mod:`cnnspec.keras.bench`).

Latency: ``latency_runs`` single-image calls (batch 1) after ``warmup`` calls; p50/p95 in ms.
Throughput: ``throughput_runs`` calls at batch ``batch`` (256); images/s = batch / median call
time (the median resists the odd call slowed down by another process on a shared machine;
``throughput_ips_mean`` = images / total time is reported too). Every variant is timed through
the same ``run(x_scaled) -> probabilities`` callable on prebuilt float32 arrays; outputs are
materialised as numpy.

:func:`compare_variants` times the variants in turn for ``rounds`` rounds (pausing between blocks so
none measures another's still-spinning worker threads) and keeps each variant's best round (lowest
p50 / p95, highest throughput): on a shared 2-core machine a stray process otherwise decides the
ratio. Every round is kept in the report. With test images, each variant's accuracy and top-1
agreement with the reference (the first variant: onnxruntime fp32) are measured too.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from cnnspec.errors import CnnspecError


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
    """Batch-1 latency percentiles and batch-``batch`` throughput of two zero-argument calls."""
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


def inputs(input_shape, scale: float, offset: float, batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scaled random pixel batches (1 and ``batch`` examples)."""
    rng = np.random.default_rng(seed)
    xb = (rng.integers(0, 256, size=(batch, *input_shape)).astype(np.float32) * np.float32(scale)
          + np.float32(offset))
    return np.ascontiguousarray(xb[:1]), xb


def bench_onnx(model, *, batch: int = 256, seed: int = 0, **kw) -> dict:
    """One :class:`cnnspec.deploy.runtime.OnnxModel` measured alone."""
    x1, xb = inputs(model.input_shape, model.scale, model.offset, batch, seed)
    res = measure(lambda: model.run_scaled(x1), lambda: model.run_scaled(xb), batch, **kw)
    res.update({"engine": model.engine, "device": model.device, "providers": model.providers,
                "precision": model.precision})
    return res


def best_of(rounds: list[dict]) -> dict:
    """Each figure's best value over the rounds (lowest latency, highest throughput)."""
    best = dict(rounds[0])
    for key in ("latency_ms_p50", "latency_ms_p95"):
        best[key] = min(r[key] for r in rounds)
    for key in ("throughput_ips", "throughput_ips_mean"):
        best[key] = max(r[key] for r in rounds)
    best["rounds"] = len(rounds)
    return best


def ratios(ort: dict, keras: dict) -> dict:
    """Latency and throughput of ``ort`` relative to ``keras`` (same run)."""
    return {
        "latency_p50_ratio": ort["latency_ms_p50"] / keras["latency_ms_p50"],
        "latency_p95_ratio": ort["latency_ms_p95"] / keras["latency_ms_p95"],
        "throughput_ratio": ort["throughput_ips"] / keras["throughput_ips"],
    }


def engine_variants(fp32_path, int8_path=None, *, threads: int | None = None, engines=None,
                    on_notice=None) -> dict:
    """``{label: OnnxModel}`` for every installed engine x precision (fp32; OpenVINO's own bf16 when it
    picks one; int8 when ``int8_path`` is given). The first is onnxruntime fp32 (the reference)."""
    from cnnspec.deploy.engines import installed
    from cnnspec.deploy.runtime import OnnxModel

    names = engines or installed()
    out = {}
    for path, tag in ((fp32_path, "fp32"), (int8_path, "int8")):
        if path is None:
            continue
        for name in names:
            m = OnnxModel(path, device="cpu", threads=threads, engine=name, precision="fp32", on_notice=on_notice)
            out[f"{name} {m.precision}"] = m
            if name == "openvino" and tag == "fp32":
                auto = OnnxModel(path, device="cpu", threads=threads, engine=name, precision="auto", on_notice=None)
                if auto.precision != "fp32":
                    out[f"{name} {auto.precision}"] = auto
    return out


def accuracy(runs: dict[str, Callable], x_scaled: np.ndarray, y: np.ndarray | None, batch: int = 256) -> dict:
    """Per variant: accuracy on (x, y) when labels are given, and top-1 agreement with the first."""
    preds = {}
    for label, run in runs.items():
        preds[label] = np.concatenate([np.asarray(run(x_scaled[i:i + batch])).argmax(-1)
                                       for i in range(0, len(x_scaled), batch)])
    ref = next(iter(preds.values()))
    out = {}
    for label, p in preds.items():
        out[label] = {"agreement": float(np.mean(p == ref)), "n": int(len(p))}
        if y is not None:
            out[label]["accuracy"] = float(np.mean(p == y))
    return out


def compare_variants(runs: dict[str, Callable], x1: np.ndarray, xb: np.ndarray, *, rounds: int = 3,
                     pause: float = 0.5, baseline: str | None = None, **kw) -> dict:
    """Time every variant ``rounds`` times in turn; best round each, ratios against ``baseline``."""
    if not runs:
        raise CnnspecError("nothing to benchmark")
    all_rounds: dict[str, list] = {label: [] for label in runs}
    for _ in range(rounds):
        for label, run in runs.items():
            time.sleep(pause)
            all_rounds[label].append(measure(lambda: run(x1), lambda: run(xb), len(xb), **kw))
    best = {label: best_of(rs) for label, rs in all_rounds.items()}
    base = baseline if baseline in best else next(iter(best))
    for label, b in best.items():
        b["vs"] = base
        b.update(ratios(b, best[base]))
    return {"variants": best, "baseline": base, "all_rounds": all_rounds}


def write_png(path, result: dict, title: str) -> None:
    """Bar charts of throughput and batch-1 latency relative to the baseline, written atomically."""
    import io

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise CnnspecError("--png needs matplotlib (pip install matplotlib)") from exc
    from cnnspec.runs.files import atomic_bytes

    labels = list(result["variants"])
    thr = [result["variants"][k]["throughput_ratio"] for k in labels]
    lat = [result["variants"][k]["latency_p50_ratio"] for k in labels]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.5 * len(labels) + 1.8))
    for ax, vals, name in ((axes[0], thr, "batch throughput"), (axes[1], lat, "batch-1 latency p50")):
        ax.barh(labels, vals, color=["#888" if k == result["baseline"] else "#3a7" for k in labels])
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_xlabel(f"{name} / {result['baseline']}")
        ax.invert_yaxis()
        for i, v in enumerate(vals):
            ax.text(v, i, f" {v:.2f}x", va="center", fontsize=8)
    axes[1].set_yticklabels([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_bytes(path, buf.getvalue())
