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
#: Keras initializers' default arguments (an initializer saved with only these is written by name).
_INIT_DEFAULTS = {"Orthogonal": {"gain": 1.0}, "Identity": {"gain": 1.0}, "Constant": {"value": 0.0},
                  "RandomNormal": {"mean": 0.0, "stddev": 0.05}, "TruncatedNormal": {"mean": 0.0, "stddev": 0.05},
                  "RandomUniform": {"minval": -0.05, "maxval": 0.05}}
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
        cfg = {k: v for k, v in cfg.items() if k not in ("input_axes", "output_axes")
               and _INIT_DEFAULTS.get(cname, {}).get(k, object()) != v}
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
    """The spec options of one saved layer (non-default values only). Numeric and boolean settings
    cnnspec does not model (a momentum used only when a feature is off, zero_output_for_mask) are
    dropped and listed in ``dropped`` (the counts are checked against the weights); other unknown
    settings are refused."""
    out: dict[str, Any] = {}
    for key, raw in cfg.items():
        if key in _BOOKKEEPING or key in Layer.META:
            continue
        if key in ("layer", "backward_layer") and isinstance(raw, dict) and "class_name" in raw:
            if key == "backward_layer" and _mirrors(raw, cfg.get("layer")):
                continue  # the backward copy Keras makes of the forward layer
            out[key] = _nested(raw, file, name, dropped)  # Bidirectional / TimeDistributed
            continue
        value = _object(key, raw)
        if key not in cls.model_fields:
            if value in _NEUTRAL or (isinstance(value, (list, dict)) and not value):
                continue
            if isinstance(value, (int, float)) and dropped is not None:
                dropped.append(f"{name}.{key} = {value!r}")
                continue
            raise SpecError(f"layer '{name}' ({cls.keras_class}) sets {key} = {value!r}, which cnnspec does not "
                            "model", file=file)
        if not _is_default(cls, key, value):
            out[key] = _collapse(cls, key, value)
    return out


def _mirrors(back: dict, forward: Any) -> bool:
    """Keras saves Bidirectional's backward layer: the forward one with go_backwards flipped."""
    if not isinstance(forward, dict) or back.get("class_name") != forward.get("class_name"):
        return False
    ignore = {"name", "go_backwards", "dtype"}
    b = {k: _no_ids(v) for k, v in (back.get("config") or {}).items() if k not in ignore}
    f = {k: _no_ids(v) for k, v in (forward.get("config") or {}).items() if k not in ignore}
    return b == f and bool((back.get("config") or {}).get("go_backwards")) != bool(
        (forward.get("config") or {}).get("go_backwards"))


def _no_ids(v: Any) -> Any:
    """A saved value without Keras's object-sharing ids (``shared_object_id``)."""
    if isinstance(v, dict):
        return {k: _no_ids(x) for k, x in v.items() if k != "shared_object_id"}
    return [_no_ids(x) for x in v] if isinstance(v, list) else v


def _nested(raw: dict, file: str, name: str, dropped: list[str] | None) -> dict[str, Any]:
    """A wrapped layer's configuration as a nested row ``{type: LSTM, units: 32}``."""
    from cnnspec.interop.import_common import layer_class

    inner = layer_class(str(raw["class_name"]))
    if inner is None:
        raise SpecError(f"layer '{name}' wraps a {raw['class_name']}, which cnnspec does not model", file=file)
    return {"type": inner.keras_class, **layer_options(inner, raw.get("config") or {}, file, name, dropped)}


def _collapse(cls: type[Layer], key: str, value: Any) -> Any:
    """``[3, 3]`` -> ``3`` where the option takes a size or a tuple (as the spec would be written)."""
    ann = str(cls.model_fields[key].annotation)
    if isinstance(value, list) and value and len(set(map(repr, value))) == 1 and isinstance(value[0], int) \
            and "tuple" in ann and "int" in ann:
        return value[0]
    return value
