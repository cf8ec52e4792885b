"""Nested models in a saved Keras model (.keras / .h5 / to_json), for :mod:`.import_model`: a
keras.applications base saved inside (a nested ``Functional``) becomes one base row when its name
is one Keras gives a base and its layers are that base's (names, filters, units): ``include_top``,
``pooling``, ``classes`` and the freezing come from the saved layers, and the ``preprocess_input``
operations Keras traced in front of it fold into the row. Any other nested model is read in place,
its layers as rows. Pure Python."""
from __future__ import annotations

from typing import Any

from cnnspec.errors import SpecError
from cnnspec.interop.import_bases import BaseObject
from cnnspec.interop.import_common import ImportedModel, ImportedRow, validate_options
from cnnspec.interop.summary_bases import PREPROCESS_OPS, by_name
from cnnspec.layers.applications import application_class, architecture, rows_of

_HEADS = (("top", True, None), ("none", False, None), ("avg", False, "avg"), ("max", False, "max"))
_CHECKED = ("filters", "units", "kernel_size", "strides", "depth_multiplier")


def _layers(nested: dict) -> list[dict]:
    cfg = nested.get("config") or {}
    return [x for x in cfg.get("layers") or [] if isinstance(x, dict)]


def _name(layer: dict) -> str:
    return str((layer.get("config") or {}).get("name") or layer.get("name") or "")


def _same_options(saved: dict, row: list) -> bool:
    """The saved layer has the generated row's filters, units, kernels and strides."""
    opts = row[2]
    for key in _CHECKED:
        if key in opts and key in saved:
            a, b = saved[key], opts[key]
            if (list(a) if isinstance(a, (list, tuple)) else a) != (list(b) if isinstance(b, (list, tuple)) else b):
                return False
    return True


def _head(base: str, layers: list[dict]) -> tuple[str, bool, str | None] | None:
    """The head (top / none / avg / max) whose rows are exactly the saved layers, or None."""
    arch = architecture(base)
    saved = [x for x in layers if x.get("class_name") != "InputLayer"]
    names = [_name(x) for x in saved]
    for head, top, pooling in _HEADS:
        rows = list(arch["rows"]) + list(arch["heads"].get(head, []))
        if [r[1] for r in rows] != names:
            continue
        if head == "top":  # the classifier's size is an option: not compared
            clf = arch.get("classifier") or [None]
            rows = [r for r in rows if r[1] != clf[0]]
        by = {_name(x): x.get("config") or {} for x in saved}
        if all(_same_options(by[r[1]], r) for r in rows):
            return head, top, pooling
    return None


def identify(nested: dict) -> tuple[str, dict[str, Any], BaseObject] | None:
    """(base, row options, base object holding the saved freezing) for a nested model that is a
    keras.applications base, else None."""
    cfg = nested.get("config") or {}
    layers = _layers(nested)
    for base in by_name(_name(nested)):
        found = _head(base, layers)
        if found is None:
            continue
        head, top, pooling = found
        opts: dict[str, Any] = {"include_top": top, "weights": None}
        if pooling:
            opts["pooling"] = pooling
        if top:
            clf_name, key = architecture(base)["classifier"]
            clf = next((x.get("config") or {} for x in layers if _name(x) == clf_name), {})
            if clf.get(key, 1000) != 1000:
                opts["classes"] = clf[key]
            act = clf.get("activation")
            if isinstance(act, str) and act != "softmax":
                opts["classifier_activation"] = act
        obj = BaseObject(application_class(base), {"include_top": (top, 0), "pooling": (pooling, 0)}, 0, base)
        if cfg.get("trainable") is False:
            obj.set_all(False)
        else:
            index = {n: i for i, n in enumerate(obj.layer_names())}
            for x in layers:
                if (x.get("config") or {}).get("trainable") is False and _name(x) in index:
                    obj.flags[index[_name(x)]] = False
        return base, opts, obj
    return None


def input_shape(nested: dict) -> tuple | None:
    """The nested model's input shape (its InputLayer's batch shape without the batch)."""
    for x in _layers(nested):
        if x.get("class_name") == "InputLayer":
            shape = (x.get("config") or {}).get("batch_shape") or (x.get("config") or {}).get("batch_input_shape")
            return tuple(shape[1:]) if shape else None
    return None


def preprocess_chains(layers: list[dict], history) -> dict[str, str]:
    """Saved layers that are a base's traced ``preprocess_input`` (TrueDivide, Subtract ... just before
    a nested base, in the base's own style): layer name -> the tensor the chain takes."""
    by = {_name(x): x for x in layers}
    out: dict[str, str] = {}
    for x in layers:
        if x.get("class_name") not in ("Functional", "Model"):
            continue
        names = by_name(_name(x))
        style = application_class(names[0]).preprocessing if names else None
        want = PREPROCESS_OPS.get(style or "")
        if not want:
            continue
        chain, frontier, source = [], _refs(x, history), None
        while frontier:
            ref = frontier.pop()
            op = by.get(ref)
            if op is None or op.get("class_name") not in want or ref in chain:
                source = ref
                continue
            chain.append(ref)
            frontier.extend(_refs(op, history))
        if chain and source and tuple(sorted(by[c].get("class_name") for c in chain)) == want:
            out.update({c: source for c in chain})
    return out


def _refs(layer: dict, history) -> list[str]:
    nodes = layer.get("inbound_nodes") or []
    return history(nodes[0]) if len(nodes) == 1 else []


class NestedModels:
    """Mixed into import_model's reader (which provides err, layer, inbound, names, file, dropped)."""

    preprocessed: dict[str, str]

    def nested(self, m: ImportedModel, layer: dict, name: str, prev: str, sequential: bool) -> ImportedRow:
        """A nested model: one base row, or its layers in place."""
        inputs = [prev] if sequential else self.inbound(layer, name)
        found = identify(layer)
        if found is None:
            return self.in_place(m, layer, name, inputs)
        base, opts, obj = found
        cls = application_class(base)
        shape = input_shape(layer)
        if sequential and not m.rows and m.input_shape is None and shape:
            m.input_shape = shape
        if shape and not (inputs == ["input"] and shape == m.input_shape):
            opts["input_shape"] = list(shape)
        if cls.preprocessing != "none" and not self.preprocess_fed(layer):
            opts["preprocess"] = False
        try:
            trainable, start = obj.options()
        except ValueError as exc:
            raise SpecError(str(exc), file=self.file) from exc
        if start is not None:
            opts["fine_tune_from"] = start
        validate_options(cls, opts, self.file, 0, {}, f"layer '{name}' ({base})")
        row = ImportedRow(cls, opts, 0, name, inputs, trainable)
        row.comment = ("weights: the file holds the base's weights; null here (set imagenet or a weights file "
                       "saved by Keras)")
        m.rows.append(row)
        self.names[name] = name
        return row

    def preprocess_fed(self, layer: dict) -> bool:
        """Whether the nested base takes the output of its own traced preprocess_input."""
        refs = _refs(layer, self.history)
        return bool(refs) and all(r in self.preprocessed for r in refs)

    def in_place(self, m: ImportedModel, layer: dict, name: str, inputs: list[str]) -> ImportedRow:
        """An unknown nested model's layers as rows of the outer model (its input is the nested
        model's input; names taken already get the nested model's name in front)."""
        inner = layer.get("config") or {}
        seq = layer.get("class_name") == "Sequential"
        child = type(self)({"class_name": layer.get("class_name"), "config": inner}, self.file)
        child.prefix = name
        prev, row = inputs[0], None
        for i, x in enumerate(_layers(layer)):
            if x.get("class_name") == "InputLayer":
                child.names[_name(x)] = inputs[0]
                continue
            row = child.layer(m, x, i, prev, seq) or row
            prev = row.name if row is not None else prev
        self.dropped.extend(child.dropped)
        if row is None:
            raise self.err(f"layer '{name}' is a nested model without layers")
        outs = inner.get("output_layers") or []
        outs = [outs] if outs and isinstance(outs[0], str) else outs
        out = child.names.get(outs[0][0], row.name) if len(outs) == 1 and not seq else row.name
        self.names[name] = out
        return next(r for r in m.rows if r.name == out)


__all__ = ["NestedModels", "identify", "input_shape", "preprocess_chains", "rows_of"]
