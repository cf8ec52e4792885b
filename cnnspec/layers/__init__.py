"""The layer registry. The discriminated union of the layer classes *is* the registry:
adding a layer means writing its class in one module and adding it to ``LAYER_CLASSES``."""
from __future__ import annotations

from .augmentation import RandomFlip, RandomRotation, RandomTranslation, RandomZoom
from .base import Alternative, Count, Layer
from .conv import Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D
from .core import (Activation, Dense, Dropout, Embedding, Flatten, LeakyReLU, ReLU, Rescaling, Softmax,
                   SpatialDropout1D, SpatialDropout2D)
from .merge import Add, Average, Concatenate, Multiply
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
                      GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D)
from .reshaping import (Cropping1D, Cropping2D, Reshape, UpSampling1D, UpSampling2D, ZeroPadding1D,
                        ZeroPadding2D)

LAYER_CLASSES: tuple[type[Layer], ...] = (
    Conv1D, Conv2D, Conv2DTranspose, SeparableConv2D, DepthwiseConv2D,
    MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D,
    GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D,
    Flatten, Dense, Dropout, SpatialDropout1D, SpatialDropout2D,
    BatchNormalization, LayerNormalization,
    Activation, ReLU, LeakyReLU, Softmax,
    ZeroPadding1D, ZeroPadding2D, Cropping1D, Cropping2D, UpSampling1D, UpSampling2D, Reshape,
    Embedding, Rescaling,
    RandomFlip, RandomTranslation, RandomRotation, RandomZoom,
    Add, Concatenate, Multiply, Average,
)

#: Every accepted ``type`` (Keras 3 class name or R keras function) -> its class.
BY_TYPE: dict[str, type[Layer]] = {t: cls for cls in LAYER_CLASSES for t in cls.type_names()}

#: Training-only layers, identity at inference (stripped from exports).
TRAINING_ONLY = frozenset({"RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom",
                           "Dropout", "SpatialDropout1D", "SpatialDropout2D"})

__all__ = ["LAYER_CLASSES", "BY_TYPE", "TRAINING_ONLY", "Layer", "Count", "Alternative"] + [
    c.__name__ for c in LAYER_CLASSES]

# The same registry as a pydantic discriminated union (used for the JSON schema of a row).
from typing import Annotated, Union  # noqa: E402

from pydantic import Field  # noqa: E402

AnyLayer = Annotated[Union[LAYER_CLASSES], Field(discriminator="type")]  # type: ignore[valid-type]
