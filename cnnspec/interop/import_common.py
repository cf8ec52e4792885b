"""What every importer shares: the imported model being assembled, the values the code
interpreters pass around, the layer registry as seen by an importer (names, aliases, positional
parameters: read from the layer classes), and the row builder that validates each layer's
options against its class. Pure Python."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from cnnspec.errors import SpecError
from cnnspec.layers import LAYER_CLASSES, Layer
from cnnspec.spec.loader import INPUT, row_validation_error
from cnnspec.util import suggest
from cnnspec.spec.yamlio import LineDict

#: Options that give the model's input shape when written on the first layer (Keras 2 style).
SHAPE_KEYS = ("input_shape", "batch_input_shape", "batch_shape", "input_dim", "input_length")
#: Keyword arguments every Keras layer takes that are not options of the spec's row.
IGNORED_KEYS = ("dtype", "batch_size", "input_dtype", "autocast")


# ---------------------------------------------------------------------------------------------- registry
def _norm(name: str) -> str:
    """One spelling for Keras's aliases: Convolution2D / Conv2D, MaxPool2D / MaxPooling2D,
    GlobalAvgPool2D / GlobalAveragePooling2D, layer_up_sampling_2d / UpSampling2D."""
    n = name.lower().removeprefix("layer_").replace("_", "")
    for long, short in (("convolution", "conv"), ("pooling", "pool"), ("average", "avg")):
        n = n.replace(long, short)
    return n


def _registry() -> tuple[dict[str, type[Layer]], dict[str, type[Layer]]]:
    exact: dict[str, type[Layer]] = {}
    loose: dict[str, type[Layer]] = {}
    for cls in LAYER_CLASSES:
        for n in (cls.keras_class, cls.r_name, *getattr(cls, "aliases", ())):
            exact[n] = cls
            loose.setdefault(_norm(n), cls)
    return exact, loose


_EXACT, _LOOSE = _registry()
PY_NAMES = sorted(c.keras_class for c in LAYER_CLASSES)
R_NAMES = sorted(c.r_name for c in LAYER_CLASSES)


def layer_class(name: str, r: bool = False) -> type[Layer] | None:
    """The layer class a Keras class name or R keras function denotes (aliases included)."""
    if name in _EXACT:
        return _EXACT[name]
    if r and not name.startswith("layer_"):
        return None
    if not r and not name[:1].isupper():
        return None
    return _LOOSE.get(_norm(name))


def positional(cls: type[Layer]) -> tuple[str, ...]:
    """The layer's Keras positional parameters, in signature order (a fact of the layer class)."""
    return tuple(cls.positional)


def renamed_option(cls: type[Layer], key: str) -> str:
    """Keras 2 spellings of options Keras 3 renamed (``LeakyReLU(alpha=)`` -> ``negative_slope``)."""
    own = getattr(cls, "renamed_options", None)
    table = own if own is not None else ({"alpha": "negative_slope"} if cls.keras_class == "LeakyReLU" else {})
    return table.get(key, key)


def option_names(cls: type[Layer]) -> list[str]:
    """The Keras options of a layer class (not the row's meta keys), by the names specs use."""
    return [i.alias or f for f, i in cls.model_fields.items() if f not in Layer.META]


# ---------------------------------------------------------------------------------------------- values
@dataclass
class ImportedRow:
    """One layer of the imported model, with the source line it came from."""

    cls: type[Layer]
    options: dict[str, Any]
    line: int
    name: str | None = None
    inputs: list[str] | None = None
    trainable: bool = True
    expect: dict[str, Any] | None = None
    comment: str = ""
    inferred: bool = False


@dataclass
class ImportedInput:
    """One model input of a functional graph: its name (what rows take), shape, dtype, source line."""

    name: str
    shape: tuple | None
    dtype: str | None = None
    line: int = 0


@dataclass
class ImportedModel:
    """What the source builds, as it is followed: rows, input, graph output, training settings."""

    rows: list[ImportedRow] = field(default_factory=list)
    input_shape: tuple | None = None
    input_dtype: str | None = None
    name: str | None = None
    functional: bool = False
    output: "Tensor | None" = None
    expect: dict[str, int] | None = None
    notes: list[str] = field(default_factory=list)
    train: dict[str, Any] = field(default_factory=dict)
    #: functional graphs: the inputs (empty: one input, ``input_shape``) and the output row names, in order
    inputs: list[ImportedInput] = field(default_factory=list)
    outputs: list[str] | None = None
    #: the model this one was joined into (a layer took tensors of both): see import_graph.join
    joined: "ImportedModel | None" = field(default=None, compare=False, repr=False)


@dataclass
class Tensor:
    """A symbolic tensor of a functional model: the model input or a row's output."""

    model: ImportedModel
    ref: str


def static_shape(tensor: Tensor) -> "list | Opaque":
    """``tensor.shape`` as Keras gives it (``[None, 32, 32, 16]``), inferred by ``cnnspec check`` from the
    rows built so far (pure Python): code may branch on it (``if x.shape[-1] != filters: ...``)."""
    import copy

    from cnnspec.check.infer import check
    from cnnspec.interop.spec_writer import prune, to_yaml
    from cnnspec.spec.loader import load_spec

    model = tensor.model
    if model.input_shape is None:
        return Opaque("the shape of a tensor whose model has no input shape yet")
    if tensor.ref == INPUT:
        return [None, *model.input_shape]
    probe = copy.copy(model)
    probe.rows, probe.output, probe.functional = list(model.rows), tensor, True
    probe.train, probe.expect, probe.notes = {}, None, []
    prune(probe)
    try:
        report = check(load_spec("probe.yaml", text=to_yaml(probe, "probe", "probe")))
    except SpecError:
        return Opaque(f"the shape of '{tensor.ref}' (the rows before it do not check yet)")
    out = next((r.output for r in report.rows if r.row.name == tensor.ref), None)
    return Opaque(f"the shape of '{tensor.ref}'") if out is None else [None, *out]


@dataclass
class Opaque:
    """A value the importer does not follow (data, a call it does not know ...)."""

    what: str


@dataclass
class ModuleRef(Opaque):
    """A name bound by an import (``from keras.regularizers import l2``): its dotted path."""

    path: str = ""


@dataclass
class Unsupported(Opaque):
    """A model the code builds that cnnspec cannot represent (a model nested in a Sequential):
    an error only if it is the model the file defines."""

    line: int = 0


class Function:
    """A function defined in the imported code, called statically by the interpreter."""


@dataclass
class PendingLayer:
    """A layer object not yet placed (``layers.Dense(10)`` before ``model.add`` or ``(x)``)."""

    cls: type[Layer]
    args: dict[str, tuple[Any, int]]
    line: int
    label: str
    used: bool = False


def arith(op: str, a: Any, b: Any) -> Any:
    """Static arithmetic on literals: numbers, and ``+``/``*`` on lists (Python tuples and lists)."""
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool):
        if op in ("/", "//") and b == 0:
            return Opaque("a division by zero")
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "//":
            return a // b
        if op == "%":
            return a % b
        if op == "/":
            return a // b if isinstance(a, int) and isinstance(b, int) and a % b == 0 else a / b
        if op in ("^", "**"):
            return a ** b if abs(b) < 64 else Opaque("a huge power")
    if op == "+" and isinstance(a, list) and isinstance(b, list):
        return a + b
    if op == "+" and isinstance(a, str) and isinstance(b, str) and len(a) + len(b) <= 10_000:
        return a + b
    if op == "*" and isinstance(a, list) and isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 10_000:
        return a * b
    if isinstance(a, (ImportedModel, Tensor)) or isinstance(b, (ImportedModel, Tensor)):
        return Opaque(f"an expression with '{op}' on a model")
    return Opaque(f"an expression with '{op}'")


def as_shape(value: Any, key: str) -> tuple | None:
    """A shape argument as a tuple (batch dimension dropped for batch shapes), or None if not one."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        return None
    if key.startswith("batch"):
        value = value[1:]
    if not value or not all(v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0)
                            for v in value):
        return None
    return tuple(value)


# ---------------------------------------------------------------------------------------------- builder
class RowBuilder:
    """Shared by the importers: turns (class, arguments with lines) into validated rows."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.models: list[tuple[str | None, ImportedModel]] = []
        self.train: dict[str, Any] = {}
        self.train_notes: list[str] = []
        self.bases: list = []  # keras.applications bases placed in a model (import_bases.BaseObject)
        self.rows_built = 0    # rows added to any model so far, a functional graph's included
        self.phases: list = []  # the state at each fit() (import_bases.Phase): two-phase fine-tuning

    def err(self, msg: str, line: int | None) -> SpecError:
        """A one-line error at a line of the imported file."""
        return SpecError(msg, file=self.file, line=line)

    def literal(self, value: Any, arg: str, label: str, line: int) -> Any:
        """A literal argument value, or a one-line error saying why it is not one."""
        if isinstance(value, Opaque):
            raise self.err(f"{label}: argument '{arg}' is not a literal ({value.what}); write the value "
                           "(cnnspec import reads the code, it does not run it)", line)
        if isinstance(value, PendingLayer) and not value.used:  # Bidirectional(LSTM(64)): a nested row
            value.used = True
            nested = {renamed_option(value.cls, k): self.literal(v, k, value.label, ln)
                      for k, (v, ln) in value.args.items()}
            return {"type": value.cls.keras_class, **nested}
        if isinstance(value, (ImportedModel, Tensor, PendingLayer, Function)):
            raise self.err(f"{label}: argument '{arg}' must be a literal value, got a model or layer", line)
        if isinstance(value, list):
            return [self.literal(v, arg, label, line) for v in value]
        if isinstance(value, dict):
            return {k: self.literal(v, f"{arg}.{k}", label, line) for k, v in value.items()}
        return value

    def note_model(self, var: str | None, value: Any) -> None:
        """Remember a model the code builds (the one named `model` wins)."""
        if isinstance(value, (ImportedModel, Unsupported)) and all(value is not m for _, m in self.models):
            self.models.append((var, value))

    def _shape_arg(self, model: ImportedModel, cls: type[Layer], key: str, value: Any, label: str,
                   line: int) -> None:
        shape = as_shape(value, key)
        if shape is None:
            raise self.err(f"{label}: {key} must be a list of sizes like c(28, 28, 1), got {value!r}", line)
        if model.rows or model.functional:
            if model.functional or (model.input_shape is not None and model.input_shape != shape):
                if key == "input_length":
                    return  # Keras 3 ignores it; the input shape comes from elsewhere
                raise self.err(f"{label}: {key} is only allowed on the first layer", line)
        model.input_shape = shape

    def add_row(self, model: ImportedModel, cls: type[Layer], args: dict[str, tuple[Any, int]], line: int,
                label: str, inputs: list[str] | None) -> ImportedRow:
        """Validate one layer call's arguments with its class and append the row."""
        opts: dict[str, Any] = {}
        lines: dict[str, int] = {}
        name, trainable = None, True
        fields = set(cls.model_fields) | {i.alias for i in cls.model_fields.values() if i.alias}
        for key, (value, aline) in args.items():
            value = self.literal(value, key, label, aline)
            key = renamed_option(cls, key)
            # input_length is Keras 2's sequence length: the input shape here (Keras 3 ignores the option)
            if key in SHAPE_KEYS and (key not in fields or key == "input_length"):
                self._shape_arg(model, cls, key, value, label, aline)
            elif key == "name":
                name = self._name(model, value, label, aline)
            elif key == "trainable":
                if not isinstance(value, bool):
                    raise self.err(f"{label}: trainable must be TRUE/FALSE, got {value!r}", aline)
                trainable = value
            elif key in IGNORED_KEYS and key not in fields:
                if key != "batch_size" and not model.rows and isinstance(value, str):
                    model.input_dtype = value
            elif key in Layer.META or key not in fields:
                options = option_names(cls)
                raise self.err(f"{label}: unknown option '{key}' for {cls.keras_class}{suggest(key, options)}; "
                               f"options: {', '.join(options) or 'none'}", aline)
            else:
                opts[key] = value
                lines[key] = aline
        validate_options(cls, opts, self.file, line, lines, label)
        row = ImportedRow(cls, opts, line, name, inputs, trainable)
        model.rows.append(row)
        self.rows_built += 1
        return row

    def _name(self, model: ImportedModel, value: Any, label: str, line: int) -> str:
        if not isinstance(value, str):
            raise self.err(f"{label}: name must be a string, got {value!r}", line)
        if value == INPUT:
            raise self.err(f"{label}: the name '{INPUT}' is reserved for the model input", line)
        first = next((r for r in model.rows if r.name == value), None)
        if first is not None:
            raise self.err(f"{label}: duplicate layer name '{value}' (first on line {first.line})", line)
        return value

    def result(self) -> ImportedModel:
        """The model the file defines, with its train section, or a one-line error."""
        from cnnspec.interop.import_bases import finish

        finish(self.bases, self.err)
        built = [(v, m) for v, m in self.models if isinstance(m, Unsupported) or m.rows]
        chosen = ([m for v, m in built if v == "model"] or [m for _, m in built])[-1:]
        if chosen and isinstance(chosen[0], Unsupported):
            raise self.err(chosen[0].what, chosen[0].line)
        built = [(v, m) for v, m in built if not isinstance(m, Unsupported)]
        if not built:
            raise self.err("no Keras model found: expected keras_model_sequential() |> layer_...() (R) or "
                           "keras.Sequential([...]) / model.add(...) / keras.Model(inputs, outputs) (Python)", None)
        named = [m for v, m in built if v == "model"]
        model = named[-1] if named else built[-1][1]
        if model.input_shape is None:
            raise self.err("no input shape: give keras_model_sequential(input_shape = c(...)), input_shape on the "
                           "first layer, or keras.Input(shape=...)", model.rows[0].line)
        model.train = dict(self.train)
        model.notes.extend(self.train_notes)
        return model


def next_name(model: ImportedModel, cls: type[Layer]) -> str:
    """Keras's default naming (conv2d, conv2d_1 ...), as the spec expander does it: the layers a
    wrapper holds took their names too (an LSTM after ``Bidirectional(LSTM(...))`` is lstm_1)."""
    taken = {r.name for r in model.rows} | _wrapped_names(model)
    base = cls.default_name()
    k, name = 0, base
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name


def _wrapped_names(model: ImportedModel) -> set[str]:
    """The automatic names Keras gave the layers inside the model's wrapper rows (lstm, lstm_1 ...)."""
    from cnnspec.layers import lookup

    rows = {r.name for r in model.rows}
    names: set[str] = set()
    for r in model.rows:
        for key in ("layer", "backward_layer"):
            inner = r.options.get(key)
            cls = lookup(str(inner.get("type"))) if isinstance(inner, dict) and not inner.get("name") else None
            if cls is not None:
                base, k = cls.default_name(), 0
                while (name := base if k == 0 else f"{base}_{k}") in names or name in rows:
                    k += 1
                names.add(name)
    return names


def validate_options(cls: type[Layer], opts: dict[str, Any], file: str, line: int, lines: dict[str, int],
                     label: str) -> None:
    """Validate a row's options with its layer class; a one-line error naming the option's line."""
    item = LineDict({**opts, "type": cls.keras_class}, line=line, key_lines=lines)
    try:
        cls.model_validate(dict(item))
    except ValidationError as exc:
        e = row_validation_error(file, exc, cls, item)
        raise SpecError(f"{label}: {e.message}", file=file, line=e.line) from exc


def safe_name(text: str) -> str:
    """A spec name from a file stem or a model name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text) or "imported"
