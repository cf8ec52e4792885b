"""Normalization layers: BatchNormalization, LayerNormalization, GroupNormalization,
UnitNormalization, and the preprocessing Normalization (mean/variance as non-trainable weights)."""

from typing import Annotated, Literal, Union

from pydantic import BeforeValidator

from cnnspec.layers.shapes import Shape, ShapeError
from .base import Alternative, Constraint, Initializer, Layer, Regularizer, Size, Weight, tuple_or_int

Axes = Annotated[Union[int, tuple[int, ...]], BeforeValidator(tuple_or_int)]


def _axis_size(shape: Shape, axis: int, layer: str) -> int:
    try:
        n = shape[axis - 1 if axis > 0 else axis]  # axis counts the batch dimension in Keras
        if axis == 0:
            raise IndexError
    except IndexError as exc:
        raise ShapeError(f"{layer} axis {axis} is out of range for input (None, *{list(shape)})", "axis") from exc
    if n is None:
        raise ShapeError(f"{layer} needs a known size on axis {axis}", "axis")
    return n


def _axes(axis) -> tuple[int, ...]:
    return (axis,) if isinstance(axis, int) else tuple(axis)


class _GammaBeta(Layer):
    """The learned scale gamma and offset beta options."""

    center: bool = True
    scale: bool = True
    beta_initializer: Initializer = "zeros"
    gamma_initializer: Initializer = "ones"
    beta_regularizer: Regularizer = None
    gamma_regularizer: Regularizer = None
    beta_constraint: Constraint = None
    gamma_constraint: Constraint = None


class BatchNormalization(_GammaBeta):
    """``keras.layers.BatchNormalization``: gamma and beta are trainable (when scale / center), the
    moving mean and moving variance are non-trainable."""

    type: Literal["BatchNormalization", "layer_batch_normalization"]
    positional = ("axis", "momentum", "epsilon", "center", "scale")
    axis: int = -1
    momentum: float = 0.99
    epsilon: float = 0.001
    moving_mean_initializer: Initializer = "zeros"
    moving_variance_initializer: Initializer = "ones"
    synchronized: bool = False

    def weights(self, shape: Shape) -> list[Weight]:
        c = (_axis_size(shape, self.axis, "BatchNormalization"),)
        ws = [Weight(n, c) for n, on in (("gamma", self.scale), ("beta", self.center)) if on]
        return ws + [Weight("moving_mean", c, False), Weight("moving_variance", c, False)]

    def param_alternatives(self, shape: Shape) -> list[Alternative]:
        c = _axis_size(shape, self.axis, "BatchNormalization")
        learned = int(self.center) + int(self.scale)
        return [Alternative(learned * c, "only the trainable half counted: batch norm's moving mean and "
                                         "variance (non-trainable) left out")]


class LayerNormalization(_GammaBeta):
    """``keras.layers.LayerNormalization``: gamma and beta over the normalized axes, all trainable."""

    type: Literal["LayerNormalization", "layer_layer_normalization"]
    positional = ("axis", "epsilon", "center", "scale")
    axis: Axes = -1
    epsilon: float = 0.001
    rms_scaling: bool = False

    def weights(self, shape: Shape) -> list[Weight]:
        dims = tuple(_axis_size(shape, a, "LayerNormalization") for a in _axes(self.axis))
        dims = dims if len(dims) > 1 else dims  # Keras: shape of the normalized axes
        # Keras: gamma when scale or rms_scaling, beta when center and not rms_scaling
        return [Weight(n, dims) for n, on in (("gamma", self.scale or self.rms_scaling),
                                              ("beta", self.center and not self.rms_scaling)) if on]


class GroupNormalization(_GammaBeta):
    """``keras.layers.GroupNormalization``: gamma and beta per channel; channels divide into groups."""

    type: Literal["GroupNormalization", "layer_group_normalization"]
    positional = ("groups", "axis", "epsilon", "center", "scale")
    groups: Size = 32
    axis: int = -1
    epsilon: float = 0.001

    def weights(self, shape: Shape) -> list[Weight]:
        c = _axis_size(shape, self.axis, "GroupNormalization")
        if c < self.groups or c % self.groups:
            raise ShapeError(f"Number of groups ({self.groups}) must divide and not exceed the number of "
                             f"channels ({c})", "groups")
        return [Weight(n, (c,)) for n, on in (("gamma", self.scale), ("beta", self.center)) if on]


class UnitNormalization(Layer):
    """``keras.layers.UnitNormalization``: scales each sample to unit L2 norm along ``axis``; no weights."""

    type: Literal["UnitNormalization", "layer_unit_normalization"]
    positional = ("axis",)
    axis: Axes = -1


class Normalization(Layer):
    """``keras.layers.Normalization``: (x - mean) / sqrt(variance); mean, variance (and a count when
    adapted) are non-trainable weights; adapted from the training data when not given."""

    type: Literal["Normalization", "layer_normalization"]
    positional = ("axis", "mean", "variance", "invert")
    axis: Axes | None = -1
    mean: float | list[float] | None = None
    variance: float | list[float] | None = None
    invert: bool = False

    def weights(self, shape: Shape) -> list[Weight]:
        if (self.mean is None) != (self.variance is None):
            raise ShapeError("Normalization needs both mean and variance, or neither (adapt)", "mean")
        if self.mean is not None:
            return []  # given as constants: Keras creates no weights
        keep = set() if self.axis is None else {(a - 1 if a > 0 else len(shape) + a) for a in _axes(self.axis)}
        dims = tuple(shape[i] for i in sorted(keep))
        if any(d is None for d in dims):
            raise ShapeError("Normalization needs a known size on its axis", "axis")
        return [Weight("mean", dims, False), Weight("variance", dims, False), Weight("count", (), False)]
