"""keras.applications bases in Python code: ``keras.applications.VGG19(...)`` (any import path),
the base used as a layer (``Sequential([base, ...])``, ``model.add(base)``, ``base(x, training=False)``,
``Model(base.input, head(base.output))``), its freezing (``base.trainable = False``, loops over
``base.layers`` setting ``layer.trainable``) and ``<module>.preprocess_input``. Mixed into
:class:`cnnspec.interop.import_python.PyImporter`."""
from __future__ import annotations

import ast
from typing import Any

from cnnspec.interop.import_bases import (
    POSITIONAL, BaseObject, InnerLayer, Preprocessed, add_base_row, base_class, base_input, preprocessed,
    set_preprocess, unknown_base)
from cnnspec.interop.import_common import ImportedModel, Opaque, Tensor
from cnnspec.interop.import_graph import new_input


class PyBases:
    """Base handling for the Python importer (it provides eval, kwargs, err, add_row)."""

    def app_call(self, name: str, last: str, node: ast.Call, env) -> Any:
        """``keras.applications.X(...)`` and ``keras.applications.<module>.preprocess_input(x)``."""
        parts = name.split(".")
        cls = base_class(last)
        if "applications" not in parts[:-1]:
            return NotImplemented
        if last == "preprocess_input":
            module = parts[-2] if parts[-2] != "applications" else "imagenet_utils"
            x = self.eval(node.args[0], env) if node.args else None
            mode = self.kwargs(node, env).get("mode", (None, 0))[0]
            return preprocessed(x, module, mode) if isinstance(x, Tensor) else Opaque("preprocessed data")
        if cls is None:
            if last[:1].isupper():
                raise self.err(unknown_base(last), node.lineno)
            return NotImplemented
        args: dict[str, tuple[Any, int]] = {}
        for key, a in zip(POSITIONAL, node.args):
            args[key] = (self.eval(a, env), a.lineno)
        for k, v in self.kwargs(node, env).items():
            if k in args:
                raise self.err(f"{last}: argument '{k}' given twice", v[1])
            args[k] = v
        if "input_tensor" in args and args["input_tensor"][0] is not None:
            raise self.err(f"{last}: input_tensor is not supported: call the base on the tensor instead "
                           "(base(x, training=False))", args["input_tensor"][1])
        args.pop("input_tensor", None)
        self.pending_rows += 1
        return BaseObject(cls, args, node.lineno, last)

    # -- the base as a layer -------------------------------------------------------------------------
    def base_row(self, model: ImportedModel, base: BaseObject, inputs: list[str] | None, line: int,
                 pre: bool | None):
        """The base's row in a model (Sequential: inputs None)."""
        if base.used:
            raise self.err(f"{base.label} (line {base.line}) is used twice: a shared base is not supported", line)
        row = add_base_row(self, model, base, inputs)
        set_preprocess(base, row, pre)
        return row

    def apply_base(self, base: BaseObject, node: ast.Call, env) -> Any:
        """``base(x, training=False)``: the base's row applied to a tensor."""
        if len(node.args) != 1:
            raise self.err(f"{base.label}(...)(x): apply a base to one tensor", node.lineno)
        for kw in node.keywords:
            if kw.arg not in ("training", "mask"):
                raise self.err(f"{base.label}(x): unsupported argument '{kw.arg}'", kw.value.lineno)
        try:
            x, pre = base_input(base, self.eval(node.args[0], env))
        except ValueError as exc:
            raise self.err(str(exc), node.lineno) from exc
        if isinstance(x, Opaque):
            return Opaque("the output of a base called on data")  # inference in a script builds nothing
        if not isinstance(x, Tensor):
            raise self.err(f"{base.label}(x): x must be keras.Input(...) or a layer output defined above",
                           node.lineno)
        row = self.base_row(x.model, base, [x.ref], node.lineno, pre)
        return Tensor(x.model, row.name)

    def graph_of(self, base: BaseObject, line: int) -> tuple[ImportedModel, str]:
        """``base.input`` / ``base.output``: the base becomes the first row of its own functional model."""
        if base.graph is None:
            shape = base.arg("input_shape")
            if not isinstance(shape, list):
                raise self.err(f"{base.label}.input: give the base input_shape=(...) to use its input", line)
            t = new_input(True, tuple(shape), None, None, self.__dict__.setdefault("_input_names", set()), line)
            row = self.base_row(t.model, base, [t.ref], line, False)
            base.graph = (t.model, row.name)
        return base.graph

    def base_attribute(self, obj: Any, attr: str, line: int) -> Any:
        """``base.layers``, ``.input``, ``.output``, ``.trainable``, ``.name``; ``layer.name``."""
        if isinstance(obj, InnerLayer):
            return obj.attribute(attr, ".")
        if attr == "layers":
            return obj.layers()
        if attr in ("input", "inputs", "output", "outputs"):
            m, name = self.graph_of(obj, line)
            t = Tensor(m, m.inputs[0].name if attr.startswith("input") else name)
            return [t] if attr.endswith("s") else t
        if attr == "trainable":
            return obj.trainable
        if attr == "name":
            return obj.arg("name", obj.cls.default_name())
        return ("method", obj, attr)

    def base_method(self, obj: Any, attr: str, node: ast.Call, env) -> Any:
        """``base.get_layer(name)``; other calls on a base build nothing."""
        if isinstance(obj, BaseObject) and attr == "get_layer":
            kw = self.kwargs(node, env)
            key = self.eval(node.args[0], env) if node.args else kw.get("name", kw.get("index", (None, 0)))[0]
            return obj.get_layer(key)
        return Opaque(f"the result of {obj.label if isinstance(obj, BaseObject) else 'a layer'}.{attr}()")

    def list_index(self, func: ast.Attribute, node: ast.Call, env) -> Any:
        """``names.index("block5_conv1")`` on a literal list (the layer names of a base)."""
        seq = self.eval(func.value, env)
        args = [self.eval(a, env) for a in node.args]
        if isinstance(seq, list) and len(args) == 1 and not isinstance(args[0], Opaque) and args[0] in seq:
            return seq.index(args[0])
        return Opaque("the result of .index()")

    def assign_attribute(self, target: ast.Attribute, value: Any, env) -> None:
        """``base.trainable = False`` and ``layer.trainable = ...`` on a layer of a base."""
        if target.attr != "trainable" or not isinstance(value, bool):
            return
        obj = self.eval(target.value, env)
        if isinstance(obj, BaseObject):
            obj.set_all(value)
        elif isinstance(obj, InnerLayer):
            obj.base.flags[obj.index] = value


__all__ = ["PyBases", "Preprocessed"]
