"""Code generation for pretrained-base rows (keras.applications): the base is constructed once with
its input shape, frozen as declared, and called on its preprocessed input in inference mode.
Pure Python; used by codegen for R and Python."""
from __future__ import annotations

from typing import Any, Callable

from cnnspec.layers.shapes import Shape


def is_base(layer) -> bool:
    """True for a pretrained-base row."""
    return hasattr(type(layer), "keras_summary_type")


def _kwargs(layer, input_shape: Shape, name: str) -> dict[str, Any]:
    opts = {k: v for k, v in layer.options().items() if k not in type(layer).cnnspec_options}
    opts.setdefault("input_shape", list(input_shape))
    opts["name"] = name
    return opts


def _layer_before(layer, shape: Shape) -> str | None:
    """The Keras layer just before fine_tune_from (graph operations are not layers)."""
    prev = None
    for inner in layer.expand(shape):
        if inner.name == layer.fine_tune_from:
            return prev
        if inner.layer.keras_class != "Operation":
            prev = inner.name
    return None


def python_lines(layer, var: str, x: str, shape: Shape, name: str, value: Callable) -> list[str]:
    """Python: construct, freeze, preprocess and call."""
    cls = type(layer)
    args = ", ".join(f"{k}={value(v, k)}" for k, v in _kwargs(layer, shape, name).items())
    lines = [f"{var}_model = keras.applications.{cls.keras_class}({args})"]
    if not layer.trainable:
        lines.append(f"{var}_model.trainable = False")
    elif layer.fine_tune_from is not None:
        lines.append(f"for layer in {var}_model.layers[:[l.name for l in {var}_model.layers]"
                     f".index({value(layer.fine_tune_from)})]:")
        lines.append("    layer.trainable = False")
    if layer.preprocess and cls.preprocessing != "none":
        x = f"keras.applications.{cls.module}.preprocess_input({x})"
    return lines + [f"{var} = {var}_model({x}, training=False)"]


def r_lines(layer, var: str, x: str, shape: Shape, name: str, value: Callable) -> list[str]:
    """R keras3: construct, freeze_weights, preprocess and call."""
    cls = type(layer)
    args = ", ".join(f"{k} = {value(v, k)}" for k, v in _kwargs(layer, shape, name).items())
    lines = [f"{var}_model <- {cls.r_name}({args})"]
    if not layer.trainable:
        lines.append(f"freeze_weights({var}_model)")
    elif layer.fine_tune_from is not None:
        before = _layer_before(layer, shape)
        if before is not None:
            lines.append(f"freeze_weights({var}_model, to = {value(before)})")
    if layer.preprocess and cls.preprocessing != "none":
        x = f"keras$applications${cls.module}$preprocess_input({x})"
    return lines + [f"{var} <- {var}_model({x}, training = FALSE)"]
