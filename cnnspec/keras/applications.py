"""Build a keras.applications base from its spec row: the real model (so pretrained weights load),
the base's own preprocessing in front, frozen as declared. Imports Keras (only here and in build)."""
from __future__ import annotations

import re

from cnnspec.errors import SpecError


def _preprocess(row, inp):
    """keras.applications.<module>.preprocess_input on the input tensor (pixels in 0..255)."""
    import keras

    if not row.preprocess or row.preprocessing == "none":
        return inp
    module = getattr(keras.applications, row.module)
    return module.preprocess_input(inp)


def _weights_error(row, exc: Exception) -> SpecError:
    text = " ".join(str(exc).split())
    url = re.search(r"https?://\S+?\.h5", text)
    file = url.group(0).rsplit("/", 1)[-1] if url else f"the {row.keras_class} ImageNet weights"
    where = f" from {url.group(0)}" if url else ""
    return SpecError(f"{row.keras_class}: weights 'imagenet' could not be downloaded ({file}{where}); offline, "
                     f"give a local weights file saved by Keras: `weights: path/to/{file}` (or `weights: null` "
                     "for random initialisation)", field="weights")


def build_application(row, name: str | None, input_shape):
    """The keras.applications model for an Application row."""
    import keras

    fn = getattr(keras.applications, row.keras_class)
    shape = tuple(input_shape) if input_shape is not None else tuple(row.input_shape or ())
    if not shape:
        raise SpecError(f"{row.keras_class}: the input shape is unknown", field="input_shape")
    inp = keras.Input(shape=shape)
    kwargs = dict(include_top=row.include_top, weights=row.pretrained, input_tensor=_preprocess(row, inp),
                  pooling=row.pooling, classes=row.classes, classifier_activation=row.classifier_activation)
    if name:
        kwargs["name"] = name
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "weights for input shape (224, 224) will be loaded"
            model = fn(**kwargs)
    except Exception as exc:  # noqa: BLE001 - a download failure comes as several exception types
        if row.pretrained == "imagenet" and re.search(r"URL|fetch|download|resolve|connect|network|urlopen",
                                                      str(exc), re.I):
            raise _weights_error(row, exc) from exc
        raise SpecError(f"{row.keras_class}: Keras refused the options: {' '.join(str(exc).split())[:300]}",
                        field="weights" if row.pretrained not in (None, "imagenet") else None) from exc
    freeze(model, row)
    return model


def freeze(model, row) -> None:
    """``trainable: false`` freezes the whole base; ``fine_tune_from: NAME`` freezes the layers before NAME."""
    if not row.trainable:
        model.trainable = False
        return
    if row.fine_tune_from is None:
        return
    names = [layer.name for layer in model.layers]
    if row.fine_tune_from not in names:
        raise SpecError(f"fine_tune_from: no layer '{row.fine_tune_from}' in {row.keras_class}", field="fine_tune_from")
    for layer in model.layers[:names.index(row.fine_tune_from)]:
        layer.trainable = False
