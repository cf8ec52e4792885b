"""Wrapper layers: TimeDistributed (any layer on every time step) and Bidirectional (a recurrent
layer run forwards and backwards). The wrapped layer is written as a row: ``layer: {type: LSTM, units: 32}``."""

from typing import Any, Literal

from pydantic import field_validator

from cnnspec.layers.shapes import Shape, ShapeError
from .base import Layer, Weight


def nested_layer(value: Any) -> Layer:
    """A row mapping (``{type: Dense, units: 3}``) validated as its layer class."""
    from cnnspec.layers import lookup  # the registry imports this module

    if isinstance(value, Layer):
        return value
    if not isinstance(value, dict) or "type" not in value:
        raise ValueError("`layer` is a row like {type: LSTM, units: 32}")
    cls = lookup(value["type"]) if isinstance(value["type"], str) else None
    if cls is None:
        raise ValueError(f"unsupported layer type {value['type']!r} in `layer`")
    extra = set(value) & {"inputs", "expect"}
    if extra:
        raise ValueError(f"a wrapped layer takes no {', '.join(sorted(extra))}")
    return cls.model_validate(dict(value))


class _Wrapper(Layer):
    """A layer holding another layer."""

    positional = ("layer",)
    py_positional = 1
    layer: Any

    @field_validator("layer", mode="before")
    @classmethod
    def _layer(cls, v: Any) -> Layer:
        inner = nested_layer(v)
        if inner.arity != 1:
            raise ValueError(f"{cls.keras_class} wraps a single-input layer, not {inner.keras_class}")
        return inner

    def options(self) -> dict[str, Any]:
        opts = super().options()
        opts["layer"] = self.layer  # the Layer itself: code generation writes it as a call
        return opts

    def keras_kwargs(self) -> dict[str, Any]:
        kw = super().keras_kwargs()
        kw["layer"] = self.layer.build_keras(self.layer.name)
        return kw


class TimeDistributed(_Wrapper):
    """``keras.layers.TimeDistributed``: the wrapped layer on each step of (steps, ...); its weights once."""

    type: Literal["TimeDistributed", "layer_time_distributed", "time_distributed"]

    def _step(self, shape: Shape) -> Shape:
        if len(shape) < 2:
            raise ShapeError("TimeDistributed needs an input of rank 3 or more (batch, steps, ...)", "inputs")
        return tuple(shape[1:])

    def output_shape(self, shape: Shape) -> Shape:
        out, _ = self.layer.infer([self._step(shape)])
        return (shape[0],) + tuple(out)

    def weights(self, shape: Shape) -> list[Weight]:
        _, cnt = self.layer.infer([self._step(shape)])
        return list(cnt.weights)


class Bidirectional(_Wrapper):
    """``keras.layers.Bidirectional``: forward and backward copies of a recurrent layer (twice the
    weights); outputs combined by merge_mode (concat doubles the last axis)."""

    type: Literal["Bidirectional", "bidirectional", "layer_bidirectional"]
    positional = ("layer", "merge_mode")
    merge_mode: Literal["concat", "sum", "mul", "ave"] = "concat"
    backward_layer: Any = None

    @field_validator("layer", "backward_layer", mode="before")
    @classmethod
    def _recurrent(cls, v: Any) -> Layer | None:
        if v is None:
            return None
        inner = nested_layer(v)
        if not hasattr(inner, "return_sequences"):
            raise ValueError(f"Bidirectional wraps a recurrent layer (LSTM, GRU, SimpleRNN, ConvLSTM), "
                             f"not {inner.keras_class}")
        return inner

    def output_shape(self, shape: Shape) -> Shape:
        out, _ = self.layer.infer([shape])
        if self.backward_layer is not None:
            back, _ = self.backward_layer.infer([shape])
            if back != out and self.merge_mode != "concat":
                raise ShapeError("forward and backward layers give different shapes", "backward_layer")
            if self.merge_mode == "concat":
                return tuple(out[:-1]) + (out[-1] + back[-1],)
        return tuple(out[:-1]) + (out[-1] * 2,) if self.merge_mode == "concat" else tuple(out)

    def weights(self, shape: Shape) -> list[Weight]:
        _, fwd = self.layer.infer([shape])
        _, back = (self.backward_layer or self.layer).infer([shape])
        return list(fwd.weights) + list(back.weights)

    def options(self) -> dict[str, Any]:
        opts = super().options()
        if self.backward_layer is not None:
            opts["backward_layer"] = self.backward_layer
        return opts

    def keras_kwargs(self) -> dict[str, Any]:
        kw = super().keras_kwargs()
        if self.backward_layer is not None:
            kw["backward_layer"] = self.backward_layer.build_keras(self.backward_layer.name)
        return kw
