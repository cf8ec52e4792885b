"""Resolve a trained model on disk and read its cnnspec metadata (no TensorFlow import).

A trained model is either

* a run directory ``RUN_DIR/`` holding ``model.keras`` and ``model.cnnspec.json``, or
* a bare ``X.keras`` with an optional sidecar ``X.cnnspec.json`` (same stem).

The sidecar JSON::

    {"class_names": ["0", ...], "input_shape": [28, 28, 1],
     "scale": 0.00392156862745098, "offset": 0.0,
     "spec_name": "table6", "spec_fingerprint": "ab12...", "cnnspec_version": "0.1.0"}

A model with several inputs or outputs (a spec with Input rows or ``outputs:``) also records
``"inputs": [{"name": "image", "shape": [28, 28, 1], "dtype": "float32"}, ...]`` and ``"outputs":
["classes", "aux"]`` (absent for one input and one output); its uint8 input arrays are scaled as below,
other arrays are fed as stored.

Raw pixel values ``x`` are fed to the model as ``x * scale + offset``; the model itself
does not contain the scaling. This module is the one home of that contract: the keys
(:data:`META_KEYS`), how a run or a build chooses ``scale`` (:func:`input_scale`), what is
assumed without a sidecar (:func:`default_meta`) and how a sidecar is assembled (:func:`make_meta`).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from cnnspec.errors import ModelFileError

SIDECAR_SUFFIX = ".cnnspec.json"
RUN_DIR_MODEL = "model.keras"

META_KEYS = ("class_names", "input_shape", "scale", "offset", "spec_name",
             "spec_fingerprint", "cnnspec_version")
#: Where an exported ONNX file keeps the metadata (``metadata_props[METADATA_KEY]``, a JSON string).
METADATA_KEY = "cnnspec"
#: The keys embedded in an exported model: the sidecar's, plus what the export adds
#: (``quantization`` and ``rewrites`` are present only when the export did them).
EMBEDDED_KEYS = META_KEYS + ("keras_version", "opset", "input_name", "output_name", "quantization", "rewrites")

#: Pixel range assumed when no dataset says otherwise (8-bit images: 0..255).
DEFAULT_VALUE_RANGE = 255.0
#: What a model without any metadata is fed: raw pixels, unscaled.
UNSCALED = 1.0


def input_scale(configured: float | None, value_range: float | None = None) -> float:
    """The ``scale`` a run or a build uses: ``train.scale`` when set, else ``1 / value_range``
    of the dataset (:data:`DEFAULT_VALUE_RANGE` when the dataset is not known, as in ``build``)."""
    if configured is not None:
        return float(configured)
    return 1.0 / float(value_range or DEFAULT_VALUE_RANGE)


def make_meta(spec, class_names: list[str] | None, scale: float, offset: float = 0.0) -> dict:
    """The sidecar of a model built from ``spec`` (keys :data:`META_KEYS`)."""
    from cnnspec import __version__

    meta = {"class_names": None if class_names is None else [str(c) for c in class_names],
            "input_shape": list(spec.input_shape), "scale": float(scale), "offset": float(offset),
            "spec_name": spec.label, "spec_fingerprint": spec.fingerprint(), "cnnspec_version": __version__}
    if spec.multi_io:  # several inputs or outputs: their names (and the inputs' shapes), in order
        meta["inputs"] = [{"name": i.name, "shape": list(i.shape), "dtype": i.dtype} for i in spec.inputs]
        meta["outputs"] = list(spec.outputs)
    return meta


def sidecar_path(keras_path: str | Path) -> Path:
    """``X.keras`` -> ``X.cnnspec.json`` (same directory, same stem)."""
    p = Path(keras_path)
    return p.with_name(p.stem + SIDECAR_SUFFIX)


def resolve_keras_path(path: str | Path) -> Path:
    """RUN_DIR or X.keras -> the ``.keras`` file; ModelFileError if there is none."""
    p = Path(path)
    if p.is_dir():
        cand = p / RUN_DIR_MODEL
        if not cand.is_file():
            raise ModelFileError(f"run directory has no {RUN_DIR_MODEL}", file=str(p))
        return cand
    if not p.exists():
        raise ModelFileError("no such file or directory", file=str(p))
    if p.suffix != ".keras":
        raise ModelFileError("expected a run directory or a .keras file", file=str(p))
    return p


def default_meta(num_classes: int | None = None, input_shape: list[int] | None = None) -> dict:
    """The metadata assumed when there is no sidecar."""
    return {
        "class_names": [str(i) for i in range(num_classes)] if num_classes else None,
        "input_shape": list(input_shape) if input_shape else None,
        "scale": UNSCALED,
        "offset": 0.0,
        "spec_name": None,
        "spec_fingerprint": None,
        "cnnspec_version": None,
    }


def validate_meta(meta: dict, *, file: str | None = None) -> dict:
    """Check types of a metadata dict; returns a normalised copy."""
    out = dict(default_meta())
    out.update({k: v for k, v in meta.items()})
    names = out.get("class_names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, (str, int)) for n in names)):
        raise ModelFileError("class_names must be a list of strings", file=file, field="class_names")
    if names is not None:
        out["class_names"] = [str(n) for n in names]
    shape = out.get("input_shape")
    if shape is not None:
        if (not isinstance(shape, list) or not shape
                or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)):
            raise ModelFileError("input_shape must be a list of positive integers", file=file,
                                 field="input_shape")
    for key in ("scale", "offset"):
        val = out.get(key)
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
            raise ModelFileError(f"{key} must be a finite number", file=file, field=key)
        out[key] = float(val)
    return out


def read_sidecar(path: str | Path) -> dict | None:
    """The parsed sidecar next to a ``.keras`` file, or None if there is none."""
    sc = sidecar_path(path)
    if not sc.is_file():
        return None
    try:
        data = json.loads(sc.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"unreadable metadata sidecar ({type(exc).__name__})", file=str(sc)) from exc
    if not isinstance(data, dict):
        raise ModelFileError("metadata sidecar must be a JSON object", file=str(sc))
    return validate_meta(data, file=str(sc))


def load_model_meta(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """RUN_DIR or X.keras -> (keras path, meta dict).

    ``meta["sidecar"]`` is True when a sidecar was found. Without one the defaults are
    returned with ``class_names``/``input_shape`` set to None: callers fill them from
    the loaded model (:func:`complete_meta`) and print :data:`meta["warning"]`.
    """
    keras_path = resolve_keras_path(path)
    meta = read_sidecar(keras_path)
    if meta is None:
        meta = default_meta()
        meta["sidecar"] = False
        meta["warning"] = (f"no metadata sidecar {sidecar_path(keras_path).name}: "
                           f"assuming class names 0..K-1, scale {UNSCALED}, offset 0.0")
    else:
        meta["sidecar"] = True
    return keras_path, meta


def complete_meta(meta: dict, *, num_classes: int, input_shape: list[int] | tuple) -> dict:
    """Fill class names / input shape missing from ``meta`` using the model itself."""
    out = dict(meta)
    if not out.get("class_names"):
        out["class_names"] = [str(i) for i in range(num_classes)]
    if not out.get("input_shape"):
        out["input_shape"] = [int(d) for d in input_shape]
    return out
