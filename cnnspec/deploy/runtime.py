"""TensorFlow-free inference on exported ONNX models (needs only ``cnnspec[runtime]``).

This module must never import tensorflow or keras (a test enforces it). It needs
numpy and onnxruntime; Pillow is imported only for image inputs.

    model = OnnxModel("model.onnx")            # device="auto": TensorRT/CUDA if they start, else CPU
    probs = model.predict(x_uint8)             # raw pixels (N,H,W,C) or (H,W,C); scaling applied here
    model.predict_images(["a.png"], top=3)     # [[("7", 0.98), ("1", 0.01), ("9", 0.00)]]

Devices: ``auto`` tries TensorRT then CUDA, but only those execution providers that
onnxruntime lists, and checks ``session.get_providers()`` after creation to see whether
they really started (onnxruntime-gpu lists CUDA even when the CUDA libraries are
missing, then silently falls back). If none started, one line is reported through
``on_notice`` (default: stderr): ``cnnspec: running on CPU (CUDAExecutionProvider did not
start: libcublasLt.so.13 not found)``. ``cuda`` / ``tensorrt`` requested explicitly but
unavailable raise :class:`DeviceError` (one line). ``cpu`` never touches the GPU providers.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from cnnspec.errors import CnnspecError, DataError, ModelFileError

METADATA_KEY = "cnnspec"
DEVICES = ("auto", "cpu", "cuda", "tensorrt")
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TRT = "TensorrtExecutionProvider"
_DEVICE_PROVIDER = {"cuda": CUDA, "tensorrt": TRT}
_PROVIDER_DEVICE = {CPU: "cpu", CUDA: "cuda", TRT: "tensorrt"}


class DeviceError(CnnspecError):
    """A requested execution device (cuda, tensorrt) is not usable here."""


class InputError(DataError):
    """An input array or image that the model cannot take (wrong shape, dtype, not an image)."""


def _stderr_notice(line: str) -> None:
    sys.stderr.write(line.rstrip("\n") + "\n")
    sys.stderr.flush()


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
            raise _model_file_error(path, exc) from None

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
            raise _model_file_error(path, exc) from None
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


class OnnxModel:
    """An exported cnnspec ONNX model, ready for inference without TensorFlow."""

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None, *,
                 optimization: str = "all", spinning: bool = True,
                 on_notice: Callable[[str], None] | None = _stderr_notice) -> None:
        p = Path(path)
        if not p.exists():
            raise ModelFileError("no such file", file=str(p))
        if p.is_dir():
            raise ModelFileError("expected an .onnx file, got a directory", file=str(p))
        self.path = p
        self.session, self.device, self.notice = open_session(p, device, threads, optimization, spinning)
        if self.notice and on_notice:
            on_notice(self.notice)
        self.providers = list(self.session.get_providers())
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelFileError(f"expected 1 input and 1 output, got {len(inputs)} and {len(outputs)}",
                                 file=str(p))
        self.input_name = inputs[0].name
        self.output_name = outputs[0].name
        if inputs[0].type != "tensor(float)":
            raise ModelFileError(f"input type {inputs[0].type} is not supported (float32 only)",
                                 file=str(p))
        self.warning: str | None = None
        self.meta = self._read_meta(inputs[0].shape, outputs[0].shape)
        self.class_names: list[str] = self.meta["class_names"]
        self.input_shape: tuple[int, ...] = tuple(self.meta["input_shape"])
        self.scale = np.float32(self.meta["scale"])
        self.offset = np.float32(self.meta["offset"])

    # -- metadata --------------------------------------------------------------------
    def _read_meta(self, in_shape, out_shape) -> dict:
        custom = self.session.get_modelmeta().custom_metadata_map or {}
        raw = custom.get(METADATA_KEY)
        meta: dict[str, Any] = {}
        if raw is not None:
            try:
                meta = json.loads(raw)
                if not isinstance(meta, dict):
                    raise ValueError("not an object")
            except ValueError:
                raise ModelFileError(f"metadata_props['{METADATA_KEY}'] is not a JSON object",
                                     file=str(self.path)) from None
        else:
            self.warning = (f"{self.path.name} has no cnnspec metadata: assuming class names "
                            "0..K-1, scale 1.0, offset 0.0")
        model_shape = [d if isinstance(d, int) else None for d in in_shape[1:]]
        if not meta.get("input_shape"):
            if any(d is None for d in model_shape):
                raise ModelFileError(f"input shape {in_shape} is not fully defined and there is no "
                                     "metadata", file=str(self.path))
            meta["input_shape"] = model_shape
        n_out = out_shape[-1] if out_shape and isinstance(out_shape[-1], int) else None
        if not meta.get("class_names"):
            if n_out is None:
                raise ModelFileError("cannot tell the number of classes", file=str(self.path))
            meta["class_names"] = [str(i) for i in range(n_out)]
        meta.setdefault("scale", 1.0)
        meta.setdefault("offset", 0.0)
        try:
            meta["scale"] = float(meta["scale"])
            meta["offset"] = float(meta["offset"])
            meta["input_shape"] = [int(d) for d in meta["input_shape"]]
            meta["class_names"] = [str(c) for c in meta["class_names"]]
        except (TypeError, ValueError):
            raise ModelFileError("malformed cnnspec metadata", file=str(self.path)) from None
        if n_out is not None and len(meta["class_names"]) != n_out:
            raise ModelFileError(f"metadata has {len(meta['class_names'])} class names, the model "
                                 f"outputs {n_out}", file=str(self.path))
        meta["input_name"] = self.input_name
        meta["output_name"] = self.output_name
        return meta

    def info(self) -> dict:
        """Metadata plus runtime facts (device, providers), JSON-able."""
        return {**self.meta, "path": str(self.path), "device": self.device,
                "providers": self.providers}

    # -- arrays ------------------------------------------------------------------------
    def as_batch(self, x) -> np.ndarray:
        """Validate raw pixels; returns a float32 (N, *input_shape) array (unscaled)."""
        arr = np.asarray(x)
        if arr.dtype == object or arr.dtype.kind not in "iuf":
            raise InputError(f"inputs must be numbers (got dtype {arr.dtype})")
        shape = self.input_shape
        if arr.ndim == len(shape) and tuple(arr.shape) == shape:
            arr = arr[None]
        elif arr.ndim == len(shape) + 1 and tuple(arr.shape[1:]) == shape:
            pass
        elif shape[-1] == 1 and arr.ndim == len(shape) - 1 + 1 and tuple(arr.shape[1:]) == shape[:-1]:
            arr = arr[..., None]  # (N, H, W) for a one-channel model
        elif shape[-1] == 1 and tuple(arr.shape) == shape[:-1]:
            arr = arr[None, ..., None]  # (H, W) for a one-channel model
        else:
            raise InputError(f"input has shape {list(arr.shape)}; the model takes {list(shape)} or "
                             f"[N, {', '.join(map(str, shape))}]")
        if arr.shape[0] == 0:
            raise InputError("empty batch")
        arr = arr.astype(np.float32, copy=False)
        if not np.all(np.isfinite(arr)):
            raise InputError("inputs contain NaN or infinity")
        return arr

    def predict(self, x_raw, batch_size: int = 256) -> np.ndarray:
        """Probabilities (N, K) for raw pixels x (scaled here as x * scale + offset)."""
        arr = self.as_batch(x_raw)
        if batch_size < 1:
            raise CnnspecError(f"batch_size must be >= 1, got {batch_size}")
        outs = []
        for i in range(0, len(arr), batch_size):
            xb = arr[i:i + batch_size] * self.scale + self.offset
            outs.append(self.session.run([self.output_name], {self.input_name: xb})[0])
        return np.concatenate(outs, axis=0)

    def run_scaled(self, x_scaled: np.ndarray) -> np.ndarray:
        """One session run on already-scaled float32 input (benchmarks)."""
        return self.session.run([self.output_name], {self.input_name: x_scaled})[0]

    # -- images ------------------------------------------------------------------------
    def load_image(self, image) -> np.ndarray:
        """A path, bytes or PIL image -> raw (H, W, C) float32 pixels at the model's size."""
        return preprocess_image(image, self.input_shape)

    def predict_images(self, images: Iterable, top: int = 5) -> list[list[tuple[str, float]]]:
        """Top-``top`` (class name, probability) per image (paths, bytes or PIL images)."""
        batch = np.stack([self.load_image(im) for im in images])
        return self.top_k(self.predict(batch), top)

    def top_k(self, probs: np.ndarray, top: int = 5) -> list[list[tuple[str, float]]]:
        k = max(1, min(int(top), probs.shape[-1]))
        out = []
        for row in probs:
            idx = np.argsort(-row, kind="stable")[:k]
            out.append([(self.class_names[i], float(row[i])) for i in idx])
        return out


def preprocess_image(image, input_shape: Sequence[int]) -> np.ndarray:
    """Open/convert/resize an image for a model taking ``input_shape`` = (H, W, C).

    Channels: 1 -> grayscale ("L"), 3 -> RGB, 4 -> RGBA. The result is raw pixels
    (0..255) as float32; the model's scale/offset are applied later by ``predict``.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if len(input_shape) != 3:
        raise InputError(f"image inputs need an (H, W, C) model input, this one is {list(input_shape)}")
    h, w, c = (int(d) for d in input_shape)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(c)
    if mode is None:
        raise InputError(f"images cannot feed a model with {c} channels")
    name = None
    try:
        if isinstance(image, Image.Image):
            img = image
        elif isinstance(image, (bytes, bytearray, memoryview)):
            if not len(image):
                raise InputError("empty image")
            img = Image.open(io.BytesIO(bytes(image)))
        else:
            name = str(image)
            if not Path(name).is_file():
                raise InputError("no such image file", file=name)
            img = Image.open(name)
        img.load()
        img = ImageOps.exif_transpose(img)
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            if mode != "RGBA":  # flatten transparency onto white, as a viewer shows it
                rgba = img.convert("RGBA")
                bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(bg, rgba)
        img = img.convert(mode)
        if img.size != (w, h):
            img = img.resize((w, h), Image.Resampling.BILINEAR, reducing_gap=3.0)
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        kind = "not a readable image" if isinstance(exc, UnidentifiedImageError) else \
            f"unreadable image ({type(exc).__name__})"
        raise InputError(kind, file=name) from None
    arr = np.asarray(img, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[..., None]
    return arr
