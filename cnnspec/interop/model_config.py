"""One Keras layer configuration (as saved in .keras / .h5 / to_json) -> the spec options that
differ from Keras's defaults. Serialized objects become spec values: ``{"class_name": "L2",
"config": {"l2": 0.001}}`` -> ``{l2: 0.001}``, an initializer without arguments -> its name.
Options cnnspec does not model are dropped when they hold Keras's neutral value and refused
otherwise (never silently changed). Pure Python."""
from __future__ import annotations

from typing import Any

from cnnspec.errors import SpecError
from cnnspec.interop.import_train import snake
from cnnspec.layers import Layer

#: Keras's defaults for serialized objects, by option name (the same for every layer class).
_OBJECT_DEFAULTS = {"kernel_initializer": "glorot_uniform", "bias_initializer": "zeros",
                    "embeddings_initializer": "uniform", "recurrent_initializer": "orthogonal",
                    "depthwise_initializer": "glorot_uniform", "pointwise_initializer": "glorot_uniform",
                    "beta_initializer": "zeros", "gamma_initializer": "ones",
                    "moving_mean_initializer": "zeros", "moving_variance_initializer": "ones",
                    "alpha_initializer": "zeros"}
#: Configuration keys that are not layer options (bookkeeping of the saved file).
_BOOKKEEPING = {"name", "trainable", "dtype", "batch_input_shape", "batch_shape", "input_shape",
                "build_config", "compile_config", "registered_name", "module"}
_NEUTRAL = (None, False, 0, 0.0, "channels_last", "linear", {}, [])


def _object(key: str, value: Any) -> Any:
    """A serialized Keras object as a spec value."""
    if not isinstance(value, dict) or "class_name" not in value:
        return value
    cname, cfg = value["class_name"], {k: v for k, v in (value.get("config") or {}).items() if v is not None}
    if key.endswith("regularizer") and cname in ("L1", "L2", "L1L2"):
        return {k: float(v) for k, v in cfg.items() if k in ("l1", "l2") and v}
    if key.endswith("initializer"):
        cfg = {k: v for k, v in cfg.items() if k not in ("input_axes", "output_axes")}
        return snake(cname) if not cfg else {"class_name": cname, "config": cfg}
    if key == "activation" or key.endswith("activation"):
        return cfg.get("name", snake(cname))
    return {"class_name": cname, "config": cfg}


def _is_default(cls: type[Layer], key: str, value: Any) -> bool:
    info = cls.model_fields[key]
    if info.is_required():
        return False
    default = info.default
    if value == default or (value == "linear" and default is None and "activation" in key):
        return True
    if isinstance(value, list) and value and all(v == default for v in value):
        return True  # strides [1, 1] for 1
    if default is None and _OBJECT_DEFAULTS.get(key) == value:
        return True
    return default is None and value == "channels_last"


def layer_options(cls: type[Layer], cfg: dict, file: str, name: str,
                  dropped: list[str] | None = None) -> dict[str, Any]:
    """The spec options of one saved layer (non-default values only). Numeric settings cnnspec does
    not model (a momentum used only when a feature is off) are dropped and listed in ``dropped``;
    anything that switches a feature on is refused."""
    out: dict[str, Any] = {}
    for key, raw in cfg.items():
        if key in _BOOKKEEPING or key in Layer.META:
            continue
        value = _object(key, raw)
        if key not in cls.model_fields:
            if value in _NEUTRAL or (isinstance(value, (list, dict)) and not value):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool) and dropped is not None:
                dropped.append(f"{name}.{key} = {value!r}")
                continue
            raise SpecError(f"layer '{name}' ({cls.keras_class}) sets {key} = {value!r}, which cnnspec does not "
                            "model", file=file)
        if not _is_default(cls, key, value):
            out[key] = _collapse(cls, key, value)
    return out


def _collapse(cls: type[Layer], key: str, value: Any) -> Any:
    """``[3, 3]`` -> ``3`` where the option takes a size or a tuple (as the spec would be written)."""
    ann = str(cls.model_fields[key].annotation)
    if isinstance(value, list) and value and len(set(map(repr, value))) == 1 and isinstance(value[0], int) \
            and "tuple" in ann and "int" in ann:
        return value[0]
    return value
