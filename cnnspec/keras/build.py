"""Spec -> Keras 3 model. Imports Keras inside the functions (the only place that needs it)."""
from __future__ import annotations

from typing import Any

from cnnspec.errors import SpecError
from cnnspec.spec.loader import Spec


def build_model(spec: Spec, *, overrides: dict[str, dict[str, Any]] | None = None, strip=(),
                pretrained: bool = True):
    """A Keras functional model with the spec's layer names and wiring.

    ``overrides`` maps a layer type (``"Conv2D"``) or ``"*"`` to extra keyword arguments applied
    where the layer accepts them (for instance a training section's kernel_initializer or L2);
    ``strip`` lists layer types left out (training-only layers at export); ``pretrained=False``
    builds pretrained bases with random weights (no download: for checks and tests).
    """
    import keras

    from cnnspec.check.infer import infer

    infer(spec)  # refuse what check refuses, with the same one-line error
    overrides = overrides or {}
    tensors = {i.name: keras.Input(shape=i.shape, dtype=i.dtype, name=i.name, batch_size=spec.batch_size)
               for i in spec.inputs}
    alias: dict[str, str] = {}
    for row in spec.rows:
        ins = [tensors[alias.get(n, n)] for n in row.inputs]
        if row.type in strip:
            alias[row.name] = alias.get(row.inputs[0], row.inputs[0])
            continue
        kwargs = {}
        for key in ("*", row.type):
            for k, v in overrides.get(key, {}).items():
                if k in type(row.layer).model_fields and k not in row.layer.model_fields_set:
                    kwargs[k] = v
        if not pretrained and "pretrained" in type(row.layer).model_fields:
            kwargs["pretrained"] = None
        layer_spec = row.layer.model_copy(update=kwargs) if kwargs else row.layer
        if kwargs:
            layer_spec.__pydantic_fields_set__.update(kwargs)
        try:
            layer = layer_spec.build_keras(row.name, tuple(ins[0].shape[1:]))
            tensors[row.name] = layer_spec.apply_keras(layer, ins)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"{row.name} ({row.type}): Keras refused the options: {' '.join(str(exc).split())[:200]}",
                            file=spec.file, line=row.line) from exc
    ins = [tensors[n] for n in spec.input_names]
    outs = [tensors[alias.get(n, n)] for n in spec.outputs]
    if len(ins) == 1 and len(outs) == 1:  # one input, one output: tensors, not lists (as before)
        return keras.Model(inputs=ins[0], outputs=outs[0], name=_model_name(spec.label))
    return keras.Model(inputs=ins, outputs=outs, name=_model_name(spec.label))


def _model_name(label: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.\-]", "_", label)


def keras_rows(model) -> list[dict]:
    """Per-layer output shape (no batch) and trainable / non-trainable counts of a built model."""
    import numpy as np

    rows = []
    for layer in model.layers:
        if layer.__class__.__name__ == "InputLayer":
            continue
        tr = int(sum(np.prod(w.shape) for w in layer.trainable_weights))
        nt = int(sum(np.prod(w.shape) for w in layer.non_trainable_weights))
        shape = layer.output.shape
        rows.append({"name": layer.name, "type": layer.__class__.__name__,
                     "output_shape": [None if d is None else int(d) for d in shape[1:]],
                     "trainable": tr, "non_trainable": nt})
    return rows


def default_loss(model):
    """The loss matching a model's head: sparse categorical cross-entropy (from logits unless softmax),
    binary cross-entropy for one sigmoid unit, else mean squared error."""
    units = model.output.shape[-1]
    act = getattr(model.layers[-1], "activation", None)
    act = getattr(act, "__name__", str(act))
    if units == 1:
        return "binary_crossentropy" if act == "sigmoid" else "mse"
    import keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=act != "softmax")


def compare_rows(rep, krows: list[dict]) -> list[str]:
    """Differences between check's rows and a built model's rows, matched by layer NAME.

    Keras lists a functional model's layers in its own topological order, which may differ from
    the spec's (a residual or inception block whose branches are listed in another order), so
    position means nothing; a layer missing on either side is a difference."""
    diffs = []
    by_name = {k["name"]: k for k in krows}
    names = {r.row.name for r in rep.rows}
    for r in rep.rows:
        k = by_name.get(r.row.name)
        if k is None:
            diffs.append(f"{r.row.name}: in check but not in the Keras model (line {r.row.line})")
            continue
        want = ([None if d is None else int(d) for d in r.output], r.count.trainable, r.count.non_trainable)
        got = (k["output_shape"], k["trainable"], k["non_trainable"])
        if want != got:
            diffs.append(f"{r.row.name}: check {want} vs Keras {got} (line {r.row.line})")
    for k in krows:
        if k["name"] not in names:
            diffs.append(f"{k['name']} ({k['type']}): in the Keras model but not in check")
    return diffs


def build_check_report(spec, out) -> dict:
    """Build ``spec``, compare it with ``cnnspec check`` by layer name, save the model and its
    sidecar atomically. Returns the model's rows, totals and differences (``build``'s logic)."""
    from cnnspec.check.infer import check
    from cnnspec.runs.files import atomic_json, save_keras_atomic
    from cnnspec.runs.modelmeta import input_scale, make_meta, sidecar_path
    from cnnspec.spec.trainconfig import for_spec

    rep = check(spec)
    cfg = for_spec(spec)  # validates the train section too; its scale goes into the sidecar
    model = build_model(spec)
    krows = keras_rows(model)
    diffs = compare_rows(rep, krows)
    save_keras_atomic(model, out)
    last = next(r.output for r in rep.rows if r.row.name == spec.outputs[0])  # the (first) output's
    names = [str(i) for i in range(last[-1])] if len(last) == 1 and isinstance(last[-1], int) else None
    atomic_json(sidecar_path(out), make_meta(spec, names, input_scale(cfg.scale), cfg.offset))
    return {"spec": spec.label, "model": str(out), "sidecar": str(sidecar_path(out)), "layers": krows,
            "trainable_params": sum(r["trainable"] for r in krows),
            "non_trainable_params": sum(r["non_trainable"] for r in krows),
            "equals_check": not diffs, "differences": diffs}


def adapt_normalization(model, x, scale: float = 1.0, offset: float = 0.0, limit: int = 10_000) -> list[str]:
    """Adapt every ``Normalization`` layer created without mean and variance to the training data
    (at most ``limit`` samples, scaled as training feeds them): Keras's ``layer.adapt`` on the
    layer's own input. Returns the names of the adapted layers."""
    import keras
    import numpy as np

    done = []
    for layer in model.layers:
        if type(layer).__name__ != "Normalization" or getattr(layer, "input_mean", None) is not None:
            continue
        feed = keras.Model(model.inputs, layer.input)
        if isinstance(x, dict):  # several inputs: uint8 arrays are pixels (scaled), others fed as stored
            sample = {k: np.asarray(v[:limit], dtype=np.float32) * (scale if v.dtype == np.uint8 else 1.0)
                      + (offset if v.dtype == np.uint8 else 0.0) for k, v in x.items()}
        else:
            sample = np.asarray(x[:limit], dtype=np.float32) * scale + offset
        layer.adapt(feed.predict(sample, batch_size=256, verbose=0))
        done.append(layer.name)
    return done
