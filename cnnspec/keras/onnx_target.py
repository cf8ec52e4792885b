"""The ONNX export target: Keras 3 -> ``.onnx`` with cnnspec metadata, graph rewrites and parity.

An export target is a module with a class offering ``name``, ``suffix``, ``convert(model,
path, meta, **options) -> report`` (write the file at ``path``) and ``verify(model, path,
x_raw, meta) -> parity report`` (``"ok"`` decides); :data:`cnnspec.keras.export.TARGETS`
maps format names to them. A second format (TF-Lite, OpenVINO IR) is one more such module.

ONNX: Keras's own ``model.export(path, format="onnx", opset_version=N)`` (Keras hands
``opset_version`` to ``tf2onnx.convert.from_function(opset=N)``; ``None`` means tf2onnx's
default, 15), then ``onnx`` post-processing: the single input is renamed ``input`` and its
first dimension becomes the symbolic ``batch``; the single output is renamed
``probabilities``; exact graph rewrites (:mod:`cnnspec.deploy.rewrite`); the metadata JSON
goes into ``metadata_props["cnnspec"]``; ``onnx.checker.check_model`` must pass. Parity:
onnxruntime (CPU) vs ``model(x, training=False)``.
"""
from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path

import numpy as np

from cnnspec.errors import CnnspecError, ModelFileError
from cnnspec.runs.modelmeta import EMBEDDED_KEYS, META_KEYS, METADATA_KEY

INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"
BATCH_DIM = "batch"
PARITY_ATOL = 1e-5


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


def postprocess_onnx(onnx_path: str | Path, meta: dict, *, rewrite: bool = True) -> tuple[dict, dict]:
    """Rename input/output, make the batch dimension symbolic, rewrite, embed metadata, check.

    Returns the metadata dict that was embedded and the rewrites done (name -> count).
    """
    import onnx

    from cnnspec.deploy.rewrite import rewrite_graph

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

    rewrites = {"static_reshape": _static_reshapes(model)}
    if rewrite:
        rewrites.update(rewrite_graph(model))
    rewrites = {k: v for k, v in rewrites.items() if v}
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=None)
    full = dict(meta)
    full.update({"opset": opset, "input_name": INPUT_NAME, "output_name": OUTPUT_NAME})
    if rewrites:
        full["rewrites"] = rewrites
    embedded = {k: full[k] if k in full else None for k in EMBEDDED_KEYS if k in full or k in META_KEYS}
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps(embedded)
    model.producer_name = "cnnspec"
    model.doc_string = (f"cnnspec export of {meta.get('spec_name') or 'a Keras model'}; "
                        f"metadata JSON in metadata_props['{METADATA_KEY}']")
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(onnx_path))
    return embedded, rewrites


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


def _keras_export(inference, onnx_path: Path, opset: int | None) -> None:
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inference.export(str(onnx_path), format="onnx", verbose=False, opset_version=opset)
    except CnnspecError:
        raise
    except Exception as exc:  # noqa: BLE001
        msg = " ".join(str(exc).split())[:200]
        raise CnnspecError(f"ONNX export failed ({type(exc).__name__}: {msg})", file=str(onnx_path)) from exc


class OnnxTarget:
    """``.onnx`` files for onnxruntime / OpenVINO (:mod:`cnnspec.deploy`)."""

    name = "onnx"
    suffix = ".onnx"

    def convert(self, inference, path: str | Path, meta: dict, *, opset: int | None = None,
                rewrite: bool = True) -> dict:
        """Export the (already stripped, called once) ``inference`` model to ``path``; returns
        ``{"metadata": embedded, "rewrites": {...}}``."""
        _quiet_tf()
        import keras

        from cnnspec import __version__

        path = Path(path)
        _keras_export(inference, path, opset)
        meta = dict(meta)
        meta["cnnspec_version"] = meta.get("cnnspec_version") or __version__
        meta["keras_version"] = keras.__version__
        embedded, rewrites = postprocess_onnx(path, meta, rewrite=rewrite)
        return {"metadata": embedded, "rewrites": rewrites}

    def verify(self, model, path: str | Path, x_raw: np.ndarray, meta: dict) -> dict:
        """Parity of the written file with ``model`` (see :func:`check_parity`)."""
        return check_parity(model, path, x_raw, meta)


def _quiet_tf() -> None:
    from cnnspec.keras.util import import_keras_quietly

    import_keras_quietly(with_tf2onnx=True)


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


