"""Activation layers: Activation, ReLU, LeakyReLU, Softmax, ELU, PReLU."""

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from cnnspec.layers.shapes import Shape, ShapeError
from .base import Activation as ActivationName
from .base import Constraint, Initializer, Layer, Regularizer, Size, Weight, tuple_or_int


class Activation(Layer):
    """``keras.layers.Activation``: applies an activation function; no weights."""

    type: Literal["Activation", "layer_activation"]
    positional = ("activation",)
    py_positional = 1
    activation: ActivationName = Field(description="activation function by Keras name (relu, softmax, ...)")


class ReLU(Layer):
    """``keras.layers.ReLU``: max(x, 0) with optional cap, slope and threshold."""

    type: Literal["ReLU", "layer_activation_relu"]
    positional = ("max_value", "negative_slope", "threshold")
    max_value: Annotated[float, Field(ge=0)] | None = None
    negative_slope: Annotated[float, Field(ge=0)] = 0.0
    threshold: float = 0.0


class LeakyReLU(Layer):
    """``keras.layers.LeakyReLU``: x for x > 0, negative_slope * x otherwise."""

    type: Literal["LeakyReLU", "layer_activation_leaky_relu"]
    positional = ("negative_slope",)
    negative_slope: Annotated[float, Field(ge=0)] = 0.3
    alpha: Annotated[float, Field(ge=0)] = Field(
        default=0.3, description="Keras 2's name of negative_slope (deprecated; Keras still takes it)")


class Softmax(Layer):
    """``keras.layers.Softmax``: softmax along ``axis``."""

    type: Literal["Softmax", "layer_activation_softmax"]
    positional = ("axis",)
    axis: int = -1


class ELU(Layer):
    """``keras.layers.ELU``: exponential linear unit; no weights."""

    type: Literal["ELU", "layer_activation_elu"]
    positional = ("alpha",)
    alpha: float = 1.0


class PReLU(Layer):
    """``keras.layers.PReLU``: a learned slope alpha per input element, shared along ``shared_axes``."""

    type: Literal["PReLU", "layer_activation_parametric_relu"]
    alpha_initializer: Initializer = "Zeros"
    alpha_regularizer: Regularizer = None
    alpha_constraint: Constraint = None
    shared_axes: Annotated[tuple[Size, ...], BeforeValidator(lambda v: (v,) if isinstance(v, int) else
                                                             tuple_or_int(v))] | None = None

    def weights(self, shape: Shape) -> list[Weight]:
        dims = list(shape)
        for a in self.shared_axes or ():
            if a > len(dims):
                raise ShapeError(f"shared_axes {a} is out of range for an input of rank {len(dims) + 1}",
                                 "shared_axes")
            dims[a - 1] = 1
        if any(d is None for d in dims):
            raise ShapeError("PReLU needs every unshared input dimension known (share the None axes with "
                             "`shared_axes`)", "shared_axes")
        return [Weight("alpha", tuple(dims))]
