"""Helpers for the R package (``r-bridge/``), called through reticulate.

Everything returns plain values R converts cleanly (dicts of lists, strings, numbers, NumPy
arrays), and errors come back as one line instead of a traceback: :func:`call` wraps a function
and returns ``{"ok": False, "error": "<one line>", "type": "SpecError"}``. For an error raised
inside TensorFlow/Keras the line kept is the useful one (``ValueError: Input 0 of layer ...``),
not "Exception encountered when calling ...".

A model is handed to R as an :class:`RModel`: the Keras model plus what R needs around it (the
spec's resolved training settings, class names, input scaling). Training settings come from one
place, :mod:`cnnspec.spec.trainconfig`, with R's arguments applied as flags over the spec's
``train:`` section, exactly as the CLI applies its options. No TensorFlow import unless a model
is asked for.
"""
from __future__ import annotations

import importlib
import json
import re
from typing import Any

from cnnspec.errors import CnnspecError, DataError

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NOISE = re.compile(r"^(Traceback|File \"|Exception encountered when calling|Arguments received by|"
                    r"Call arguments received by|•|\^|~|During handling|The above exception|"
                    r"Detailed traceback|Run `reticulate)")


def one_line(text: Any) -> str:
    """Whitespace (newlines included) collapsed to single spaces."""
    return " ".join(str(text).split())


def useful_line(exc: BaseException) -> str:
    """``Type: first informative line`` of an exception from Keras/TensorFlow (ANSI codes and
    Keras's "Exception encountered when calling ..." framing dropped)."""
    lines = [ln.strip() for ln in _ANSI.sub("", str(exc)).splitlines()]
    lines = [ln for ln in lines if ln and not _NOISE.match(ln)]
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
            "has_expect": any(r.row.expect for r in rep.rows) or rep.spec.expect is not None,
            "input_shape": list(rep.spec.input_shape)}


# ----------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------
class RModel:
    """A Keras model as the R package holds it.

    ``keras`` is the Keras model; ``train`` the resolved training settings (a TrainConfig, or
    None for a model loaded without its run's config); ``loss`` the compiled loss name;
    ``class_names`` (None until known), ``scale``/``offset`` (raw inputs are fed as
    ``x * scale + offset``), ``label`` and ``origin`` (the spec or file it came from). Any other
    attribute is the Keras model's, so ``model$count_params()`` works from R.
    """

    def __init__(self, keras_model, *, label: str, origin: str, train=None, loss: str | None = None,
                 class_names: list[str] | None = None, scale: float = 1.0, offset: float = 0.0) -> None:
        self.keras = keras_model
        self.label, self.origin, self.train, self.loss = label, origin, train, loss
        self.class_names = list(class_names) if class_names else None
        self.scale, self.offset = float(scale), float(offset)

    def __getattr__(self, name: str):
        if name == "keras":
            raise AttributeError(name)
        return getattr(self.keras, name)

    @property
    def units(self) -> int:
        """Number of outputs of the last layer (classes; 1 for a sigmoid/regression output)."""
        return int(self.keras.outputs[0].shape[-1])

    @property
    def input_shape(self) -> list:
        return [None if d is None else int(d) for d in self.keras.inputs[0].shape[1:]]


def _flags(**kw) -> dict:
    return {k: v for k, v in kw.items() if v is not None}


def build(path: str, compile: bool = True, optimizer: Any = None, learning_rate: float | None = None,
          loss: str | None = None, metrics: list | None = None, seed: int | None = None) -> RModel:
    """The spec's Keras model (``cnnspec_model()`` in R), compiled from the spec's ``train:``
    section with the given arguments overriding it (the CLI's rule for its flags)."""
    from cnnspec.keras.compiled import build_compiled
    from cnnspec.spec.loader import load_spec
    from cnnspec.spec.trainconfig import for_spec, with_flags

    spec = load_spec(path)
    flags = _flags(optimizer=optimizer, loss=loss, metrics=list(metrics) if metrics is not None else None,
                   seed=seed)
    # the optimizer first, then the learning rate over it (whether the spec's or R's optimizer)
    cfg = with_flags(with_flags(for_spec(spec), flags, spec.file), _flags(learning_rate=learning_rate), spec.file)
    model, used = build_compiled(spec, cfg, compile=compile)
    return RModel(model, label=spec.label, origin=str(path), train=cfg, loss=used, scale=cfg.scale or 1.0,
                  offset=cfg.offset)


def load(path: str) -> Any:
    """A trained run directory or ``.keras`` file as an RModel (class names and scaling from its
    metadata, training settings from the run's config.json); an ``.onnx`` file as an OnnxModel."""
    from pathlib import Path

    p = Path(path)
    if p.suffix.lower() == ".onnx":
        from cnnspec.deploy.runtime import OnnxModel

        return OnnxModel(p, on_notice=None)
    from cnnspec.keras.export import load_keras
    from cnnspec.spec.trainconfig import TrainConfig

    model, meta, keras_path = load_keras(p)
    conf = p / "config.json" if p.is_dir() else None
    cfg = TrainConfig.model_validate(read_json(conf)["train"]) if conf is not None and conf.exists() else None
    from cnnspec.keras.compiled import compile_model

    cfg = cfg or TrainConfig()
    loss = compile_model(model, cfg)
    return RModel(model, label=meta.get("spec_name") or keras_path.stem, origin=str(p), train=cfg, loss=loss,
                  class_names=meta["class_names"], scale=meta["scale"], offset=meta["offset"])


def model_info(rm: RModel) -> dict:
    """What ``print(model)`` shows: the layer table, totals and the compiled settings."""
    from cnnspec.keras.build import keras_rows
    from cnnspec.layers.shapes import format_shape

    rows = keras_rows(rm.keras)
    cols = {"name": [r["name"] for r in rows], "type": [r["type"] for r in rows],
            "output": [format_shape(tuple(r["output_shape"])) for r in rows],
            "params": [r["trainable"] + r["non_trainable"] for r in rows]}
    tr = sum(r["trainable"] for r in rows)
    nt = sum(r["non_trainable"] for r in rows)
    info: dict[str, Any] = {"label": rm.label, "origin": rm.origin, "rows": cols,
                            "totals": {"total": tr + nt, "trainable": tr, "non_trainable": nt},
                            "input_shape": rm.input_shape, "input_dtype": str(rm.keras.inputs[0].dtype),
                            "units": rm.units, "class_names": rm.class_names, "scale": rm.scale,
                            "offset": rm.offset, "compiled": rm.loss is not None}
    if rm.loss is not None:
        opt = rm.keras.optimizer
        info.update(optimizer=type(opt).__name__.lower(), learning_rate=float(opt.learning_rate.numpy()),
                    loss=rm.loss, metrics=list(rm.train.metrics) if rm.train else [])
    return info


def _as_input(rm: RModel, x, what: str = "x"):
    """Raw R numbers -> float32 (N, *input_shape), scaled; adds a missing trailing channel."""
    import numpy as np

    arr = np.asarray(x)
    if arr.dtype == object or arr.dtype.kind not in "iufb":
        raise DataError(f"{what} must be numbers (got {arr.dtype})")
    shape = tuple(rm.input_shape)
    dims = tuple(arr.shape[1:])
    ok = len(dims) == len(shape) and all(w is None or w == d for w, d in zip(shape, dims))
    if not ok and shape[-1] == 1 and len(dims) == len(shape) - 1 and all(
            w is None or w == d for w, d in zip(shape[:-1], dims)):
        arr, ok = arr[..., None], True  # grayscale images given without their channel dimension
    if not ok:
        fmt = lambda s: "x".join("?" if d is None else str(d) for d in s)  # noqa: E731
        raise DataError(f"{what} has dimensions {fmt(arr.shape)}; the model takes N x {fmt(shape)}"
                        + (f" (or N x {fmt(shape[:-1])} for one channel)" if shape[-1] == 1 else ""))
    if arr.shape[0] == 0:
        raise DataError(f"{what} has no rows")
    arr = arr.astype("float32")
    if not np.isfinite(arr).all():
        raise DataError(f"{what} contains NaN or infinite values")
    return arr * np.float32(rm.scale) + np.float32(rm.offset) if (rm.scale, rm.offset) != (1.0, 0.0) else arr


def _as_target(rm: RModel, y, n: int, what: str = "y"):
    """0-based integer class ids from R -> what the compiled loss wants (one-hot for categorical)."""
    import numpy as np

    y = np.asarray(y).astype("int64").reshape(-1)
    if len(y) != n:
        raise DataError(f"{what} has {len(y)} labels but x has {n} rows")
    k = max(rm.units, 2)
    if y.size and (y.min() < 0 or y.max() >= k):
        raise DataError(f"{what} has class ids outside 0..{k - 1}")
    if rm.loss == "categorical_crossentropy":
        return np.eye(rm.units, dtype="float32")[y]
    return y


def _set_classes(rm: RModel, class_names) -> None:
    if class_names is None:
        return
    names = [str(c) for c in ([class_names] if isinstance(class_names, str) else class_names)]
    if len(names) != max(rm.units, 2):
        raise DataError(f"{len(names)} class names but the model has {rm.units} outputs")
    rm.class_names = names


def fit(rm: RModel, x, y, epochs=None, batch_size=None, validation_split=None, validation_data=None,
        verbose=0, shuffle=None, class_names=None) -> dict:
    """``model.fit`` on R arrays with the train section's epochs, batch size and validation split
    unless given; ``validation_data`` is ``(x, y)``. Returns ``{"metrics": {...}, "params": {...}}``."""
    if rm.loss is None:
        raise CnnspecError("the model is not compiled: build it with cnnspec_model(compile = TRUE)")
    cfg = rm.train
    epochs = int(epochs if epochs is not None else (cfg.epochs if cfg else 1))
    batch_size = int(batch_size if batch_size is not None else (cfg.batch_size if cfg else 32))
    vs = validation_split if validation_split is not None else (cfg.validation_split if cfg else None)
    shuffle = bool(shuffle if shuffle is not None else (cfg.shuffle if cfg else True))
    xa = _as_input(rm, x)
    ya = _as_target(rm, y, len(xa))
    val = None
    if validation_data is not None:
        if len(validation_data) != 2:
            raise DataError("validation_data must be list(x, y)")
        vx = _as_input(rm, validation_data[0], "validation_data x")
        val = (vx, _as_target(rm, validation_data[1], len(vx), "validation_data y"))
        vs = None
    _set_classes(rm, class_names)
    h = rm.keras.fit(xa, ya, epochs=epochs, batch_size=batch_size, verbose=int(verbose), shuffle=shuffle,
                     validation_split=float(vs or 0.0), validation_data=val)
    return {"metrics": {k: [float(v) for v in vals] for k, vals in h.history.items()},
            "params": {"epochs": epochs, "batch_size": batch_size, "samples": int(len(xa)),
                       "validation_split": float(vs or 0.0), "validation_data": val is not None,
                       "optimizer": type(rm.keras.optimizer).__name__.lower(),
                       "learning_rate": float(rm.keras.optimizer.learning_rate.numpy()), "loss": rm.loss}}


def evaluate(rm: RModel, x, y, batch_size=None) -> dict:
    """Loss and metrics on R arrays, as a name -> number dict."""
    if rm.loss is None:
        raise CnnspecError("the model is not compiled: build it with cnnspec_model(compile = TRUE)")
    xa = _as_input(rm, x)
    res = rm.keras.evaluate(xa, _as_target(rm, y, len(xa)), batch_size=int(batch_size or 32), verbose=0,
                            return_dict=True)
    return {k: float(v) for k, v in res.items()}


def predict(model, x, batch_size=None):
    """Output probabilities (N, K) for raw R numbers with an RModel (Keras) or an OnnxModel."""
    import numpy as np

    if isinstance(model, RModel):
        return np.asarray(model.keras.predict(_as_input(model, x), batch_size=int(batch_size or 32), verbose=0),
                          dtype="float64")
    return np.asarray(model.predict(np.asarray(x), batch_size=int(batch_size or 256)), dtype="float64")


def save_model(rm: RModel, path: str) -> str:
    """Save the Keras model (atomically) with its metadata sidecar (class names, input shape,
    scaling), so that an export of it keeps them; returns ``path``."""
    from cnnspec.runs.files import atomic_json, save_keras_atomic
    from cnnspec.runs.modelmeta import sidecar_path

    save_keras_atomic(rm.keras, path)
    names = rm.class_names if rm.class_names and len(rm.class_names) == rm.units else None
    shape = rm.input_shape
    atomic_json(sidecar_path(path), {"class_names": names, "input_shape": shape if None not in shape else None,
                                     "scale": rm.scale, "offset": rm.offset, "spec_name": rm.label})
    return str(path)


def onnx_info(model) -> dict:
    """Metadata of an OnnxModel (class names, input shape, scaling, device) for R."""
    info = model.info()
    return {k: info.get(k) for k in ("path", "class_names", "input_shape", "scale", "offset", "spec_name",
                                     "device")}


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


def train_arrays(path: str, x, y, test_x, test_y, class_names=None, data_file: str = "", **kw) -> dict:
    """Train a recorded run on R arrays: write them to ``data_file`` (npz, atomically) and run
    :func:`cnnspec.keras.training.train` on it (``kw``: out, epochs, batch_size, seed, ...)."""
    import io

    import numpy as np

    from cnnspec.keras.training import train
    from cnnspec.runs.files import atomic_bytes

    arrays = {"x_train": np.asarray(x), "y_train": np.asarray(y).astype("int64").reshape(-1),
              "x_test": np.asarray(test_x), "y_test": np.asarray(test_y).astype("int64").reshape(-1)}
    if class_names is not None:
        arrays["class_names"] = np.asarray([str(c) for c in class_names])
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_bytes(data_file, buf.getvalue())
    return train(path, data="npz", data_path=data_file, **kw)


def code(path: str, lang: str = "r") -> str:
    """``cnnspec code``: the spec as R (keras3) or Python Keras code."""
    from cnnspec.interop.codegen import generate
    from cnnspec.spec.loader import load_spec

    return generate(load_spec(path), lang)


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
