"""keras.applications bases in imported code (R and Python): the base object a script builds
(``keras.applications.VGG19(...)``, ``application_vgg19(...)``), its layers as the script sees them
(``base.layers[:15]``, ``get_layer``), the freezing the script does (``base.trainable = False``,
``layer.trainable = False`` in a loop, R's ``freeze_weights``/``unfreeze_weights`` with ``from``/``to``)
turned into the row's ``trainable`` / ``fine_tune_from``, and ``preprocess_input`` calls turned into
the row's ``preprocess``. Pure Python: the layers come from the base's generated data."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cnnspec.interop.import_common import ImportedModel, ImportedRow, Opaque
from cnnspec.layers.applications import BASES, TYPE_NAMES, application_class, rows_of
from cnnspec.util import suggest

#: keras.applications' own parameter order (include_top, weights, input_tensor, input_shape, ...)
POSITIONAL = ("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes",
              "classifier_activation")
#: what an ``InputLayer`` is called inside a base (index 0 of ``base.layers``)
INPUT_LAYER = "input_layer"


def base_class(name: str):
    """The row class of a base named as in Keras (``VGG19``) or R (``application_vgg19``), or None."""
    return application_class(name) if name in TYPE_NAMES else None


def unknown_base(name: str) -> str:
    """The message for a keras.applications name cnnspec has no base for."""
    r = name.startswith("application_")
    names = [v[1] for v in BASES.values()] if r else list(BASES)
    return (f"unknown keras.applications base '{name}'{suggest(name, names)}; cnnspec knows "
            f"{', '.join(sorted(BASES)[:6])} ... (`cnnspec layers` lists all {len(BASES)})")


@dataclass
class InnerLayer:
    """One layer of a base as a script sees it (``base.layers[i]``, ``get_layer(base, name)``)."""

    base: "BaseObject"
    index: int
    name: str

    def attribute(self, attr: str, sep: str = ".") -> Any:
        """``layer.name`` / ``layer$trainable`` (``sep``: how the script wrote the access)."""
        if attr == "name":
            return self.name
        if attr == "trainable":
            return self.base.flags.get(self.index, self.base.trainable)
        return Opaque(f"'{self.name}{sep}{attr}'")


@dataclass
class BaseObject:
    """A keras.applications model built by the imported code, not yet placed in the model."""

    cls: type
    args: dict[str, tuple[Any, int]]
    line: int
    label: str
    used: bool = False
    trainable: bool = True
    flags: dict[int, bool] = field(default_factory=dict)   # base.layers index -> trainable set by code
    graph: tuple[ImportedModel, str] | None = None          # base.input / base.output: its own model
    row: ImportedRow | None = None
    model: ImportedModel | None = None

    def arg(self, key: str, default: Any = None) -> Any:
        """A literal argument's value (its default when not given or not a literal)."""
        v = self.args.get(key, (default, 0))[0]
        return default if isinstance(v, Opaque) else v

    def layer_names(self) -> list[str]:
        """``base.layers`` as Keras lists them: the input layer, then every layer (graph operations
        are not layers), with the top or pooling the arguments choose."""
        top = bool(self.arg("include_top", True))
        head = "top" if top else (self.arg("pooling") or "none")
        if head not in ("top", "avg", "max", "none"):
            head = "none"
        return [INPUT_LAYER] + [n for n, kind in rows_of(self.cls.keras_class, head) if kind != "Operation"]

    def layers(self) -> list[InnerLayer]:
        """``base.layers`` as objects the script can read ``name`` from and set ``trainable`` on."""
        return [InnerLayer(self, i, n) for i, n in enumerate(self.layer_names())]

    def get_layer(self, name: Any) -> InnerLayer | Opaque:
        """``base.get_layer(name)`` / ``get_layer(base, name)``."""
        names = self.layer_names()
        if isinstance(name, str) and name in names:
            return InnerLayer(self, names.index(name), name)
        if isinstance(name, int) and not isinstance(name, bool) and -len(names) <= name < len(names):
            return InnerLayer(self, name % len(names), names[name])
        return Opaque(f"a layer {name!r} that {self.cls.keras_class} does not have")

    def set_all(self, value: bool) -> None:
        """``base.trainable = value``: Keras sets every layer inside too."""
        self.trainable = value
        self.flags = {i: value for i in range(len(self.layer_names()))}

    def set_range(self, first: int, last: int, value: bool) -> None:
        """R's freeze/unfreeze with from/to: the range (inclusive) gets ``value``, the other layers the
        opposite, the base itself stays trainable."""
        self.trainable = True
        self.flags = {i: (value if first <= i <= last else not value) for i in range(len(self.layer_names()))}

    def options(self) -> tuple[bool, str | None]:
        """(trainable, fine_tune_from) of the row, from what the code set; ValueError when the frozen
        layers are not a leading run of the base (cnnspec freezes a base whole or before a layer)."""
        if not self.trainable:
            return False, None
        frozen = [i for i, v in self.flags.items() if v is False]
        if not frozen:
            return True, None
        names = self.layer_names()
        weighted = weighted_layers(self.cls.keras_class, names)
        if not any(names[i] in weighted for i in frozen):
            return True, None  # freezing layers without weights changes nothing
        k = max(frozen) + 1
        gaps = [names[i] for i in range(k) if names[i] in weighted and self.flags.get(i) is not False]
        if gaps:
            raise ValueError(f"the code freezes layers of {self.cls.keras_class} after '{gaps[0]}', which stays "
                             "trainable: cnnspec freezes a base whole (trainable: false) or every layer before one "
                             "(fine_tune_from)")
        if k >= len(names):
            return False, None
        return True, names[k]


def base_named(bases: list[BaseObject], name: Any) -> BaseObject | Opaque:
    """``model.get_layer(name)`` / ``get_layer(model, name)``: the base placed under that row name."""
    hit = next((b for b in bases if b.row is not None and b.row.name == name), None)
    return hit if hit is not None else Opaque(f"the layer {name!r} of a model")


def weighted_layers(keras_class: str, names: list[str]) -> set[str]:
    """The layers of a base that hold weights (freezing the others changes nothing)."""
    from cnnspec.layers.applications import weighted_rows

    return weighted_rows(keras_class) & set(names)


def place(base: BaseObject, row: ImportedRow, model: ImportedModel) -> None:
    """Remember where a base's row is, and take its input shape as the model's when it comes first."""
    base.row, base.model = row, model
    shape = base.arg("input_shape")
    if model.input_shape is None and not model.rows[:-1] and isinstance(shape, list):
        model.input_shape = tuple(shape)


def finish(bases: list[BaseObject], err) -> None:
    """Write each placed base's freezing into its row (at the end: code freezes after placing)."""
    for b in bases:
        if b.row is None:
            continue
        try:
            trainable, start = b.options()
        except ValueError as exc:
            raise err(str(exc), b.line) from exc
        b.row.trainable = trainable
        if start is not None:
            b.row.options["fine_tune_from"] = start
        drop_input_shape(b.row, b.model)


def drop_input_shape(row: ImportedRow, model: ImportedModel) -> None:
    """``input_shape`` equal to the model input the row takes is the row's default: left out."""
    shape = row.options.get("input_shape")
    if shape is None or model is None:
        return
    given = {i.name: i.shape for i in model.inputs}
    if row.inputs is None:
        src = model.input_shape if model.rows and model.rows[0] is row else None
    else:
        src = given.get(row.inputs[0], model.input_shape if row.inputs[0] == "input" else None)
    if src is not None and tuple(shape) == tuple(src):
        del row.options["input_shape"]


def inline(sub: ImportedModel, x: Any, err, line: int) -> Any:
    """A Sequential model called on a tensor (``x = data_augmentation(inputs)``): its rows are added to
    the tensor's model in place (a name taken already gets Keras's next default name); the output
    tensor. Calling a model on data (inference in a script) builds nothing."""
    from cnnspec.interop.import_common import Tensor, next_name

    if not isinstance(x, Tensor):
        return Opaque("the output of calling a model")
    if sub.functional or not sub.rows:
        raise err("a functional model called on a tensor is not supported: write its layers in place", line)
    model, prev = x.model, x.ref
    for r in sub.rows:
        taken = r.name is None or any(o.name == r.name for o in model.rows)
        row = ImportedRow(r.cls, dict(r.options), r.line, next_name(model, r.cls) if taken else r.name, [prev],
                          r.trainable)
        model.rows.append(row)
        prev = row.name
    sub.rows = []  # used up: not a model of its own any more
    return Tensor(model, prev)


# ---------------------------------------------------------------------------------------------- two phases
@dataclass
class Phase:
    """What a ``fit()`` call trains with: the compile/fit settings so far and each base's freezing."""

    compile: dict
    fit: dict
    states: list[tuple[BaseObject, bool, dict]]
    initial_epoch: bool = False


def snapshot(recorder, bases: list[BaseObject], initial_epoch: bool) -> Phase:
    """The state at a ``fit()`` call."""
    return Phase(dict(recorder.compile), dict(recorder.fit), [(b, b.trainable, dict(b.flags)) for b in bases],
                 initial_epoch)


def _options_at(base: BaseObject, trainable: bool, flags: dict) -> tuple[bool, str | None]:
    now = base.trainable, base.flags
    base.trainable, base.flags = trainable, flags
    try:
        return base.options()
    finally:
        base.trainable, base.flags = now


def two_phase(phases: list[Phase], recorder) -> dict | None:
    """Two-phase fine-tuning as scripts write it — fit with the base frozen, unfreeze (from a layer),
    compile again at a lower learning rate, fit again — as ``fine_tune: {from, epochs, learning_rate}``:
    the base row frozen for phase 1, the train section's settings those of the first fit. None when the
    script does not do that (or its phase-2 values are not literals)."""
    if len(phases) < 2:
        return None
    first, last = phases[0], phases[-1]
    for (base, t1, f1), (_, t2, f2) in zip(first.states, last.states):
        try:
            frozen, _ = _options_at(base, t1, f1)
            trainable, start = _options_at(base, t2, f2)
        except ValueError:
            continue
        if frozen or not trainable:
            continue
        epochs = last.fit.get("epochs", (None,))[0]
        done = first.fit.get("epochs", (0,))[0] if last.initial_epoch else 0
        opt = last.compile.get("optimizer", (None,))[0]
        rate = opt.get("learning_rate") if isinstance(opt, dict) else None
        if not isinstance(epochs, int) or not isinstance(done, int) or epochs - done < 1 or \
                not isinstance(rate, (int, float)) or isinstance(rate, bool):
            continue
        recorder.compile, recorder.fit = dict(first.compile), dict(first.fit)
        base.set_all(False)
        return {"from": start or base.layer_names()[1], "epochs": epochs - done, "learning_rate": float(rate)}
    return None


# ---------------------------------------------------------------------------------------------- preprocessing
@dataclass
class Preprocessed(Opaque):
    """The output of a base's ``preprocess_input`` on a tensor: only a base takes it (its row then
    preprocesses: ``preprocess: true``)."""

    tensor: Any = None
    style: str = ""


def preprocess_style(module: str) -> str | None:
    """The preprocessing a keras.applications module applies (caffe, tf, torch, none) or None."""
    m = module.lower()
    for name, (mod, _, style) in BASES.items():
        if m in (mod, name.lower(), mod.replace("_", "")):
            return style
    return {"imagenet_utils": "caffe", "imagenet": "caffe"}.get(m)


def preprocessed(tensor: Any, module: str, mode: Any = None) -> Preprocessed | Opaque:
    """The value of ``keras.applications.<module>.preprocess_input(tensor)``."""
    style = mode if isinstance(mode, str) else preprocess_style(module)
    what = (f"the output of {module}.preprocess_input (cnnspec applies a base's preprocessing in the base's "
            "row: feed it to the base)")
    if style is None:
        return Opaque(f"preprocess_input of an unknown module '{module}'")
    return Preprocessed(what, tensor, style)


def base_input(base: BaseObject, x: Any) -> tuple[Any, bool | None]:
    """(the tensor a base is applied to, whether the code preprocesses it first); ValueError when the
    preprocessing is not the base's own."""
    if not isinstance(x, Preprocessed):
        return x, None
    own = base.cls.preprocessing
    if own != x.style:
        raise ValueError(f"{base.label}: the input is preprocessed '{x.style}'-style but "
                         f"{base.cls.keras_class} preprocesses '{own}'-style; use the base's own preprocess_input")
    return x.tensor, True


def set_preprocess(base: BaseObject, row: ImportedRow, pre: bool | None, note: bool = True) -> None:
    """The row's ``preprocess``: true when the code preprocesses the base's input in the model."""
    if base.cls.preprocessing == "none":
        return  # the base rescales inside: nothing to say
    if pre:
        return
    row.options["preprocess"] = False
    if note:
        row.comment = ("the code feeds the base without its preprocess_input: preprocess: false (set it true "
                       "if the data is preprocessed before the model)")


def r_module(fn: str) -> str | None:
    """The module of an R preprocessing function (``resnet_preprocess_input`` -> resnet)."""
    m = re.fullmatch(r"(\w+?)_preprocess_inputs?", fn)
    return m.group(1) if m else None


def add_base_row(builder, model: ImportedModel, base: "BaseObject", inputs: list[str] | None) -> ImportedRow:
    """The base's row added to ``model`` by an importer (``builder``: its RowBuilder), placed, with its
    preprocessing to be settled and the base remembered (R and Python importers)."""
    from cnnspec.interop.import_common import next_name

    base.used = True
    row = builder.add_row(model, base.cls, dict(base.args), base.line, base.label, inputs)
    if row.name is None and inputs is not None:
        row.name = next_name(model, base.cls)
    place(base, row, model)
    builder.bases.append(base)
    return row
