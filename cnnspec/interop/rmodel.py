"""The Keras side of the R package: a model as R holds it (:class:`RModel`) and what R does with it.

A spec's model is compiled from its ``train:`` section (one definition of the training settings,
:mod:`cnnspec.spec.trainconfig`), with R's arguments applied as flags over the section, exactly
as the CLI applies its options. Inputs come as R arrays (a missing trailing channel is added);
labels come as 0-based class ids (the R side reads factors, one-hot matrices and 1-based labels,
see ``r-bridge/R/labels.R``). Keras is only reached through cnnspec.keras, lazily.
"""
from __future__ import annotations

from typing import Any

from cnnspec.errors import CnnspecError, DataError
from cnnspec.runs.files import read_json


# ----------------------------------------------------------------------------------------------
class RModel:
    """A Keras model as the R package holds it.

    ``keras`` is the Keras model; ``train`` the resolved training settings (a TrainConfig: the
    spec's section with R's arguments, a run's config.json, or the defaults for a bare ``.keras``
    file); ``loss`` the compiled loss name (None when not compiled);
    ``class_names`` (None until known), ``scale``/``offset`` (raw inputs are fed as
    ``x * scale + offset``; a ``scale`` of None is decided by the first fit, as training runs decide
    it from their dataset: 1 / the value range of x, that is 1 for values within 0..1 and 1/255 for
    pixels within 0..255), ``label`` and ``origin`` (the spec or file it came from). Any other
    attribute is the Keras model's, so ``model$count_params()`` works from R.
    """

    def __init__(self, keras_model, *, label: str, origin: str, train=None, loss: str | None = None,
                 class_names: list[str] | None = None, scale: float | None = 1.0, offset: float = 0.0) -> None:
        self.keras = keras_model
        self.label, self.origin, self.train, self.loss = label, origin, train, loss
        self.class_names = list(class_names) if class_names else None
        self.scale = None if scale is None else float(scale)
        self.offset = float(offset)

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
          loss: str | None = None, metrics: list | None = None, seed: int | None = None,
          scale: float | None = None) -> RModel:
    """The spec's Keras model (``cnnspec_model()`` in R), compiled from the spec's ``train:``
    section with the given arguments overriding it (the CLI's rule for its flags). The input
    scale is the ``scale`` argument, else the section's ``scale``, else decided by the first fit."""
    from cnnspec.keras.compiled import build_compiled
    from cnnspec.spec.loader import load_spec
    from cnnspec.spec.trainconfig import for_spec, with_flags

    spec = load_spec(path)
    flags = _flags(optimizer=optimizer, loss=loss, metrics=list(metrics) if metrics is not None else None,
                   seed=seed, scale=scale)
    # the optimizer first, then the learning rate over it (whether the spec's or R's optimizer)
    cfg = with_flags(with_flags(for_spec(spec), flags, spec.file), _flags(learning_rate=learning_rate), spec.file)
    model, used = build_compiled(spec, cfg, compile=compile)
    return RModel(model, label=spec.label, origin=str(path), train=cfg, loss=used, scale=cfg.scale,
                  offset=cfg.offset)


def load(path: str) -> Any:
    """A trained run directory or ``.keras`` file as an RModel (class names and scaling from its
    metadata, training settings from the run's config.json); an ``.onnx`` file as an OnnxModel."""
    from pathlib import Path

    p = Path(path)
    if p.suffix.lower() == ".onnx":
        from cnnspec.deploy.runtime import OnnxModel

        return OnnxModel(p, on_notice=None)
    from cnnspec.keras.compiled import compile_model
    from cnnspec.keras.export import load_keras
    from cnnspec.spec.trainconfig import TrainConfig

    model, meta, keras_path = load_keras(p)
    conf = p / "config.json"
    cfg = TrainConfig.model_validate(read_json(conf)["train"]) if p.is_dir() and conf.exists() else TrainConfig()
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
    scale = 1.0 if rm.scale is None else rm.scale
    return arr * np.float32(scale) + np.float32(rm.offset) if (scale, rm.offset) != (1.0, 0.0) else arr


def _decide_scale(rm: RModel, x) -> None:
    """A model without a scale takes 1 / the value range of its first training inputs (the rule
    training runs apply to their dataset): 1 within 0..1, 1/255 within 0..255, else 1/max."""
    import numpy as np

    from cnnspec.runs.modelmeta import input_scale

    if rm.scale is not None:
        return
    hi = float(np.max(np.asarray(x), initial=0.0))
    value_range = 1.0 if hi <= 1.0 else 255.0 if hi <= 255.0 else hi  # the data module's rule for float arrays
    rm.scale = input_scale(None, value_range)


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
    if epochs < 1 or batch_size < 1:
        raise DataError(f"epochs and batch_size must be at least 1 (got {epochs} and {batch_size})")
    if vs is not None and not 0 <= float(vs) < 1:
        raise DataError(f"validation_split must be within [0, 1), got {vs}")
    undecided = rm.scale is None
    _decide_scale(rm, x)
    try:
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
    except CnnspecError:
        if undecided:  # bad input decides nothing
            rm.scale = None
        raise
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
                                     "scale": 1.0 if rm.scale is None else rm.scale, "offset": rm.offset,
                                     "spec_name": rm.label})
    return str(path)


def onnx_info(model) -> dict:
    """Metadata of an OnnxModel (class names, input shape, scaling, device) for R."""
    info = model.info()
    return {k: info.get(k) for k in ("path", "class_names", "input_shape", "scale", "offset", "spec_name",
                                     "device")}


