"""Pooling layers: MaxPooling1D/2D, AveragePooling1D/2D, GlobalMax/AveragePooling1D/2D."""
from __future__ import annotations

from typing import ClassVar, Literal

from cnnspec.layers.shapes import Shape, ShapeError, as_tuple, pool_output_length
from .conv import _join_axes
from .base import Alternative, Count, Layer, Padding, SizeOrTuple


class _Pool(Layer):
    """Keras's ``BasePooling``: strides default to pool_size; no parameters."""

    rank: ClassVar[int] = 2
    pool_size: SizeOrTuple = 2
    strides: SizeOrTuple | None = None
    padding: Padding = "valid"
    data_format: Literal["channels_last"] | None = None

    def _p(self):
        return as_tuple(self.pool_size, self.rank, "pool_size")

    def _s(self):
        return self._p() if self.strides is None else as_tuple(self.strides, self.rank, "strides")

    def output_shape(self, shape: Shape, padding: str | None = None, strides=None) -> Shape:
        padding = padding or self.padding
        strides = strides or self._s()
        out = tuple(pool_output_length(n, p, s, padding) for n, p, s in zip(shape[:-1], self._p(), strides))
        for o, n in zip(out, shape[:-1]):
            if o is not None and o <= 0:
                raise ShapeError(f"Computed output size would be zero or negative: input {n} with pool_size "
                                 f"{self.pool_size}, strides {self.strides}, padding '{padding}'", "pool_size")
        return out + shape[-1:]

    def count(self, shape: Shape) -> Count:
        return Count(0, 0, "pooling has no weights")

    def explain_shape(self, shape: Shape) -> str:
        parts = []
        for n, p, s in zip(shape[:-1], self._p(), self._s()):
            if n is None:
                parts.append("None")
            elif self.padding == "valid":
                parts.append(f"floor(({n} - {p})/{s}) + 1 = {pool_output_length(n, p, s, 'valid')}")
            else:
                parts.append(f"floor(({n} - 1)/{s}) + 1 = {pool_output_length(n, p, s, 'same')}")
        return f"padding '{self.padding}', strides {self.strides if self.strides is not None else 'pool_size'}: " \
            + _join_axes(parts)

    def param_alternatives(self, shape: Shape) -> list[Alternative]:
        c = shape[-1] or 0
        return [Alternative(2 * c, f"a trainable sub-sampling counted (one coefficient and one bias per channel: "
                                   f"2*{c}, as in LeNet-5); Keras pooling layers have no weights")]

    def shape_alternatives(self, shape: Shape) -> list[Alternative]:
        alts = []
        other = "same" if self.padding == "valid" else "valid"
        try:
            alts.append(Alternative(self.output_shape(shape, padding=other),
                                    f"padding '{other}' instead of '{self.padding}'"))
        except ShapeError:
            pass
        if self._s() != (1,) * self.rank:
            alts.append(Alternative(self.output_shape(shape, strides=(1,) * self.rank),
                                    "strides 1 instead of the pool size"))
        return alts


class MaxPooling1D(_Pool):
    type: Literal["MaxPooling1D", "layer_max_pooling_1d"]
    input_rank = 2
    rank = 1


class MaxPooling2D(_Pool):
    type: Literal["MaxPooling2D", "layer_max_pooling_2d"]
    input_rank = 3


class AveragePooling1D(_Pool):
    type: Literal["AveragePooling1D", "layer_average_pooling_1d"]
    input_rank = 2
    rank = 1
    pool_size: SizeOrTuple  # required: Keras's AveragePooling has no default pool_size


class AveragePooling2D(_Pool):
    type: Literal["AveragePooling2D", "layer_average_pooling_2d"]
    input_rank = 3
    pool_size: SizeOrTuple  # required: Keras's AveragePooling has no default pool_size


class _GlobalPool(Layer):
    keepdims: bool = False
    data_format: Literal["channels_last"] | None = None

    def output_shape(self, shape: Shape) -> Shape:
        if self.keepdims:
            return (1,) * (len(shape) - 1) + shape[-1:]
        return shape[-1:]


class GlobalMaxPooling1D(_GlobalPool):
    type: Literal["GlobalMaxPooling1D", "layer_global_max_pooling_1d"]
    input_rank = 2


class GlobalMaxPooling2D(_GlobalPool):
    type: Literal["GlobalMaxPooling2D", "layer_global_max_pooling_2d"]
    input_rank = 3


class GlobalAveragePooling1D(_GlobalPool):
    type: Literal["GlobalAveragePooling1D", "layer_global_average_pooling_1d"]
    input_rank = 2


class GlobalAveragePooling2D(_GlobalPool):
    type: Literal["GlobalAveragePooling2D", "layer_global_average_pooling_2d"]
    input_rank = 3
