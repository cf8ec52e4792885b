"""Known answers for every layer type: (type, options, input shape(s)) -> output shape and
(trainable, non_trainable).

The expected values are written out by hand from Keras 3's formulas (the comment on a row gives
the arithmetic) and were checked against real Keras when written; ``test_keras_agrees`` checks
them against Keras again on every run. cnnspec's own rules never compute an expected value here.

REFUSED lists configurations Keras refuses: cnnspec must refuse them too (SpecError naming the
right field), and ``test_keras_refuses`` checks that Keras still does.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from math import prod
from typing import Any

import pytest
from pydantic import ValidationError

from cnnspec.check.infer import infer
from cnnspec.errors import SpecError
from cnnspec.layers import BY_TYPE, LAYER_CLASSES
from cnnspec.layers.shapes import ShapeError
from cnnspec.spec.loader import load_spec

N = None


@dataclass(frozen=True)
class Case:
    id: str
    type: str
    options: dict
    inputs: tuple  # one input shape per input (no batch dimension)
    out: tuple | None = None
    trainable: int = 0
    non_trainable: int = 0
    dtype: str = "float32"
    field: str | None = None  # for refused cases: the field cnnspec's error names


def c(id: str, type: str, options: dict, inp: tuple, out: tuple, tr: int = 0, nt: int = 0,
      dtype: str = "float32") -> Case:
    """One single-input case."""
    return Case(id, type, options, (tuple(inp),), tuple(out), tr, nt, dtype)


def m(id: str, type: str, options: dict, inputs: list, out: tuple) -> Case:
    """One merge case (two or more inputs)."""
    return Case(id, type, options, tuple(tuple(s) for s in inputs), tuple(out))


def bad(id: str, type: str, options: dict, inputs: list, field: str | None, dtype: str = "float32") -> Case:
    """A configuration Keras refuses; ``field`` is what cnnspec's error must name."""
    return Case(id, type, options, tuple(tuple(s) for s in inputs), field=field, dtype=dtype)


CASES: list[Case] = [
    # ---- Conv1D: kernel k*c_in/groups*filters + filters -------------------------------------
    c("conv1d-valid", "Conv1D", {"filters": 4, "kernel_size": 3}, (10, 3), (8, 4), 3 * 3 * 4 + 4),
    c("conv1d-valid-s2", "Conv1D", {"filters": 4, "kernel_size": 3, "strides": 2}, (10, 3), (4, 4), 40),  # (10-3)//2+1
    c("conv1d-same-s2", "Conv1D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"},
      (10, 3), (5, 4), 40),  # (10-1)//2+1
    c("conv1d-causal", "Conv1D", {"filters": 4, "kernel_size": 3, "padding": "causal"}, (10, 3), (10, 4), 40),
    c("conv1d-causal-d2", "Conv1D", {"filters": 4, "kernel_size": 3, "padding": "causal", "dilation_rate": 2},
      (10, 3), (10, 4), 40),
    c("conv1d-valid-d2", "Conv1D", {"filters": 4, "kernel_size": 3, "dilation_rate": 2}, (10, 3), (6, 4), 40),
    c("conv1d-nobias", "Conv1D", {"filters": 4, "kernel_size": 3, "use_bias": False}, (10, 3), (8, 4), 36),
    c("conv1d-groups2", "Conv1D", {"filters": 6, "kernel_size": 3, "groups": 2}, (10, 4), (8, 6),
      3 * 2 * 6 + 6),
    c("conv1d-none-steps", "Conv1D", {"filters": 4, "kernel_size": 3}, (N, 3), (N, 4), 40),
    c("conv1d-k1", "Conv1D", {"filters": 16, "kernel_size": 1}, (7, 8), (7, 16), 8 * 16 + 16),
    # ---- Conv2D ---------------------------------------------------------------------------
    c("conv2d-lenet", "Conv2D", {"filters": 32, "kernel_size": 3}, (28, 28, 1), (26, 26, 32), 320),
    c("conv2d-valid-s2", "Conv2D", {"filters": 8, "kernel_size": 3, "strides": 2}, (28, 28, 3), (13, 13, 8),
      3 * 3 * 3 * 8 + 8),  # (28-3)//2+1 = 13
    c("conv2d-same-s2", "Conv2D", {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same"},
      (28, 28, 3), (14, 14, 8), 224),
    c("conv2d-same-s1", "Conv2D", {"filters": 8, "kernel_size": 3, "padding": "same"}, (28, 28, 3),
      (28, 28, 8), 224),
    c("conv2d-odd-valid-s2", "Conv2D", {"filters": 8, "kernel_size": 3, "strides": 2}, (7, 7, 3), (3, 3, 8), 224),
    c("conv2d-odd-same-s2", "Conv2D", {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same"},
      (7, 7, 3), (4, 4, 8), 224),
    c("conv2d-d2", "Conv2D", {"filters": 8, "kernel_size": 3, "dilation_rate": 2}, (28, 28, 3), (24, 24, 8), 224),
    c("conv2d-d21", "Conv2D", {"filters": 8, "kernel_size": 3, "dilation_rate": [2, 1]}, (28, 28, 3),
      (24, 26, 8), 224),
    c("conv2d-d2-same", "Conv2D", {"filters": 8, "kernel_size": 3, "dilation_rate": 2, "padding": "same"},
      (28, 28, 3), (28, 28, 8), 224),
    c("conv2d-k35-s12", "Conv2D", {"filters": 8, "kernel_size": [3, 5], "strides": [1, 2]}, (28, 28, 3),
      (26, 12, 8), 3 * 5 * 3 * 8 + 8),  # cols (28-5)//2+1 = 12
    c("conv2d-nobias", "Conv2D", {"filters": 8, "kernel_size": 3, "use_bias": False}, (28, 28, 3),
      (26, 26, 8), 216),
    c("conv2d-groups2", "Conv2D", {"filters": 6, "kernel_size": 3, "groups": 2}, (8, 8, 4), (6, 6, 6),
      3 * 3 * 2 * 6 + 6),
    c("conv2d-groups4-k1", "Conv2D", {"filters": 8, "kernel_size": 1, "groups": 4}, (8, 8, 4), (8, 8, 8),
      1 * 1 * 1 * 8 + 8),
    c("conv2d-none-hw", "Conv2D", {"filters": 8, "kernel_size": 3}, (N, N, 3), (N, N, 8), 224),
    c("conv2d-none-h-s2", "Conv2D", {"filters": 8, "kernel_size": 3, "strides": 2}, (N, 9, 3), (N, 4, 8), 224),
    c("conv2d-frozen", "Conv2D", {"filters": 32, "kernel_size": 3, "trainable": False}, (28, 28, 1),
      (26, 26, 32), 0, 320),
    c("conv2d-exact-fit", "Conv2D", {"filters": 2, "kernel_size": 5}, (5, 5, 1), (1, 1, 2), 25 * 2 + 2),
    c("conv2d-r-name", "layer_conv_2d", {"filters": 4, "kernel_size": [5, 5]}, (32, 32, 3), (28, 28, 4),
      5 * 5 * 3 * 4 + 4),
    # ---- Conv2DTranspose: kernel kh*kw*filters*c_in + filters --------------------------------
    c("convt-valid-s1", "Conv2DTranspose", {"filters": 8, "kernel_size": 3}, (7, 7, 16), (9, 9, 8),
      3 * 3 * 8 * 16 + 8),  # (7-1)*1 + 3
    c("convt-valid-s2", "Conv2DTranspose", {"filters": 8, "kernel_size": 3, "strides": 2}, (7, 7, 16),
      (15, 15, 8), 1160),  # 6*2 + 3
    c("convt-same-s2", "Conv2DTranspose", {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same"},
      (7, 7, 16), (14, 14, 8), 1160),  # 7*2
    c("convt-same-s2-op1", "Conv2DTranspose",
      {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 1},
      (7, 7, 16), (14, 14, 8), 1160),  # 6*2 + 3 - 2*1 + 1
    c("convt-same-s2-op0", "Conv2DTranspose",
      {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 0},
      (7, 7, 16), (13, 13, 8), 1160),  # 6*2 + 3 - 2*1 + 0
    c("convt-same-k4-s2-op1", "Conv2DTranspose",
      {"filters": 8, "kernel_size": 4, "strides": 2, "padding": "same", "output_padding": 1},
      (7, 7, 16), (13, 13, 8), 4 * 4 * 8 * 16 + 8),  # 6*2 + 4 - 2*2 + 1
    c("convt-same-k4-s2", "Conv2DTranspose", {"filters": 8, "kernel_size": 4, "strides": 2, "padding": "same"},
      (7, 7, 16), (14, 14, 8), 2056),
    c("convt-valid-s2-op1", "Conv2DTranspose", {"filters": 8, "kernel_size": 3, "strides": 2, "output_padding": 1},
      (7, 7, 16), (16, 16, 8), 1160),  # 6*2 + 3 + 1
    c("convt-valid-k2-s3", "Conv2DTranspose", {"filters": 8, "kernel_size": 2, "strides": 3}, (7, 7, 16),
      (21, 21, 8), 2 * 2 * 8 * 16 + 8),  # 6*3 + 2 + (3-2)
    c("convt-valid-d2", "Conv2DTranspose", {"filters": 8, "kernel_size": 3, "dilation_rate": 2}, (7, 7, 16),
      (11, 11, 8), 1160),  # 6 + (3-1)*2+1
    c("convt-nobias", "Conv2DTranspose", {"filters": 8, "kernel_size": 3, "use_bias": False}, (7, 7, 16),
      (9, 9, 8), 1152),
    c("convt-none", "Conv2DTranspose", {"filters": 8, "kernel_size": 3, "strides": 2}, (N, N, 16),
      (N, N, 8), 1160),
    # ---- SeparableConv2D: k*k*c_in*m + c_in*m*filters + filters ----------------------------
    c("sep-default", "SeparableConv2D", {"filters": 16, "kernel_size": 3}, (16, 16, 8), (14, 14, 16),
      3 * 3 * 8 + 8 * 16 + 16),
    c("sep-dm2", "SeparableConv2D", {"filters": 16, "kernel_size": 3, "depth_multiplier": 2}, (16, 16, 8),
      (14, 14, 16), 3 * 3 * 8 * 2 + 16 * 16 + 16),
    c("sep-same-s2", "SeparableConv2D", {"filters": 16, "kernel_size": 3, "strides": 2, "padding": "same"},
      (16, 16, 8), (8, 8, 16), 216),
    c("sep-nobias", "SeparableConv2D", {"filters": 16, "kernel_size": 3, "use_bias": False}, (16, 16, 8),
      (14, 14, 16), 200),
    c("sep-none", "SeparableConv2D", {"filters": 4, "kernel_size": 3}, (N, N, 3), (N, N, 4),
      3 * 3 * 3 + 3 * 4 + 4),
    # ---- DepthwiseConv2D: k*k*c_in*m + c_in*m ----------------------------------------------
    c("dw-default", "DepthwiseConv2D", {"kernel_size": 3}, (16, 16, 8), (14, 14, 8), 72 + 8),
    c("dw-dm2", "DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2}, (16, 16, 8), (14, 14, 16),
      144 + 16),
    c("dw-dm3-nobias", "DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 3, "use_bias": False},
      (16, 16, 8), (14, 14, 24), 216),
    c("dw-same-s2", "DepthwiseConv2D", {"kernel_size": 3, "strides": 2, "padding": "same"}, (16, 16, 8),
      (8, 8, 8), 80),
    c("dw-d2", "DepthwiseConv2D", {"kernel_size": 3, "dilation_rate": 2}, (16, 16, 8), (12, 12, 8), 80),
    # Keras's depthwise and separable convolutions take strides > 1 with dilation_rate > 1
    c("dw-s2-d2", "DepthwiseConv2D", {"kernel_size": 3, "strides": 2, "dilation_rate": 2}, (28, 28, 2),
      (12, 12, 2), 3 * 3 * 2 + 2),  # floor((28 - 2*(3-1) - 1)/2) + 1 = 12
    c("dw-s12-d21", "DepthwiseConv2D", {"kernel_size": 3, "strides": [1, 2], "dilation_rate": [2, 1]},
      (28, 28, 2), (24, 13, 2), 20),
    c("sep-s2-d2", "SeparableConv2D", {"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2},
      (28, 28, 2), (12, 12, 4), 3 * 3 * 2 + 2 * 4 + 4),
    c("dw-none", "DepthwiseConv2D", {"kernel_size": 3}, (N, N, 8), (N, N, 8), 80),
    # ---- pooling: strides default to pool_size; no weights ----------------------------------
    c("maxpool1d-default", "MaxPooling1D", {}, (10, 3), (5, 3)),
    c("maxpool1d-p3", "MaxPooling1D", {"pool_size": 3}, (10, 3), (3, 3)),  # (10-3)//3+1
    c("maxpool1d-p3-s1", "MaxPooling1D", {"pool_size": 3, "strides": 1}, (10, 3), (8, 3)),
    c("maxpool1d-p3-s2", "MaxPooling1D", {"pool_size": 3, "strides": 2}, (10, 3), (4, 3)),
    c("maxpool1d-p3-same", "MaxPooling1D", {"pool_size": 3, "padding": "same"}, (10, 3), (4, 3)),  # (10-1)//3+1
    c("avgpool1d-same-odd", "AveragePooling1D", {"pool_size": 2, "padding": "same"}, (9, 3), (5, 3)),
    c("avgpool1d-none", "AveragePooling1D", {"pool_size": 2}, (N, 3), (N, 3)),
    c("maxpool2d-default", "MaxPooling2D", {}, (28, 28, 32), (14, 14, 32)),
    c("maxpool2d-odd", "MaxPooling2D", {}, (27, 27, 3), (13, 13, 3)),
    c("maxpool2d-odd-same", "MaxPooling2D", {"padding": "same"}, (27, 27, 3), (14, 14, 3)),
    c("maxpool2d-p3-s2", "MaxPooling2D", {"pool_size": 3, "strides": 2}, (27, 27, 3), (13, 13, 3)),
    c("maxpool2d-p23", "MaxPooling2D", {"pool_size": [2, 3]}, (27, 27, 3), (13, 9, 3)),
    c("maxpool2d-none", "MaxPooling2D", {}, (N, N, 3), (N, N, 3)),
    c("avgpool2d-s1", "AveragePooling2D", {"pool_size": 2, "strides": 1}, (5, 5, 3), (4, 4, 3)),
    c("avgpool2d-same-s2", "AveragePooling2D", {"pool_size": 3, "strides": 2, "padding": "same"},
      (7, 7, 3), (4, 4, 3)),
    c("gmp1d", "GlobalMaxPooling1D", {}, (10, 3), (3,)),
    c("gmp1d-keepdims", "GlobalMaxPooling1D", {"keepdims": True}, (10, 3), (1, 3)),
    c("gap1d-none", "GlobalAveragePooling1D", {}, (N, 4), (4,)),
    c("gmp2d", "GlobalMaxPooling2D", {}, (7, 7, 5), (5,)),
    c("gmp2d-keepdims", "GlobalMaxPooling2D", {"keepdims": True}, (7, 7, 5), (1, 1, 5)),
    c("gap2d-none", "GlobalAveragePooling2D", {}, (N, N, 3), (3,)),
    c("gap2d-none-keepdims", "GlobalAveragePooling2D", {"keepdims": True}, (N, N, 3), (1, 1, 3)),
    # ---- core ------------------------------------------------------------------------------
    c("flatten", "Flatten", {}, (5, 5, 64), (1600,)),
    c("flatten-none", "Flatten", {}, (N, 4), (N,)),
    c("dense", "Dense", {"units": 10}, (1600,), (10,), 16010),
    c("dense-nobias", "Dense", {"units": 10, "use_bias": False}, (1600,), (10,), 16000),
    c("dense-rank3", "Dense", {"units": 4}, (5, 8), (5, 4), 8 * 4 + 4),
    c("dense-none-leading", "Dense", {"units": 3}, (N, 8), (N, 3), 27),
    c("dense-frozen", "Dense", {"units": 10, "trainable": False}, (1600,), (10,), 0, 16010),
    c("dropout", "Dropout", {"rate": 0.5}, (10,), (10,)),
    c("spatialdropout1d", "SpatialDropout1D", {"rate": 0.2}, (10, 3), (10, 3)),
    c("spatialdropout2d", "SpatialDropout2D", {"rate": 0.2}, (8, 8, 3), (8, 8, 3)),
    c("activation", "Activation", {"activation": "relu"}, (4, 4, 3), (4, 4, 3)),
    c("relu", "ReLU", {"max_value": 6.0}, (4, 4, 3), (4, 4, 3)),
    c("leakyrelu", "LeakyReLU", {"negative_slope": 0.1}, (N, 3), (N, 3)),
    c("softmax", "Softmax", {}, (10,), (10,)),
    c("embedding", "Embedding", {"input_dim": 1000, "output_dim": 64}, (10,), (10, 64), 64000, dtype="int32"),
    c("embedding-none", "Embedding", {"input_dim": 1000, "output_dim": 64}, (N,), (N, 64), 64000, dtype="int32"),
    c("embedding-2d", "Embedding", {"input_dim": 100, "output_dim": 8}, (4, 5), (4, 5, 8), 800, dtype="int32"),
    c("rescaling", "Rescaling", {"scale": 0.00392156862745098}, (28, 28, 1), (28, 28, 1)),
    # ---- normalization ------------------------------------------------------------------------
    c("bn", "BatchNormalization", {}, (8, 8, 16), (8, 8, 16), 32, 32),
    c("bn-nocenter", "BatchNormalization", {"center": False}, (8, 8, 16), (8, 8, 16), 16, 32),
    c("bn-noscale-nocenter", "BatchNormalization", {"center": False, "scale": False}, (8, 8, 16),
      (8, 8, 16), 0, 32),
    c("bn-axis1", "BatchNormalization", {"axis": 1}, (8, 4, 16), (8, 4, 16), 16, 16),
    c("bn-axis-2", "BatchNormalization", {"axis": -2}, (8, 4, 16), (8, 4, 16), 8, 8),
    c("bn-dense", "BatchNormalization", {}, (10,), (10,), 20, 20),
    c("bn-none-hw", "BatchNormalization", {}, (N, N, 16), (N, N, 16), 32, 32),
    c("bn-frozen", "BatchNormalization", {"trainable": False}, (8, 8, 16), (8, 8, 16), 0, 64),
    c("ln", "LayerNormalization", {}, (10, 8), (10, 8), 16),
    c("ln-nocenter", "LayerNormalization", {"center": False}, (10, 8), (10, 8), 8),
    c("ln-noscale", "LayerNormalization", {"scale": False}, (10, 8), (10, 8), 8),
    c("ln-rms", "LayerNormalization", {"rms_scaling": True}, (10, 8), (10, 8), 8),  # gamma only
    c("ln-rms-noscale", "LayerNormalization", {"rms_scaling": True, "scale": False}, (10, 8), (10, 8), 8),
    c("ln-two-axes", "LayerNormalization", {"axis": [-2, -1]}, (4, 8), (4, 8), 2 * 32),
    c("ln-frozen", "LayerNormalization", {"trainable": False}, (10, 8), (10, 8), 0, 16),
    # ---- reshaping ----------------------------------------------------------------------------
    c("zp1d-default", "ZeroPadding1D", {}, (10, 3), (12, 3)),
    c("zp1d-2", "ZeroPadding1D", {"padding": 2}, (10, 3), (14, 3)),
    c("zp1d-pair", "ZeroPadding1D", {"padding": [1, 3]}, (10, 3), (14, 3)),
    c("zp2d-default", "ZeroPadding2D", {}, (28, 28, 3), (30, 30, 3)),
    c("zp2d-pair", "ZeroPadding2D", {"padding": [1, 2]}, (28, 28, 3), (30, 32, 3)),
    c("zp2d-nested", "ZeroPadding2D", {"padding": [[1, 2], [3, 4]]}, (28, 28, 3), (31, 35, 3)),
    c("zp2d-none", "ZeroPadding2D", {"padding": 2}, (N, N, 3), (N, N, 3)),
    c("crop1d-default", "Cropping1D", {}, (10, 3), (8, 3)),  # Keras default (1, 1)
    c("crop1d-pair", "Cropping1D", {"cropping": [2, 3]}, (10, 3), (5, 3)),
    c("crop2d-default", "Cropping2D", {}, (28, 28, 3), (28, 28, 3)),  # Keras default ((0, 0), (0, 0))
    c("crop2d-int", "Cropping2D", {"cropping": 2}, (28, 28, 3), (24, 24, 3)),
    c("crop2d-pair", "Cropping2D", {"cropping": [1, 2]}, (28, 28, 3), (26, 24, 3)),
    c("crop2d-nested", "Cropping2D", {"cropping": [[1, 2], [3, 4]]}, (28, 28, 3), (25, 21, 3)),
    c("crop2d-none", "Cropping2D", {"cropping": 2}, (N, N, 3), (N, N, 3)),
    c("up1d-default", "UpSampling1D", {}, (10, 3), (20, 3)),
    c("up1d-3", "UpSampling1D", {"size": 3}, (10, 3), (30, 3)),
    c("up1d-none", "UpSampling1D", {"size": 3}, (N, 3), (N, 3)),
    c("up2d-default", "UpSampling2D", {}, (7, 7, 3), (14, 14, 3)),
    c("up2d-23", "UpSampling2D", {"size": [2, 3]}, (7, 7, 3), (14, 21, 3)),
    c("up2d-bilinear", "UpSampling2D", {"size": 4, "interpolation": "bilinear"}, (7, 5, 3), (28, 20, 3)),
    c("up2d-none", "UpSampling2D", {}, (N, N, 3), (N, N, 3)),
    c("reshape-to-image", "Reshape", {"target_shape": [28, 28, 1]}, (784,), (28, 28, 1)),
    c("reshape-flatten", "Reshape", {"target_shape": [-1]}, (28, 28, 1), (784,)),
    c("reshape-minus1", "Reshape", {"target_shape": [16, -1]}, (4, 4, 8), (16, 8)),
    c("reshape-minus1-first", "Reshape", {"target_shape": [-1, 2, 2]}, (4, 4, 8), (32, 2, 2)),
    c("reshape-none", "Reshape", {"target_shape": [-1, 4]}, (N, 8), (N, 4)),
    # ---- augmentation: identity shape, no weights -----------------------------------------------
    c("randomflip", "RandomFlip", {"mode": "horizontal"}, (32, 32, 3), (32, 32, 3)),
    c("randomtranslation", "RandomTranslation", {"height_factor": 0.1, "width_factor": 0.1}, (32, 32, 3),
      (32, 32, 3)),
    c("randomrotation", "RandomRotation", {"factor": 0.1}, (32, 32, 3), (32, 32, 3)),
    c("randomzoom", "RandomZoom", {"height_factor": [-0.1, 0.1]}, (32, 32, 3), (32, 32, 3)),
    # ---- merge --------------------------------------------------------------------------------
    m("add", "Add", {}, [(8, 8, 16), (8, 8, 16)], (8, 8, 16)),
    m("add-three", "Add", {}, [(8, 8, 16)] * 3, (8, 8, 16)),
    m("add-broadcast-1", "Add", {}, [(8, 8, 16), (1, 1, 16)], (8, 8, 16)),
    m("add-broadcast-rank", "Add", {}, [(8, 8, 16), (16,)], (8, 8, 16)),  # right-aligned
    m("add-none-vs-known", "Add", {}, [(N, 16), (5, 16)], (N, 16)),  # Keras: None wins
    m("add-none-1-known", "Add", {}, [(1, 16), (N, 16), (4, 16)], (N, 16)),
    m("multiply-broadcast", "Multiply", {}, [(1, 16), (8, 1)], (8, 16)),
    m("average-broadcast-rank", "Average", {}, [(8, 8, 16), (8, 1)], (8, 8, 16)),
    m("average-none", "Average", {}, [(N, N, 3), (N, N, 3)], (N, N, 3)),
    m("concat-last", "Concatenate", {}, [(8, 8, 16), (8, 8, 32)], (8, 8, 48)),
    m("concat-three", "Concatenate", {}, [(8, 8, 16), (8, 8, 32), (8, 8, 1)], (8, 8, 49)),
    m("concat-axis1", "Concatenate", {"axis": 1}, [(4, 8, 3), (6, 8, 3)], (10, 8, 3)),
    m("concat-axis-2", "Concatenate", {"axis": -2}, [(4, 8, 3), (4, 2, 3)], (4, 10, 3)),
    m("concat-none-axis", "Concatenate", {"axis": 1}, [(N, 3), (5, 3)], (N, 3)),
    m("concat-none-other-first", "Concatenate", {}, [(N, 3), (5, 4)], (N, 7)),  # other axes: the first input's
    m("concat-none-other-second", "Concatenate", {}, [(5, 3), (N, 4)], (5, 7)),
]

REFUSED: list[Case] = [
    bad("conv2d-kernel-too-big", "Conv2D", {"filters": 4, "kernel_size": 5}, [(3, 3, 1)], "kernel_size"),
    bad("conv2d-zero-output", "Conv2D", {"filters": 4, "kernel_size": 3}, [(2, 2, 1)], "kernel_size"),
    bad("conv2d-dilated-too-big", "Conv2D", {"filters": 4, "kernel_size": 3, "dilation_rate": 3},
        [(6, 6, 1)], "kernel_size"),  # effective kernel 7
    bad("conv1d-kernel-too-big", "Conv1D", {"filters": 4, "kernel_size": 5}, [(4, 2)], "kernel_size"),
    bad("sep-kernel-too-big", "SeparableConv2D", {"filters": 4, "kernel_size": 5}, [(4, 4, 2)], "kernel_size"),
    bad("dw-kernel-too-big", "DepthwiseConv2D", {"kernel_size": 5}, [(4, 4, 2)], "kernel_size"),
    bad("maxpool2d-too-big", "MaxPooling2D", {"pool_size": 5, "strides": 1}, [(2, 2, 1)], "pool_size"),
    bad("maxpool2d-zero-output", "MaxPooling2D", {"pool_size": 3}, [(2, 2, 1)], "pool_size"),
    bad("avgpool1d-too-big", "AveragePooling1D", {"pool_size": 4}, [(3, 2)], "pool_size"),
    bad("avgpool2d-no-pool-size", "AveragePooling2D", {}, [(8, 8, 3)], "pool_size"),  # no default in Keras
    bad("avgpool1d-no-pool-size", "AveragePooling1D", {"strides": 2}, [(8, 3)], "pool_size"),
    bad("conv2d-strides-and-dilation", "Conv2D", {"filters": 4, "kernel_size": 3, "strides": 2,
                                                  "dilation_rate": 2}, [(28, 28, 1)], "dilation_rate"),
    bad("conv1d-strides-and-dilation", "Conv1D", {"filters": 4, "kernel_size": 3, "strides": 2,
                                                  "dilation_rate": 2}, [(28, 1)], "dilation_rate"),
    bad("convt-strides-and-dilation", "Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2,
                                                          "dilation_rate": 2}, [(7, 7, 1)], "dilation_rate"),
    bad("convt-output-padding-ge-strides", "Conv2DTranspose",
        {"filters": 8, "kernel_size": 3, "strides": 2, "output_padding": 2}, [(7, 7, 16)], "output_padding"),
    bad("conv2d-groups-channels", "Conv2D", {"filters": 6, "kernel_size": 3, "groups": 3}, [(8, 8, 4)], "groups"),
    bad("conv2d-groups-filters", "Conv2D", {"filters": 5, "kernel_size": 3, "groups": 2}, [(8, 8, 4)], "groups"),
    bad("conv2d-unknown-channels", "Conv2D", {"filters": 4, "kernel_size": 3}, [(8, 8, N)], "inputs"),
    bad("conv2d-wrong-rank", "Conv2D", {"filters": 4, "kernel_size": 3}, [(10, 3)], "inputs"),
    bad("dense-unknown-last", "Dense", {"units": 3}, [(N,)], "inputs"),
    bad("dense-unknown-last-rank3", "Dense", {"units": 3}, [(4, N)], "inputs"),
    bad("bn-axis-out-of-range", "BatchNormalization", {"axis": 4}, [(8, 8, 16)], "axis"),
    bad("reshape-size", "Reshape", {"target_shape": [27, 27]}, [(28, 28, 1)], "target_shape"),
    bad("reshape-minus1-indivisible", "Reshape", {"target_shape": [-1, 3]}, [(10,)], "target_shape"),
    bad("reshape-two-minus1", "Reshape", {"target_shape": [-1, -1]}, [(10,)], "target_shape"),
    bad("crop1d-too-much", "Cropping1D", {"cropping": 5}, [(10, 3)], "cropping"),
    bad("crop2d-too-much", "Cropping2D", {"cropping": 14}, [(28, 28, 3)], "cropping"),
    bad("concat-mismatch", "Concatenate", {}, [(8, 8, 16), (4, 4, 16)], "inputs"),
    bad("concat-mismatch-axis1", "Concatenate", {"axis": 1}, [(4, 8, 3), (4, 8, 2)], "inputs"),
    bad("concat-axis-out-of-range", "Concatenate", {"axis": 4}, [(8, 8, 16), (8, 8, 16)], "axis"),
    bad("add-mismatch", "Add", {}, [(8, 8, 16), (8, 8, 32)], "inputs"),
    bad("multiply-mismatch-rank", "Multiply", {}, [(4, 1), (8, 8, 3)], "inputs"),
    bad("average-mismatch", "Average", {}, [(3, 5), (4, 5)], "inputs"),
]


def _ids(cases):
    return [k.id for k in cases]


# -- cnnspec side ---------------------------------------------------------------------------
def cnnspec_layer(case: Case):
    return BY_TYPE[case.type].model_validate({"type": case.type, **case.options})


def _row(case: Case, **extra) -> dict:
    return {"type": case.type, **case.options, **extra}


def write_spec(case: Case, tmp_path) -> Any:
    """The case as a spec file: one row on the model input, or for a merge one Dense + Reshape branch
    per input (so any fully known shapes can meet) and the merge row."""
    if len(case.inputs) == 1:
        doc = {"input": {"shape": list(case.inputs[0]), "dtype": case.dtype}, "layers": [_row(case, name="under_test")]}
    else:
        assert all(None not in s for s in case.inputs), "merge spec cases need known shapes"
        layers, names = [], []
        for i, s in enumerate(case.inputs):
            layers += [{"type": "Dense", "units": prod(s), "name": f"d{i}", "inputs": "input"},
                       {"type": "Reshape", "target_shape": list(s), "name": f"r{i}"}]
            names.append(f"r{i}")
        doc = {"input": [1], "layers": layers + [_row(case, name="under_test", inputs=names)]}
    path = tmp_path / f"{case.id}.yaml"
    path.write_text(json.dumps(doc))  # JSON is YAML
    return path


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_known_answer(case: Case):
    out, cnt = cnnspec_layer(case).infer([tuple(s) for s in case.inputs])
    assert out == case.out
    assert (cnt.trainable, cnt.non_trainable) == (case.trainable, case.non_trainable), cnt.formula


SPEC_CASES = [k for k in CASES if len(k.inputs) == 1 or all(None not in s for s in k.inputs)]


@pytest.mark.parametrize("case", SPEC_CASES, ids=_ids(SPEC_CASES))
def test_known_answer_through_spec(case: Case, tmp_path):
    spec = load_spec(write_spec(case, tmp_path))
    res = [r for r in infer(spec) if r.row.name == "under_test"][0]
    assert res.output == case.out
    assert (res.count.trainable, res.count.non_trainable) == (case.trainable, case.non_trainable)


@pytest.mark.parametrize("case", REFUSED, ids=_ids(REFUSED))
def test_refused(case: Case, tmp_path):
    """Refused with a SpecError naming the field, on the line of that field when the row sets it."""
    path = write_spec(case, tmp_path)
    with pytest.raises(SpecError) as info:
        infer(load_spec(path))
    err = info.value
    assert err.field == case.field, str(err)
    assert err.file == str(path)
    # and directly through the layer class
    with pytest.raises((ValidationError, ShapeError)):
        cnnspec_layer(case).infer([tuple(s) for s in case.inputs])


def test_every_layer_type_has_a_case():
    """Hand-written known answers here, or weights compared with Keras in test_parity.OPTION_SETS."""
    from test_parity import OPTION_SETS

    covered = {BY_TYPE[k.type] for k in CASES} | {BY_TYPE[t] for t, _, _ in OPTION_SETS}
    missing = [cls.keras_class for cls in LAYER_CLASSES if cls not in covered]
    assert not missing, f"no known-answer case for {missing}"


def test_enough_cases():
    assert len(CASES) >= 80


# -- the same cases in real Keras ------------------------------------------------------------
def _keras_value(v):
    if isinstance(v, list):
        return tuple(_keras_value(x) for x in v)
    return v


def keras_apply(case: Case):
    """Build the case with Keras directly from its options (independent of cnnspec's builder):
    (output shape without batch, trainable, non-trainable)."""
    import keras
    import numpy as np

    opts = {k: _keras_value(v) for k, v in case.options.items() if k != "trainable"}
    cls = getattr(keras.layers, BY_TYPE[case.type].keras_class)
    layer = cls(**opts)
    if case.options.get("trainable") is False:
        layer.trainable = False
    ins = [keras.Input(shape=s, dtype=case.dtype) for s in case.inputs]
    out = layer(ins if len(ins) > 1 else ins[0])
    tr = int(sum(np.prod(w.shape) for w in layer.trainable_weights))
    nt = int(sum(np.prod(w.shape) for w in layer.non_trainable_weights))
    return tuple(None if d is None else int(d) for d in out.shape[1:]), tr, nt


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_keras_agrees(case: Case):
    shape, tr, nt = keras_apply(case)
    assert shape == case.out
    assert (tr, nt) == (case.trainable, case.non_trainable)


@pytest.mark.parametrize("case", REFUSED, ids=_ids(REFUSED))
def test_keras_refuses(case: Case):
    with pytest.raises((ValueError, TypeError, IndexError)):
        keras_apply(case)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", CASES[:12] + [k for k in CASES if "frozen" in k.id], ids=lambda k: k.id)
def test_build_keras_matches(case: Case):
    """cnnspec's own Keras builder (``Layer.build_keras``) makes the same layer as the options say."""
    import keras
    import numpy as np

    layer = cnnspec_layer(case).build_keras("under_test")
    ins = [keras.Input(shape=s, dtype=case.dtype) for s in case.inputs]
    out = layer(ins if len(ins) > 1 else ins[0])
    assert tuple(out.shape[1:]) == case.out
    assert int(sum(np.prod(w.shape) for w in layer.trainable_weights)) == case.trainable
    assert int(sum(np.prod(w.shape) for w in layer.non_trainable_weights)) == case.non_trainable


# -- the schema refuses exactly what Keras refuses ------------------------------------------
KERAS_REFUSES = [
    ("sep-kernel-init", "SeparableConv2D", {"filters": 4, "kernel_size": 3, "kernel_initializer": "he_normal"},
     (8, 8, 3), "kernel_initializer"),
    ("dw-kernel-reg", "DepthwiseConv2D", {"kernel_size": 3, "kernel_regularizer": "l2"}, (8, 8, 3),
     "kernel_regularizer"),
    ("crop1d-data-format", "Cropping1D", {"cropping": 1, "data_format": "channels_last"}, (8, 3), "data_format"),
    ("bogus-activation", "Dense", {"units": 3, "activation": "bogus_act"}, (4,), "activation"),
    ("bogus-initializer", "Conv2D", {"filters": 2, "kernel_size": 1, "kernel_initializer": "he_normall"},
     (4, 4, 1), "kernel_initializer"),
    ("bogus-regularizer", "Dense", {"units": 3, "kernel_regularizer": "l3"}, (4,), "kernel_regularizer"),
    ("bogus-constraint", "Dense", {"units": 3, "kernel_constraint": "maxnorm"}, (4,), "kernel_constraint"),
    ("bogus-class-name", "Dense", {"units": 3, "bias_initializer": {"class_name": "Nope", "config": {}}}, (4,),
     "bias_initializer"),
    ("lstm-bogus-recurrent-act", "LSTM", {"units": 3, "recurrent_activation": "sigmoidd"}, (5, 4),
     "recurrent_activation"),
]


@pytest.mark.parametrize("case", KERAS_REFUSES, ids=[k[0] for k in KERAS_REFUSES])
def test_schema_refuses_what_keras_refuses(case, tmp_path):
    _, type_, options, shape, field = case
    p = tmp_path / "s.yaml"
    p.write_text(json.dumps({"input": list(shape), "layers": [{"type": type_, **options}]}))
    with pytest.raises(SpecError) as info:
        load_spec(p)
    assert info.value.field == field
    if field.endswith(("activation", "initializer", "regularizer", "constraint")):
        assert "allowed:" in str(info.value) or "options:" in str(info.value)  # allowed values listed


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", KERAS_REFUSES, ids=[k[0] for k in KERAS_REFUSES])
def test_keras_refuses_them_too(case):
    import keras

    _, type_, options, shape, _ = case
    with pytest.raises((ValueError, TypeError)):
        layer = getattr(keras.layers, type_)(**{k: tuple(v) if isinstance(v, list) else v for k, v in options.items()})
        layer(keras.Input(shape=shape))


def test_names_keras_accepts_are_current():
    """cnnspec/layers/keras_names.py is what scripts/gen_keras_names.py makes from the installed Keras."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("gen", root / "scripts" / "gen_keras_names.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert (root / "cnnspec" / "layers" / "keras_names.py").read_text() == gen.render()


def test_accepted_names_and_mappings():
    d = BY_TYPE["Dense"].model_validate({"type": "Dense", "units": 3, "activation": "gelu",
                                         "kernel_initializer": {"class_name": "HeNormal", "config": {"seed": 1}},
                                         "kernel_regularizer": {"l2": 0.001}, "kernel_constraint": "max_norm"})
    assert d.activation == "gelu"


def test_dense_lora_counts_as_keras():
    """Keras freezes the kernel and adds a trainable low-rank pair."""
    _, cnt = BY_TYPE["Dense"].model_validate({"type": "Dense", "units": 10, "lora_rank": 4}).infer([(64,)])
    assert (cnt.trainable, cnt.non_trainable) == (10 + 64 * 4 + 4 * 10, 64 * 10)


def test_aliases_and_channels_first(tmp_path):
    p = tmp_path / "a.yaml"
    p.write_text("input: [3, 32, 32]\nlayers:\n"
                 "  - {type: Convolution2D, filters: 8, kernel_size: 3, data_format: channels_first}\n"
                 "  - {type: MaxPool2D, data_format: channels_first}\n"
                 "  - {type: GlobalAvgPool2D, data_format: channels_first}\n")
    res = infer(load_spec(p))
    assert [r.output for r in res] == [(8, 30, 30), (8, 15, 15), (8,)]
    assert [r.row.type for r in res] == ["Conv2D", "MaxPooling2D", "GlobalAveragePooling2D"]


def test_unsupported_types_all_at_once(tmp_path, run_cli):
    p = tmp_path / "u.yaml"
    p.write_text("input: [10, 8, 8, 3]\nlayers:\n  - {type: Conv4D, filters: 4, kernel_size: 3}\n"
                 "  - {type: Flatten}\n  - {type: layer_foo_bar}\n  - {type: Conv4D}\n")
    code, _, err = run_cli("check", p)
    assert code == 2
    assert "not supported" in err and "'Conv4D' (line 3)" in err and "'layer_foo_bar' (line 5)" in err
    assert "did you mean" not in err


def test_no_wrong_suggestion_for_a_real_keras_type():
    from cnnspec.layers import suggest_type

    assert suggest_type("Conv4D") == ""
    assert suggest_type("layer_lstmm") == " (did you mean 'layer_lstm'?)"
    assert suggest_type("conv2d") == " (did you mean 'Conv2D'?)"
    assert suggest_type("LocallyConnected2D") == ""
    # two neighbouring letters swapped: the type meant, whatever the casing
    assert suggest_type("Dnese") == " (did you mean 'Dense'?)"
    assert suggest_type("MaxPoolign2D") == " (did you mean 'MaxPooling2D'?)"
    assert suggest_type("Cnov3D") == " (did you mean 'Conv3D'?)"


def test_docs_layers_md_is_generated_from_the_registry():
    from pathlib import Path

    from cnnspec.layers.registry_docs import markdown

    doc = Path(__file__).resolve().parent.parent / "docs" / "layers.md"
    assert doc.read_text() == markdown(), "regenerate: python -m cnnspec layers --markdown > docs/layers.md"


def test_every_option_is_described():
    from cnnspec.layers.registry_docs import registry

    missing = [(e["type"], k) for e in registry() for k, o in e["options"].items() if not o["doc"]]
    assert not missing


def test_json_schema_validates_specs(tmp_path, run_cli):
    """`cnnspec schema` writes a JSON Schema every spec in specs/ satisfies and a bad row violates."""
    import jsonschema
    import yaml
    from pathlib import Path

    out = tmp_path / "schema.json"
    code, _, _ = run_cli("schema", "-o", out)
    assert code == 0
    schema = json.loads(out.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    for f in sorted((Path(__file__).resolve().parent.parent / "specs").glob("*.yaml")):
        errors = list(v.iter_errors(yaml.safe_load(f.read_text())))
        assert not errors, f"{f.name}: {errors[0].message[:200]}"
    bad = {"input": [4], "layers": [{"type": "Dense", "units": 3, "activation": "bogus"}]}
    assert list(v.iter_errors(bad))
    bad = {"input": [4], "layers": [{"type": "SeparableConv2D", "filters": 3, "kernel_size": 3,
                                     "kernel_initializer": "he_normal"}]}
    assert list(v.iter_errors(bad))


def test_fixed_batch_dimension_as_stateful_models_print_it(tmp_path, run_cli):
    """`(1, 184, 32)` is accepted as printed; a stateful layer needs `input.batch_size` (as in Keras)."""
    p = tmp_path / "s.yaml"
    p.write_text("input: {shape: [184, 32], batch_size: 1}\nlayers:\n"
                 "  - {type: LSTM, units: 32, stateful: true, return_sequences: true,"
                 " expect: {output: '(1, 184, 32)', params: 8320}}\n")
    code, out, _ = run_cli("check", p)
    assert code == 0 and "(1, 184, 32)" in out
    p.write_text(p.read_text().replace(", batch_size: 1", ""))
    code, _, err = run_cli("check", p)
    assert code == 2 and "batch_size" in err and ":3:" in err


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_stateful_spec_builds_with_its_batch_size(tmp_path):
    from cnnspec.keras.build import build_model

    p = tmp_path / "s.yaml"
    p.write_text("input: {shape: [20, 3], batch_size: 2}\nlayers:\n"
                 "  - {type: GRU, units: 4, stateful: true}\n  - {type: Dense, units: 1}\n")
    model = build_model(load_spec(p))
    assert tuple(model.output.shape) == (2, 1)
    assert model.count_params() == infer(load_spec(p))[0].count.total + 5


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_train_adapts_normalization_to_the_training_data(tmp_path):
    """A Normalization row without mean/variance is adapted to the (scaled) training images."""
    import keras
    import numpy as np

    from cnnspec.keras.training import train

    p = tmp_path / "n.yaml"
    p.write_text("input: [28, 28, 1]\nlayers:\n  - {type: Normalization, name: norm, axis: null}\n"
                 "  - {type: Flatten}\n  - {type: Dense, units: 10, activation: softmax}\n")
    train(str(p), data="sample", out=str(tmp_path / "r"), epochs=1, batch_size=64, limit=200)
    model = keras.models.load_model(tmp_path / "r" / "model.keras")
    mean = float(np.asarray(model.get_layer("norm").mean))
    assert 0.05 < mean < 0.6  # Fashion-MNIST pixels scaled to [0, 1] average about 0.29; unadapted is 0


def test_nested_model_type_gets_a_useful_hint():
    from cnnspec.layers import suggest_type

    assert "type: VGG19" in suggest_type("Functional")
    assert suggest_type("vgg19") == " (did you mean 'VGG19'?)"
