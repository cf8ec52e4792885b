"""Reshaping layers: ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D, Reshape."""
from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BeforeValidator, Field

from cnnspec.layers.shapes import MAX_DIM, Shape, ShapeError, product
from .base import Layer, NonNeg, Size, SizeOrTuple, _tuple_or_int


def _pairs(value: Any, rank: int, field: str) -> tuple[tuple[int, int], ...]:
    """Keras's padding/cropping forms: int, (sym_1, ..., sym_n) or ((before, after), ...)."""
    if isinstance(value, int):
        return ((value, value),) * rank
    value = tuple(value)
    if rank == 1 and len(value) == 2 and all(isinstance(v, int) for v in value):
        return ((value[0], value[1]),)
    if len(value) != rank:
        raise ShapeError(f"`{field}` must be an int, {rank} ints or {rank} pairs, received {value}", field)
    out = []
    for v in value:
        if isinstance(v, int):
            out.append((v, v))
        else:
            v = tuple(v)
            if len(v) != 2:
                raise ShapeError(f"`{field}` pairs must have 2 entries, received {v}", field)
            out.append((v[0], v[1]))
    return tuple(out)


def _nested(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_nested(x) for x in v)
    return v


PairSpec = Annotated[Union[NonNeg, tuple[Union[NonNeg, tuple[NonNeg, NonNeg]], ...]], BeforeValidator(_nested)]


class _Pad(Layer):
    rank: ClassVar[int] = 2
    padding: PairSpec = 1
    data_format: Literal["channels_last"] | None = None

    def output_shape(self, shape: Shape) -> Shape:
        pads = _pairs(self.padding, self.rank, "padding")
        return tuple(None if n is None else n + a + b for n, (a, b) in zip(shape[:-1], pads)) + shape[-1:]


class ZeroPadding1D(_Pad):
    type: Literal["ZeroPadding1D", "layer_zero_padding_1d"]
    input_rank = 2
    rank = 1


class ZeroPadding2D(_Pad):
    type: Literal["ZeroPadding2D", "layer_zero_padding_2d"]
    input_rank = 3


class _Crop(Layer):
    rank: ClassVar[int] = 2
    cropping: PairSpec = 0  # Keras: Cropping2D ((0, 0), (0, 0)); Cropping1D overrides with (1, 1)
    data_format: Literal["channels_last"] | None = None

    def output_shape(self, shape: Shape) -> Shape:
        crops = _pairs(self.cropping, self.rank, "cropping")
        out = []
        for n, (a, b) in zip(shape[:-1], crops):
            if n is not None and n - a - b < 1:
                raise ShapeError(f"cropping {a}+{b} leaves nothing of a dimension of size {n}", "cropping")
            out.append(None if n is None else n - a - b)
        return tuple(out) + shape[-1:]


class Cropping1D(_Crop):
    type: Literal["Cropping1D", "layer_cropping_1d"]
    input_rank = 2
    rank = 1
    cropping: PairSpec = 1


class Cropping2D(_Crop):
    type: Literal["Cropping2D", "layer_cropping_2d"]
    input_rank = 3


class UpSampling1D(Layer):
    type: Literal["UpSampling1D", "layer_upsampling_1d"]
    input_rank = 2
    size: Size = 2

    def output_shape(self, shape: Shape) -> Shape:
        return (None if shape[0] is None else shape[0] * self.size,) + shape[1:]


class UpSampling2D(Layer):
    type: Literal["UpSampling2D", "layer_upsampling_2d"]
    input_rank = 3
    size: SizeOrTuple = 2
    interpolation: Literal["nearest", "bilinear", "bicubic", "lanczos3", "lanczos5", "area"] = "nearest"
    data_format: Literal["channels_last"] | None = None

    def output_shape(self, shape: Shape) -> Shape:
        from cnnspec.layers.shapes import as_tuple

        s = as_tuple(self.size, 2, "size")
        return tuple(None if n is None else n * k for n, k in zip(shape[:-1], s)) + shape[-1:]


TargetDim = Annotated[int, Field(ge=-1, le=MAX_DIM)]


class Reshape(Layer):
    """``keras.layers.Reshape``: one entry may be -1, inferred from the input's size."""

    type: Literal["Reshape", "layer_reshape"]
    target_shape: Annotated[tuple[TargetDim, ...], BeforeValidator(_tuple_or_int)]

    def output_shape(self, shape: Shape) -> Shape:
        target = self.target_shape
        if any(t == 0 for t in target):
            raise ShapeError("target_shape entries must be positive or -1", "target_shape")
        unknown = [i for i, t in enumerate(target) if t == -1]
        if len(unknown) > 1:
            raise ShapeError("target_shape can have at most one -1", "target_shape")
        size = product(shape)
        known = 1
        for t in target:
            if t != -1:
                known *= t
        if not unknown:
            if size is not None and size != known:
                raise ShapeError(f"total size of the new array must be unchanged: input {list(shape)} has "
                                 f"{size} values, target_shape {list(target)} has {known}", "target_shape")
            return tuple(target)
        if size is None:
            return tuple(None if t == -1 else t for t in target)
        if size % known:
            raise ShapeError(f"cannot reshape {size} values into {list(target)}: {size} is not a multiple "
                             f"of {known}", "target_shape")
        return tuple(size // known if t == -1 else t for t in target)
