"""Layers found only inside keras.applications bases (not spec row types): the operations of a
functional graph that are not layers (``x + 3.0`` in MobileNetV3), InceptionResNetV2's
CustomScaleLayer and ConvNeXt's LayerScale. Used to count a base without TensorFlow."""

from typing import Literal

from cnnspec.layers.shapes import Shape, broadcast
from .base import Layer, Size, Weight


class Operation(Layer):
    """An element-wise operation node (add, multiply, ...) of a functional graph: shapes broadcast,
    no weights."""

    type: Literal["Operation", "operation"]
    arity = None
    min_inputs = 1
    op: str = "op"

    def merge_shape(self, shapes: list[Shape]) -> Shape:
        return broadcast(shapes, self.op)


class CustomScaleLayer(Layer):
    """InceptionResNetV2's residual scaling: x + scale * residual; the first input's shape, no weights."""

    type: Literal["CustomScaleLayer", "custom_scale_layer"]
    arity = None
    max_inputs = 2
    scale: float = 1.0

    def merge_shape(self, shapes: list[Shape]) -> Shape:
        return broadcast(shapes, "CustomScaleLayer")


class LayerScale(Layer):
    """ConvNeXt's LayerScale: a learned per-channel scale gamma (projection_dim,)."""

    type: Literal["LayerScale", "layer_scale"]
    init_values: float = 1e-6
    projection_dim: Size

    def weights(self, shape: Shape) -> list[Weight]:
        return [Weight("gamma", (self.projection_dim,))]


INTERNAL_CLASSES = (Operation, CustomScaleLayer, LayerScale)
