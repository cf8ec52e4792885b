"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum (element-wise), Concatenate, Dot."""

from typing import Annotated, Literal, Union

from pydantic import BeforeValidator

from cnnspec.layers.shapes import Shape, ShapeError, broadcast, format_shape
from .base import Layer, tuple_or_int


class _Merge(Layer):
    """Several inputs, no weights."""

    arity = None


class _Elementwise(_Merge):
    def merge_shape(self, shapes: list[Shape]) -> Shape:
        return broadcast(shapes, self.keras_class)


class Add(_Elementwise):
    """``keras.layers.Add``: element-wise sum (shapes broadcast)."""

    type: Literal["Add", "layer_add"]


class Subtract(_Elementwise):
    """``keras.layers.Subtract``: first input minus the second (exactly two inputs)."""

    type: Literal["Subtract", "layer_subtract"]
    max_inputs = 2


class Multiply(_Elementwise):
    """``keras.layers.Multiply``: element-wise product."""

    type: Literal["Multiply", "layer_multiply"]


class Average(_Elementwise):
    """``keras.layers.Average``: element-wise mean."""

    type: Literal["Average", "layer_average"]


class Maximum(_Elementwise):
    """``keras.layers.Maximum``: element-wise maximum."""

    type: Literal["Maximum", "layer_maximum"]


class Minimum(_Elementwise):
    """``keras.layers.Minimum``: element-wise minimum."""

    type: Literal["Minimum", "layer_minimum"]


class Concatenate(_Merge):
    """``keras.layers.Concatenate``: sizes add up on ``axis``; every other axis must match."""

    type: Literal["Concatenate", "layer_concatenate"]
    positional = ("axis",)
    axis: int = -1

    def merge_shape(self, shapes: list[Shape]) -> Shape:
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise ShapeError("Concatenate inputs must have the same rank: "
                             + ", ".join(format_shape(s) for s in shapes), "inputs")
        axis = self.axis
        if axis == 0 or not -rank <= (axis - 1 if axis > 0 else axis) < rank:
            raise ShapeError(f"axis {axis} is out of range for inputs of rank {rank + 1}", "axis")
        ax = axis - 1 if axis > 0 else rank + axis
        out: list = []
        for i in range(rank):
            dims = [s[i] for s in shapes]
            if i == ax:
                out.append(None if any(d is None for d in dims) else sum(dims))
                continue
            known = {d for d in dims if d is not None}
            if len(known) > 1:
                raise ShapeError("A `Concatenate` layer requires inputs with matching shapes except for the "
                                 "concatenation axis. Received: " + ", ".join(format_shape(s) for s in shapes),
                                 "inputs")
            out.append(dims[0])  # Keras's compute_output_shape: the other axes are the first input's
        return tuple(out)


class Dot(_Merge):
    """``keras.layers.Dot``: dot product of two inputs along ``axes`` (Keras axes, batch is 0)."""

    type: Literal["Dot", "layer_dot"]
    positional = ("axes", "normalize")
    py_positional = 1
    max_inputs = 2
    axes: Annotated[Union[int, tuple[int, int]], BeforeValidator(tuple_or_int)]
    normalize: bool = False

    def merge_shape(self, shapes: list[Shape]) -> Shape:
        a, b = shapes
        axes = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        idx = []
        for s, ax in zip((a, b), axes):
            rank = len(s) + 1
            k = ax % rank if ax < 0 else ax
            if k == 0 or k >= rank:
                raise ShapeError(f"axes {self.axes} is out of range for inputs {format_shape(a)} and "
                                 f"{format_shape(b)}", "axes")
            idx.append(k - 1)
        if a[idx[0]] is not None and b[idx[1]] is not None and a[idx[0]] != b[idx[1]]:
            raise ShapeError(f"Incompatible input shapes: axis values {a[idx[0]]} (at axis {axes[0]}) != "
                             f"{b[idx[1]]} (at axis {axes[1]}). Full input shapes: {format_shape(a)}, "
                             f"{format_shape(b)}", "inputs")
        out = a[:idx[0]] + a[idx[0] + 1:] + b[:idx[1]] + b[idx[1] + 1:]
        return out if out else (1,)
