"""The layer registry: one class per Keras layer type, grouped by family (one module each).

Loaded lazily: :func:`lookup` imports only the family module of the type asked for (through the
generated ``_index``), so checking a CNN does not define the recurrent or attention classes.
``LAYER_CLASSES``, ``BY_TYPE``, ``BY_KERAS_CLASS``, ``TRAINING_ONLY``, ``APPLICATION_CLASSES``,
``family``, ``suggest_type`` and every class by name are served from :mod:`cnnspec.layers.registry`
on first access (importing every family).
"""
import importlib

from ._index import INDEX
from .base import Alternative, Count, Layer, Weight


def lookup(type_name: str) -> "type[Layer] | None":
    """The class for a spec row's ``type`` (Keras class, alias, R function or pretrained base), or None."""
    hit = INDEX.get(type_name)
    if hit is not None:
        return getattr(importlib.import_module(f"{__name__}.{hit[0]}"), hit[1])
    from .applications import TYPE_NAMES, application_class

    return application_class(type_name) if type_name in TYPE_NAMES else None


def __getattr__(name: str):
    hit = INDEX.get(name)
    if hit is not None and hit[1] == name:
        return getattr(importlib.import_module(f"{__name__}.{hit[0]}"), name)
    if name.startswith("__") or name in ("registry", "applications"):
        raise AttributeError(name)
    return getattr(importlib.import_module(f"{__name__}.registry"), name)


__all__ = ["Alternative", "Count", "Layer", "Weight", "lookup"]
