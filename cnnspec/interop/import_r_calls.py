"""The R functions the R importer knows: ``c``/``list``, keras model constructors, layer
functions (with R's partial argument matching and positional arguments from the layer class),
regularizers, initializers, optimizers, ``compile``/``fit`` (for the ``train:`` section)."""
from __future__ import annotations

from typing import Any

from cnnspec.interop.import_common import (
    SHAPE_KEYS, ImportedModel, Opaque, PendingLayer, Tensor, as_shape, layer_class, next_name, option_names,
    positional)
from cnnspec.interop.import_train import TrainRecorder, optimizer_value, snake
from cnnspec.layers import Layer
from cnnspec.interop.import_graph import join, new_input, set_io

#: Calls on a model that do not change its architecture.
VERBS = {"evaluate", "predict", "summary", "print", "plot", "save_model", "save_model_tf", "save_model_hdf5",
         "save_model_weights_tf", "save_model_weights_hdf5", "export_savedmodel", "freeze_weights",
         "unfreeze_weights", "get_weights", "count_params", "save", "save_weights", "load_weights", "build",
         "export", "to_json", "get_config", "predict_classes", "evaluate_generator", "str", "invisible",
         "train_on_batch", "test_on_batch", "predict_on_batch", "get_layer", "pop", "keras_model_summary",
         "library", "require", "set.seed", "use_python", "use_virtualenv", "use_condaenv", "cat", "paste",
         "paste0", "message", "tensorflow::set_random_seed", "set_random_seed", "use_backend", "install_keras"}
_FIT = {"fit", "fit_generator"}
_PASS = ("as.integer", "as.numeric", "as.double", "as.character", "shape", "tuple", "I", "list_of", "unlist",
         "invisible")
_META_ARGS = ("name", "trainable", "input_shape", "batch_input_shape", "batch_shape", "input_dim",
              "input_length", "dtype", "batch_size")


def _r_str(text: str) -> str:
    """R prints whole numbers without a decimal point: paste0("x", 2) is "x2"."""
    return text[:-2] if text.endswith(".0") and text[:-2].lstrip("-").isdigit() else text


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


class RCalls:
    """Mixed into :class:`cnnspec.interop.import_r.RImporter` (which provides eval, err, add_row)."""

    def __init__(self) -> None:
        self.recorder = TrainRecorder()
        self.call_depth = 0
        self.pending_rows = 0

    def builtin(self, fn: str, args: list, line: int) -> Any:
        """A call of a function the script does not define."""
        values = [v for _, v, _ in args]
        if fn == "c":
            out = []
            for v in values:
                out.extend(v if isinstance(v, list) else [v])
            return next((v for v in out if isinstance(v, Opaque)), out)
        if fn == "list":
            return {n: v for n, v, _ in args} if args and all(n for n, _, _ in args) else values
        if fn in _PASS:
            return values[0] if len(values) == 1 else values
        if fn == "length" and len(values) == 1 and not isinstance(values[0], Opaque):
            v = values[0]
            return len(v) if isinstance(v, (list, dict)) else 1
        if fn in ("paste", "paste0"):
            return self.paste(fn, args)
        out = self.base_builtin(fn, args, line)
        if out is not NotImplemented:
            return out
        cls = layer_class(fn, r=True)
        if cls is not None:
            return self.layer(cls, fn, args, line)
        for prefix, handler in (("regularizer_", self.regularizer), ("initializer_", self.initializer),
                                ("optimizer_", self.optimizer), ("keras_", self.constructor),
                                ("layer_input", self.constructor), ("dataset_", self.dataset)):
            if fn.startswith(prefix):
                out = handler(fn, args, line)
                if out is not NotImplemented:
                    return out
        if fn.startswith(("loss_", "metric_")):
            self.recorder.from_logits |= any(n == "from_logits" and v is True for n, v, _ in args)
            return fn.split("_", 1)[1]
        if fn == "compile" or fn in _FIT:
            return self.record(fn, args, line)
        if fn in VERBS:
            return Opaque(f"the result of {fn}()")
        if fn.startswith("layer_"):
            raise self.unknown_layer(fn, line)
        return self._unknown_call(fn, args, line)

    def paste(self, fn: str, args: list) -> Any:
        """``paste0("conv_", i)`` of literals (layer names built in loops and functions)."""
        named = {n: v for n, v, _ in args if n}
        parts = [v for n, v, _ in args if not n]
        if any(isinstance(v, (Opaque, dict)) or isinstance(v, list) and len(v) != 1 for v in parts):
            return Opaque(f"{fn}() of values not known in the file")
        sep = named.get("sep", " " if fn == "paste" else "")
        text = [str(v[0] if isinstance(v, list) else v) for v in parts]
        return sep.join(_r_str(t) for t in text) if isinstance(sep, str) else Opaque(f"{fn}() with an unknown sep")

    # -- model constructors --------------------------------------------------------------------------
    def constructor(self, fn: str, args: list, line: int) -> Any:
        """``keras_model_sequential``, ``keras_input``/``layer_input`` and ``keras_model``."""
        if fn in ("keras_model_sequential", "keras_sequential_model"):
            return self.sequential(fn, args, line)
        if fn in ("keras_input", "layer_input"):
            shape = dtype = name = None
            for n, v, aline in args:
                if n in ("shape", "batch_shape", None):
                    shape = as_shape(self.literal(v, n or "shape", fn, aline), n or "shape")
                    if shape is None:
                        raise self.err(f"{fn}: shape must be a list of sizes like c(28, 28, 1)", aline)
                elif n == "dtype":
                    dtype = self.literal(v, n, fn, aline)
                elif n == "name":
                    name = self.literal(v, n, fn, aline)
            return new_input(True, shape, dtype, name, self.__dict__.setdefault("_input_names", set()), line)
        if fn in ("keras_model", "keras_model_functional"):
            named = {n: v for n, v, _ in args if n}
            pos = [v for n, v, _ in args if not n]
            outputs = named.get("outputs", pos[1] if len(pos) > 1 else None)
            inputs = named.get("inputs", pos[0] if pos else None)
            m = set_io(inputs, outputs, fn, self.file, line)
            if isinstance(named.get("name"), str):
                m.name = named["name"]
            return m
        return NotImplemented

    def sequential(self, fn: str, args: list, line: int) -> ImportedModel:
        """A Sequential model (input shape, name, ``layers = list(...)``)."""
        m = ImportedModel()
        layers = None
        for n, v, aline in args:
            if n in ("input_shape", "batch_input_shape", "batch_shape"):
                m.input_shape = as_shape(self.literal(v, n, fn, aline), n)
                if m.input_shape is None:
                    raise self.err(f"{fn}: {n} must be a list of sizes like c(28, 28, 1)", aline)
            elif n == "name":
                m.name = self.literal(v, n, fn, aline)
            elif n in ("input_dtype", "dtype"):
                m.input_dtype = self.literal(v, n, fn, aline)
            elif n == "layers" or (n is None and isinstance(v, list)):
                layers = (v, aline)
            elif n not in ("trainable", "input_batch_size", "input_sparse", "input_name", "input_ragged"):
                raise self.err(f"{fn}: unsupported argument '{n}'", aline)
        if layers is not None and layers[0] is not None:
            items = layers[0] if isinstance(layers[0], list) else [layers[0]]
            for obj in items:
                self.apply_pending(obj, [(None, m, layers[1])], layers[1])
        return m

    # -- layers --------------------------------------------------------------------------------------
    def _match(self, cls: type[Layer], name: str, fn: str, line: int) -> str:
        """R's partial argument matching: ``filter =`` is ``filters =`` when the prefix is unique."""
        known = option_names(cls) + list(_META_ARGS)
        if name in known or name in SHAPE_KEYS:
            return name
        hits = [k for k in known if k.startswith(name)]
        return hits[0] if len(hits) == 1 else name

    def layer(self, cls: type[Layer], fn: str, args: list, line: int) -> Any:
        """A layer function call: a row when applied to a model or tensor, else a layer object."""
        target = None
        rest = list(args)
        if rest and rest[0][0] in (None, "object", "inputs") and _is_target(rest[0][1], cls):
            target = rest.pop(0)[1]
        named: dict[str, tuple[Any, int]] = {}
        free = list(positional(cls))
        for n, v, aline in rest:
            if n is None and cls.arity is None and isinstance(v, (Tensor, list)) and _is_target(v, cls):
                target = _merge_inputs(target, v)
                continue
            if n == "inputs" and cls.arity is None:
                target = _merge_inputs(target, v)
                continue
            if n is None:
                if not free:
                    raise self.err(f"{fn}: too many unnamed arguments (name them, e.g. units = 10)", aline)
                n = free.pop(0)
            else:
                n = self._match(cls, n, fn, aline)
                if n in free:
                    free.remove(n)
            if n in named:
                raise self.err(f"{fn}: argument '{n}' given twice", aline)
            named[n] = (v, aline)
        pending = PendingLayer(cls, named, line, fn)
        if target is None:
            self.pending_rows += 1
            return pending  # a layer object, applied later: scale <- layer_rescaling(...); scale(inputs)
        return self.place(pending, target, line)

    def apply_pending(self, layer: Any, args: list, line: int) -> Any:
        """Apply a layer object to a model or tensor(s)."""
        if not isinstance(layer, PendingLayer):
            raise self.err("keras_model_sequential(layers = ...) takes layer objects (layer_dense(...) ...)", line)
        if not args:
            raise self.err(f"{layer.label}: a layer object is applied to a model or tensor", line)
        target = args[0][1]
        for n, v, _ in args[1:]:
            if layer.cls.arity is None and isinstance(v, Tensor):
                target = _merge_inputs(target, v)
        if not _is_target(target, layer.cls):
            raise self.err(f"{layer.label}: a layer object is applied to a model or tensor", line)
        return self.place(layer, target, line)

    def place(self, layer: PendingLayer, target: Any, line: int) -> Any:
        """Add a layer object as a row of a Sequential model or of a functional graph."""
        if layer.used:
            raise self.err(f"{layer.label} (line {layer.line}) is applied twice: shared layers (one set of "
                           "weights used twice) are not supported", line)
        layer.used = True
        fn = layer.label
        if isinstance(target, ImportedModel):
            if layer.cls.arity is None:
                raise self.err(f"{fn} merges tensors: use the functional API, {fn}(list(a, b))", line)
            if target.functional:
                raise self.err(f"{fn}: layers are piped into tensors in a functional model", line)
            self.add_row(target, layer.cls, dict(layer.args), layer.line, fn, None)
            return target
        tensors = target if isinstance(target, list) else [target]
        model = join(tensors, self.file, line)
        row = self.add_row(model, layer.cls, dict(layer.args), layer.line, fn, [t.ref for t in tensors])
        if row.name is None:
            row.name = next_name(model, layer.cls)
        return Tensor(model, row.name)

    # -- values --------------------------------------------------------------------------------------
    def regularizer(self, fn: str, args: list, line: int) -> dict:
        """``regularizer_l1/l2/l1_l2(...)`` as ``{l1: .., l2: ..}``."""
        kind = fn[len("regularizer_"):]
        if kind not in ("l1", "l2", "l1_l2"):
            raise self.err(f"unknown regularizer '{fn}': use regularizer_l1, regularizer_l2 or regularizer_l1_l2",
                           line)
        keys = ["l1", "l2"] if kind == "l1_l2" else [kind]
        out = {}
        for i, (n, v, aline) in enumerate(args):
            n = kind if n == "l" else (n or (keys[i] if i < len(keys) else None))
            if n not in keys:
                raise self.err(f"{fn}: unexpected argument '{n}'", aline)
            out[n] = float(self.literal(v, n, fn, aline))
        return out or {k: 0.01 for k in keys}

    def initializer(self, fn: str, args: list, line: int) -> Any:
        """``initializer_x()`` as a name, with arguments as ``{class_name, config}``."""
        kind = fn[len("initializer_"):]
        if not args:
            return kind
        config = {n: self.literal(v, n, fn, aline) for n, v, aline in args if n}
        if len(config) != len(args):
            raise self.err(f"{fn}: name its arguments (seed = 1)", line)
        return {"class_name": _camel(kind), "config": config}

    def optimizer(self, fn: str, args: list, line: int) -> Any:
        """``optimizer_x(...)`` as data for the train section."""
        kw = {n or "learning_rate": self.literal(v, n or "learning_rate", fn, aline) for n, v, aline in args}
        return optimizer_value(fn[len("optimizer_"):], kw)

    def dataset(self, fn: str, args: list, line: int) -> Any:
        """``dataset_x()``: the dataset the script trains on."""
        self.recorder.saw_dataset(fn)
        return Opaque(f"the data of {fn}()")

    def method(self, model: Any, name: str, args: list, line: int) -> Any:
        """``model$add(...)``, ``model$compile(...)``, ``model$fit(...)``."""
        if name == "add" and isinstance(model, ImportedModel):
            return self.apply_pending(args[0][1] if args else None, [(None, model, line)], line)
        if name in ("compile", *_FIT):
            return self.record(name, [(None, model, line)] + args, line)
        return Opaque(f"the result of ${name}()")

    def record(self, fn: str, args: list, line: int) -> Any:
        """compile()/fit() on a model: remember the settings for the ``train:`` section."""
        store = self.recorder.compile if fn == "compile" else self.recorder.fit
        order = ("optimizer", "loss", "metrics") if fn == "compile" else ("x", "y", "batch_size", "epochs")
        pos = [a for a in args if a[0] is None][1:]
        for key, (_, v, aline) in zip(order, pos):
            store[key] = (v, aline)
        for n, v, aline in args:
            if n is not None and not isinstance(v, Opaque):
                store[snake(n) if n != "lr" else n] = (v, aline)
        if fn != "compile":
            from cnnspec.interop.import_bases import snapshot

            self.phases.append(snapshot(self.recorder, self.bases, any(n == "initial_epoch" for n, _, _ in args)))
        return Opaque(f"the result of {fn}()")


def _is_target(v: Any, cls: type[Layer]) -> bool:
    if isinstance(v, (ImportedModel, Tensor)):
        return True
    return isinstance(v, list) and bool(v) and all(isinstance(x, Tensor) for x in v) and cls.arity is None


def _merge_inputs(target: Any, more: Any) -> list:
    have = [] if target is None else (target if isinstance(target, list) else [target])
    return have + (more if isinstance(more, list) else [more])
