"""Normalization layers: BatchNormalization, LayerNormalization."""
from __future__ import annotations

from typing import Literal

from cnnspec.layers.shapes import Shape, ShapeError
from .base import Alternative, Count, KerasObject, Layer


def _axis_size(shape: Shape, axis: int, layer: str) -> int:
    try:
        n = shape[axis - 1 if axis > 0 else axis]  # axis counts the batch dimension in Keras
    except IndexError:
        raise ShapeError(f"{layer} axis {axis} is out of range for input (None, *{list(shape)})", "axis") from None
    if n is None:
        raise ShapeError(f"{layer} needs a known size on axis {axis}", "axis")
    return n


class BatchNormalization(Layer):
    """``keras.layers.BatchNormalization``: gamma and beta are trainable (when scale / center), the
    moving mean and moving variance are non-trainable."""

    type: Literal["BatchNormalization", "layer_batch_normalization"]
    axis: int = -1
    momentum: float = 0.99
    epsilon: float = 0.001
    center: bool = True
    scale: bool = True
    beta_initializer: KerasObject = None
    gamma_initializer: KerasObject = None
    moving_mean_initializer: KerasObject = None
    moving_variance_initializer: KerasObject = None
    beta_regularizer: KerasObject = None
    gamma_regularizer: KerasObject = None
    beta_constraint: KerasObject = None
    gamma_constraint: KerasObject = None
    synchronized: bool = False

    def count(self, shape: Shape) -> Count:
        c = _axis_size(shape, self.axis, "BatchNormalization")
        learned = int(self.center) + int(self.scale)
        names = [n for n, on in (("gamma", self.scale), ("beta", self.center)) if on]
        text = (f"{learned}*{c} trainable ({', '.join(names) or 'none'}) + 2*{c} non-trainable "
                f"(moving mean, moving variance) = {(learned + 2) * c}")
        return Count(learned * c, 2 * c, text)

    def param_alternatives(self, shape: Shape) -> list[Alternative]:
        c = _axis_size(shape, self.axis, "BatchNormalization")
        learned = int(self.center) + int(self.scale)
        return [Alternative(learned * c, "only the trainable half counted: batch norm's moving mean and "
                                         "variance (non-trainable) left out")]


class LayerNormalization(Layer):
    """``keras.layers.LayerNormalization``: gamma and beta over the normalized axes, all trainable."""

    type: Literal["LayerNormalization", "layer_layer_normalization"]
    axis: int | list[int] = -1
    epsilon: float = 0.001
    center: bool = True
    scale: bool = True
    rms_scaling: bool = False
    beta_initializer: KerasObject = None
    gamma_initializer: KerasObject = None
    beta_regularizer: KerasObject = None
    gamma_regularizer: KerasObject = None
    beta_constraint: KerasObject = None
    gamma_constraint: KerasObject = None

    def count(self, shape: Shape) -> Count:
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        size = 1
        for a in axes:
            size *= _axis_size(shape, a, "LayerNormalization")
        # Keras: gamma when scale or rms_scaling, beta when center and not rms_scaling
        names = [n for n, on in (("gamma", self.scale or self.rms_scaling),
                                 ("beta", self.center and not self.rms_scaling)) if on]
        learned = len(names)
        return Count(learned * size, 0, f"{learned}*{size} ({', '.join(names) or 'none'}) = {learned * size}")
