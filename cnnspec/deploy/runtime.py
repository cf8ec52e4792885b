"""TensorFlow-free inference on exported ONNX models (needs only ``cnnspec[runtime]``).

This module must never import tensorflow or keras (a test enforces it). It needs numpy,
onnx and an engine (:mod:`cnnspec.deploy.engines`: onnxruntime, optionally OpenVINO); Pillow
is imported only for image inputs.

    model = OnnxModel("model.onnx")            # engine/device "auto": GPU if it starts, else the fastest CPU engine
    probs = model.predict(x_uint8)             # raw pixels (N,H,W,C) or (H,W,C); scaling applied here
    model.predict_images(["a.png"], top=3)     # [[("7", 0.98), ("1", 0.01), ("9", 0.00)]]

The embedded metadata (``metadata_props["cnnspec"]``) is checked against the graph before it
is used: ``input_shape`` must equal the graph's real input (or, for dimensions the graph
leaves symbolic, stay below :data:`MAX_INPUT_ELEMENTS` values per example), the number of
class names must equal the graph's output width, and ``scale``/``offset`` must be finite.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from cnnspec.errors import CnnspecError, ModelFileError
from cnnspec.deploy.images import DEFAULT_MAX_PIXELS, ImageTooLarge, InputError, preprocess_image
from cnnspec.runs.modelmeta import METADATA_KEY
from cnnspec.deploy.ort_engine import DEVICES, DeviceError, _captured_fds, open_session  # noqa: F401

#: Largest example (values) accepted when the graph leaves input dimensions symbolic: 16 M floats.
MAX_INPUT_ELEMENTS = 1 << 24

__all__ = ["OnnxModel", "InputError", "ImageTooLarge", "DeviceError", "preprocess_image",
           "read_onnx_info", "DEFAULT_MAX_PIXELS"]


def _stderr_notice(line: str) -> None:
    sys.stderr.write(line.rstrip("\n") + "\n")
    sys.stderr.flush()


def _dims(value_info) -> list:
    return [d.dim_value if d.HasField("dim_value") else None
            for d in value_info.type.tensor_type.shape.dim]


def read_onnx_info(path: str | Path) -> dict:
    """Graph input/output names and shapes plus the raw metadata string, read with ``onnx``."""
    import onnx

    try:
        m = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - DecodeError and friends
        raise ModelFileError("not an ONNX model (protobuf parsing failed)", file=str(path)) from exc
    g = m.graph
    inits = {i.name for i in g.initializer}
    inputs = [i for i in g.input if i.name not in inits]
    if len(inputs) != 1 or len(g.output) != 1:
        raise ModelFileError(f"expected 1 input and 1 output, got {len(inputs)} and {len(g.output)}",
                             file=str(path))
    if inputs[0].type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        raise ModelFileError("input type is not supported (float32 only)", file=str(path))
    props = {p.key: p.value for p in m.metadata_props}
    return {"input_name": inputs[0].name, "input_dims": _dims(inputs[0]),
            "output_name": g.output[0].name, "output_dims": _dims(g.output[0]),
            "metadata": props.get(METADATA_KEY)}


def validate_metadata(raw: str | None, info: dict, file: str) -> tuple[dict, str | None]:
    """The cnnspec metadata checked against the graph; returns (meta, warning or None)."""
    meta: dict[str, Any] = {}
    warning = None
    if raw is not None:
        try:
            meta = json.loads(raw)
        except (ValueError, RecursionError):
            meta = None
        if not isinstance(meta, dict):
            raise ModelFileError(f"metadata_props['{METADATA_KEY}'] is not a JSON object", file=file)
    else:
        warning = (f"{Path(file).name} has no cnnspec metadata: assuming class names 0..K-1, "
                   "scale 1.0, offset 0.0")
    graph_shape = info["input_dims"][1:]
    shape = meta.get("input_shape") or graph_shape
    if any(d is None for d in shape):
        raise ModelFileError(f"input shape {info['input_dims']} is not fully defined and there is no "
                             "metadata", file=file)
    if (not isinstance(shape, list) or any(isinstance(d, bool) or not isinstance(d, int) or d < 1
                                           for d in shape)):
        raise ModelFileError("metadata input_shape must be a list of positive integers", file=file,
                             field="input_shape")
    if len(shape) != len(graph_shape) or any(g is not None and g != d for g, d in zip(graph_shape, shape)):
        raise ModelFileError(f"metadata input_shape {shape} does not match the graph's input "
                             f"{['?' if g is None else g for g in graph_shape]}", file=file, field="input_shape")
    if math.prod(shape) > MAX_INPUT_ELEMENTS:
        raise ModelFileError(f"metadata input_shape {shape} is larger than the limit of "
                             f"{MAX_INPUT_ELEMENTS} values per example", file=file, field="input_shape")
    n_out = info["output_dims"][-1] if info["output_dims"] else None
    names = meta.get("class_names")
    if not names:
        if n_out is None:
            raise ModelFileError("cannot tell the number of classes", file=file)
        names = [str(i) for i in range(n_out)]
    if not isinstance(names, list) or not all(isinstance(c, (str, int)) and not isinstance(c, bool)
                                              for c in names):
        raise ModelFileError("metadata class_names must be a list of strings", file=file, field="class_names")
    if n_out is not None and len(names) != n_out:
        raise ModelFileError(f"metadata has {len(names)} class names, the model outputs {n_out}", file=file)
    out = dict(meta, input_shape=[int(d) for d in shape], class_names=[str(c) for c in names])
    for key, default in (("scale", 1.0), ("offset", 0.0)):
        val = meta.get(key, default)
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
            raise ModelFileError(f"metadata {key} must be a finite number, got {val!r}", file=file, field=key)
        out[key] = float(val)
    out["input_name"], out["output_name"] = info["input_name"], info["output_name"]
    return out, warning


class OnnxModel:
    """An exported cnnspec ONNX model, ready for inference without TensorFlow.

    ``engine``: ``onnxruntime`` (default in Python), ``openvino`` or ``auto`` (the fastest
    installed, see :mod:`cnnspec.deploy.engines`); ``precision``: ``auto`` lets an engine
    change precision (OpenVINO bf16), ``fp32`` forbids it.
    """

    def __init__(self, path: str | Path, device: str = "auto", threads: int | None = None, *,
                 engine: str = "onnxruntime", precision: str = "auto", optimization: str = "all",
                 spinning: bool = True, max_pixels: int = DEFAULT_MAX_PIXELS,
                 on_notice: Callable[[str], None] | None = _stderr_notice) -> None:
        from cnnspec.deploy import engines

        p = Path(path)
        if not p.exists():
            raise ModelFileError("no such file", file=str(p))
        if p.is_dir():
            raise ModelFileError("expected an .onnx file, got a directory", file=str(p))
        if device not in DEVICES:
            raise DeviceError(f"unknown device {device!r} (choose from {', '.join(DEVICES)})")
        self.path = p
        self.max_pixels = int(max_pixels)
        self._load_meta()  # first: a lying or corrupt file fails before any engine starts
        if engine == "auto":
            self._engine = engines.choose_engine(p, self.input_shape, scale=float(self.scale),
                                                 offset=float(self.offset), device=device, threads=threads,
                                                 precision=precision, spinning=spinning, on_notice=on_notice)
        else:
            self._engine = engines.open_engine(p, engine, device=device, threads=threads, precision=precision,
                                               spinning=spinning, optimization=optimization)
        self.notice = self._engine.notice
        if self.notice and on_notice:
            on_notice(self.notice)
        self.engine = self._engine.name
        self.device = self._engine.device
        self.providers = list(self._engine.providers)
        self.session = getattr(self._engine, "session", None)

    def _load_meta(self) -> None:
        info = read_onnx_info(self.path)
        self.meta, self.warning = validate_metadata(info["metadata"], info, str(self.path))
        self.input_name, self.output_name = info["input_name"], info["output_name"]
        self.class_names: list[str] = self.meta["class_names"]
        self.input_shape: tuple[int, ...] = tuple(self.meta["input_shape"])
        self.scale = np.float32(self.meta["scale"])
        self.offset = np.float32(self.meta["offset"])

    @property
    def precision(self) -> str:
        """``int8`` for a quantized file, else the engine's compute precision (``fp32``/``bf16``)."""
        q = self.meta.get("quantization") or {}
        return "int8" if q.get("type") == "int8" else self._engine.precision

    def info(self) -> dict:
        """Metadata plus runtime facts (engine, device, providers, precision), JSON-able."""
        return {**self.meta, "path": str(self.path), "engine": self.engine, "device": self.device,
                "providers": self.providers, "precision": self.precision}

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
        elif shape[-1] == 1 and arr.ndim == len(shape) and tuple(arr.shape[1:]) == shape[:-1]:
            arr = arr[..., None]  # (N, H, W) for a one-channel model
        elif shape[-1] == 1 and tuple(arr.shape) == shape[:-1]:
            arr = arr[None, ..., None]  # (H, W) for a one-channel model
        else:
            raise InputError(f"input has shape {list(arr.shape)}; the model takes {list(shape)} or "
                             f"[N, {', '.join(map(str, shape))}]")
        if arr.shape[0] == 0:
            raise InputError("empty batch")
        floats = arr.dtype.kind == "f"
        arr = arr.astype(np.float32, copy=False)
        if floats and not np.all(np.isfinite(arr)):  # integers are always finite
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
            outs.append(self._engine.run(xb))
        return np.concatenate(outs, axis=0)

    def run_scaled(self, x_scaled: np.ndarray) -> np.ndarray:
        """One engine call on already-scaled float32 input (benchmarks, batching)."""
        return self._engine.run(x_scaled)

    # -- images ------------------------------------------------------------------------
    def load_image(self, image) -> np.ndarray:
        """A path, bytes or PIL image -> raw (H, W, C) float32 pixels at the model's size."""
        return preprocess_image(image, self.input_shape, max_pixels=self.max_pixels)

    def predict_images(self, images: Iterable, top: int = 5) -> list[list[tuple[str, float]]]:
        """Top-``top`` (class name, probability) per image (paths, bytes or PIL images)."""
        batch = np.stack([self.load_image(im) for im in images])
        return self.top_k(self.predict(batch), top)

    def top_k(self, probs: np.ndarray, top: int = 5) -> list[list[tuple[str, float]]]:
        """The ``top`` best (class name, probability) pairs of each row."""
        k = max(1, min(int(top), probs.shape[-1]))
        out = []
        for row in probs:
            idx = np.argsort(-row, kind="stable")[:k]
            out.append([(self.class_names[i], float(row[i])) for i in idx])
        return out
