"""Pooling layers: MaxPooling1D/2D/3D, AveragePooling1D/2D/3D, GlobalMax/AveragePooling1D/2D/3D."""

from typing import ClassVar, Literal

from cnnspec.layers.shapes import Shape, ShapeError, as_tuple, pool_output_length
from .conv import _join_axes
from .base import Alternative, DataFormat, Layer, Padding, SizeOrTuple


class _Pool(Layer):
    """Keras's ``BasePooling``: strides default to pool_size; no parameters."""

    rank: ClassVar[int] = 2
    positional = ("pool_size", "strides", "padding", "data_format")
    py_positional = 1
    size_field = "pool_size"
    no_weights = "pooling has no weights"
    pool_size: SizeOrTuple = 2
    strides: SizeOrTuple | None = None
    padding: Padding = "valid"
    data_format: DataFormat | None = None

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
    """``keras.layers.MaxPooling1D``: the maximum over each window of steps."""

    type: Literal["MaxPooling1D", "layer_max_pooling_1d", "MaxPool1D"]
    input_rank = 2
    rank = 1


class MaxPooling2D(_Pool):
    """``keras.layers.MaxPooling2D``: the maximum over each window."""

    type: Literal["MaxPooling2D", "layer_max_pooling_2d", "MaxPool2D"]
    input_rank = 3


class MaxPooling3D(_Pool):
    """``keras.layers.MaxPooling3D``: the maximum over each 3D window."""

    type: Literal["MaxPooling3D", "layer_max_pooling_3d", "MaxPool3D"]
    input_rank = 4
    rank = 3


class AveragePooling1D(_Pool):
    """``keras.layers.AveragePooling1D``: the mean over each window of steps."""

    type: Literal["AveragePooling1D", "layer_average_pooling_1d", "AvgPool1D"]
    input_rank = 2
    rank = 1
    pool_size: SizeOrTuple  # required: Keras's AveragePooling has no default pool_size


class AveragePooling2D(_Pool):
    """``keras.layers.AveragePooling2D``: the mean over each window."""

    type: Literal["AveragePooling2D", "layer_average_pooling_2d", "AvgPool2D"]
    input_rank = 3
    pool_size: SizeOrTuple  # required: Keras's AveragePooling has no default pool_size


class AveragePooling3D(_Pool):
    """``keras.layers.AveragePooling3D``: the mean over each 3D window."""

    type: Literal["AveragePooling3D", "layer_average_pooling_3d", "AvgPool3D"]
    input_rank = 4
    rank = 3
    pool_size: SizeOrTuple


class _GlobalPool(Layer):
    """Pools every spatial axis away (or to size 1 with keepdims)."""

    positional = ("data_format", "keepdims")
    keepdims: bool = False
    data_format: DataFormat | None = None

    def output_shape(self, shape: Shape) -> Shape:
        if self.keepdims:
            return (1,) * (len(shape) - 1) + shape[-1:]
        return shape[-1:]


class GlobalMaxPooling1D(_GlobalPool):
    """``keras.layers.GlobalMaxPooling1D``: the maximum over the steps."""

    type: Literal["GlobalMaxPooling1D", "layer_global_max_pooling_1d", "GlobalMaxPool1D"]
    input_rank = 2


class GlobalMaxPooling2D(_GlobalPool):
    """``keras.layers.GlobalMaxPooling2D``: the maximum over rows and columns."""

    type: Literal["GlobalMaxPooling2D", "layer_global_max_pooling_2d", "GlobalMaxPool2D"]
    input_rank = 3


class GlobalMaxPooling3D(_GlobalPool):
    """``keras.layers.GlobalMaxPooling3D``: the maximum over the three spatial axes."""

    type: Literal["GlobalMaxPooling3D", "layer_global_max_pooling_3d", "GlobalMaxPool3D"]
    input_rank = 4


class GlobalAveragePooling1D(_GlobalPool):
    """``keras.layers.GlobalAveragePooling1D``: the mean over the steps."""

    type: Literal["GlobalAveragePooling1D", "layer_global_average_pooling_1d", "GlobalAvgPool1D"]
    input_rank = 2


class GlobalAveragePooling2D(_GlobalPool):
    """``keras.layers.GlobalAveragePooling2D``: the mean over rows and columns."""

    type: Literal["GlobalAveragePooling2D", "layer_global_average_pooling_2d", "GlobalAvgPool2D"]
    input_rank = 3


class GlobalAveragePooling3D(_GlobalPool):
    """``keras.layers.GlobalAveragePooling3D``: the mean over the three spatial axes."""

    type: Literal["GlobalAveragePooling3D", "layer_global_average_pooling_3d", "GlobalAvgPool3D"]
    input_rank = 4
