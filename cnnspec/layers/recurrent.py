"""Recurrent layers: SimpleRNN, LSTM, GRU (reset_after changes the bias), ConvLSTM1D/2D/3D.
Input (steps, features) or (steps, *spatial, channels); one output per row (return_state is
not supported: a row has one output)."""

from typing import ClassVar, Literal

from pydantic import Field

from cnnspec.layers.shapes import Shape, ShapeError, as_tuple, conv_output_length
from .base import (Activation, Constraint, DataFormat, Initializer, Layer, Padding, Rate, Regularizer, Size,
                   SizeOrTuple, Weight)


class _Recurrent(Layer):
    """Options every Keras recurrent layer shares."""

    #: kernels per gate block: SimpleRNN 1, GRU 3, LSTM 4
    gates: ClassVar[int] = 1
    activation: Activation = "tanh"
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    recurrent_initializer: Initializer = "orthogonal"
    bias_initializer: Initializer = "zeros"
    kernel_regularizer: Regularizer = None
    recurrent_regularizer: Regularizer = None
    bias_regularizer: Regularizer = None
    activity_regularizer: Regularizer = None
    kernel_constraint: Constraint = None
    recurrent_constraint: Constraint = None
    bias_constraint: Constraint = None
    dropout: Rate = 0.0
    recurrent_dropout: Rate = 0.0
    seed: int | None = None
    return_sequences: bool = False
    return_state: Literal[False] = False
    go_backwards: bool = False
    stateful: bool = False

    def _bias_shape(self, n: int) -> tuple[int, ...]:
        return (n,)


class _RNN(_Recurrent):
    """SimpleRNN, LSTM, GRU: kernel (features, g*units), recurrent_kernel (units, g*units), bias."""

    positional = ("units", "activation", "recurrent_activation", "use_bias")
    py_positional = 1
    input_rank = 2
    units: Size
    unroll: bool = False

    def output_shape(self, shape: Shape) -> Shape:
        return (shape[0], self.units) if self.return_sequences else (self.units,)

    def weights(self, shape: Shape) -> list[Weight]:
        if shape[-1] is None:
            raise ShapeError(f"{self.keras_class} needs a known number of features (the last input "
                             "dimension is None)", "inputs")
        g = self.gates * self.units
        ws = [Weight("kernel", (shape[-1], g)), Weight("recurrent_kernel", (self.units, g))]
        return ws + [Weight("bias", self._bias_shape(g))] if self.use_bias else ws


class SimpleRNN(_RNN):
    """``keras.layers.SimpleRNN``: kernel (features, units) + recurrent (units, units) + units bias."""

    type: Literal["SimpleRNN", "layer_simple_rnn"]
    positional = ("units", "activation", "use_bias")


class LSTM(_RNN):
    """``keras.layers.LSTM``: four gates: kernel (features, 4u) + recurrent (u, 4u) + 4u bias."""

    type: Literal["LSTM", "layer_lstm"]
    gates = 4
    recurrent_activation: Activation = "sigmoid"
    unit_forget_bias: bool = True
    use_cudnn: Literal["auto"] | bool = "auto"
    implementation: Literal[1, 2] = Field(default=2, description="Keras 2's kernel choice (ignored by Keras 3)")


class GRU(_RNN):
    """``keras.layers.GRU``: three gates; reset_after (Keras's default) gives a (2, 3u) bias."""

    type: Literal["GRU", "layer_gru"]
    gates = 3
    recurrent_activation: Activation = "sigmoid"
    reset_after: bool = True
    use_cudnn: Literal["auto"] | bool = "auto"
    implementation: Literal[1, 2] = Field(default=2, description="Keras 2's kernel choice (ignored by Keras 3)")

    def _bias_shape(self, n: int) -> tuple[int, ...]:
        return (2, n) if self.reset_after else (n,)


class _ConvLSTM(_Recurrent):
    """Keras's ``ConvLSTM``: kernel (*k, c_in, 4f) + recurrent (*k, f, 4f) + 4f bias."""

    rank: ClassVar[int] = 2
    gates = 4
    positional = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate")
    py_positional = 2
    size_field = "kernel_size"
    filters: Size
    kernel_size: SizeOrTuple
    strides: SizeOrTuple = 1
    padding: Padding = "valid"
    data_format: DataFormat | None = None
    dilation_rate: SizeOrTuple = 1
    recurrent_activation: Activation = "sigmoid"
    unit_forget_bias: bool = True

    def _first(self) -> bool:
        return False  # the time axis stays first; channels_first is handled here

    def _split(self, shape: Shape) -> tuple[tuple, int | None]:
        if self.data_format == "channels_first":
            return tuple(shape[2:]), shape[1]
        return tuple(shape[1:-1]), shape[-1]

    def output_shape(self, shape: Shape) -> Shape:
        spatial, _ = self._split(shape)
        k, s, d = (as_tuple(v, self.rank, f) for v, f in ((self.kernel_size, "kernel_size"),
                                                           (self.strides, "strides"),
                                                           (self.dilation_rate, "dilation_rate")))
        out = tuple(conv_output_length(n, kk, ss, self.padding, dd) for n, kk, ss, dd in zip(spatial, k, s, d))
        step = out + (self.filters,) if self.data_format != "channels_first" else (self.filters,) + out
        return (shape[0],) + step if self.return_sequences else step

    def weights(self, shape: Shape) -> list[Weight]:
        _, cin = self._split(shape)
        if cin is None:
            raise ShapeError(f"{self.keras_class} needs a known number of input channels", "inputs")
        k = as_tuple(self.kernel_size, self.rank, "kernel_size")
        f4 = 4 * self.filters
        ws = [Weight("kernel", k + (cin, f4)), Weight("recurrent_kernel", k + (self.filters, f4))]
        return ws + [Weight("bias", (f4,))] if self.use_bias else ws


class ConvLSTM1D(_ConvLSTM):
    """``keras.layers.ConvLSTM1D``: input (time, steps, channels)."""

    type: Literal["ConvLSTM1D", "layer_conv_lstm_1d"]
    input_rank = 3
    rank = 1


class ConvLSTM2D(_ConvLSTM):
    """``keras.layers.ConvLSTM2D``: input (time, rows, cols, channels)."""

    type: Literal["ConvLSTM2D", "layer_conv_lstm_2d"]
    input_rank = 4
    rank = 2


class ConvLSTM3D(_ConvLSTM):
    """``keras.layers.ConvLSTM3D``: input (time, depth, rows, cols, channels)."""

    type: Literal["ConvLSTM3D", "layer_conv_lstm_3d"]
    input_rank = 5
    rank = 3
