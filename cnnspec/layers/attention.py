"""Attention layers: MultiHeadAttention, Attention, AdditiveAttention. Their inputs are named rows:
``inputs: [query, value]`` or ``[query, value, key]`` (key defaults to value)."""

from typing import Annotated, Literal, Union

from pydantic import BeforeValidator, Field

from cnnspec.layers.shapes import Shape, ShapeError, format_shape
from .base import Constraint, Initializer, Layer, Rate, Regularizer, Size, Weight, tuple_or_int


def _last(shape: Shape, what: str) -> int:
    if not shape or shape[-1] is None:
        raise ShapeError(f"the {what} needs a known last dimension, got {format_shape(shape)}", "inputs")
    return shape[-1]


class _Attention(Layer):
    """Two or three inputs: query, value, optional key."""

    arity = None
    min_inputs = 2
    max_inputs = 3
    dropout: Rate = 0.0


class MultiHeadAttention(_Attention):
    """``keras.layers.MultiHeadAttention``: query/key/value projections (dim, heads, key_dim) with
    (heads, key_dim) biases, and an output projection (heads, value_dim, out) + out bias."""

    type: Literal["MultiHeadAttention", "layer_multi_head_attention"]
    positional = ("num_heads", "key_dim", "value_dim", "dropout", "use_bias", "output_shape", "attention_axes")
    py_positional = 2
    call_with_args = True
    num_heads: Size
    key_dim: Size
    value_dim: Size | None = None
    use_bias: bool = True
    # a field named output_shape would hide Layer.output_shape: stored as out_shape, written output_shape
    out_shape: Annotated[Union[Size, tuple[Size, ...]], BeforeValidator(tuple_or_int)] | None = Field(
        default=None, alias="output_shape", description="last dimension(s) of the output (default: the query's "
                                                        "last dimension)")
    attention_axes: Annotated[Union[int, tuple[int, ...]], BeforeValidator(tuple_or_int)] | None = None
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"
    kernel_regularizer: Regularizer = None
    bias_regularizer: Regularizer = None
    activity_regularizer: Regularizer = None
    kernel_constraint: Constraint = None
    bias_constraint: Constraint = None
    seed: int | None = None
    use_gate: bool = False
    sliding_window: Size | None = None
    flash_attention: bool | None = None

    def _out(self, query: Shape) -> tuple[int, ...]:
        if self.out_shape is None:
            return (_last(query, "query"),)
        return (self.out_shape,) if isinstance(self.out_shape, int) else tuple(self.out_shape)

    def merge_shape(self, shapes: list[Shape]) -> Shape:
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) > 2 else value
        if len(value) != len(key) or value[:-1] != key[:-1]:
            raise ShapeError(f"value {format_shape(value)} and key {format_shape(key)} must have the same "
                             "shape but for the last dimension", "inputs")
        if len(query) != len(value):
            raise ShapeError(f"query {format_shape(query)} and value {format_shape(value)} must have the same "
                             "rank", "inputs")
        return tuple(query[:-1]) + self._out(query)

    def merge_weights(self, shapes: list[Shape]) -> list[Weight]:
        q, v = _last(shapes[0], "query"), _last(shapes[1], "value")
        k = _last(shapes[2], "key") if len(shapes) > 2 else v
        h, kd = self.num_heads, self.key_dim
        vd = self.value_dim or kd
        out = self._out(shapes[0])
        ws: list[Weight] = []
        parts = [("query", q, kd), ("key", k, kd)] + ([("gate", q, vd)] if self.use_gate else []) + [("value", v, vd)]
        for part, dim, size in parts:
            ws.append(Weight(f"{part}/kernel", (dim, h, size)))
            if self.use_bias:
                ws.append(Weight(f"{part}/bias", (h, size)))
        ws.append(Weight("attention_output/kernel", (h, vd) + out))
        if self.use_bias:
            ws.append(Weight("attention_output/bias", out))
        return ws


class Attention(_Attention):
    """``keras.layers.Attention`` (Luong-style dot product): output (query steps, value dim);
    a scalar scale with use_scale, a scalar concat_score_weight with score_mode 'concat'."""

    type: Literal["Attention", "layer_attention"]
    positional = ("use_scale", "score_mode", "dropout", "seed")
    use_scale: bool = False
    score_mode: Literal["dot", "concat"] = "dot"
    seed: int | None = None

    def merge_shape(self, shapes: list[Shape]) -> Shape:
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) > 2 else value
        if query[-1] is not None and key[-1] is not None and query[-1] != key[-1]:
            raise ShapeError(f"query {format_shape(query)} and key {format_shape(key)} must have the same "
                             "last dimension", "inputs")
        return tuple(query[:-1]) + tuple(value[-1:])

    def merge_weights(self, shapes: list[Shape]) -> list[Weight]:
        ws = [Weight("scale", ())] if self.use_scale else []
        return ws + ([Weight("concat_score_weight", ())] if self.score_mode == "concat" else [])


class AdditiveAttention(_Attention):
    """``keras.layers.AdditiveAttention`` (Bahdanau-style): a scale vector of the query's size."""

    type: Literal["AdditiveAttention", "layer_additive_attention"]
    positional = ("use_scale", "dropout")
    use_scale: bool = True

    def merge_shape(self, shapes: list[Shape]) -> Shape:
        return Attention.merge_shape(self, shapes)  # type: ignore[arg-type]

    def merge_weights(self, shapes: list[Shape]) -> list[Weight]:
        return [Weight("scale", (_last(shapes[0], "query"),))] if self.use_scale else []
