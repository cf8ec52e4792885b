"""The base of every layer class: options schema, shape rule, parameter rule, Keras builder, R name.

A layer class declares its Keras options as pydantic fields (``extra="forbid"``) and
overrides :meth:`Layer.output_shape` and :meth:`Layer.count`. Everything else is shared.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Sequence, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from cnnspec.layers.shapes import MAX_DIM, Shape, ShapeError, format_shape

# -- option types --------------------------------------------------------------------------
Size = Annotated[int, Field(ge=1, le=MAX_DIM)]
NonNeg = Annotated[int, Field(ge=0, le=MAX_DIM)]
Rate = Annotated[float, Field(ge=0.0, lt=1.0)]


def _tuple_or_int(v: Any) -> Any:
    """Keras takes a tuple where YAML gives a list; R gives ``c(3, 3)``, parsed to a list."""
    if isinstance(v, list):
        return tuple(v)
    return v


SizeOrTuple = Annotated[Union[Size, tuple[Size, ...]], BeforeValidator(_tuple_or_int)]
Padding = Literal["valid", "same"]
PaddingCausal = Literal["valid", "same", "causal"]
# Initializers, regularizers, constraints and activations are passed through to Keras:
# a name ("he_uniform", "l2", "relu") or a mapping ({l2: 0.001} / {class_name: ..., config: ...}).
KerasObject = Union[str, dict[str, Any], None]


@dataclass(frozen=True)
class Count:
    """A layer's parameters with the formula that produced them, in numbers."""

    trainable: int = 0
    non_trainable: int = 0
    formula: str = "0"

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable


@dataclass(frozen=True)
class Alternative:
    """A plausible wrong value and the mistake that produces it (used for hints)."""

    value: Any
    cause: str


def weights(*factors: int) -> tuple[int, str]:
    """``weights(3, 3, 1, 32) -> (288, '3*3*1*32')``."""
    n = 1
    for f in factors:
        n *= f
    return n, "*".join(str(f) for f in factors)


def formula(parts: Sequence[tuple[int, str]], note: str = "") -> str:
    total = sum(p[0] for p in parts)
    text = " + ".join(p[1] for p in parts)
    if len(parts) > 1 or "*" in text:
        text = f"{text} = {total}"
    return f"{text}{note}"


def snake_case(name: str) -> str:
    """Keras's ``to_snake_case``: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


class Layer(BaseModel):
    """One row of a Keras summary table."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # -- what every row may carry (not Keras options of the layer class) --
    name: str | None = Field(default=None, description="Keras layer name (default: Keras's own naming)")
    inputs: list[str] | None = Field(default=None, description="names of earlier rows this row takes")
    trainable: bool = Field(default=True, description="False freezes the layer: its weights count as non-trainable")
    expect: Any = Field(default=None, description="the paper's printed output shape and parameter count")

    #: Keras 3 class name (``keras.layers.<keras_class>``) and R keras function.
    keras_class: ClassVar[str]
    r_name: ClassVar[str]
    #: Number of inputs: 1, or None for merge layers (two or more).
    arity: ClassVar[int | None] = 1
    #: Rank of the input (without batch) the layer needs, or None for any rank.
    input_rank: ClassVar[int | None] = None
    META: ClassVar[frozenset[str]] = frozenset({"type", "name", "inputs", "trainable", "expect"})

    # -- rules ------------------------------------------------------------------------------
    def output_shape(self, shape: Shape) -> Shape:
        """Output shape (no batch dimension) for one input. Default: unchanged."""
        return shape

    def merge_shape(self, shapes: list[Shape]) -> Shape:  # pragma: no cover - merge layers override
        raise NotImplementedError

    def count(self, shape: Shape) -> Count:
        """Parameters for one input shape. Default: none."""
        return Count()

    def param_alternatives(self, shape: Shape) -> list[Alternative]:
        """Counts that a common mistake produces, for hints."""
        return []

    def shape_alternatives(self, shape: Shape) -> list[Alternative]:
        """Output shapes that a common mistake (other padding, stride ...) produces, for hints."""
        return []

    # -- shared machinery ---------------------------------------------------------------------
    def infer(self, shapes: list[Shape]) -> tuple[Shape, Count]:
        """Output shape and parameter count, honouring arity, rank and ``trainable``."""
        if self.arity == 1:
            if len(shapes) != 1:
                raise ShapeError(f"{self.keras_class} takes one input, got {len(shapes)}", "inputs")
            shape = shapes[0]
            if self.input_rank is not None and len(shape) != self.input_rank:
                raise ShapeError(
                    f"{self.keras_class} expects an input of rank {self.input_rank + 1} "
                    f"(batch, {self._rank_words()}), got {format_shape(shape)}", "inputs")
            out = self.output_shape(shape)
            cnt = self.count(shape)
        else:
            if len(shapes) < 2:
                raise ShapeError(f"{self.keras_class} needs at least 2 inputs, got {len(shapes)}: "
                                 "list them in `inputs`", "inputs")
            out = self.merge_shape(shapes)
            cnt = Count()
        for d in out:
            if d is not None and d < 1:
                raise ShapeError(
                    f"Computed output size would be zero or negative: {format_shape(out)} "
                    f"from input {format_shape(shapes[0])}", self._size_field())
            if d is not None and d > MAX_DIM:
                raise ShapeError(f"output size {d} is absurd (over {MAX_DIM})", self._size_field())
        if not self.trainable and cnt.trainable:
            cnt = Count(0, cnt.total, cnt.formula + " (trainable: false, all non-trainable)")
        return out, cnt

    def _size_field(self) -> str | None:
        for f in ("kernel_size", "pool_size", "cropping", "target_shape"):
            if f in type(self).model_fields:
                return f
        return None

    def _rank_words(self) -> str:
        return {1: "features", 2: "steps, channels", 3: "rows, cols, channels"}.get(self.input_rank or 0, "...")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs) -> None:
        """``keras_class`` and ``r_name`` are the two names of the ``type`` Literal: derived, not repeated."""
        super().__pydantic_init_subclass__(**kwargs)
        field = cls.model_fields.get("type")
        names = getattr(field.annotation, "__args__", ()) if field is not None else ()
        if len(names) == 2 and all(isinstance(n, str) for n in names):
            cls.keras_class, cls.r_name = names

    @classmethod
    def type_names(cls) -> tuple[str, ...]:
        return (cls.keras_class, cls.r_name)

    @classmethod
    def default_name(cls) -> str:
        return snake_case(cls.keras_class)

    def options(self) -> dict[str, Any]:
        """The Keras options the spec set explicitly (Keras's defaults apply to the rest)."""
        return {k: v for k, v in self.model_dump(exclude_unset=True).items() if k not in self.META}

    def keras_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``keras.layers.<keras_class>``."""
        from cnnspec.keras.util import to_keras_value  # no TensorFlow import: plain conversion

        return {k: to_keras_value(k, v) for k, v in self.options().items()}

    def build_keras(self, name: str):
        """The Keras layer (imports Keras: only call from modules that need it)."""
        import keras

        cls = getattr(keras.layers, self.keras_class)
        layer = cls(name=name, **self.keras_kwargs())
        if not self.trainable:
            layer.trainable = False
        return layer


class WithKernel(Layer):
    """The options Keras's kernel layers (convolutions, Dense) share: activation, bias, and the
    initializers, regularizers and constraints of the kernel and the bias (passed through)."""

    activation: KerasObject = None
    use_bias: bool = True
    kernel_initializer: KerasObject = None
    bias_initializer: KerasObject = None
    kernel_regularizer: KerasObject = None
    bias_regularizer: KerasObject = None
    activity_regularizer: KerasObject = None
    kernel_constraint: KerasObject = None
    bias_constraint: KerasObject = None


def shape_rule(layer: "Layer", shape: Shape) -> str:
    """The shape formula with numbers, in Keras's wording, for diagnostics."""
    explain = getattr(layer, "explain_shape", None)
    if explain is not None:
        try:
            return explain(shape)
        except ShapeError:
            return ""
    out = layer.output_shape(shape) if layer.arity == 1 else None
    if out == shape:
        return f"{layer.keras_class} keeps its input shape"
    return ""
