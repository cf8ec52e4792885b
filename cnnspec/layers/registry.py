"""The full layer registry: every family module imported, ``LAYER_CLASSES`` and the maps derived from it.

Adding a layer means writing its class in its family's module, adding it to ``LAYER_CLASSES`` here,
and regenerating ``cnnspec/layers/_index.py`` (``python -m cnnspec.layers.registry``; a test says when
it is stale). `cnnspec layers`, docs/layers.md, the JSON Schema, code generation, import and export
read the facts from the class. ``cnnspec.layers`` itself loads only the family a spec uses."""
from __future__ import annotations

from .activation import ELU, Activation, LeakyReLU, PReLU, ReLU, Softmax
from .attention import AdditiveAttention, Attention, MultiHeadAttention
from .augmentation import (RandomBrightness, RandomContrast, RandomCrop, RandomFlip, RandomRotation,
                           RandomTranslation, RandomZoom)
from .base import Alternative, Count, Layer, Weight
from .conv import (Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D, Conv3DTranspose, DepthwiseConv1D,
                   DepthwiseConv2D, SeparableConv1D, SeparableConv2D)
from .core import Dense, Embedding, Flatten, Masking, Permute, RepeatVector, Rescaling
from .merge import Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract
from .normalization import (BatchNormalization, GroupNormalization, LayerNormalization, Normalization,
                            UnitNormalization)
from .pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D, GlobalAveragePooling1D,
                      GlobalAveragePooling2D, GlobalAveragePooling3D, GlobalMaxPooling1D, GlobalMaxPooling2D,
                      GlobalMaxPooling3D, MaxPooling1D, MaxPooling2D, MaxPooling3D)
from .preprocessing import CenterCrop, Resizing
from .recurrent import GRU, LSTM, ConvLSTM1D, ConvLSTM2D, ConvLSTM3D, SimpleRNN
from .regularization import (ActivityRegularization, AlphaDropout, Dropout, GaussianDropout, GaussianNoise,
                             SpatialDropout1D, SpatialDropout2D, SpatialDropout3D)
from .reshaping import (Cropping1D, Cropping2D, Cropping3D, Reshape, UpSampling1D, UpSampling2D, UpSampling3D,
                        ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)
from .wrappers import Bidirectional, TimeDistributed

LAYER_CLASSES: tuple[type[Layer], ...] = (
    # convolution
    Conv1D, Conv2D, Conv3D, Conv1DTranspose, Conv2DTranspose, Conv3DTranspose,
    SeparableConv1D, SeparableConv2D, DepthwiseConv1D, DepthwiseConv2D,
    # pooling
    MaxPooling1D, MaxPooling2D, MaxPooling3D, AveragePooling1D, AveragePooling2D, AveragePooling3D,
    GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D,
    GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D,
    # core
    Dense, Flatten, Embedding, Rescaling, Masking, Permute, RepeatVector,
    # recurrent and wrappers
    SimpleRNN, LSTM, GRU, ConvLSTM1D, ConvLSTM2D, ConvLSTM3D, Bidirectional, TimeDistributed,
    # attention
    MultiHeadAttention, Attention, AdditiveAttention,
    # regularization
    Dropout, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D, GaussianNoise, GaussianDropout,
    AlphaDropout, ActivityRegularization,
    # normalization
    BatchNormalization, LayerNormalization, GroupNormalization, UnitNormalization, Normalization,
    # activations
    Activation, ReLU, LeakyReLU, Softmax, ELU, PReLU,
    # reshaping
    ZeroPadding1D, ZeroPadding2D, ZeroPadding3D, Cropping1D, Cropping2D, Cropping3D,
    UpSampling1D, UpSampling2D, UpSampling3D, Reshape,
    # preprocessing and augmentation
    Resizing, CenterCrop, RandomCrop, RandomFlip, RandomTranslation, RandomRotation, RandomZoom,
    RandomContrast, RandomBrightness,
    # merging
    Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot,
)

from .applications import TYPE_NAMES as _BASE_NAMES  # noqa: E402  (pretrained bases: keras.applications)
from .applications import application_class as _base_class  # noqa: E402


class _Registry(dict):
    """Type name -> class; the pretrained bases' classes are made on first use."""

    def __missing__(self, key):
        if key in _BASE_NAMES:
            return _base_class(key)
        raise KeyError(key)

    def __contains__(self, key) -> bool:
        return dict.__contains__(self, key) or key in _BASE_NAMES

    def get(self, key, default=None):
        return self[key] if key in self else default


#: Every accepted ``type`` (Keras 3 class name, Keras alias, R keras function, base name) -> its class.
BY_TYPE: dict[str, type[Layer]] = _Registry({t: cls for cls in LAYER_CLASSES for t in cls.type_names()})


def __getattr__(name: str):
    """``APPLICATION_CLASSES``: every pretrained base's class, made when first asked for."""
    if name == "APPLICATION_CLASSES":
        from .applications import application_classes

        return application_classes()
    raise AttributeError(name)

#: Keras class name -> layer class (what a built model's layers are called).
BY_KERAS_CLASS: dict[str, type[Layer]] = {cls.keras_class: cls for cls in LAYER_CLASSES}

#: Keras class names of the layers that are identity at inference (left out of exports).
TRAINING_ONLY = frozenset(cls.keras_class for cls in LAYER_CLASSES if cls.training_only)


def family(cls: type[Layer]) -> str:
    """The family a layer class belongs to (its module: conv, pooling, recurrent ...)."""
    return cls.__module__.rsplit(".", 1)[-1]


__all__ = [  # noqa: F822  (APPLICATION_CLASSES is served by __getattr__)
    "LAYER_CLASSES", "APPLICATION_CLASSES", "BY_TYPE", "BY_KERAS_CLASS", "TRAINING_ONLY", "Layer", "Count",
           "Weight",
           "Alternative", "family"] + [c.__name__ for c in LAYER_CLASSES]


def suggest_type(word: str) -> str:
    """`` (did you mean 'Conv2D'?)`` for a misspelt layer type, or ``""``: only for a different case or
    spelling of a known name with the same digits (Conv3d -> Conv3D), never for another type
    (Conv3D is not Conv2D, layer_lstm is not layer_flatten)."""
    import difflib
    import re

    def key(s: str) -> str:
        return re.sub(r"[_\s]", "", s).lower()

    if word in ("Functional", "Sequential", "Model"):
        return (" (Keras prints a nested model as one row of this type: write the base it is, such as "
                "type: VGG19, or its layers)")
    names = list(BY_TYPE) + list(_BASE_NAMES)
    by_key = {key(t): t for t in names}
    if key(word) in by_key:
        return f" (did you mean '{by_key[key(word)]}'?)"
    swapped = [by_key[k] for k in _adjacent_swaps(key(word)) if k in by_key]
    if swapped:
        return f" (did you mean '{swapped[0]}'?)"
    digits = re.sub(r"\D", "", word)
    close = [c for c in difflib.get_close_matches(word, names, n=5, cutoff=0.85)
             if re.sub(r"\D", "", c) == digits]
    return f" (did you mean '{close[0]}'?)" if close else ""


def _adjacent_swaps(word: str) -> list[str]:
    """Every spelling of ``word`` with two neighbouring letters swapped (Dnese -> Dense)."""
    return [word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1) if word[i] != word[i + 1]]


def index_source() -> str:
    """The text of ``_index.py``: every accepted type name and class name -> (family module, class)."""
    names = {t: (family(cls), cls.__name__) for cls in LAYER_CLASSES for t in (*cls.type_names(), cls.__name__)}
    lines = ['"""Generated by ``python -m cnnspec.layers.registry``: type name -> (family module, class name).',
             "", "Lets ``cnnspec.layers`` import only the family modules a spec uses (fast `cnnspec check`).", '"""',
             "INDEX: dict[str, tuple[str, str]] = {"]
    lines += [f"    {t!r}: {v!r}," for t, v in sorted(names.items())]
    return "\n".join(lines + ["}", ""])


if __name__ == "__main__":
    from pathlib import Path

    from cnnspec.runs.files import atomic_text

    atomic_text(Path(__file__).with_name("_index.py"), index_source())
    print("wrote", Path(__file__).with_name("_index.py"))
