"""The base of every layer class: options schema, shape rule, declared weights, Keras builder,
R name, and the facts code generation, export and import need.

A layer class declares its Keras options as pydantic fields (``extra="forbid"``), overrides
:meth:`Layer.output_shape` and :meth:`Layer.weights`; the parameter count is the sum of the
declared weights' sizes, as Keras and torchinfo count. Everything else is shared.
"""

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

from pydantic import BaseModel, ConfigDict, Field

from cnnspec.layers.options import (Activation, Constraint, DataFormat, Initializer, NonNeg,  # noqa: F401
                                    Padding, PaddingCausal, Rate, Regularizer, Size, SizeOrTuple,
                                    tuple_or_int)
from cnnspec.layers.shapes import MAX_DIM, Shape, ShapeError, format_shape

_tuple_or_int = tuple_or_int  # kept for modules that import the old name
KerasObject = Initializer  # kept for the old name


@dataclass(frozen=True)
class Weight:
    """One weight variable a layer creates: Keras's variable name, its shape, trainable or not."""

    name: str
    shape: tuple[int, ...]
    trainable: bool = True

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def expr(self) -> str:
        """``3*3*1*32`` (a scalar weight is ``1``)."""
        return "*".join(str(d) for d in self.shape) or "1"


@dataclass(frozen=True)
class Count:
    """A layer's parameters with the formula that produced them, in numbers."""

    trainable: int = 0
    non_trainable: int = 0
    formula: str = "0"
    weights: tuple[Weight, ...] = ()

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable


def count_weights(ws: Sequence[Weight], note: str = "", empty: str = "no weights") -> Count:
    """The parameter columns as sums of the weights' sizes, with the arithmetic as the formula."""
    tr = [w for w in ws if w.trainable]
    nt = [w for w in ws if not w.trainable]
    total = sum(w.size for w in ws)
    if not ws:
        return Count(0, 0, empty)
    if not nt:
        text = " + ".join(w.expr() for w in tr)
    elif not tr:
        text = " + ".join(w.expr() for w in nt) + f" non-trainable ({', '.join(w.name for w in nt)})"
    else:
        text = (" + ".join(w.expr() for w in tr) + f" trainable ({', '.join(w.name for w in tr)}) + "
                + " + ".join(w.expr() for w in nt) + f" non-trainable ({', '.join(w.name for w in nt)})")
    if len(ws) > 1 or "*" in text:
        text = f"{text} = {total}"
    return Count(sum(w.size for w in tr), sum(w.size for w in nt), text + note, tuple(ws))


@dataclass(frozen=True)
class Alternative:
    """A plausible wrong value and the mistake that produces it (used for hints)."""

    value: Any
    cause: str


def snake_case(name: str) -> str:
    """Keras's ``to_snake_case``: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def _channels_last(shape: Shape) -> Shape:
    return tuple(shape[1:]) + tuple(shape[:1])


def _channels_first(shape: Shape) -> Shape:
    return tuple(shape[-1:]) + tuple(shape[:-1])


class Layer(BaseModel):
    """One row of a Keras summary table."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    # -- what every row may carry (not Keras options of the layer class) --
    name: str | None = Field(default=None, description="Keras layer name (default: Keras's own naming)")
    inputs: list[str] | None = Field(default=None, description="names of earlier rows this row takes")
    trainable: bool = Field(default=True, description="False freezes the layer: its weights count as non-trainable")
    expect: Any = Field(default=None, description="the paper's printed output shape and parameter count")

    # -- facts about the layer type (one home: code generation, export and import read them) --
    #: Keras 3 class name (``keras.layers.<keras_class>``), R keras function, other accepted names.
    keras_class: ClassVar[str]
    r_name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    #: Keras's positional parameters, in signature order (code generation and import).
    positional: ClassVar[tuple[str, ...]] = ()
    #: How many leading positional parameters generated Python writes without their name.
    py_positional: ClassVar[int] = 0
    #: Identity at inference (augmentation, dropout, noise): left out of exports.
    training_only: ClassVar[bool] = False
    #: The option an impossible output size is blamed on.
    size_field: ClassVar[str | None] = None
    #: Number of inputs: 1, or None for layers taking several (merges, attention).
    arity: ClassVar[int | None] = 1
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = None
    #: Multi-input layers called as ``layer(a, b)`` in Python (attention) instead of ``layer([a, b])``.
    call_with_args: ClassVar[bool] = False
    #: Rank of the input (without batch) the layer needs, or None for any rank.
    input_rank: ClassVar[int | None] = None
    #: The formula shown for a layer without weights.
    no_weights: ClassVar[str] = "no weights"
    META: ClassVar[frozenset[str]] = frozenset({"type", "name", "inputs", "trainable", "expect"})

    # -- rules ------------------------------------------------------------------------------
    def output_shape(self, shape: Shape) -> Shape:
        """Output shape (no batch dimension) for one input. Default: unchanged."""
        return shape

    def merge_shape(self, shapes: list[Shape]) -> Shape:  # pragma: no cover - multi-input layers override
        raise NotImplementedError

    def weights(self, shape: Shape) -> list[Weight]:
        """The weights the layer creates for one input shape (channels last). Default: none."""
        return []

    def merge_weights(self, shapes: list[Shape]) -> list[Weight]:
        """The weights of a multi-input layer. Default: none."""
        return []

    def count(self, shape: Shape) -> Count:
        """Parameters for one input shape: the sum of the declared weights."""
        return count_weights(self.weights(shape), empty=self.no_weights)

    def param_alternatives(self, shape: Shape) -> list[Alternative]:
        """Counts that a common mistake produces, for hints."""
        return []

    def shape_alternatives(self, shape: Shape) -> list[Alternative]:
        """Output shapes that a common mistake (other padding, stride ...) produces, for hints."""
        return []

    # -- shared machinery ---------------------------------------------------------------------
    def _first(self) -> bool:
        return getattr(self, "data_format", None) == "channels_first"

    def infer(self, shapes: list[Shape]) -> tuple[Shape, Count]:
        """Output shape and parameter count, honouring arity, rank, data_format and ``trainable``."""
        if self.arity == 1:
            if len(shapes) != 1:
                raise ShapeError(f"{self.keras_class} takes one input, got {len(shapes)}", "inputs")
            shape = shapes[0]
            if self.input_rank is not None and len(shape) != self.input_rank:
                raise ShapeError(
                    f"{self.keras_class} expects an input of rank {self.input_rank + 1} "
                    f"(batch, {self._rank_words()}), got {format_shape(shape)}", "inputs")
            if self._first():  # the rules are written channels-last; the weights are the same
                inner = _channels_last(shape)
                out, ws = _channels_first(self.output_shape(inner)), self.weights(inner)
            else:
                out, ws = self.output_shape(shape), self.weights(shape)
        else:
            if len(shapes) < self.min_inputs or (self.max_inputs and len(shapes) > self.max_inputs):
                want = (f"{self.min_inputs}" if self.max_inputs == self.min_inputs else
                        f"{self.min_inputs} to {self.max_inputs}" if self.max_inputs else f"at least {self.min_inputs}")
                raise ShapeError(f"{self.keras_class} takes {want} inputs, got {len(shapes)}: "
                                 "list them in `inputs`", "inputs")
            out, ws = self.merge_shape(shapes), self.merge_weights(shapes)
        self._check_output(out, shapes[0])
        note = ""
        if not self.trainable and any(w.trainable for w in ws):
            ws = [Weight(w.name, w.shape, False) for w in ws]
            note = " (trainable: false, all non-trainable)"
        return out, count_weights(ws, note, self.no_weights)

    def _check_output(self, out: Shape, first: Shape) -> None:
        for d in out:
            if d is not None and d < 1:
                raise ShapeError(f"Computed output size would be zero or negative: {format_shape(out)} "
                                 f"from input {format_shape(first)}", self.size_field)
            if d is not None and d > MAX_DIM:
                raise ShapeError(f"output size {d} is absurd (over {MAX_DIM})", self.size_field)

    def _rank_words(self) -> str:
        return {1: "features", 2: "steps, channels", 3: "rows, cols, channels",
                4: "depth, rows, cols, channels"}.get(self.input_rank or 0, "...")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs) -> None:
        """``keras_class``, ``r_name`` and ``aliases`` are the names of the ``type`` Literal:
        derived, not repeated."""
        super().__pydantic_init_subclass__(**kwargs)
        field = cls.model_fields.get("type")
        names = getattr(field.annotation, "__args__", ()) if field is not None else ()
        if len(names) >= 2 and all(isinstance(n, str) for n in names):
            cls.keras_class, cls.r_name = names[0], names[1]
            cls.aliases = tuple(names[2:])

    @classmethod
    def type_names(cls) -> tuple[str, ...]:
        return (cls.keras_class, cls.r_name) + tuple(cls.aliases)

    @classmethod
    def default_name(cls) -> str:
        return snake_case(cls.keras_class)

    @classmethod
    def option_names(cls) -> list[str]:
        """The Keras options of the class, in declaration order."""
        return [info.alias or f for f, info in cls.model_fields.items() if f not in cls.META]

    def options(self) -> dict[str, Any]:
        """The Keras options the spec set explicitly (Keras's defaults apply to the rest)."""
        return {k: v for k, v in self.model_dump(exclude_unset=True, by_alias=True).items() if k not in self.META}

    def keras_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``keras.layers.<keras_class>``."""
        from cnnspec.keras.util import to_keras_value  # no TensorFlow import: plain conversion

        return {k: to_keras_value(k, v) for k, v in self.options().items()}

    def build_keras(self, name: str | None, input_shape: Shape | None = None):
        """The Keras layer (imports Keras: only call from modules that need it). ``input_shape`` (no
        batch) is for layers that build a whole model (pretrained bases)."""
        import keras

        cls = getattr(keras.layers, self.keras_class)
        layer = cls(name=name, **self.keras_kwargs())
        if not self.trainable:
            layer.trainable = False
        return layer

    def apply_keras(self, layer, tensors: list):
        """Call the built Keras layer on its input tensors."""
        if self.arity == 1:
            return layer(tensors[0])
        return layer(*tensors) if self.call_with_args else layer(tensors)


class WithBias(Layer):
    """The options every Keras layer with an activation and a bias shares."""

    activation: Activation = None
    use_bias: bool = True
    bias_initializer: Initializer = "zeros"
    bias_regularizer: Regularizer = None
    activity_regularizer: Regularizer = None
    bias_constraint: Constraint = None


class WithKernel(WithBias):
    """The options Keras's kernel layers (convolutions, Dense) share: activation, bias, and the
    initializers, regularizers and constraints of the kernel and the bias."""

    kernel_initializer: Initializer = "glorot_uniform"
    kernel_regularizer: Regularizer = None
    kernel_constraint: Constraint = None


def bias(ws: list[Weight], use_bias: bool, *shape: int) -> list[Weight]:
    """``ws`` plus a ``bias`` weight when the layer uses one."""
    return ws + [Weight("bias", tuple(shape))] if use_bias else ws


def shape_rule(layer: "Layer", shape: Shape) -> str:
    """The shape formula with numbers, in Keras's wording, for diagnostics."""
    explain = getattr(layer, "explain_shape", None)
    if explain is not None:
        try:
            return explain(_channels_last(shape) if layer._first() else shape)
        except ShapeError:
            return ""
    out = layer.output_shape(shape) if layer.arity == 1 and not layer._first() else None
    if out == shape:
        return f"{layer.keras_class} keeps its input shape"
    return ""
