"""Keras 3 model -> ONNX, with cnnspec metadata embedded and a parity check.

Pipeline (:func:`export_model`):

1. load the ``.keras`` model and its sidecar metadata (:mod:`cnnspec.runs.modelmeta`);
2. strip training-only layers (``Random*`` augmentation, ``Dropout`` & co., all identity
   at inference) by rebuilding the layer graph around the *same* trained layer objects;
3. call the model once and export it with Keras's own ``model.export(path,
   format="onnx", opset_version=N)`` (Keras hands ``opset_version`` to
   ``tf2onnx.convert.from_function(opset=N)``; ``None`` means tf2onnx's default, 15);
4. post-process with ``onnx``: the single input is renamed ``input`` and its first
   dimension becomes the symbolic ``batch``; the single output is renamed
   ``probabilities`` (also batch-dynamic); the metadata JSON goes into
   ``metadata_props["cnnspec"]``; ``onnx.checker.check_model`` must pass;
5. parity: onnxruntime (CPU) vs ``model(x, training=False)`` on real or random inputs.

TensorFlow / Keras / onnxruntime are imported inside the functions that need them.
"""
from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path

import numpy as np

from cnnspec.errors import CnnspecError, ModelFileError

INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"
BATCH_DIM = "batch"
METADATA_KEY = "cnnspec"
PARITY_ATOL = 1e-5

# Layer classes that do nothing at inference and are removed before export.
_DROP_PREFIXES = ("Random",)
_DROP_CLASSES = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
                 "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization"}


class ParityError(CnnspecError):
    """Exported ONNX model disagrees with the Keras model (a check that failed: exit 1)."""

    exit_code = 1


def is_training_only(layer) -> bool:
    """True for augmentation / regularisation layers that are identity at inference."""
    name = type(layer).__name__
    return name in _DROP_CLASSES or any(name.startswith(p) for p in _DROP_PREFIXES)


def _quiet_tf() -> None:
    from cnnspec.keras.util import import_keras_quietly

    import_keras_quietly(with_tf2onnx=True)


def load_keras(path: str | Path):
    """RUN_DIR or X.keras -> (keras model, completed metadata dict, keras path).

    The metadata has the ``warning`` key set when there was no sidecar.
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
                             file=str(keras_path)) from None
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


def _rename_value(graph, old: str, new: str) -> None:
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new
    for vi in graph.value_info:
        if vi.name == old:
            vi.name = new


def _set_batch_dim(value_info) -> None:
    dims = value_info.type.tensor_type.shape.dim
    if len(dims):
        dims[0].ClearField("dim_value")
        dims[0].dim_param = BATCH_DIM


def postprocess_onnx(onnx_path: str | Path, meta: dict) -> dict:
    """Rename input/output, make the batch dimension symbolic, embed metadata, check.

    Returns the metadata dict that was embedded.
    """
    import onnx

    model = onnx.load(str(onnx_path))
    graph = model.graph
    inits = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ModelFileError(f"expected 1 input and 1 output, got {len(inputs)} and "
                             f"{len(graph.output)}", file=str(onnx_path))
    if inputs[0].name != INPUT_NAME:
        old = inputs[0].name
        _rename_value(graph, old, INPUT_NAME)
        inputs[0].name = INPUT_NAME
    if graph.output[0].name != OUTPUT_NAME:
        old = graph.output[0].name
        _rename_value(graph, old, OUTPUT_NAME)
        graph.output[0].name = OUTPUT_NAME
    _set_batch_dim(inputs[0])
    _set_batch_dim(graph.output[0])

    _static_reshapes(model)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=None)
    full = dict(meta)
    full.update({"opset": opset, "input_name": INPUT_NAME, "output_name": OUTPUT_NAME})
    embedded = {k: full.get(k) for k in EMBEDDED_KEYS}
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps(embedded)
    model.producer_name = "cnnspec"
    model.doc_string = (f"cnnspec export of {meta.get('spec_name') or 'a Keras model'}; "
                        f"metadata JSON in metadata_props['{METADATA_KEY}']")
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(onnx_path))
    return embedded


def _static_reshapes(model) -> int:
    """Replace run-time computed Reshape targets (tf2onnx's Flatten: Shape/Gather/Cast/
    Slice/Concat/Cast) by a constant ``[-1, d1, ...]`` when the target only depends on the
    batch size. The shapes are observed by running the graph at batch 1 and 2 with
    onnxruntime; the dead shape arithmetic is then removed. Saves ~6 tiny kernel launches
    per call (noticeable at batch 1). The parity check afterwards covers the rewrite.
    Returns the number of Reshape nodes rewritten.
    """
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {i.name for i in graph.initializer}
    consts = inits | {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    targets = [n for n in graph.node if n.op_type == "Reshape" and len(n.input) > 1
               and n.input[1] not in consts]
    if not targets:
        return 0
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    for n in targets:
        if n.output[0] not in known:
            probe.graph.output.append(helper.make_empty_tensor_value_info(n.output[0]))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        sess = ort.InferenceSession(probe.SerializeToString(), so, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        shape = [d if isinstance(d, int) else 1 for d in inp.shape[1:]]
        names = [n.output[0] for n in targets]
        seen = [sess.run(names, {inp.name: np.zeros((b, *shape), np.float32)}) for b in (1, 2)]
    except Exception:  # noqa: BLE001 - an optimisation only: keep the graph as it is
        return 0
    done = 0
    for i, node in enumerate(targets):
        s1, s2 = seen[0][i].shape, seen[1][i].shape
        if len(s1) < 1 or s1[0] != 1 or s2[0] != 2 or s1[1:] != s2[1:]:
            continue
        name = node.output[0] + "__static_shape"
        graph.initializer.append(numpy_helper.from_array(np.array([-1, *s1[1:]], np.int64), name))
        node.input[1] = name
        done += 1
    # Drop nodes whose outputs nobody uses any more.
    while True:
        used = {x for n in graph.node for x in n.input} | {o.name for o in graph.output}
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
    used = {x for n in graph.node for x in n.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)
    return done


EMBEDDED_KEYS = ("class_names", "input_shape", "scale", "offset", "spec_name", "spec_fingerprint",
                 "cnnspec_version", "keras_version", "opset", "input_name", "output_name")


def keras_to_onnx(model, onnx_path: str | Path, meta: dict, *, opset: int | None = None) -> dict:
    """Strip, export and post-process ``model``; returns a report dict."""
    _quiet_tf()
    import keras

    from cnnspec import __version__

    shape = model_input_shape(model)
    inference, dropped = strip_training_layers(model)
    # Keras's ONNX export needs a model that has been called at least once.
    inference(np.zeros((1, *shape), dtype="float32"), training=False)
    onnx_path = Path(onnx_path)
    if onnx_path.parent and not onnx_path.parent.exists():
        raise ModelFileError("output directory does not exist", file=str(onnx_path))
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inference.export(str(onnx_path), format="onnx", verbose=False, opset_version=opset)
    except CnnspecError:
        raise
    except Exception as exc:  # noqa: BLE001
        msg = " ".join(str(exc).split())[:200]
        raise CnnspecError(f"ONNX export failed ({type(exc).__name__}: {msg})",
                           file=str(onnx_path)) from None
    meta = dict(meta)
    meta.setdefault("cnnspec_version", None)
    meta["cnnspec_version"] = meta.get("cnnspec_version") or __version__
    meta["keras_version"] = keras.__version__
    embedded = postprocess_onnx(onnx_path, meta)
    return {"onnx": str(onnx_path), "dropped_layers": dropped, "metadata": embedded,
            "inference_model": inference}


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


def check_parity(model, onnx_path: str | Path, x_raw: np.ndarray, meta: dict,
                 batch_size: int = 256) -> dict:
    """Max |keras - onnx| and argmax agreement on ``x_raw`` (raw pixels, scaled here)."""
    import onnxruntime as ort

    _quiet_tf()
    import tensorflow as tf

    x = (x_raw.astype("float32") * np.float32(meta["scale"]) + np.float32(meta["offset"]))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    fn = tf.function(lambda t: model(t, training=False), jit_compile=False, reduce_retracing=True)
    k_out, o_out = [], []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        k_out.append(np.asarray(fn(tf.constant(xb))))
        o_out.append(sess.run(None, {name: xb})[0])
    k = np.concatenate(k_out)
    o = np.concatenate(o_out)
    diff = float(np.max(np.abs(k - o))) if len(k) else 0.0
    agree = float(np.mean(np.argmax(k, -1) == np.argmax(o, -1))) if len(k) else 1.0
    return {"n": int(len(x)), "max_abs_diff": diff, "argmax_agreement": agree,
            "atol": PARITY_ATOL, "ok": bool(diff <= PARITY_ATOL and agree == 1.0)}


def export_model(path: str | Path, output: str | Path, *, opset: int | None = None,
                 data: str | None = None, limit: int = 512) -> dict:
    """The whole ``cnnspec export`` pipeline; returns a JSON-able report."""
    model, meta, keras_path = load_keras(path)
    warning = meta.pop("warning", None)
    meta.pop("sidecar", None)
    rep = keras_to_onnx(model, output, meta, opset=opset)
    rep.pop("inference_model")
    x, source = parity_inputs(rep["metadata"], data=data, limit=limit)
    # Compare against the model as trained (with its training-only layers, in inference mode).
    par = check_parity(model, output, x, rep["metadata"])
    par["source"] = source
    rep.update({"keras": str(keras_path), "parity": par, "warning": warning,
                "size_bytes": Path(output).stat().st_size})
    return rep
