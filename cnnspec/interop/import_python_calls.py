"""The Python calls the Python importer knows: ``keras.Sequential``/``Input``/``Model``, layer
classes (positional parameters from the layer class, aliases from the registry), layers applied
to tensors, regularizers, initializers, optimizers, losses, datasets, ``compile``/``fit``."""
from __future__ import annotations

import ast
import re
from typing import Any

from cnnspec.interop.import_bases import BaseObject, InnerLayer, base_class, base_named, inline, snapshot
from cnnspec.interop.import_common import (
    PY_NAMES, ImportedModel, ModuleRef, Opaque, PendingLayer, Tensor, Unsupported, as_shape, layer_class,
    next_name, positional, static_shape)
from cnnspec.interop.import_train import TrainRecorder, loss_value, optimizer_value, snake
from cnnspec.interop.import_graph import join, new_input, set_io
from cnnspec.util import suggest

_MODEL_METHODS = {"compile", "fit", "fit_generator", "evaluate", "predict", "summary", "save", "save_weights",
                  "load_weights", "build", "export", "to_json", "get_config", "count_params", "get_layer",
                  "evaluate_generator", "predict_generator"}
_PASS = ("int", "float", "tuple", "list", "str")


def dotted(node: ast.expr) -> str | None:
    """``keras.layers.Dense`` for an attribute chain on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class PyCalls:
    """Mixed into :class:`cnnspec.interop.import_python.PyImporter` (eval, err, add_row ...)."""

    def qualified(self, node: ast.expr, env) -> str:
        """The dotted name of ``node`` with an imported root expanded (``layers.Dense`` ->
        ``keras.layers.Dense`` after ``from keras import layers``)."""
        name = dotted(node) or ""
        root, _, rest = name.partition(".")
        try:
            ref = env.get(root)
        except KeyError:
            return name
        if isinstance(ref, ModuleRef) and ref.path:
            return ref.path + (f".{rest}" if rest else "")
        return name

    def __init__(self) -> None:
        self.recorder = TrainRecorder()
        self.call_depth = 0
        self.pending_rows = 0

    def builds(self, node: ast.Call) -> bool:
        """Whether a call creates layers or models."""
        name = dotted(node.func) or ""
        last = name.rsplit(".", 1)[-1]
        return layer_class(last) is not None or last in ("Sequential", "add", "Model", "Input") or \
            (base_class(last) is not None and "applications" in name)

    def attribute(self, node: ast.Attribute, env) -> Any:
        """The value of ``a.b.c``: activations and losses by name, model methods."""
        name = self.qualified(node, env) or node.attr
        if re.fullmatch(r"(?:\w+\.)*(?:activations|nn)\.\w+", name):  # keras.activations.relu, tf.nn.relu
            return node.attr
        if re.fullmatch(r"(?:\w+\.)*losses\.\w+", name):
            return loss_value(node.attr)
        written = dotted(node) or ""
        try:
            base = env.get(written.split(".")[0]) if written else None
        except KeyError:
            base = None
        if isinstance(base, (ImportedModel, Tensor)):
            obj = self.eval(node.value, env)
            if isinstance(obj, Tensor) and node.attr == "shape":
                return static_shape(obj)
            return ("method", obj, node.attr)
        if isinstance(base, (BaseObject, InnerLayer)) or isinstance(node.value, ast.Subscript):
            obj = self.eval(node.value, env)
            if isinstance(obj, (BaseObject, InnerLayer)):
                return self.base_attribute(obj, node.attr, node.lineno)
            return Opaque(f"'{name}'")
        if isinstance(base, ModuleRef):
            return ModuleRef(f"'{name}'", name)  # mnist = tf.keras.datasets.mnist
        return Opaque(f"'{name}'")

    def kwargs(self, node: ast.Call, env) -> dict[str, tuple[Any, int]]:
        """Keyword arguments with their values and lines."""
        out = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise self.err("unsupported Python construct '**kwargs' in a layer call", kw.value.lineno)
            out[kw.arg] = (self.eval(kw.value, env), kw.value.lineno)
        return out

    def call(self, node: ast.Call, env) -> Any:
        """The value of a call: a layer, a model, a known value or Opaque."""
        from cnnspec.interop.import_python import PyFunction

        func = node.func
        if isinstance(func, ast.Call) or isinstance(func, ast.Name):
            target = self.eval(func, env)
            if isinstance(target, PendingLayer):
                return self.apply(target, node, env)
            if isinstance(target, BaseObject):
                return self.apply_base(target, node, env)
            if isinstance(target, PyFunction):
                return self.call_function(target, node, env)
            if isinstance(func, ast.Call):
                return Opaque("the result of a call")
            if isinstance(target, (ImportedModel, Tensor)):
                return self.apply_model(target, node, env)
        if isinstance(func, ast.Attribute):
            target = self.attribute(func, env)
            if isinstance(target, tuple) and target[0] == "method":
                return self.method(target[1], target[2], node, env)
            if func.attr == "index" and isinstance(target, Opaque):
                return self.list_index(func, node, env)
        name = self.qualified(func, env)
        last = name.rsplit(".", 1)[-1]
        for handler in (self.app_call, self.constructor, self.value_call, self.layer_call):
            out = handler(name, last, node, env)
            if out is not NotImplemented:
                return out
        for a in node.args:
            self.eval(a, env)
        return Opaque(f"the result of {name or 'a call'}()")

    # -- models --------------------------------------------------------------------------------------
    def constructor(self, name: str, last: str, node: ast.Call, env) -> Any:
        """``Sequential``, ``Input``/``InputLayer`` and ``Model`` calls."""
        if last == "Sequential":
            m = ImportedModel()
            kw = self.kwargs(node, env)
            layers = self.eval(node.args[0], env) if node.args else kw.pop("layers", (None, 0))[0]
            if isinstance(kw.get("name", (None,))[0], str):
                m.name = kw["name"][0]
            if layers is not None:
                if not isinstance(layers, list):
                    raise self.err("Sequential() takes a list of layers", node.lineno)
                if any(isinstance(obj, ImportedModel) for obj in layers):
                    return Unsupported("a model nested in a Sequential is not supported: write its layers in "
                                       "place", node.lineno)
                elts = node.args[0].elts if node.args and isinstance(node.args[0], (ast.List, ast.Tuple)) else []
                for i, obj in enumerate(layers):
                    self.place(m, obj, elts[i].lineno if i < len(elts) else node.lineno)
            return m
        if last in ("Input", "InputLayer"):
            return self.input(last, node, env)
        if last in ("Model", "Functional") and not name.startswith(("self", "super")):
            kw = self.kwargs(node, env)
            pos = [self.eval(a, env) for a in node.args]
            inputs = kw.get("inputs", (pos[0] if pos else None, node.lineno))[0]
            outputs = kw.get("outputs", (pos[1] if len(pos) > 1 else None, node.lineno))[0]
            m = set_io(_single(inputs), _single(outputs), "keras.Model(inputs, outputs)", self.file, node.lineno)
            if isinstance(kw.get("name", (None,))[0], str):
                m.name = kw["name"][0]
            return m
        return NotImplemented

    def input(self, last: str, node: ast.Call, env) -> Tensor:
        """A ``keras.Input`` tensor of a new functional model."""
        kw = self.kwargs(node, env)
        shape = None
        for k in ("shape", "input_shape", "batch_shape", "batch_input_shape"):
            if k in kw:
                shape = as_shape(self.literal(kw[k][0], k, last, kw[k][1]), k)
                break
        else:
            if node.args:
                shape = as_shape(self.literal(self.eval(node.args[0], env), "shape", last, node.lineno), "shape")
        if shape is None:
            raise self.err(f"{last}: shape must be a tuple of sizes like (28, 28, 1)", node.lineno)
        dtype = kw["dtype"][0] if "dtype" in kw and isinstance(kw["dtype"][0], str) else None
        taken = self.__dict__.setdefault("_input_names", set())
        return new_input(last == "Input", shape, dtype, kw.get("name", (None,))[0], taken, node.lineno)

    def method(self, obj: Any, attr: str, node: ast.Call, env) -> Any:
        """``model.add``, and ``compile``/``fit`` recorded for the train section."""
        if isinstance(obj, (BaseObject, InnerLayer)):
            return self.base_method(obj, attr, node, env)
        if isinstance(obj, ImportedModel) and attr == "get_layer":
            kw = self.kwargs(node, env)
            return base_named(self.bases, self.eval(node.args[0], env) if node.args else kw.get("name", (None,))[0])
        if isinstance(obj, ImportedModel) and attr == "add":
            if len(node.args) != 1:
                raise self.err("model.add() takes one layer", node.lineno)
            self.place(obj, self.eval(node.args[0], env), node.args[0].lineno)
            return None
        if attr in ("compile", "fit", "fit_generator"):
            store = self.recorder.compile if attr == "compile" else self.recorder.fit
            order = ("optimizer", "loss", "metrics") if attr == "compile" else ("x", "y", "batch_size", "epochs")
            for key, a in zip(order, node.args):
                store[key] = (self.eval(a, env), a.lineno)
            for k, (v, aline) in self.kwargs(node, env).items():
                if not isinstance(v, Opaque):
                    store[k] = (v, aline)
            if attr != "compile":
                self.phases.append(snapshot(self.recorder, self.bases,
                                            any(k.arg == "initial_epoch" for k in node.keywords)))
        return Opaque(f"the result of model.{attr}()")

    # -- values --------------------------------------------------------------------------------------
    def value_call(self, name: str, last: str, node: ast.Call, env) -> Any:
        """Regularizers, initializers, optimizers, losses, metrics, datasets, range."""
        parts = name.split(".")
        kind = next((k for k in ("regularizers", "initializers", "optimizers", "losses", "datasets", "metrics")
                     if k in parts),
                    "regularizers" if last in ("L1L2", "l1_l2") else None)
        pos = [self.eval(a, env) for a in node.args]
        if last == "range" and pos and all(isinstance(p, int) and not isinstance(p, bool) for p in pos):
            r = range(*pos)
            return list(r) if len(r) <= 10_000 else Opaque("a long range")
        if last == "len" and name == last and len(pos) == 1 and isinstance(pos[0], (list, str)):
            return len(pos[0])
        if last in _PASS and len(pos) == 1 and not isinstance(pos[0], Opaque) and name == last:
            try:  # int("3"), str(3), tuple([28, 28]) on literals, as Python computes them
                v = {"int": int, "float": float, "str": str, "tuple": list, "list": list}[last](pos[0])
            except (TypeError, ValueError):
                return Opaque(f"{last}() of a value it cannot convert")
            return v
        if kind is None or (kind == "optimizers" and not last[:1].isupper()):
            return NotImplemented
        if kind == "datasets":
            if last == "load_data":
                self.recorder.saw_dataset(parts[-2])
            return Opaque(f"the data of {name}()")
        if kind == "losses":
            self.recorder.from_logits |= any(k.arg == "from_logits" and isinstance(k.value, ast.Constant)
                                             and k.value.value is True for k in node.keywords)
            return loss_value(last)
        if kind == "metrics":
            return snake(last)
        kw = {k: self.literal(v, k, last, aline) for k, (v, aline) in self.kwargs(node, env).items()}
        if kind == "regularizers":
            keys = ["l1", "l2"] if last.lower() in ("l1l2", "l1_l2") else [last.lower()]
            out = {k: float(self.literal(v, k, last, node.lineno)) for k, v in zip(keys, pos)}
            out.update({k: float(v) for k, v in kw.items()})
            return out
        if kind == "initializers":
            return {"class_name": last, "config": kw} if kw or pos else snake(last)
        if pos:
            kw.setdefault("learning_rate", self.literal(pos[0], "learning_rate", last, node.lineno))
        return optimizer_value(last, kw)

    # -- layers --------------------------------------------------------------------------------------
    def layer_call(self, name: str, last: str, node: ast.Call, env) -> Any:
        """A layer class call (or a merge function like ``layers.add``)."""
        cls = layer_class(last)
        if cls is None and last[:1].islower() and "layers" in name.split(".") and node.args:
            merge = layer_class(last[:1].upper() + last[1:])  # keras.layers.add([x, y]): a merge function
            if merge is not None and merge.arity is None:
                rest = ast.Call(func=node.func, args=node.args[1:], keywords=node.keywords)
                ast.copy_location(rest, node)
                layer = self.pending(merge, rest, last, env)
                return self.apply_value(layer, self.eval(node.args[0], env), node.lineno)
        if cls is None:
            if "layers" in name.split(".")[:-1] or (last[:1].isupper() and last.endswith(("1D", "2D", "3D"))):
                raise self.err(f"unknown Keras layer '{last}'{suggest(last, PY_NAMES)}", node.lineno)
            return NotImplemented
        return self.pending(cls, node, last, env)

    def pending(self, cls, node: ast.Call, label: str, env) -> PendingLayer:
        """A layer object with its arguments named from the class's positional parameters."""
        args: dict[str, tuple[Any, int]] = {}
        free = list(positional(cls))
        for a in node.args:
            if not free:
                raise self.err(f"{label}: too many positional arguments (name them)", a.lineno)
            args[free.pop(0)] = (self.eval(a, env), a.lineno)
        for k, v in self.kwargs(node, env).items():
            if k in args:
                raise self.err(f"{label}: argument '{k}' given twice", v[1])
            args[k] = v
        self.pending_rows += 1
        return PendingLayer(cls, args, node.lineno, label)

    def place(self, model: ImportedModel, obj: Any, line: int) -> None:
        """Add a layer object to a Sequential model."""
        if isinstance(obj, Tensor):  # keras.Input(...) as the first element of a Sequential
            if model.rows or model.input_shape is not None:
                raise self.err("keras.Input must come first in a Sequential", line)
            model.input_shape, model.input_dtype = obj.model.input_shape, obj.model.input_dtype
            return
        if isinstance(obj, ImportedModel):
            raise self.err("a model nested in a Sequential is not supported: write its layers in place", line)
        if isinstance(obj, BaseObject):
            self.base_row(model, obj, None, line, None)
            return
        if not isinstance(obj, PendingLayer):
            raise self.err("Sequential layers must be keras.layers.* calls "
                           f"({obj.what if isinstance(obj, Opaque) else type(obj).__name__})", line)
        self._use(obj, line)
        self.add_row(model, obj.cls, dict(obj.args), obj.line, obj.label, None)

    def _use(self, layer: PendingLayer, line: int) -> None:
        if layer.used:
            raise self.err(f"{layer.label} (line {layer.line}) is used twice: shared layers (one set of weights "
                           "applied twice) are not supported", line)
        layer.used = True

    def apply(self, layer: PendingLayer, node: ast.Call, env) -> Any:
        """Apply a layer object to the tensor(s) of a call node: ``layer(x)``, ``layer([x, y])`` or, for
        layers taking several tensors (attention: query, value, key), ``layer(q, v)`` / ``query=``, ``value=``."""
        args = list(node.args) + [k.value for k in node.keywords if k.arg in ("query", "value", "key")]
        if not args:
            raise self.err(f"{layer.label}(...)(x): apply a layer to one tensor or a list of tensors", node.lineno)
        if len(args) == 1:
            return self.apply_value(layer, self.eval(args[0], env), node.lineno)
        return self.apply_value(layer, [self.eval(a, env) for a in args], node.lineno)

    def apply_model(self, model: Any, node: ast.Call, env) -> Any:
        """``model(x)``: a Sequential called on a tensor adds its rows there; on data (inference in a
        script) it builds nothing."""
        args = [self.eval(a, env) for a in node.args]
        if isinstance(model, ImportedModel) and len(args) == 1 and isinstance(args[0], Tensor):
            return inline(model, args[0], self.err, node.lineno)
        return Opaque("the output of calling a model")

    def apply_value(self, layer: PendingLayer, x: Any, line: int) -> Tensor:
        """Apply a layer object to tensors: a new row of their functional model."""
        tensors = x if isinstance(x, list) else [x]
        if not tensors or not all(isinstance(t, Tensor) for t in tensors):
            bad = next((t for t in tensors if not isinstance(t, Tensor)), None)
            why = f" (got {bad.what})" if isinstance(bad, Opaque) else ""
            raise self.err(f"{layer.label}(...)(x): x must be keras.Input(...) or a layer output defined above{why}",
                           line)
        model = join(tensors, self.file, line)
        self._use(layer, line)
        row = self.add_row(model, layer.cls, dict(layer.args), layer.line, layer.label, [t.ref for t in tensors])
        if row.name is None:
            row.name = next_name(model, layer.cls)
        return Tensor(model, row.name)


def _single(v: Any) -> Any:
    return v[0] if isinstance(v, list) and len(v) == 1 else v
