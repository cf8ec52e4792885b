"""Core layers: Dense, Flatten, Embedding, Rescaling, Masking, Permute, RepeatVector."""

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from cnnspec.layers.shapes import Shape, ShapeError, product
from .base import (Alternative, Constraint, DataFormat, Initializer, Layer, Regularizer, Size, Weight,
                   WithKernel, bias, tuple_or_int)


class Dense(WithKernel):
    """``keras.layers.Dense``: kernel (last_dim, units) + units bias, applied on the last axis.
    With ``lora_rank`` the kernel is frozen and lora_kernel_a (last_dim, r) and lora_kernel_b
    (r, units) train, as Keras does."""

    type: Literal["Dense", "layer_dense"]
    positional = ("units", "activation", "use_bias")
    py_positional = 1
    units: Size
    lora_rank: Size | None = None
    lora_alpha: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _alpha_needs_rank(self):
        if self.lora_alpha is not None and self.lora_rank is None:
            raise ValueError("lora_alpha needs lora_rank")
        return self

    def _last(self, shape: Shape) -> int:
        if not shape:
            raise ShapeError("Dense needs an input of rank 2 or more", "inputs")
        if shape[-1] is None:
            raise ShapeError("Dense needs a known last input dimension (it is None)", "inputs")
        return shape[-1]

    def output_shape(self, shape: Shape) -> Shape:
        self._last(shape)
        return shape[:-1] + (self.units,)

    def weights(self, shape: Shape) -> list[Weight]:
        n = self._last(shape)
        ws = bias([Weight("kernel", (n, self.units), trainable=self.lora_rank is None)], self.use_bias, self.units)
        if self.lora_rank is not None:
            ws += [Weight("lora_kernel_a", (n, self.lora_rank)), Weight("lora_kernel_b", (self.lora_rank, self.units))]
        return ws

    def param_alternatives(self, shape: Shape) -> list[Alternative]:
        n, u = self._last(shape), self.units
        if self.use_bias:
            return [Alternative(n * u, f"bias not counted (use_bias: false gives {n}*{u})")]
        return [Alternative(n * u + u, "bias counted although use_bias is false")]


class Flatten(Layer):
    """``keras.layers.Flatten``: the product of the non-batch dimensions."""

    type: Literal["Flatten", "layer_flatten"]
    positional = ("data_format",)
    data_format: DataFormat | None = None

    def output_shape(self, shape: Shape) -> Shape:
        return (product(shape),)

    def explain_shape(self, shape: Shape) -> str:
        return f"{'*'.join('None' if d is None else str(d) for d in shape)} = {product(shape)}"


class Embedding(Layer):
    """``keras.layers.Embedding``: an (input_dim, output_dim) table; output adds an axis of output_dim."""

    type: Literal["Embedding", "layer_embedding"]
    positional = ("input_dim", "output_dim")
    input_dim: Size
    output_dim: Size
    embeddings_initializer: Initializer = "uniform"
    embeddings_regularizer: Regularizer = None
    embeddings_constraint: Constraint = None
    activity_regularizer: Regularizer = None
    mask_zero: bool = False
    input_length: Size | None = Field(default=None, description="Keras 2's sequence length (deprecated: "
                                      "Keras 3 ignores it; the input shape gives the length)")
    lora_rank: Size | None = None
    lora_alpha: Annotated[float, Field(gt=0)] | None = None

    def output_shape(self, shape: Shape) -> Shape:
        return shape + (self.output_dim,)

    def weights(self, shape: Shape) -> list[Weight]:
        """The table; with lora_rank the table is frozen and a trainable low-rank pair added (as Keras)."""
        ws = [Weight("embeddings", (self.input_dim, self.output_dim), trainable=self.lora_rank is None)]
        if self.lora_rank is not None:
            ws += [Weight("lora_embeddings_a", (self.input_dim, self.lora_rank)),
                   Weight("lora_embeddings_b", (self.lora_rank, self.output_dim))]
        return ws


class Rescaling(Layer):
    """``keras.layers.Rescaling``: x * scale + offset."""

    type: Literal["Rescaling", "layer_rescaling"]
    positional = ("scale", "offset")
    scale: float | list[float]
    offset: float | list[float] = 0.0


class Masking(Layer):
    """``keras.layers.Masking``: marks time steps equal to mask_value as padding; shape unchanged."""

    type: Literal["Masking", "layer_masking"]
    positional = ("mask_value",)
    mask_value: float = 0.0


class Permute(Layer):
    """``keras.layers.Permute``: reorders the non-batch axes (``dims`` counts from 1)."""

    type: Literal["Permute", "layer_permute"]
    positional = ("dims",)
    py_positional = 1
    size_field = "dims"
    dims: Annotated[tuple[Size, ...], BeforeValidator(tuple_or_int)]

    def output_shape(self, shape: Shape) -> Shape:
        if sorted(self.dims) != list(range(1, len(shape) + 1)):
            raise ShapeError(f"Invalid permutation argument `dims` for Permute Layer: {list(self.dims)} for an "
                             f"input of rank {len(shape) + 1}: it must list 1 to {len(shape)} once each", "dims")
        return tuple(shape[d - 1] for d in self.dims)


class RepeatVector(Layer):
    """``keras.layers.RepeatVector``: (features,) -> (n, features)."""

    type: Literal["RepeatVector", "layer_repeat_vector"]
    positional = ("n",)
    py_positional = 1
    input_rank = 1
    n: Size

    def output_shape(self, shape: Shape) -> Shape:
        return (self.n,) + shape
