"""Regularisation layers, identity at inference: Dropout, SpatialDropout1D/2D/3D, GaussianNoise,
GaussianDropout, AlphaDropout, ActivityRegularization."""

from typing import Annotated, Literal

from pydantic import Field

from .base import DataFormat, Layer, Rate


class _TrainingOnly(Layer):
    """Identity at inference: left out of exports."""

    training_only = True


class Dropout(_TrainingOnly):
    """``keras.layers.Dropout``: drops a fraction ``rate`` of the inputs while training."""

    type: Literal["Dropout", "layer_dropout"]
    positional = ("rate", "noise_shape", "seed")
    py_positional = 1
    rate: Rate
    noise_shape: list[int | None] | None = None
    seed: int | None = None


class SpatialDropout1D(_TrainingOnly):
    """``keras.layers.SpatialDropout1D``: drops whole channels of (steps, channels)."""

    type: Literal["SpatialDropout1D", "layer_spatial_dropout_1d"]
    positional = ("rate", "seed")
    py_positional = 1
    input_rank = 2
    rate: Rate
    seed: int | None = None


class SpatialDropout2D(_TrainingOnly):
    """``keras.layers.SpatialDropout2D``: drops whole feature maps."""

    type: Literal["SpatialDropout2D", "layer_spatial_dropout_2d"]
    positional = ("rate", "data_format", "seed")
    py_positional = 1
    input_rank = 3
    rate: Rate
    seed: int | None = None
    data_format: DataFormat | None = None


class SpatialDropout3D(_TrainingOnly):
    """``keras.layers.SpatialDropout3D``: drops whole 3D feature maps."""

    type: Literal["SpatialDropout3D", "layer_spatial_dropout_3d"]
    positional = ("rate", "data_format", "seed")
    py_positional = 1
    input_rank = 4
    rate: Rate
    seed: int | None = None
    data_format: DataFormat | None = None


class GaussianNoise(_TrainingOnly):
    """``keras.layers.GaussianNoise``: adds zero-centred noise while training."""

    type: Literal["GaussianNoise", "layer_gaussian_noise"]
    positional = ("stddev", "seed")
    py_positional = 1
    stddev: Annotated[float, Field(ge=0)]
    seed: int | None = None


class GaussianDropout(_TrainingOnly):
    """``keras.layers.GaussianDropout``: multiplicative 1-centred noise while training."""

    type: Literal["GaussianDropout", "layer_gaussian_dropout"]
    positional = ("rate", "seed")
    py_positional = 1
    rate: Rate
    seed: int | None = None


class AlphaDropout(_TrainingOnly):
    """``keras.layers.AlphaDropout``: dropout that keeps the mean and variance (for SELU)."""

    type: Literal["AlphaDropout", "layer_alpha_dropout"]
    positional = ("rate", "noise_shape", "seed")
    py_positional = 1
    rate: Rate
    noise_shape: list[int | None] | None = None
    seed: int | None = None


class ActivityRegularization(_TrainingOnly):
    """``keras.layers.ActivityRegularization``: adds an L1/L2 penalty on its input; identity otherwise."""

    type: Literal["ActivityRegularization", "layer_activity_regularization"]
    positional = ("l1", "l2")
    l1: Annotated[float, Field(ge=0)] = 0.0
    l2: Annotated[float, Field(ge=0)] = 0.0
