"""Image preprocessing layers: Resizing, CenterCrop (shape rules only, no weights)."""

from typing import Literal

from cnnspec.layers.shapes import Shape
from .base import DataFormat, Layer, Size


class _Sized(Layer):
    """A layer whose output has a fixed (height, width)."""

    positional = ("height", "width")
    py_positional = 2
    input_rank = 3
    height: Size
    width: Size
    data_format: DataFormat | None = None

    def output_shape(self, shape: Shape) -> Shape:
        return (self.height, self.width) + shape[2:]


class Resizing(_Sized):
    """``keras.layers.Resizing``: resizes images to (height, width)."""

    type: Literal["Resizing", "layer_resizing"]
    positional = ("height", "width", "interpolation")
    interpolation: Literal["nearest", "bilinear", "bicubic", "lanczos3", "lanczos5", "area"] = "bilinear"
    crop_to_aspect_ratio: bool = False
    pad_to_aspect_ratio: bool = False
    fill_mode: Literal["constant"] = "constant"
    fill_value: float = 0.0
    antialias: bool = False


class CenterCrop(_Sized):
    """``keras.layers.CenterCrop``: the central (height, width) crop (resized up when smaller)."""

    type: Literal["CenterCrop", "layer_center_crop"]
