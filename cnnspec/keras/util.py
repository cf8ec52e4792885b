"""Conversion of spec option values to Keras objects. Keras is imported lazily, only when a
value needs a Keras object (regularizers given as mappings)."""
from __future__ import annotations

import os
import sys
import warnings
from typing import Any

from cnnspec.errors import CnnspecError

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


def import_keras_quietly(with_tf2onnx: bool = False) -> None:
    """Import TensorFlow/Keras (and tf2onnx) with their C++ start-up chatter (CUDA probing) swallowed;
    a missing package is a one-line error naming the extra to install."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    if "keras" in sys.modules and "tensorflow" in sys.modules and (not with_tf2onnx or "tf2onnx" in sys.modules):
        return
    from cnnspec.deploy.runtime import _captured_fds

    missing = None
    with _captured_fds(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        except ImportError as exc:
            missing = exc.name or "tensorflow"
        if with_tf2onnx and not missing:
            try:
                import tf2onnx  # noqa: F401
            except ImportError:
                pass
    import logging

    for name in ("tf2onnx", "tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if missing:
        raise CnnspecError(f"Keras models need TensorFlow/Keras ({missing} is not installed): "
                           "pip install 'cnnspec[train]', or use an exported .onnx model")


def set_thread_pools(n: int | None) -> None:
    """Size TensorFlow's intra-op pool to ``n`` threads (inter-op to at most 2) before any op runs,
    so concurrent trials on a few cores do not thrash. ``None``/0 leaves TensorFlow's defaults."""
    if not n:
        return
    import_keras_quietly()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(n)
    tf.config.threading.set_inter_op_parallelism_threads(min(n, 2))
