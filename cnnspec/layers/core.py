"""Core layers: Dense, Flatten, Dropout, SpatialDropout1D/2D, Activation, ReLU, LeakyReLU, Softmax,
Embedding, Rescaling."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from cnnspec.layers.shapes import Shape, ShapeError, product
from .base import Alternative, Count, KerasObject, Layer, WithKernel, Rate, Size, formula, weights


class Dense(WithKernel):
    """``keras.layers.Dense``: kernel (last_dim, units) + units bias, applied on the last axis."""

    type: Literal["Dense", "layer_dense"]
    units: Size
    lora_rank: Size | None = None

    def _last(self, shape: Shape) -> int:
        if not shape:
            raise ShapeError("Dense needs an input of rank 2 or more", "inputs")
        if shape[-1] is None:
            raise ShapeError("Dense needs a known last input dimension (it is None)", "inputs")
        return shape[-1]

    def output_shape(self, shape: Shape) -> Shape:
        self._last(shape)
        return shape[:-1] + (self.units,)

    def count(self, shape: Shape) -> Count:
        parts = [weights(self._last(shape), self.units)]
        if self.use_bias:
            parts.append((self.units, str(self.units)))
        return Count(sum(p[0] for p in parts), 0, formula(parts))

    def param_alternatives(self, shape: Shape) -> list[Alternative]:
        n, u = self._last(shape), self.units
        if self.use_bias:
            return [Alternative(n * u, f"bias not counted (use_bias: false gives {n}*{u})")]
        return [Alternative(n * u + u, "bias counted although use_bias is false")]


class Flatten(Layer):
    """``keras.layers.Flatten``: the product of the non-batch dimensions."""

    type: Literal["Flatten", "layer_flatten"]
    data_format: Literal["channels_last"] | None = None

    def output_shape(self, shape: Shape) -> Shape:
        return (product(shape),)

    def explain_shape(self, shape: Shape) -> str:
        return f"{'*'.join('None' if d is None else str(d) for d in shape)} = {product(shape)}"


class Dropout(Layer):
    type: Literal["Dropout", "layer_dropout"]
    rate: Rate
    noise_shape: list[int | None] | None = None
    seed: int | None = None


class SpatialDropout1D(Layer):
    type: Literal["SpatialDropout1D", "layer_spatial_dropout_1d"]
    input_rank = 2
    rate: Rate
    seed: int | None = None


class SpatialDropout2D(Layer):
    type: Literal["SpatialDropout2D", "layer_spatial_dropout_2d"]
    input_rank = 3
    rate: Rate
    seed: int | None = None
    data_format: Literal["channels_last"] | None = None


class Activation(Layer):
    type: Literal["Activation", "layer_activation"]
    activation: str


class ReLU(Layer):
    type: Literal["ReLU", "layer_activation_relu"]
    max_value: Annotated[float, Field(ge=0)] | None = None
    negative_slope: Annotated[float, Field(ge=0)] = 0.0
    threshold: float = 0.0


class LeakyReLU(Layer):
    type: Literal["LeakyReLU", "layer_activation_leaky_relu"]
    negative_slope: Annotated[float, Field(ge=0)] = 0.3


class Softmax(Layer):
    type: Literal["Softmax", "layer_activation_softmax"]
    axis: int = -1


class Embedding(Layer):
    """``keras.layers.Embedding``: an (input_dim, output_dim) table; output adds an axis of output_dim."""

    type: Literal["Embedding", "layer_embedding"]
    input_dim: Size
    output_dim: Size
    embeddings_initializer: KerasObject = None
    embeddings_regularizer: KerasObject = None
    embeddings_constraint: KerasObject = None
    mask_zero: bool = False

    def output_shape(self, shape: Shape) -> Shape:
        return shape + (self.output_dim,)

    def count(self, shape: Shape) -> Count:
        n, f = weights(self.input_dim, self.output_dim)
        return Count(n, 0, f"{f} = {n}")


class Rescaling(Layer):
    type: Literal["Rescaling", "layer_rescaling"]
    scale: float
    offset: float = 0.0
