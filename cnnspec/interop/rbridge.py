"""Helpers for the R package (``r-bridge/``), called through reticulate.

Everything returns plain values R converts cleanly (dicts of lists, strings, numbers), and
user-facing errors come back as one line instead of a traceback: :func:`call` wraps a
function and returns ``{"ok": False, "error": "<one line>", "type": "SpecError"}`` for a
:class:`CnnspecError`. No TensorFlow import unless a model is asked for.
"""
from __future__ import annotations

import importlib
import json
from typing import Any

from cnnspec.errors import CnnspecError


def one_line(text: Any) -> str:
    return " ".join(str(text).split())


def call(module: str, function: str, *args, **kwargs) -> dict:
    """``module.function(*args, **kwargs)``; a CnnspecError becomes ``{"ok": False, "error": ...}``."""
    try:
        fn = getattr(importlib.import_module(module), function)
        return {"ok": True, "value": fn(*args, **kwargs)}
    except CnnspecError as exc:
        return {"ok": False, "error": one_line(exc), "type": type(exc).__name__}


def _int(v):
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def check_table(path: str) -> dict:
    """``cnnspec check`` for one spec (or FILE#VARIANT), as columns for an R data.frame."""
    from cnnspec.check.infer import check
    from cnnspec.layers.shapes import format_shape
    from cnnspec.spec.loader import load_spec

    rep = check(load_spec(path))
    bad_rows = {m.layer for m in rep.mismatches if m.layer is not None}
    cols: dict[str, list] = {k: [] for k in ("name", "type", "output", "params", "trainable", "expected_output",
                                             "expected_params", "ok", "line")}
    for i, r in enumerate(rep.rows):
        ex = r.row.expect
        cols["name"].append(r.row.name)
        cols["type"].append(r.row.type)
        cols["output"].append(format_shape(r.output))
        cols["params"].append(r.count.total)
        cols["trainable"].append(r.count.trainable)
        exp_out = ""
        if ex is not None and ex.output is not None:
            exp_out = ex.output_text if ex.output_printed else format_shape(
                ex.output[1:] if len(ex.output) == len(r.output) + 1 and ex.output[0] is None else ex.output)
        cols["expected_output"].append(exp_out)
        cols["expected_params"].append(float("nan") if ex is None or ex.params is None else float(ex.params))
        cols["ok"].append(i not in bad_rows)
        cols["line"].append(r.row.line)
    mism = {k: [] for k in ("name", "field", "expected", "computed", "line", "hint", "message")}
    for m in rep.mismatches:
        mism["name"].append(m.name or "totals")
        mism["field"].append(m.field)
        fmt = format_shape if m.field == "output" else str
        mism["expected"].append(fmt(m.expected))
        mism["computed"].append(fmt(m.computed))
        mism["line"].append(m.line)
        mism["hint"].append(m.hint)
        mism["message"].append(m.message(rep.spec.file))
    return {"rows": cols, "mismatches": mism,
            "totals": {"total": rep.total, "trainable": rep.trainable, "non_trainable": rep.non_trainable},
            "label": rep.spec.label, "file": rep.spec.file, "source": rep.spec.source or "", "ok": rep.ok,
            "has_expect": any(r.row.expect for r in rep.rows) or rep.spec.expect is not None,
            "input_shape": list(rep.spec.input_shape)}


def build(path: str, compile: bool = True, optimizer: Any = "adam", loss: Any = None,
          metrics: Any = ("accuracy",)):
    """The spec's Keras model, compiled for integer labels (sparse categorical cross-entropy)
    unless told otherwise, so ``model$fit(x, y)`` works from R straight away."""
    from cnnspec.keras.build import build_model, default_loss
    from cnnspec.spec.loader import load_spec

    model = build_model(load_spec(path))
    if compile:
        model.compile(optimizer=optimizer, loss=loss if loss is not None else default_loss(model),
                      metrics=list(metrics) if metrics else None)
    return model


def fit(model, x, y, epochs=1, batch_size=32, verbose=0, validation_split=0.0, **kw) -> dict:
    """``model.fit`` with R's doubles coerced to the ints Keras needs; the history as columns."""
    import numpy as np

    x = np.asarray(x, dtype="float32")
    y = np.asarray(y)
    if y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0):
        y = y.astype("int64")
    h = model.fit(x, y, epochs=int(epochs), batch_size=int(batch_size), verbose=int(verbose),
                  validation_split=float(validation_split), **kw)
    return {k: [float(v) for v in vals] for k, vals in h.history.items()}


def count_params(model) -> int:
    return int(model.count_params())


def read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def run_dir(value: Any) -> str:
    """The run directory out of whatever ``cnnspec.keras.training.train`` returned (path, dict, object)."""
    if isinstance(value, dict):
        for k in ("run_dir", "out", "path", "dir"):
            if k in value:
                return str(value[k])
    for k in ("run_dir", "out", "path"):
        if hasattr(value, k):
            return str(getattr(value, k))
    return str(value)


def predict_images(model_path: str, images: list, top: int = 5) -> dict:
    """Top classes per image with the ONNX runtime, as columns (image, rank, class, probability)."""
    from cnnspec.deploy.runtime import OnnxModel

    model = OnnxModel(model_path)
    res = model.predict_images(list(images), top=int(top))
    cols: dict[str, list] = {"image": [], "rank": [], "class": [], "probability": []}
    for img, tops in zip(images, res):
        for rank, (cls, p) in enumerate(tops, 1):
            cols["image"].append(str(img))
            cols["rank"].append(rank)
            cols["class"].append(str(cls))
            cols["probability"].append(float(p))
    return cols
