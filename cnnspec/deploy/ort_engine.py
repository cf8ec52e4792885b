"""The onnxruntime engine: a session on the best execution provider that really starts.

Devices: ``auto`` tries TensorRT then CUDA, but only those execution providers that
onnxruntime lists, and checks ``session.get_providers()`` after creation to see whether
they really started (onnxruntime-gpu lists CUDA even when the CUDA libraries are
missing, then silently falls back). If none started, one line is reported through
``on_notice`` (default: stderr): ``cnnspec: running on CPU (CUDAExecutionProvider did not
start: libcublasLt.so.13 not found)``. ``cuda`` / ``tensorrt`` requested explicitly but
unavailable raise :class:`DeviceError` (one line). ``cpu`` never touches the GPU providers.

CPU settings (measured, see docs/results.md): graph optimisation level ALL (it enables the
NCHWc convolution layout), one intra-op thread per core, sequential execution; spinning worker
threads except in the server (``spinning=False``).
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

from cnnspec.errors import CnnspecError, ModelFileError

DEVICES = ("auto", "cpu", "cuda", "tensorrt")
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TRT = "TensorrtExecutionProvider"
_DEVICE_PROVIDER = {"cuda": CUDA, "tensorrt": TRT}
_PROVIDER_DEVICE = {CPU: "cpu", CUDA: "cuda", TRT: "tensorrt"}


class DeviceError(CnnspecError):
    """A requested execution device (cuda, tensorrt) is not usable here."""


@contextlib.contextmanager
def _captured_fds():
    """Capture everything written to fd 1 and fd 2 (C++ and Python) into a StringIO.

    onnxruntime prints provider-loading failures from C++ to stderr and its Python
    fallback banner to stdout; neither can be silenced by the logger severity alone.
    """
    buf = io.StringIO()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        fds = [1, 2]
        saved = [os.dup(fd) for fd in fds]
    except OSError:  # no real fds (embedded interpreter): capture nothing
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            yield buf
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        try:
            for fd in fds:
                os.dup2(tmp.fileno(), fd)
            with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
                yield buf
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            for fd, s in zip(fds, saved):
                os.dup2(s, fd)
                os.close(s)
            tmp.seek(0)
            buf.write(tmp.read().decode("utf-8", "replace"))


def _failure_reason(text: str, exc: BaseException | None = None) -> str:
    """One short reason from onnxruntime's provider-loading noise."""
    m = re.search(r"with error: ([^\s:]+): cannot open shared object file", text)
    if m:
        return f"{m.group(1)} not found"
    if "install TensorRT" in text or "TensorRT libraries" in text:
        return "TensorRT libraries not found"
    m = re.search(r"CUDA failure \d+: ([^;\n]+)", text)
    if m:
        return m.group(1).strip()
    if exc is not None:
        return " ".join(str(exc).split())[:120]
    lines = [ln.strip() for ln in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines() if ln.strip()]
    for ln in lines:
        if "error" in ln.lower() or "fail" in ln.lower():
            return ln[-160:]
    return "provider did not start (no usable GPU)"


def _session_options(threads: int | None, optimization: str = "all", spinning: bool = True):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }[optimization]
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if threads is not None:
        if int(threads) < 1:
            raise CnnspecError(f"threads must be >= 1, got {threads}")
        so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    if not spinning:
        # Idle worker threads sleep instead of spin-waiting: a little slower per call on an idle
        # machine, far steadier p95 when other processes (or concurrent requests) share the cores.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return so


def open_session(path: str | Path, device: str = "auto", threads: int | None = None,
                 optimization: str = "all", spinning: bool = True):
    """Create an onnxruntime session on ``device``.

    Returns ``(session, device_used, notice)``; ``notice`` is a one-line explanation when
    ``auto`` fell back to the CPU, else None.
    """
    import onnxruntime as ort

    if device not in DEVICES:
        raise DeviceError(f"unknown device {device!r} (choose from {', '.join(DEVICES)})")
    ort.set_default_logger_severity(3)
    path = str(path)
    available = ort.get_available_providers()

    def make(providers):
        return ort.InferenceSession(path, _session_options(threads, optimization, spinning),
                                    providers=providers)

    def cpu_session():
        try:
            return make([CPU])
        except Exception as exc:  # noqa: BLE001 - corrupt / non-ONNX file
            raise _model_file_error(path, exc) from exc

    if device == "cpu":
        return cpu_session(), "cpu", None

    wanted = [_DEVICE_PROVIDER[device]] if device in _DEVICE_PROVIDER else [TRT, CUDA]
    reasons = []
    for prov in wanted:
        if prov not in available:
            reasons.append(f"{prov} not in this onnxruntime build")
            continue
        exc = None
        sess = None
        with _captured_fds() as noise:
            try:
                sess = make([prov, CPU])
            except Exception as e:  # noqa: BLE001
                exc = e
        if sess is not None and prov in sess.get_providers():
            return sess, _PROVIDER_DEVICE[prov], None
        if exc is not None and _looks_like_bad_model(exc):
            raise _model_file_error(path, exc) from exc
        reasons.append(f"{prov} did not start: {_failure_reason(noise.getvalue(), exc)}")
    if device != "auto":
        raise DeviceError(f"device {device} unavailable ({'; '.join(reasons)}); "
                          "use --device cpu or --device auto")
    sess = cpu_session()
    notice = "cnnspec: running on CPU" + (f" ({'; '.join(reasons)})" if reasons else "")
    if not any(p in available for p in (TRT, CUDA)):
        notice = None  # a CPU-only onnxruntime: nothing surprising to report
    return sess, "cpu", notice


def _looks_like_bad_model(exc: BaseException) -> bool:
    name = type(exc).__name__
    text = str(exc)
    return name in ("InvalidProtobuf", "InvalidGraph", "NoSuchFile") or "protobuf parsing failed" in text \
        or "Load model" in text


def _model_file_error(path: str, exc: BaseException) -> ModelFileError:
    name = type(exc).__name__
    if name == "NoSuchFile" or not Path(path).exists():
        return ModelFileError("no such file", file=path)
    if name == "InvalidProtobuf" or "protobuf parsing failed" in str(exc):
        return ModelFileError("not an ONNX model (protobuf parsing failed)", file=path)
    msg = " ".join(str(exc).split())
    msg = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", msg)[:160]
    return ModelFileError(f"not a usable ONNX model ({name}: {msg})", file=path)


class OrtEngine:
    """An onnxruntime session behind the engine interface (``run``, ``name``, ``precision``)."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None, *,
                 optimization: str = "all", spinning: bool = True) -> None:
        self.session, self.device, self.notice = open_session(path, device, threads, optimization, spinning)
        self.providers = list(self.session.get_providers())
        self.precision = "fp32"
        self._in = self.session.get_inputs()[0].name
        self._out = [o.name for o in self.session.get_outputs()]

    def run(self, x_scaled: np.ndarray) -> np.ndarray:
        """One call on already-scaled float32 input; returns the first output."""
        return self.session.run(self._out[:1], {self._in: x_scaled})[0]

    def describe(self) -> str:
        """A short label such as ``onnxruntime cpu``."""
        return f"onnxruntime {self.device}"
