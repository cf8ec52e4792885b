"""Inference engines for exported ONNX files, and ``auto``: the fastest one installed here.

An engine is an object with ``name``, ``device``, ``precision`` (``fp32``/``bf16``), ``providers``,
``notice`` and ``run(x_scaled) -> probabilities``. Engines: ``onnxruntime`` (always, the
``runtime`` extra) and ``openvino`` (the ``openvino`` extra). Adding one is a module with a
class like :class:`cnnspec.deploy.ort_engine.OrtEngine` and one line in :data:`ENGINES`.

``engine="auto"``: a GPU that really starts (onnxruntime's CUDA/TensorRT providers) wins
outright; otherwise every installed CPU engine is timed on the model for about a second
(batch-1 latency and batch-64 throughput, interleaved) and the fastest is kept. A precision
change (OpenVINO's own bf16) is allowed only with ``precision="auto"`` and only when its top-1
agreement with onnxruntime fp32 on the probe inputs is at least :data:`MIN_AGREEMENT`. The
result is cached per model file (size, mtime, path) and CPU in
``$CNNSPEC_CACHE_DIR`` (default ``~/.cache/cnnspec``)/``engine-probe.json`` and announced in one line.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from cnnspec.errors import CnnspecError

ENGINE_NAMES = ("auto", "onnxruntime", "openvino")
PRECISIONS = ("auto", "fp32")
MIN_AGREEMENT = 0.99
PROBE_BATCH = 64


def cpu_name() -> str:
    """The CPU model name (Linux /proc/cpuinfo; platform.processor() elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


def cpu_flags() -> set[str]:
    """CPU feature flags (Linux); empty elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_family() -> str:
    """``avx512-bf16``, ``avx512``, ``avx2`` or ``other``: what the CPU kernels can use."""
    flags = cpu_flags()
    if "avx512_bf16" in flags or "amx_bf16" in flags:
        return "avx512-bf16"
    if "avx512f" in flags:
        return "avx512"
    return "avx2" if "avx2" in flags else "other"


def cores() -> int:
    """Usable cores for this process."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def installed() -> list[str]:
    """Names of the engines that can run here (onnxruntime first)."""
    from cnnspec.deploy import openvino_engine

    return ["onnxruntime"] + (["openvino"] if openvino_engine.available() else [])


def open_engine(path, engine: str = "onnxruntime", *, device: str = "auto", threads: int | None = None,
                precision: str = "auto", spinning: bool = True, optimization: str = "all"):
    """One engine by name (not ``auto``; see :func:`choose_engine`)."""
    if precision not in PRECISIONS:
        raise CnnspecError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
    if engine == "onnxruntime":
        from cnnspec.deploy.ort_engine import OrtEngine

        return OrtEngine(path, device, threads, optimization=optimization, spinning=spinning)
    if engine == "openvino":
        from cnnspec.deploy.openvino_engine import OpenVinoEngine

        return OpenVinoEngine(path, device, threads, precision=precision)
    raise CnnspecError(f"unknown engine {engine!r} (choose from {', '.join(ENGINE_NAMES)})")


def _cache_file() -> Path:
    base = os.environ.get("CNNSPEC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cnnspec")
    return Path(base) / "engine-probe.json"


def _cache_key(path, precision: str, threads: int | None, names: list[str]) -> str:
    st = Path(path).stat()
    ident = [str(Path(path).resolve()), st.st_size, st.st_mtime_ns, cpu_name(), cores(), precision,
             threads, names, _versions(names)]
    return hashlib.sha256(json.dumps(ident, default=str).encode()).hexdigest()[:24]


def _versions(names: list[str]) -> dict:
    out = {}
    for n in names:
        try:
            mod = __import__(n)
            out[n] = getattr(mod, "__version__", "?")
        except ImportError:
            out[n] = None
    return out


def _read_cache() -> dict:
    try:
        data = json.loads(_cache_file().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(key: str, entry: dict) -> None:
    from cnnspec.runs.files import atomic_json

    data = _read_cache()
    data[key] = entry
    if len(data) > 200:  # keep the file small: drop the oldest entries
        data = dict(sorted(data.items(), key=lambda kv: kv[1].get("time", 0))[-200:])
    try:
        _cache_file().parent.mkdir(parents=True, exist_ok=True)
        atomic_json(_cache_file(), data)
    except OSError:
        pass  # a cache only


def probe(engines: dict, input_shape, *, scale: float = 1 / 255, offset: float = 0.0, seconds: float = 1.0,
          seed: int = 0) -> dict:
    """Time each engine (batch 1 and batch :data:`PROBE_BATCH`, interleaved); returns figures.

    The inputs are random pixels (0..255) scaled as the model's metadata says; ``agreement`` is the
    top-1 agreement of each engine with the first (reference) engine on the batch.
    """
    rng = np.random.default_rng(seed)
    xb = (rng.integers(0, 256, (PROBE_BATCH, *input_shape)).astype(np.float32) * np.float32(scale)
          + np.float32(offset))
    x1 = np.ascontiguousarray(xb[:1])
    ref_name = next(iter(engines))
    ref = None
    stats: dict[str, dict] = {}
    for name, eng in engines.items():  # warm-up (and the agreement check)
        out = eng.run(xb)
        eng.run(x1)
        ref = out if name == ref_name else ref
        stats[name] = {"agreement": float(np.mean(out.argmax(-1) == ref.argmax(-1))), "t1": [], "tb": []}
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or any(len(s["tb"]) < 2 for s in stats.values()):
        for name, eng in engines.items():
            for _ in range(5):
                t0 = time.perf_counter()
                eng.run(x1)
                stats[name]["t1"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            eng.run(xb)
            stats[name]["tb"].append(time.perf_counter() - t0)
    out = {}
    for name, s in stats.items():
        out[name] = {"latency_ms": float(np.median(s["t1"]) * 1e3),
                     "throughput_ips": float(PROBE_BATCH / np.median(s["tb"])),
                     "agreement": s["agreement"], "precision": engines[name].precision}
    return out


def _score(fig: dict, best_lat: float, best_thr: float) -> float:
    """Geometric mean of (latency / best latency) and (best throughput / throughput): lower is better."""
    return float(np.sqrt(fig["latency_ms"] / best_lat * best_thr / fig["throughput_ips"]))


def pick(figures: dict, precision: str) -> str:
    """The fastest engine among those allowed (fp32 only when ``precision='fp32'``)."""
    allowed = {n: f for n, f in figures.items()
               if (f["precision"] == "fp32" or precision == "auto") and f["agreement"] >= MIN_AGREEMENT}
    allowed = allowed or {n: f for n, f in figures.items() if f["precision"] == "fp32"}
    best_lat = min(f["latency_ms"] for f in allowed.values())
    best_thr = max(f["throughput_ips"] for f in allowed.values())
    return min(allowed, key=lambda n: _score(allowed[n], best_lat, best_thr))


def choose_engine(path, input_shape, *, scale: float = 1 / 255, offset: float = 0.0, device: str = "auto",
                  threads: int | None = None, precision: str = "auto", spinning: bool = True,
                  on_notice: Callable[[str], None] | None = None):
    """``engine=auto``: the fastest installed engine for this model file and CPU (cached probe)."""
    first = open_engine(path, "onnxruntime", device=device, threads=threads, spinning=spinning)
    names = installed()
    if first.device != "cpu" or len(names) == 1:
        return first  # a real GPU, or nothing to choose from
    key = _cache_key(path, precision, threads, names)
    cached = _read_cache().get(key)
    engines = {"onnxruntime": first}
    for name in names[1:]:
        if cached and cached.get("engine") not in (name,):
            continue
        try:
            engines[name] = open_engine(path, name, device="cpu", threads=threads, precision=precision)
        except CnnspecError:
            continue
    if cached and cached.get("engine") in engines:
        chosen, figures, source = cached["engine"], cached["figures"], "cached probe"
    else:
        figures = probe(engines, input_shape, scale=scale, offset=offset)
        chosen, source = pick(figures, precision), "probe"
        _write_cache(key, {"engine": chosen, "figures": figures, "time": time.time()})
    eng = engines[chosen]
    if on_notice:
        on_notice(auto_notice(chosen, figures, source, eng.precision))
    return eng


def _excluded(fig: dict) -> str:
    """Why an engine's figures did not count (its reduced precision changed answers), or ""."""
    if fig.get("precision", "fp32") != "fp32" and fig.get("agreement", 1.0) < MIN_AGREEMENT:
        return (f" [not eligible: {fig['precision']} agreed on {fig['agreement'] * 100:.1f}% of top-1 answers, "
                f"under {MIN_AGREEMENT * 100:.0f}%]")
    return ""


def auto_notice(chosen: str, figures: dict, source: str, precision: str) -> str:
    """The one line that says which engine ``auto`` chose and why."""
    parts = [f"{n} {f['latency_ms']:.3f} ms/{f['throughput_ips']:,.0f} img/s" + _excluded(f)
             for n, f in figures.items()]
    line = f"cnnspec: engine {chosen} ({source} on {cpu_name()}, batch-1 latency/batch-{PROBE_BATCH} " \
           f"throughput: {'; '.join(parts)})"
    if precision != "fp32":
        agree = figures.get(chosen, {}).get("agreement", float("nan"))
        line += (f"; runs in {precision}: top-1 agreement {agree * 100:.1f}% with fp32 on the probe "
                 "inputs (--precision fp32 forbids it)")
    return line
