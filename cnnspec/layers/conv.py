"""Convolution layers: Conv1D/2D/3D, Conv1D/2D/3DTranspose, SeparableConv1D/2D, DepthwiseConv1D/2D."""

from typing import ClassVar, Literal

from pydantic import ValidationInfo, field_validator, model_validator

from cnnspec.layers.shapes import Shape, ShapeError, as_tuple, conv_output_length, deconv_output_length
from .base import (Alternative, Constraint, DataFormat, Initializer, Padding, PaddingCausal, Regularizer, Size,
                   SizeOrTuple, Weight, WithBias, WithKernel, bias)


def _join_axes(parts: list[str]) -> str:
    """One formula when every spatial axis has the same one."""
    return parts[0] + (" on each axis" if len(parts) > 1 else "") if len(set(parts)) == 1 else "; ".join(parts)


class _Conv(WithBias):
    """Shared by the convolutions: the options and rules of Keras's ``BaseConv``."""

    rank: ClassVar[int] = 2  #: number of spatial axes
    #: Keras's BaseConv and BaseConvTranspose refuse strides > 1 with dilation_rate > 1; its
    #: BaseDepthwiseConv and BaseSeparableConv do not (they compute the usual formula).
    refuses_strides_with_dilation: ClassVar[bool] = True

    size_field = "kernel_size"
    kernel_size: SizeOrTuple
    strides: SizeOrTuple = 1
    padding: Padding = "valid"
    dilation_rate: SizeOrTuple = 1
    data_format: DataFormat | None = None

    # per-axis tuples
    def _k(self) -> tuple[int, ...]:
        return as_tuple(self.kernel_size, self.rank, "kernel_size")

    def _s(self) -> tuple[int, ...]:
        return as_tuple(self.strides, self.rank, "strides")

    def _d(self) -> tuple[int, ...]:
        return as_tuple(self.dilation_rate, self.rank, "dilation_rate")

    @model_validator(mode="after")
    def _keras_constraints(self):
        self._k(), self._s(), self._d()
        return self

    @field_validator("dilation_rate")
    @classmethod
    def _strides_with_dilation(cls, v, info: ValidationInfo):
        # a field validator (strides is validated before dilation_rate), so the error names the field
        strides = info.data.get("strides")
        if strides is None or not cls.refuses_strides_with_dilation:
            return v
        s = as_tuple(strides, cls.rank, "strides")
        d = as_tuple(v, cls.rank, "dilation_rate")
        if max(s) > 1 and max(d) > 1:
            raise ValueError("`strides > 1` not supported in conjunction with `dilation_rate > 1` "
                             f"(strides={strides}, dilation_rate={v})")
        return v

    def _spatial(self, shape: Shape, padding: str | None = None, strides=None) -> tuple:
        padding = padding or self.padding
        strides = strides or self._s()
        out = tuple(conv_output_length(n, k, s, padding, d)
                    for n, k, s, d in zip(shape[:-1], self._k(), strides, self._d()))
        for o, n in zip(out, shape[:-1]):
            if o is not None and o <= 0:
                raise ShapeError(
                    f"Computed output size would be zero or negative: input {n} with kernel_size "
                    f"{self.kernel_size}, dilation_rate {self.dilation_rate}, strides {self.strides}, "
                    f"padding '{padding}'", "kernel_size")
        return out

    def _channels(self, shape: Shape) -> int:
        c = shape[-1]
        if c is None:
            raise ShapeError(f"{self.keras_class} needs a known number of input channels "
                             "(the last dimension of its input is None)", "inputs")
        return c

    def explain_shape(self, shape: Shape) -> str:
        parts = []
        for n, k, st, d in zip(shape[:-1], self._k(), self._s(), self._d()):
            if n is None:
                parts.append("None")
            elif self.padding == "valid":
                kk = f"{d}*({k} - 1)" if d > 1 else f"({k} - 1)"
                parts.append(f"floor(({n} - {kk} - 1)/{st}) + 1 = {conv_output_length(n, k, st, 'valid', d)}")
            else:
                parts.append(f"floor(({n} - 1)/{st}) + 1 = {conv_output_length(n, k, st, 'same', d)}")
        return f"padding '{self.padding}': " + _join_axes(parts)

    def shape_alternatives(self, shape: Shape) -> list[Alternative]:
        alts = []
        other = "same" if self.padding == "valid" else "valid"
        try:
            alts.append(Alternative(self._with_spatial(shape, padding=other),
                                    f"padding '{other}' instead of '{self.padding}'"))
        except ShapeError:
            pass
        if max(self._s()) > 1:
            alts.append(Alternative(self._with_spatial(shape, strides=(1,) * self.rank),
                                    f"strides 1 instead of {self.strides}"))
        else:
            alts.append(Alternative(self._with_spatial(shape, strides=(2,) * self.rank),
                                    "strides 2 instead of 1"))
        return alts

    def _with_spatial(self, shape: Shape, padding=None, strides=None) -> Shape:
        return self._spatial(shape, padding, strides) + self.output_shape(shape)[-1:]


class _PlainConv(_Conv, WithKernel):
    """Keras's ``BaseConv``: kernel (*kernel_size, c_in/groups, filters) + filters bias."""

    positional = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups",
                  "activation", "use_bias")
    py_positional = 2
    filters: Size
    groups: Size = 1

    def output_shape(self, shape: Shape) -> Shape:
        return self._spatial(shape) + (self.filters,)

    def weights(self, shape: Shape) -> list[Weight]:
        cin = self._channels(shape)
        if cin % self.groups or self.filters % self.groups:
            raise ShapeError(f"input channels ({cin}) and filters ({self.filters}) must both be divisible "
                             f"by groups ({self.groups})", "groups")
        return bias([Weight("kernel", (*self._k(), cin // self.groups, self.filters))], self.use_bias, self.filters)

    def param_alternatives(self, shape: Shape) -> list[Alternative]:
        k = 1
        for v in self._k():
            k *= v
        cin, f = self._channels(shape), self.filters
        bias = f if self.use_bias else 0
        alts = [Alternative(k * f + bias, "input channels left out of the weights "
                                          f"(kernel {'*'.join(map(str, self._k()))}*{cin}*{f}, not "
                                          f"{'*'.join(map(str, self._k()))}*{f})"),
                Alternative(k * f, "input channels and the bias both left out")]
        if self.use_bias:
            alts.append(Alternative(k * cin * f, "bias not counted"))
        else:
            alts.append(Alternative(k * cin * f + f, "bias counted although use_bias is false"))
        return alts


class Conv1D(_PlainConv):
    """``keras.layers.Conv1D``: kernel (k, c_in/groups, filters) + filters bias."""

    type: Literal["Conv1D", "layer_conv_1d", "Convolution1D"]
    input_rank = 2
    rank = 1
    padding: PaddingCausal = "valid"


class Conv2D(_PlainConv):
    """``keras.layers.Conv2D``: kernel (kh, kw, c_in/groups, filters) + filters bias."""

    type: Literal["Conv2D", "layer_conv_2d", "Convolution2D"]
    input_rank = 3
    rank = 2


class Conv3D(_PlainConv):
    """``keras.layers.Conv3D``: kernel (kd, kh, kw, c_in/groups, filters) + filters bias."""

    type: Literal["Conv3D", "layer_conv_3d", "Convolution3D"]
    input_rank = 4
    rank = 3


class _ConvTranspose(_Conv, WithKernel):
    """Keras's ``BaseConvTranspose``: kernel (*kernel_size, filters, c_in) + filters bias."""

    positional = ("filters", "kernel_size", "strides", "padding")
    py_positional = 2
    filters: Size
    output_padding: SizeOrTuple | Literal[0] | None = None

    @field_validator("output_padding")
    @classmethod
    def _check_output_padding(cls, v, info: ValidationInfo):
        strides = info.data.get("strides")
        if v is not None and strides is not None:
            op = as_tuple(v, cls.rank, "output_padding")
            for p, s in zip(op, as_tuple(strides, cls.rank, "strides")):
                if p >= s:
                    raise ValueError(f"`output_padding` must be strictly less than `strides` for all "
                                     f"dimensions. Received: output_padding={v}, strides={strides}")
        return v

    def _spatial(self, shape: Shape, padding=None, strides=None) -> tuple:
        padding = padding or self.padding
        strides = strides or self._s()
        op = ((None,) * self.rank if self.output_padding is None
              else as_tuple(self.output_padding, self.rank, "output_padding"))
        return tuple(deconv_output_length(n, k, s, padding, p, d)
                     for n, k, s, p, d in zip(shape[:-1], self._k(), strides, op, self._d()))

    def output_shape(self, shape: Shape) -> Shape:
        return self._spatial(shape) + (self.filters,)

    def weights(self, shape: Shape) -> list[Weight]:
        return bias([Weight("kernel", (*self._k(), self.filters, self._channels(shape)))], self.use_bias,
                    self.filters)


class Conv1DTranspose(_ConvTranspose):
    """``keras.layers.Conv1DTranspose``: kernel (k, filters, c_in) + filters bias."""

    type: Literal["Conv1DTranspose", "layer_conv_1d_transpose", "Convolution1DTranspose"]
    input_rank = 2
    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """``keras.layers.Conv2DTranspose``: kernel (kh, kw, filters, c_in) + filters bias."""

    type: Literal["Conv2DTranspose", "layer_conv_2d_transpose", "Convolution2DTranspose"]
    input_rank = 3
    rank = 2


class Conv3DTranspose(_ConvTranspose):
    """``keras.layers.Conv3DTranspose``: kernel (kd, kh, kw, filters, c_in) + filters bias."""

    type: Literal["Conv3DTranspose", "layer_conv_3d_transpose", "Convolution3DTranspose"]
    input_rank = 4
    rank = 3


class _NoKernelOptions(_Conv):
    """Depthwise and separable convolutions: Keras's constructors take depthwise (and pointwise)
    initializers, regularizers and constraints instead of the kernel_* options."""

    refuses_strides_with_dilation = False
    depth_multiplier: Size = 1
    depthwise_initializer: Initializer = "glorot_uniform"
    depthwise_regularizer: Regularizer = None
    depthwise_constraint: Constraint = None


class _SeparableConv(_NoKernelOptions):
    """Keras's ``BaseSeparableConv``: depthwise (*k, c_in, m) + pointwise (1.., c_in*m, filters) + bias."""

    positional = ("filters", "kernel_size", "strides", "padding")
    py_positional = 2
    filters: Size
    pointwise_initializer: Initializer = "glorot_uniform"
    pointwise_regularizer: Regularizer = None
    pointwise_constraint: Constraint = None

    def output_shape(self, shape: Shape) -> Shape:
        return self._spatial(shape) + (self.filters,)

    def weights(self, shape: Shape) -> list[Weight]:
        cin, m = self._channels(shape), self.depth_multiplier
        return bias([Weight("depthwise_kernel", (*self._k(), cin, m)),
                     Weight("pointwise_kernel", (1,) * self.rank + (cin * m, self.filters))],
                    self.use_bias, self.filters)


class SeparableConv1D(_SeparableConv):
    """``keras.layers.SeparableConv1D``: depthwise (k, c_in, m) + pointwise (1, c_in*m, filters) + bias."""

    type: Literal["SeparableConv1D", "layer_separable_conv_1d", "SeparableConvolution1D"]
    input_rank = 2
    rank = 1
    padding: PaddingCausal = "valid"


class SeparableConv2D(_SeparableConv):
    """``keras.layers.SeparableConv2D``: depthwise (kh, kw, c_in, m) + pointwise (1, 1, c_in*m, filters) + bias."""

    type: Literal["SeparableConv2D", "layer_separable_conv_2d", "SeparableConvolution2D"]
    input_rank = 3
    rank = 2


class _DepthwiseConv(_NoKernelOptions):
    """Keras's ``BaseDepthwiseConv``: kernel (*k, c_in, m) + c_in*m bias."""

    positional = ("kernel_size", "strides", "padding", "depth_multiplier")
    py_positional = 1

    def output_shape(self, shape: Shape) -> Shape:
        return self._spatial(shape) + (self._channels(shape) * self.depth_multiplier,)

    def weights(self, shape: Shape) -> list[Weight]:
        cin, m = self._channels(shape), self.depth_multiplier
        return bias([Weight("kernel", (*self._k(), cin, m))], self.use_bias, cin * m)


class DepthwiseConv1D(_DepthwiseConv):
    """``keras.layers.DepthwiseConv1D``: kernel (k, c_in, m) + c_in*m bias."""

    type: Literal["DepthwiseConv1D", "layer_depthwise_conv_1d"]
    input_rank = 2
    rank = 1
    padding: PaddingCausal = "valid"


class DepthwiseConv2D(_DepthwiseConv):
    """``keras.layers.DepthwiseConv2D``: kernel (kh, kw, c_in, m) + c_in*m bias."""

    type: Literal["DepthwiseConv2D", "layer_depthwise_conv_2d"]
    input_rank = 3
    rank = 2
