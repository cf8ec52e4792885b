"""Keras 3 model -> a verified deployment file (ONNX today), written atomically.

Pipeline (:func:`export_model` for a run directory / ``.keras``, :func:`export_keras` for a model
in memory, e.g. an ensemble):

1. load the ``.keras`` model and its sidecar metadata (:mod:`cnnspec.runs.modelmeta`);
2. strip training-only layers (``Random*`` augmentation, ``Dropout`` & co., all identity
   at inference) by rebuilding the layer graph around the *same* trained layer objects;
3. the export target for the output's suffix (:data:`TARGETS`; ``.onnx`` ->
   :mod:`cnnspec.keras.onnx_target`) writes a temporary file beside the output and verifies it
   against the Keras model (parity); optionally the file is quantized
   (:mod:`cnnspec.deploy.quantize`) and must pass its accuracy gate;
4. only then is the temporary file fsynced and renamed over the output: a failed export (parity,
   gate, converter error, full disk, Ctrl-C) leaves any previous file at the output untouched
   and no temporary file behind.

TensorFlow / Keras / onnxruntime are imported inside the functions that need them.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import secrets
from pathlib import Path

import numpy as np

from cnnspec.errors import CnnspecError, ModelFileError
from cnnspec.keras.onnx_target import (INPUT_NAME, OUTPUT_NAME, PARITY_ATOL, check_parity,  # noqa: F401
                                       postprocess_onnx)

#: Export targets by name: "module:Class" (imported when used), and the suffix that selects them.
TARGETS = {"onnx": ("cnnspec.keras.onnx_target:OnnxTarget", ".onnx")}




class ParityError(CnnspecError):
    """The exported file disagrees with the Keras model (a check that failed: exit 1).

    ``report`` holds the export report (with ``"parity"``); nothing was written under the output name.
    """

    exit_code = 1

    def __init__(self, message: str, *, report: dict | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.report = report or {}


def is_training_only(layer) -> bool:
    """True for augmentation / regularisation layers that are identity at inference."""
    from cnnspec.layers import TRAINING_ONLY  # a fact on each layer class

    return type(layer).__name__ in TRAINING_ONLY


def _quiet_tf() -> None:
    """Import TensorFlow, Keras and tf2onnx once, without their start-up noise."""
    from cnnspec.keras.util import import_keras_quietly

    import_keras_quietly(with_tf2onnx=True)


def load_keras(path: str | Path, head: str | None = None):
    """RUN_DIR or X.keras -> (keras model, completed metadata dict, keras path).

    The metadata has the ``warning`` key set when there was no sidecar. ``head``: of a model with
    several outputs, the one output kept (the model computing it alone).
    """
    from cnnspec.runs.modelmeta import complete_meta, load_model_meta

    keras_path, meta = load_model_meta(path)
    _quiet_tf()
    import keras

    try:
        model = keras.saving.load_model(str(keras_path), compile=False)
    except Exception as exc:  # noqa: BLE001 - any failure is "not a loadable model"
        msg = " ".join(str(exc).split())[:160]
        raise ModelFileError(f"not a loadable Keras model ({type(exc).__name__}: {msg})",
                             file=str(keras_path)) from exc
    model = _one_io(model, head, keras_path)
    shape = model_input_shape(model)
    out_shape = model.outputs[0].shape if getattr(model, "outputs", None) else model.output_shape
    meta = complete_meta(meta, num_classes=int(out_shape[-1]), input_shape=shape)
    if list(meta["input_shape"]) != list(shape):
        raise ModelFileError(f"sidecar input_shape {meta['input_shape']} does not match the "
                             f"model's input {list(shape)}", file=str(keras_path))
    if len(meta["class_names"]) != int(out_shape[-1]):
        raise ModelFileError(f"sidecar has {len(meta['class_names'])} class names but the model "
                             f"outputs {int(out_shape[-1])} values", file=str(keras_path))
    return model, meta, keras_path


def _one_io(model, head: str | None, keras_path: Path):
    """The model itself (one input, one output) or its output ``head`` alone; a one-line error otherwise."""
    n_in, n_out = len(getattr(model, "inputs", None) or [1]), len(getattr(model, "outputs", None) or [1])
    names = list(getattr(model, "output_names", None) or [])
    if head is not None:
        if head not in names or n_out == 1:
            raise ModelFileError(f"--head {head}: not an output of this model (outputs: {', '.join(names)})",
                                 file=str(keras_path), field="head")
        import keras

        model = keras.Model(model.inputs, model.outputs[names.index(head)], name=f"{model.name}_{head}")
        n_out = 1
    if n_in != 1 or n_out != 1:
        hint = "; export one output with --head NAME" if n_in == 1 else ""
        raise ModelFileError(f"this model has {n_in} input(s) and {n_out} output(s) ({', '.join(names)}): "
                             "export, predict, serve, ensemble and inspect take models with one input and one "
                             f"output (one image in, one set of class scores out){hint}",
                             file=str(keras_path))
    return model


def model_input_shape(model) -> list[int]:
    """Input shape without the batch dimension (single-input models only)."""
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ModelFileError("model has no defined input (build it before saving)")
    if len(inputs) != 1:
        raise ModelFileError(f"only single-input models are supported (this one has {len(inputs)})")
    shape = list(inputs[0].shape[1:])
    if any(d is None for d in shape):
        raise ModelFileError(f"model input shape {shape} is not fully defined")
    return [int(d) for d in shape]


def strip_training_layers(model):
    """A new model without training-only layers, sharing the trained layers (and weights).

    Sequential -> a new Sequential over the kept layers (nested Sequentials are stripped
    recursively); Functional -> ``clone_model`` with the same layer objects and a
    ``call_function`` that passes inputs straight through dropped layers. Subclassed
    models are returned unchanged (they are exported in inference mode anyway).
    Returns ``(model, dropped_layer_names)``.
    """
    import keras

    dropped: list[str] = []

    def kept_layers(seq):
        kept = []
        for layer in seq.layers:
            if is_training_only(layer):
                dropped.append(layer.name)
            elif isinstance(layer, keras.Sequential):
                inner = strip_seq(layer)
                if inner is not None:
                    kept.append(inner)
            elif isinstance(layer, keras.Model) and _is_functional(layer):
                kept.append(strip_functional(layer))
            else:
                kept.append(layer)
        return kept

    def strip_seq(seq):
        kept = kept_layers(seq)
        if not kept:
            return None
        if len(kept) == len(seq.layers) and all(a is b for a, b in zip(kept, seq.layers)):
            return seq
        return keras.Sequential(kept, name=seq.name)

    def call_function(layer, *args, **kwargs):
        if is_training_only(layer):
            dropped.append(layer.name)
            return args[0]
        if isinstance(layer, keras.Sequential):
            inner = strip_seq(layer)
            return args[0] if inner is None else inner(*args, **kwargs)
        return layer(*args, **kwargs)

    def strip_functional(fmodel):
        return keras.models.clone_model(fmodel, clone_function=lambda layer: layer,
                                        call_function=call_function)

    if isinstance(model, keras.Sequential):
        shape = model_input_shape(model)
        kept = kept_layers(model)
        inp = keras.Input(shape=tuple(shape), name=INPUT_NAME)
        return keras.Sequential([inp, *kept], name=model.name), dropped
    if _is_functional(model):
        return strip_functional(model), dropped
    return model, dropped


def _is_functional(model) -> bool:
    from keras.src.models.functional import Functional

    return isinstance(model, Functional)


def parity_inputs(meta: dict, *, data: str | None = None, limit: int = 512,
                  seed: int = 0) -> tuple[np.ndarray, str]:
    """Raw (unscaled) inputs for the parity check and a description of their source."""
    shape = tuple(meta["input_shape"])
    if data:
        from cnnspec.data import load_dataset

        ds = load_dataset(data, limit=limit)
        x = np.asarray(ds.x_test)[:limit]
        if x.ndim == len(shape) and shape[-1] == 1:
            x = x[..., None]  # (N, H, W) for a one-channel model
        if tuple(x.shape[1:]) != shape:
            raise CnnspecError(f"--data {data}: test images have shape {list(x.shape[1:])}, the model "
                               f"expects {list(shape)}")
        return x.astype("float32"), f"{data} test split ({len(x)} images)"
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(min(limit, 256), *shape)).astype("float32")
    return x, f"random uint8-range inputs ({len(x)}, seed {seed})"




def target_for(output: str | Path):
    """The export target whose suffix ``output`` has (CnnspecError listing the suffixes otherwise)."""
    suffix = Path(output).suffix.lower()
    for name, (where, suf) in TARGETS.items():
        if suffix == suf:
            mod, cls = where.split(":")
            return getattr(importlib.import_module(mod), cls)()
    known = ", ".join(suf for _, suf in TARGETS.values())
    raise CnnspecError(f"output file must end in {known}", file=str(output))


def _commit(tmp: Path, output: Path) -> None:
    """fsync ``tmp``, give it the usual permissions and rename it over ``output``."""
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, output)
    with contextlib.suppress(OSError):
        dfd = os.open(output.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _temp_name(output: Path, tag: str = "") -> Path:
    return output.parent / f".{output.stem}.tmp-{os.getpid()}-{secrets.token_hex(4)}{tag}{output.suffix}"


def export_keras(model, meta: dict, output: str | Path, *, opset: int | None = None, data: str | None = None,
                 limit: int = 512, rewrite: bool = True, quantize: str | None = None,
                 calibrate: str | None = None, calibration_size: int | None = None,
                 max_accuracy_drop: float | None = None, inputs: list | None = None) -> dict:
    """Export a Keras model held in memory (``meta`` as in the sidecar) to ``output``, verified.

    Raises :class:`ParityError` (exit 1) when the file disagrees with ``model``, and
    :class:`cnnspec.deploy.quantize.GateError` (exit 1) when a quantized file fails its accuracy
    gate; in both cases nothing is written under ``output``. Returns a JSON-able report.
    """
    from cnnspec.runs.files import check_output

    _quiet_tf()
    output = check_output(output, inputs or [], what="export")
    target = target_for(output)
    if quantize is not None and target.name != "onnx":
        raise CnnspecError(f"--quantize needs an .onnx output, not {output.suffix}", file=str(output))
    inference, dropped = strip_training_layers(model)
    # Keras's exporters need a model that has been called at least once.
    inference(np.zeros((1, *model_input_shape(model)), dtype="float32"), training=False)
    temps = [_temp_name(output)]
    try:
        conv = target.convert(inference, temps[0], meta, opset=opset, rewrite=rewrite)
        x, source = parity_inputs(conv["metadata"], data=data or (calibrate if quantize else None), limit=limit)
        # Compare against the model as trained (with its training-only layers, in inference mode).
        par = target.verify(model, temps[0], x, conv["metadata"])
        par["source"] = source
        rep = {"output": str(output), "onnx": str(output), "format": target.name, "dropped_layers": dropped,
               "metadata": conv["metadata"], "rewrites": conv.get("rewrites", {}), "parity": par}
        if not par["ok"]:
            raise ParityError(f"parity check failed: max abs diff {par['max_abs_diff']:.3g} (limit "
                              f"{par['atol']:.0e}), argmax agreement {par['argmax_agreement'] * 100:.2f}%; "
                              "nothing written", file=str(output), report=rep)
        final = temps[0]
        if quantize is not None:
            from cnnspec.deploy.quantize import quantize_model

            temps.append(_temp_name(output, ".q"))
            q = quantize_model(temps[0], temps[1], quantize, calibrate=calibrate or data,
                               calibration_size=calibration_size, max_accuracy_drop=max_accuracy_drop,
                               report=rep, output=str(output))
            rep["metadata"], rep["quantization"] = q["metadata"], q["quantization"]
            final = temps[1]
        _commit(final, output)
        rep["size_bytes"] = output.stat().st_size
        return rep
    except OSError as exc:  # full disk, permissions, ...: one line, the previous file untouched
        raise ModelFileError(f"cannot write the export ({exc.strerror or exc}); nothing written",
                             file=str(output)) from exc
    finally:
        for t in temps:
            with contextlib.suppress(OSError):
                t.unlink()


def export_model(path: str | Path, output: str | Path, **options) -> dict:
    """The whole ``cnnspec export`` pipeline for a run directory or ``.keras`` file.

    Options are those of :func:`export_keras` (``opset``, ``data``, ``limit``, ``rewrite``,
    ``quantize``, ``calibrate``, ``calibration_size``, ``max_accuracy_drop``) and ``head`` (of a
    model with several outputs, the one exported). The report adds
    ``keras`` (the model file) and ``warning`` (no sidecar).
    """
    from cnnspec.runs.files import check_output
    from cnnspec.runs.modelmeta import resolve_keras_path, sidecar_path

    # Refuse a bad output before the (slow) TensorFlow import.
    src = resolve_keras_path(path)
    check_output(output, [src, sidecar_path(src)], what="export")
    target_for(output)
    model, meta, keras_path = load_keras(path, options.pop("head", None))
    warning = meta.pop("warning", None)
    meta.pop("sidecar", None)
    try:
        rep = export_keras(model, meta, output, inputs=[keras_path, sidecar_path(keras_path)], **options)
    except CnnspecError as exc:
        if isinstance(getattr(exc, "report", None), dict):
            exc.report.update({"keras": str(keras_path), "warning": warning})
        raise
    rep.update({"keras": str(keras_path), "warning": warning})
    return rep
