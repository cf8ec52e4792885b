"""Merge layers: Add, Multiply, Average (element-wise) and Concatenate."""
from __future__ import annotations

from typing import Literal

from cnnspec.layers.shapes import Shape, ShapeError, broadcast, format_shape
from .base import Layer


class _Elementwise(Layer):
    arity = None

    def merge_shape(self, shapes: list[Shape]) -> Shape:
        return broadcast(shapes, self.keras_class)


class Add(_Elementwise):
    type: Literal["Add", "layer_add"]


class Multiply(_Elementwise):
    type: Literal["Multiply", "layer_multiply"]


class Average(_Elementwise):
    type: Literal["Average", "layer_average"]


class Concatenate(Layer):
    """``keras.layers.Concatenate``: sizes add up on ``axis``; every other axis must match."""

    type: Literal["Concatenate", "layer_concatenate"]
    arity = None
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
