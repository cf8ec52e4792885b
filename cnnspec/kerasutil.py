"""Conversion of spec option values to Keras objects. Keras is imported lazily, only when a
value needs a Keras object (regularizers given as mappings)."""
from __future__ import annotations

from typing import Any

_REGULARIZER_KEYS = {"l1", "l2"}


def to_keras_value(key: str, value: Any) -> Any:
    """Lists become tuples; ``{l2: 0.001}`` becomes ``keras.regularizers.L1L2``; the rest passes."""
    if isinstance(value, list):
        return tuple(to_keras_value(key, v) for v in value)
    if isinstance(value, tuple):
        return tuple(to_keras_value(key, v) for v in value)
    if isinstance(value, dict) and key.endswith("regularizer") and set(value) <= _REGULARIZER_KEYS:
        import keras

        return keras.regularizers.L1L2(l1=float(value.get("l1", 0.0)), l2=float(value.get("l2", 0.0)))
    if isinstance(value, dict) and "class_name" in value:
        import keras

        kind = "regularizers" if key.endswith("regularizer") else (
            "initializers" if key.endswith("initializer") else "constraints" if key.endswith("constraint") else None)
        if kind:
            return getattr(keras, kind).deserialize(dict(value))
    return value
