"""keras.applications bases in R code: ``application_vgg19(...)`` (keras and keras3), the base used as
a layer (``keras_model_sequential() %>% conv_base %>% ...``, ``conv_base(inputs, training = FALSE)``,
``keras_model(conv_base$input, ...)``), its freezing (``freeze_weights``/``unfreeze_weights`` with
``from``/``to``, ``conv_base$trainable <- FALSE``, loops over ``conv_base$layers``) and preprocessing
(``keras$applications$vgg19$preprocess_input``, ``imagenet_preprocess_input``,
``application_preprocess_inputs``). Mixed into :class:`cnnspec.interop.import_r.RImporter`."""
from __future__ import annotations

from typing import Any

from cnnspec.interop.import_bases import (
    POSITIONAL, BaseObject, InnerLayer, add_base_row, base_class, base_input, base_named, preprocessed,
    r_module, set_preprocess, unknown_base)
from cnnspec.interop.import_common import ImportedModel, Opaque, Tensor
from cnnspec.interop.import_graph import new_input

_FREEZE = {"freeze_weights": False, "freeze_layers": False, "unfreeze_weights": True, "unfreeze_layers": True}


class RBases:
    """Base handling for the R importer (it provides eval, err, add_row, literal)."""

    def base_builtin(self, fn: str, args: list, line: int) -> Any:
        """Calls about bases: constructors, freezing, preprocessing, get_layer; else NotImplemented."""
        if fn == "application_preprocess_inputs":
            base = args[0][1] if args else None
            x = next((v for n, v, _ in args[1:] if n in (None, "x")), None)
            if isinstance(base, BaseObject) and isinstance(x, Tensor):
                return preprocessed(x, base.cls.module)
            return Opaque("preprocessed data")
        if fn.startswith("application_"):
            cls = base_class(fn)
            if cls is None:
                raise self.err(unknown_base(fn), line)
            return self.new_base(cls, fn, args, line)
        module = r_module(fn)
        if module is not None:
            x = args[0][1] if args else None
            mode = next((v for n, v, _ in args if n == "mode"), None)
            return preprocessed(x, module, mode) if isinstance(x, Tensor) else Opaque("preprocessed data")
        target = args[0][1] if args else None
        if fn in _FREEZE and isinstance(target, BaseObject):
            return self.freeze(target, _FREEZE[fn], args[1:], line)
        if fn == "get_layer" and isinstance(target, ImportedModel):
            return base_named(self.bases, next((v for n, v, _ in args[1:] if n in (None, "name")), None))
        if fn == "get_layer" and isinstance(target, BaseObject):
            key = next((v for n, v, _ in args[1:] if n in (None, "name", "index")), None)
            return target.get_layer(key - 1 if isinstance(key, int) and key > 0 else key)
        return NotImplemented

    def new_base(self, cls, fn: str, args: list, line: int) -> BaseObject:
        """``application_x(...)``: the base object (R's positional order is keras.applications')."""
        named: dict[str, tuple[Any, int]] = {}
        free = list(POSITIONAL)
        for n, v, aline in args:
            n = n or (free.pop(0) if free else None)
            if n is None:
                raise self.err(f"{fn}: too many unnamed arguments (name them)", aline)
            if n in free:
                free.remove(n)
            if n in named:
                raise self.err(f"{fn}: argument '{n}' given twice", aline)
            named[n] = (v, aline)
        if named.get("input_tensor", (None,))[0] is not None:
            raise self.err(f"{fn}: input_tensor is not supported: call the base on the tensor instead",
                           named["input_tensor"][1])
        named.pop("input_tensor", None)
        self.pending_rows += 1
        return BaseObject(cls, named, line, fn)

    def freeze(self, base: BaseObject, value: bool, args: list, line: int) -> Any:
        """``freeze_weights(base, from =, to =)`` / ``unfreeze_weights``: R keras's rules (inclusive
        range; the other layers get the opposite; no range: the whole base)."""
        rng = {n: v for n, v, _ in args if n in ("from", "to")}
        if any(n == "which" for n, _, _ in args):
            raise self.err("freeze_weights(which = ...) is not supported: cnnspec freezes a base whole or every "
                           "layer before one (from/to)", line)
        if not rng:
            base.set_all(value)  # Keras sets every layer inside too
            return base
        names = base.layer_names()
        ends = []
        for key, default in (("from", 0), ("to", len(names) - 1)):
            v = rng.get(key)
            if v is None:
                ends.append(default)
            elif isinstance(v, str) and v in names:
                ends.append(names.index(v))
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and v == int(v) and 0 < abs(v) <= len(names):
                ends.append(int(v) - 1 if v > 0 else len(names) + int(v))
            else:
                raise self.err(f"{key} = {v!r}: no such layer in {base.cls.keras_class}", line)
        base.set_range(ends[0], ends[1], value)
        return base

    def apply_base(self, base: BaseObject, args: list, line: int) -> Any:
        """``model %>% conv_base`` (a Sequential row) or ``conv_base(x, training = FALSE)``."""
        if base.used:
            raise self.err(f"{base.label} (line {base.line}) is applied twice: a shared base is not supported", line)
        pos = [v for n, v, _ in args if n in (None, "inputs", "object")]
        if len(pos) != 1 or any(n not in (None, "inputs", "object", "training", "mask") for n, _, _ in args):
            raise self.err(f"{base.label}: a base is applied to one model or tensor", line)
        try:
            target, pre = base_input(base, pos[0])
        except ValueError as exc:
            raise self.err(str(exc), line) from exc
        if isinstance(target, ImportedModel):
            if target.functional:
                raise self.err(f"{base.label}: layers are piped into tensors in a functional model", line)
            self.base_row(target, base, None, line, pre)
            return target
        if isinstance(target, Opaque):
            return Opaque("the output of a base called on data")  # inference in a script builds nothing
        if not isinstance(target, Tensor):
            raise self.err(f"{base.label}: a base is applied to a model or tensor", line)
        row = self.base_row(target.model, base, [target.ref], line, pre)
        return Tensor(target.model, row.name)

    def base_row(self, model: ImportedModel, base: BaseObject, inputs: list[str] | None, line: int,
                 pre: bool | None):
        """Add the base's row to a model."""
        row = add_base_row(self, model, base, inputs)
        set_preprocess(base, row, pre)
        return row

    def base_dollar(self, obj: Any, attr: str, line: int) -> Any:
        """``conv_base$layers``, ``$input``, ``$output``, ``$trainable``; ``layer$name``."""
        if isinstance(obj, InnerLayer):
            return obj.attribute(attr, "$")
        if attr == "layers":
            return obj.layers()
        if attr in ("input", "output"):
            if obj.graph is None:
                shape = obj.arg("input_shape")
                if not isinstance(shape, list):
                    raise self.err(f"{obj.label}$input: give the base input_shape = c(...) to use its input", line)
                t = new_input(True, tuple(shape), None, None, self.__dict__.setdefault("_input_names", set()), line)
                row = self.base_row(t.model, obj, [t.ref], line, False)
                obj.graph = (t.model, row.name)
            m, name = obj.graph
            return Tensor(m, m.inputs[0].name if attr == "input" else name)
        if attr == "trainable":
            return obj.trainable
        return Opaque(f"'{obj.label}${attr}'")

    def assign_dollar(self, target, value: Any, env) -> None:
        """``conv_base$trainable <- FALSE`` and ``layer$trainable <- ...`` on a layer of a base."""
        if target[2] != "trainable" or not isinstance(value, bool):
            return
        obj = self.eval(target[1], env)
        if isinstance(obj, BaseObject):
            obj.set_all(value)
        elif isinstance(obj, InnerLayer):
            obj.base.flags[obj.index] = value


__all__ = ["RBases"]
