"""Helpers for the R package (``r-bridge/``), called through reticulate.

Everything returns plain values R converts cleanly (dicts of lists, strings, numbers, NumPy
arrays), and errors come back as one line instead of a traceback: :func:`call` wraps a function
and returns ``{"ok": False, "error": "<one line>", "type": "SpecError"}``. For an error raised
inside TensorFlow/Keras the line kept is the useful one (``ValueError: Input 0 of layer ...``),
not "Exception encountered when calling ...".

Models (build, load, fit, evaluate, predict) live in :mod:`cnnspec.interop.rmodel` and are
re-exported here, so R calls every function of this one module. No TensorFlow import unless a
model is asked for.
"""
from __future__ import annotations

import importlib
import json
import re
from typing import Any

from cnnspec.errors import CnnspecError
from cnnspec.interop.rmodel import (RModel, build, evaluate, fit, load, model_info, onnx_info,  # noqa: F401 (re-exported for R)
                                     predict, save_model)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NOISE = re.compile(r"^(Traceback|File \"|Exception encountered when calling|Arguments received by|"
                    r"Call arguments received by|•|\^|~|During handling|The above exception|"
                    r"Detailed traceback|Run `reticulate|Graph execution error|Detected at node|\[\[\{\{node)")
_TF_TAGS = re.compile(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:[^\]]*\]|\s*\[\[\{\{node [^}]*\}\}\]\]")


def one_line(text: Any) -> str:
    """Whitespace (newlines included) collapsed to single spaces."""
    return " ".join(str(text).split())


def useful_line(exc: BaseException) -> str:
    """``Type: first informative line`` of an exception from Keras/TensorFlow: ANSI codes, Keras's
    "Exception encountered when calling ..." framing, TensorFlow's "Graph execution error" stack of
    files and its ``{{node ...}}`` / ``[Op:...]`` tags dropped."""
    lines = [ln.strip() for ln in _ANSI.sub("", str(exc)).splitlines()]
    lines = [_TF_TAGS.sub("", ln).strip() for ln in lines if ln.strip() and not _NOISE.match(ln.strip())]
    lines = [ln for ln in lines if ln]
    text = lines[0] if lines else type(exc).__name__
    return f"{type(exc).__name__}: {one_line(text)[:400]}"


def call(module: str, function: str, *args, **kwargs) -> dict:
    """``module.function(*args, **kwargs)``; any exception becomes ``{"ok": False, "error": ...}``
    (a CnnspecError as its one-line message, anything else as :func:`useful_line`)."""
    try:
        fn = getattr(importlib.import_module(module), function)
        return {"ok": True, "value": fn(*args, **kwargs)}
    except CnnspecError as exc:
        return {"ok": False, "error": one_line(exc), "type": type(exc).__name__}
    except Exception as exc:  # noqa: BLE001 - R shows one line, never a Python traceback
        return {"ok": False, "error": useful_line(exc), "type": type(exc).__name__}


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
            "has_expect": rep.printed,
            "input_shape": list(rep.spec.input_shape), "inputs": rep.spec.input_names,
            "outputs": list(rep.spec.outputs)}


def has_module(name: str) -> bool:
    """Whether a Python module can be imported (found, not imported: no TensorFlow start-up)."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def keras_ready() -> bool:
    """Import TensorFlow/Keras with their start-up chatter swallowed (a one-line error if missing)."""
    from cnnspec.keras.util import import_keras_quietly

    import_keras_quietly()
    return True


def spec_units(path: str) -> int:
    """The number of outputs of a spec's last layer (pure Python)."""
    from cnnspec.check.infer import infer
    from cnnspec.spec.loader import load_spec

    out = infer(load_spec(path))[-1].output
    return int(out[-1]) if out and out[-1] is not None else 0


def dataset(name: str = "sample", limit: int | None = None, path: str | None = None) -> dict:
    """A dataset's four arrays (raw pixels, N x H x W x C) and class names, for R."""
    from cnnspec.data import load_dataset

    ds = load_dataset(name, path=path, limit=limit)
    return {"x_train": ds.x_train, "y_train": ds.y_train, "x_test": ds.x_test, "y_test": ds.y_test,
            "class_names": list(ds.class_names), "name": ds.name}


def write_npz(path: str, x_train, y_train, x_test=None, y_test=None, class_names=None) -> str:
    """Arrays from R as an npz dataset (the layout ``load_dataset("npz:PATH")`` reads), written
    atomically; without a test split the training arrays serve as one."""
    import io

    import numpy as np

    from cnnspec.runs.files import atomic_bytes

    x_train = np.asarray(x_train)
    y_train = np.asarray(y_train).astype("int64").reshape(-1)
    arrays = {"x_train": x_train, "y_train": y_train,
              "x_test": x_train if x_test is None else np.asarray(x_test),
              "y_test": y_train if y_test is None else np.asarray(y_test).astype("int64").reshape(-1)}
    if class_names is not None:
        arrays["class_names"] = np.asarray([str(c) for c in class_names])
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_bytes(path, buf.getvalue())
    return str(path)


def write_inputs(x, path: str) -> str:
    """Raw inputs as an npz dataset (labels 0), so that ``export_model(data="npz:PATH")`` checks
    parity on them."""
    import numpy as np

    x = np.asarray(x, dtype="float32")
    return write_npz(path, x, np.zeros(len(x), dtype="int64"))


def train_arrays(path: str, x, y, test_x, test_y, class_names=None, data_file: str = "", val_x=None,
                 val_y=None, val_file: str = "", **kw) -> dict:
    """Train a recorded run on R arrays: write them to ``data_file`` (and the validation arrays,
    if any, to ``val_file``: the run's ``validation``) and run :func:`cnnspec.keras.training.train`
    on them (``kw``: out, epochs, batch_size, seed, ...)."""
    from cnnspec.keras.training import train

    write_npz(data_file, x, y, test_x, test_y, class_names)
    if val_x is not None:
        kw["validation"] = "npz:" + write_npz(val_file, val_x, val_y, class_names=class_names)
    return train(path, data="npz", data_path=data_file, **kw)


def code(path: str, lang: str = "r", target: str = "keras3", force: bool = False) -> str:
    """``cnnspec code``: the spec as R (keras3, or keras 2.x) or Python Keras code."""
    from cnnspec.interop.codegen import generate
    from cnnspec.spec.loader import load_spec

    return generate(load_spec(path), lang, target=target, force=bool(force))


def import_code(path: str, name: str | None = None, lang: str | None = None) -> str:
    """``cnnspec import``: R or Python Keras model code -> spec YAML text."""
    from cnnspec.interop.importer import import_file

    return import_file(path, name=name, lang=lang)


def read_json(path) -> Any:
    """A JSON file's content."""
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

    model = OnnxModel(model_path, on_notice=None)
    res = model.predict_images(list(images), top=int(top))
    cols: dict[str, list] = {"image": [], "rank": [], "class": [], "probability": []}
    for img, tops in zip(images, res):
        for rank, (cls, p) in enumerate(tops, 1):
            cols["image"].append(str(img))
            cols["rank"].append(rank)
            cols["class"].append(str(cls))
            cols["probability"].append(float(p))
    return cols
