"""Reshaping layers: ZeroPadding1D/2D/3D, Cropping1D/2D/3D, UpSampling1D/2D/3D, Reshape."""

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BeforeValidator, Field

from cnnspec.layers.shapes import MAX_DIM, Shape, ShapeError, product
from .base import DataFormat, Layer, NonNeg, Size, SizeOrTuple, _tuple_or_int


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


class _Channels(Layer):
    """The data_format option (1D padding, cropping and upsampling do not take it in Keras)."""

    data_format: DataFormat | None = None


class _Pad(Layer):
    """Keras's ZeroPadding: adds zeros before and after each spatial axis."""

    rank: ClassVar[int] = 2
    positional = ("padding", "data_format")
    padding: PairSpec = 1

    def output_shape(self, shape: Shape) -> Shape:
        pads = _pairs(self.padding, self.rank, "padding")
        return tuple(None if n is None else n + a + b for n, (a, b) in zip(shape[:-1], pads)) + shape[-1:]


class ZeroPadding1D(_Pad, _Channels):
    """``keras.layers.ZeroPadding1D``: zeros before and after the steps."""

    type: Literal["ZeroPadding1D", "layer_zero_padding_1d"]
    input_rank = 2
    rank = 1


class ZeroPadding2D(_Pad, _Channels):
    """``keras.layers.ZeroPadding2D``: zero rows and columns around the image."""

    type: Literal["ZeroPadding2D", "layer_zero_padding_2d"]
    input_rank = 3


class ZeroPadding3D(_Pad, _Channels):
    """``keras.layers.ZeroPadding3D``: zeros around a volume."""

    type: Literal["ZeroPadding3D", "layer_zero_padding_3d"]
    input_rank = 4
    rank = 3


class _Crop(Layer):
    """Keras's Cropping: removes entries before and after each spatial axis."""

    rank: ClassVar[int] = 2
    positional = ("cropping", "data_format")
    size_field = "cropping"
    cropping: PairSpec = 0  # Keras: Cropping2D ((0, 0), (0, 0)); 1D and 3D default to 1

    def output_shape(self, shape: Shape) -> Shape:
        crops = _pairs(self.cropping, self.rank, "cropping")
        out = []
        for n, (a, b) in zip(shape[:-1], crops):
            if n is not None and n - a - b < 1:
                raise ShapeError(f"cropping {a}+{b} leaves nothing of a dimension of size {n}", "cropping")
            out.append(None if n is None else n - a - b)
        return tuple(out) + shape[-1:]


class Cropping1D(_Crop):
    """``keras.layers.Cropping1D``: cuts steps off the start and end (no data_format in Keras)."""

    type: Literal["Cropping1D", "layer_cropping_1d"]
    positional = ("cropping",)
    input_rank = 2
    rank = 1
    cropping: PairSpec = 1


class Cropping2D(_Crop, _Channels):
    """``keras.layers.Cropping2D``: cuts rows and columns off the edges."""

    type: Literal["Cropping2D", "layer_cropping_2d"]
    input_rank = 3


class Cropping3D(_Crop, _Channels):
    """``keras.layers.Cropping3D``: cuts a volume's edges."""

    type: Literal["Cropping3D", "layer_cropping_3d"]
    input_rank = 4
    rank = 3
    cropping: PairSpec = 1


class _UpSampling(Layer):
    """Keras's UpSampling: repeats each entry ``size`` times along each spatial axis."""

    rank: ClassVar[int] = 2
    positional = ("size", "data_format")
    py_positional = 1
    size: SizeOrTuple = 2

    def output_shape(self, shape: Shape) -> Shape:
        from cnnspec.layers.shapes import as_tuple

        s = as_tuple(self.size, self.rank, "size")
        return tuple(None if n is None else n * k for n, k in zip(shape[:-1], s)) + shape[-1:]


class UpSampling1D(_UpSampling):
    """``keras.layers.UpSampling1D``: repeats each step ``size`` times."""

    type: Literal["UpSampling1D", "layer_upsampling_1d"]
    positional = ("size",)
    input_rank = 2
    rank = 1
    size: Size = 2


class UpSampling2D(_UpSampling, _Channels):
    """``keras.layers.UpSampling2D``: repeats rows and columns."""

    type: Literal["UpSampling2D", "layer_upsampling_2d"]
    positional = ("size", "data_format", "interpolation")
    input_rank = 3
    interpolation: Literal["nearest", "bilinear", "bicubic", "lanczos3", "lanczos5", "area"] = "nearest"


class UpSampling3D(_UpSampling, _Channels):
    """``keras.layers.UpSampling3D``: repeats along the three spatial axes."""

    type: Literal["UpSampling3D", "layer_upsampling_3d"]
    input_rank = 4
    rank = 3


TargetDim = Annotated[int, Field(ge=-1, le=MAX_DIM)]


class Reshape(Layer):
    """``keras.layers.Reshape``: one entry may be -1, inferred from the input's size."""

    type: Literal["Reshape", "layer_reshape"]
    positional = ("target_shape",)
    py_positional = 1
    size_field = "target_shape"
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
