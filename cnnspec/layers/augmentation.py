"""Random augmentation layers (active in training only, stripped from exports): RandomFlip,
RandomTranslation, RandomRotation, RandomZoom. Shape unchanged, no parameters."""
from __future__ import annotations

from typing import Literal, Union

from .base import Layer

Factor = Union[float, tuple[float, float]]
FillMode = Literal["reflect", "wrap", "constant", "nearest"]
Interp = Literal["nearest", "bilinear"]


class _Augment(Layer):
    input_rank = 3
    seed: int | None = None


class RandomFlip(_Augment):
    type: Literal["RandomFlip", "layer_random_flip"]
    mode: Literal["horizontal", "vertical", "horizontal_and_vertical"] = "horizontal_and_vertical"


class _Transform(_Augment):
    """The geometric transforms' shared options: how new pixels are filled and interpolated."""

    fill_mode: FillMode = "reflect"
    interpolation: Interp = "bilinear"
    fill_value: float = 0.0


class RandomTranslation(_Transform):
    type: Literal["RandomTranslation", "layer_random_translation"]
    height_factor: Factor
    width_factor: Factor


class RandomRotation(_Transform):
    type: Literal["RandomRotation", "layer_random_rotation"]
    factor: Factor


class RandomZoom(_Transform):
    type: Literal["RandomZoom", "layer_random_zoom"]
    height_factor: Factor
    width_factor: Factor | None = None
