"""The OpenVINO engine (optional extra ``cnnspec[openvino]``): reads the same exported ``.onnx``.

OpenVINO's CPU plugin picks its own inference precision: on CPUs with AVX-512 BF16 or AMX it
runs in bfloat16 unless told otherwise. cnnspec treats that as a precision change, like INT8:

* ``precision="fp32"`` sets ``INFERENCE_PRECISION_HINT=f32`` (exact to ~1e-6 of onnxruntime);
* ``precision="auto"`` (the default) lets OpenVINO choose and reports what it chose
  (``engine.precision`` is ``"bf16"`` or ``"fp32"``); callers measure agreement/accuracy
  (``cnnspec bench``, the ``auto`` probe) and say so in their one-line notice.

Compiled models are cached per batch size (OpenVINO is fastest on static shapes); at most
:data:`MAX_COMPILED` sizes are kept, other sizes run on one dynamic-batch compilation. Each thread
has its own infer requests; the engine runs two calls at construction, before any thread can race
on the binding's first use (see :meth:`OpenVinoEngine._warm_up`).
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from cnnspec.errors import CnnspecError, ModelFileError

PRECISIONS = ("auto", "fp32", "bf16")
MAX_COMPILED = 4
_OV_PRECISION = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}


class EngineUnavailable(CnnspecError):
    """An engine that is not installed (or cannot run here) was asked for by name."""


def available() -> bool:
    """True when the ``openvino`` package imports."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


class OpenVinoEngine:
    """An OpenVINO CPU compilation of an ONNX file behind the engine interface."""

    name = "openvino"

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None, *,
                 precision: str = "auto") -> None:
        if precision not in PRECISIONS:
            raise CnnspecError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
        if device not in ("auto", "cpu"):
            raise EngineUnavailable(f"the openvino engine runs on the CPU here (asked for --device {device})")
        try:
            import openvino as ov
        except ImportError as exc:
            raise EngineUnavailable("engine openvino is not installed: pip install 'cnnspec[openvino]'") from exc
        self.path = str(path)
        self.device = "cpu"
        self.notice = None
        self._core = ov.Core()
        try:
            self._model = self._core.read_model(self.path)
        except Exception as exc:  # noqa: BLE001 - any reader failure is "not a usable model"
            msg = " ".join(str(exc).split())[:160]
            raise ModelFileError(f"OpenVINO cannot read this ONNX model ({type(exc).__name__}: {msg})",
                                 file=self.path) from exc
        # No CPU pinning: OpenVINO pins its threads to cores by default, and on a machine shared with
        # other processes a pinned thread waits for its busy core (batch-1 latency 2.2 -> 0.35 ms on
        # the VGG network under load, see docs/results.md).
        self._config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1", "ENABLE_CPU_PINNING": False}
        if threads is not None:
            if int(threads) < 1:
                raise CnnspecError(f"threads must be >= 1, got {threads}")
            self._config["INFERENCE_NUM_THREADS"] = str(int(threads))
        if precision != "auto":
            self._config["INFERENCE_PRECISION_HINT"] = {"fp32": "f32", "bf16": "bf16"}[precision]
        self._lock = threading.Lock()
        self._compiled: dict[int | None, object] = {}
        dyn = self._compile(None)
        hint = dyn.get_property("INFERENCE_PRECISION_HINT")
        hint = hint.to_string() if hasattr(hint, "to_string") else str(hint)
        self.precision = _OV_PRECISION.get(hint, hint)
        self.providers = [f"OpenVINO {ov.__version__.split('-')[0]} CPU ({self.precision})"]
        self._warm_up(dyn)

    def _warm_up(self, compiled) -> None:
        """Two calls on this thread before any concurrent use (batch 1, then 2: a shape change).

        The first use of a tensor's ``data`` in a process initialises a C++ static inside OpenVINO's
        Python binding; two threads arriving there at once (the first requests of a server with two
        worker threads) deadlocked on that initialisation and the GIL (seen once under load, both
        workers stuck in ``tensor.data`` for good). Doing it here, alone, takes that race away."""
        first, *dims = list(self._model.input(0).get_partial_shape())
        if not all(d.is_static for d in dims):
            return
        req = compiled.create_infer_request()
        for batch in ((first.get_length(),) if first.is_static else (1, 2)):
            req.infer({0: np.zeros((batch, *[d.get_length() for d in dims]), np.float32)})
            np.array(req.get_output_tensor(0).data, copy=True)

    def _compile(self, batch: int | None):
        model = self._model
        if batch is not None:
            model = self._model.clone()
            shape = model.input(0).get_partial_shape()
            shape[0] = batch
            model.reshape({model.input(0): shape})
        try:
            compiled = self._core.compile_model(model, "CPU", self._config)
        except Exception as exc:  # noqa: BLE001
            msg = " ".join(str(exc).split())[:160]
            raise ModelFileError(f"OpenVINO cannot compile this model ({type(exc).__name__}: {msg})",
                                 file=self.path) from exc
        self._compiled[batch] = (compiled, threading.local())
        return compiled

    def _request(self, batch: int):
        entry = self._compiled.get(batch)
        if entry is None:
            with self._lock:
                entry = self._compiled.get(batch)
                if entry is None:
                    if len(self._compiled) <= MAX_COMPILED:
                        self._compile(batch)
                        entry = self._compiled[batch]
                    else:
                        entry = self._compiled[None]
        compiled, local = entry
        req = getattr(local, "req", None)
        if req is None:  # one infer request per thread (requests are not thread-safe)
            req = local.req = compiled.create_infer_request()
        return req

    def run(self, x_scaled: np.ndarray) -> np.ndarray:
        """One call on already-scaled float32 input; returns the first output."""
        x = np.ascontiguousarray(x_scaled, dtype=np.float32)
        req = self._request(int(x.shape[0]))
        req.infer({0: x})
        return np.array(req.get_output_tensor(0).data, copy=True)

    def describe(self) -> str:
        """A short label such as ``openvino cpu bf16``."""
        return f"openvino cpu {self.precision}"
