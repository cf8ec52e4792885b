"""Random augmentation layers (active in training only, stripped from exports): RandomFlip,
RandomTranslation, RandomRotation, RandomZoom, RandomContrast, RandomBrightness, RandomCrop.
Shape unchanged (RandomCrop: the crop size), no parameters."""

from typing import Literal, Union

from cnnspec.layers.shapes import Shape
from .base import DataFormat, Layer, Size

Factor = Union[float, tuple[float, float]]
FillMode = Literal["reflect", "wrap", "constant", "nearest"]
Interp = Literal["nearest", "bilinear"]


class _Augment(Layer):
    """Random image augmentation: identity at inference."""

    training_only = True
    input_rank = 3
    seed: int | None = None
    data_format: DataFormat | None = None


class RandomFlip(_Augment):
    """``keras.layers.RandomFlip``: random horizontal and/or vertical flips."""

    type: Literal["RandomFlip", "layer_random_flip"]
    positional = ("mode", "seed")
    mode: Literal["horizontal", "vertical", "horizontal_and_vertical"] = "horizontal_and_vertical"


class _Transform(_Augment):
    """The geometric transforms' shared options: how new pixels are filled and interpolated."""

    fill_mode: FillMode = "reflect"
    interpolation: Interp = "bilinear"
    fill_value: float = 0.0


class RandomTranslation(_Transform):
    """``keras.layers.RandomTranslation``: random shifts."""

    type: Literal["RandomTranslation", "layer_random_translation"]
    positional = ("height_factor", "width_factor", "fill_mode", "interpolation", "seed")
    height_factor: Factor
    width_factor: Factor


class RandomRotation(_Transform):
    """``keras.layers.RandomRotation``: random rotations (factor in fractions of 2*pi)."""

    type: Literal["RandomRotation", "layer_random_rotation"]
    positional = ("factor", "fill_mode", "interpolation", "seed")
    factor: Factor


class RandomZoom(_Transform):
    """``keras.layers.RandomZoom``: random zoom in or out."""

    type: Literal["RandomZoom", "layer_random_zoom"]
    positional = ("height_factor", "width_factor", "fill_mode", "interpolation", "seed")
    height_factor: Factor
    width_factor: Factor | None = None


class RandomContrast(_Augment):
    """``keras.layers.RandomContrast``: random contrast change."""

    type: Literal["RandomContrast", "layer_random_contrast"]
    positional = ("factor", "value_range", "seed")
    input_rank = None
    factor: Factor
    value_range: tuple[float, float] = (0, 255)


class RandomBrightness(_Augment):
    """``keras.layers.RandomBrightness``: random brightness change."""

    type: Literal["RandomBrightness", "layer_random_brightness"]
    positional = ("factor", "value_range", "seed")
    input_rank = None
    factor: Factor
    value_range: tuple[float, float] = (0, 255)


class RandomCrop(_Augment):
    """``keras.layers.RandomCrop``: a random (height, width) crop while training, the centre crop at
    inference; kept in exports (it changes the shape)."""

    type: Literal["RandomCrop", "layer_random_crop"]
    positional = ("height", "width", "seed")
    py_positional = 2
    training_only = False
    height: Size
    width: Size

    def output_shape(self, shape: Shape) -> Shape:
        return (self.height, self.width) + shape[2:]
