"""Spec -> the equivalent R keras or Python Keras 3 code, runnable as printed. Pure Python.

Sequential specs (every row takes the previous one) give ``keras_model_sequential() |> ...``
(R) or ``keras.Sequential([...])`` (Python); graph specs (rows with ``inputs``: Add,
Concatenate ...) give the functional API. Only the options the spec set explicitly are
written (Keras's defaults apply to the rest), plus every layer's name.
"""
from __future__ import annotations

import re
from typing import Any

from cnnspec.errors import SpecError
from cnnspec.spec.loader import INPUT, Row, Spec

#: Keras 3 positional parameters, in signature order (used by the importer, and by the
#: Python generator for the first, most readable ones).
POSITIONAL: dict[str, tuple[str, ...]] = {
    "Conv1D": ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups",
               "activation", "use_bias"),
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups",
               "activation", "use_bias"),
    "Conv2DTranspose": ("filters", "kernel_size", "strides", "padding"),
    "SeparableConv2D": ("filters", "kernel_size", "strides", "padding"),
    "DepthwiseConv2D": ("kernel_size", "strides", "padding"),
    "MaxPooling1D": ("pool_size", "strides", "padding", "data_format"),
    "MaxPooling2D": ("pool_size", "strides", "padding", "data_format"),
    "AveragePooling1D": ("pool_size", "strides", "padding", "data_format"),
    "AveragePooling2D": ("pool_size", "strides", "padding", "data_format"),
    "GlobalMaxPooling1D": ("data_format", "keepdims"),
    "GlobalMaxPooling2D": ("data_format", "keepdims"),
    "GlobalAveragePooling1D": ("data_format", "keepdims"),
    "GlobalAveragePooling2D": ("data_format", "keepdims"),
    "Flatten": ("data_format",),
    "Dense": ("units", "activation", "use_bias"),
    "Dropout": ("rate", "noise_shape", "seed"),
    "SpatialDropout1D": ("rate", "seed"),
    "SpatialDropout2D": ("rate", "data_format", "seed"),
    "BatchNormalization": ("axis", "momentum", "epsilon", "center", "scale"),
    "LayerNormalization": ("axis", "epsilon", "center", "scale"),
    "Activation": ("activation",),
    "ReLU": ("max_value", "negative_slope", "threshold"),
    "LeakyReLU": ("negative_slope",),
    "Softmax": ("axis",),
    "ZeroPadding1D": ("padding",),
    "ZeroPadding2D": ("padding", "data_format"),
    "Cropping1D": ("cropping",),
    "Cropping2D": ("cropping", "data_format"),
    "UpSampling1D": ("size",),
    "UpSampling2D": ("size", "data_format", "interpolation"),
    "Reshape": ("target_shape",),
    "Embedding": ("input_dim", "output_dim"),
    "Rescaling": ("scale", "offset"),
    "RandomFlip": ("mode", "seed"),
    "RandomTranslation": ("height_factor", "width_factor", "fill_mode", "interpolation", "seed"),
    "RandomRotation": ("factor", "fill_mode", "interpolation", "seed"),
    "RandomZoom": ("height_factor", "width_factor", "fill_mode", "interpolation", "seed"),
    "Concatenate": ("axis",),
}

#: How many leading parameters the Python generator writes positionally, Keras-example style:
#: ``Conv2D(32, (3, 3), activation="relu")``, ``Dense(128)``, ``Dropout(0.25)``.
_PY_POSITIONAL = {"Conv1D": 2, "Conv2D": 2, "Conv2DTranspose": 2, "SeparableConv2D": 2, "Dense": 1,
                  "Dropout": 1, "SpatialDropout1D": 1, "SpatialDropout2D": 1, "MaxPooling1D": 1,
                  "MaxPooling2D": 1, "AveragePooling1D": 1, "AveragePooling2D": 1, "Activation": 1,
                  "Reshape": 1}


def ordered_options(row: Row) -> dict[str, Any]:
    """The explicit options, Keras's positional parameters first (filters, kernel_size, ...)."""
    opts = row.layer.options()
    first = [k for k in POSITIONAL.get(row.layer.keras_class, ()) if k in opts]
    return {**{k: opts[k] for k in first}, **{k: v for k, v in opts.items() if k not in first}}


def is_sequential(spec: Spec) -> bool:
    prev = INPUT
    for row in spec.rows:
        if row.inputs != [prev]:
            return False
        prev = row.name
    return True


def _regularizer(value: dict) -> dict | None:
    if set(value) <= {"l1", "l2"} and value:
        return {k: float(v) for k, v in value.items()}
    return None


# ---------------------------------------------------------------------------------------------- R
def r_value(v: Any, key: str = "") -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if v == v and v not in (float("inf"), float("-inf")) else (
            "NaN" if v != v else ("Inf" if v > 0 else "-Inf"))
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        scalar = all(isinstance(x, (int, float, str)) for x in v)
        inner = ", ".join(r_value(x) for x in v)
        return f"c({inner})" if scalar and v else f"list({inner})"
    if isinstance(v, dict):
        reg = _regularizer(v) if key.endswith("regularizer") else None
        if reg is not None:
            if set(reg) == {"l2"}:
                return f"regularizer_l2(l2 = {r_value(reg['l2'])})"
            if set(reg) == {"l1"}:
                return f"regularizer_l1(l1 = {r_value(reg['l1'])})"
            return f"regularizer_l1_l2(l1 = {r_value(reg['l1'])}, l2 = {r_value(reg['l2'])})"
        items = ", ".join(f"{_r_name(str(k))} = {r_value(x)}" for k, x in v.items())
        return f"list({items})"
    raise SpecError(f"cannot write {v!r} as an R value")


def _r_name(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z.][A-Za-z0-9._]*", k) else f"`{k}`"


def _r_args(row: Row) -> list[str]:
    args = [f"{k} = {r_value(v, k)}" for k, v in ordered_options(row).items()]
    if not row.layer.trainable:
        args.append("trainable = FALSE")
    args.append(f"name = {r_value(row.name)}")
    return args


def _r_call(row: Row, first: str | None = None) -> str:
    args = ([first] if first else []) + _r_args(row)
    return f"{type(row.layer).r_name}({', '.join(args)})"


def to_r(spec: Spec) -> str:
    head = [f"# {spec.label}: generated by `cnnspec code --lang r` from {spec.file}",
            "library(keras3)  # R keras 3; with the older 'keras' package use library(keras)", ""]
    from cnnspec.keras.build import _model_name

    shape = r_value(list(spec.input_shape))
    name = r_value(_model_name(spec.label))
    if is_sequential(spec):
        lines = [f"model <- keras_model_sequential(input_shape = {shape}, name = {name})"]
        for row in spec.rows:
            lines[-1] += " |>"
            lines.append("  " + _r_call(row))
        return "\n".join(head + lines + ["", "summary(model)", ""])
    var = {INPUT: "inputs"}
    lines = [f"inputs <- keras_input(shape = {shape}, name = \"input\")"]
    for row in spec.rows:
        v = _r_var(row.name, var)
        if row.layer.arity is None:
            ins = ", ".join(var[n] for n in row.inputs)
            lines.append(f"{v} <- {_r_call(row, f'list({ins})')}")
        else:
            lines.append(f"{v} <- {var[row.inputs[0]]} |>\n  {_r_call(row)}")
        var[row.name] = v
    lines.append(f"model <- keras_model(inputs = inputs, outputs = {var[spec.rows[-1].name]}, "
                 f"name = {name})")
    return "\n".join(head + lines + ["", "summary(model)", ""])


def _r_var(name: str, taken: dict) -> str:
    v = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not re.match(r"[A-Za-z]", v):
        v = "x_" + v
    if v in ("inputs", "model", "TRUE", "FALSE", "NULL", "function", "if", "else", "for", "in"):
        v = v + "_"
    base, k = v, 1
    while v in taken.values():
        v = f"{base}_{k}"
        k += 1
    return v


# ---------------------------------------------------------------------------------------------- Python
def py_value(v: Any, key: str = "") -> str:
    if v is None or isinstance(v, (bool, int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        inner = ", ".join(py_value(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, dict):
        reg = _regularizer(v) if key.endswith("regularizer") else None
        if reg is not None:
            if set(reg) == {"l2"}:
                return f"keras.regularizers.L2({reg['l2']!r})"
            if set(reg) == {"l1"}:
                return f"keras.regularizers.L1({reg['l1']!r})"
            return f"keras.regularizers.L1L2(l1={reg['l1']!r}, l2={reg['l2']!r})"
        return "{" + ", ".join(f"{py_value(str(k))}: {py_value(x)}" for k, x in v.items()) + "}"
    raise SpecError(f"cannot write {v!r} as a Python value")


def _py_call(row: Row) -> str:
    cls = row.layer.keras_class
    opts = ordered_options(row)
    pos = POSITIONAL.get(cls, ())[:_PY_POSITIONAL.get(cls, 0)]
    args = []
    for p in pos:
        if p not in opts:
            break
        args.append(py_value(opts.pop(p), p))
    args += [f"{k}={py_value(v, k)}" for k, v in opts.items()]
    if not row.layer.trainable:
        args.append("trainable=False")
    args.append(f"name={py_value(row.name)}")
    return f"keras.layers.{cls}({', '.join(args)})"


def _py_input(spec: Spec) -> str:
    dtype = f", dtype={py_value(spec.input_dtype)}" if spec.input_dtype != "float32" else ""
    return f"keras.Input(shape={py_value(tuple(spec.input_shape))}{dtype}, name=\"input\")"


def to_python(spec: Spec) -> str:
    from cnnspec.keras.build import _model_name

    head = [f"# {spec.label}: generated by `cnnspec code --lang python` from {spec.file}", "import keras", ""]
    name = py_value(_model_name(spec.label))
    if is_sequential(spec):
        lines = ["model = keras.Sequential(["]
        lines.append(f"    {_py_input(spec)},")
        lines += [f"    {_py_call(row)}," for row in spec.rows]
        lines.append(f"], name={name})")
        return "\n".join(head + lines + ["", "model.summary()", ""])
    var = {INPUT: "inputs"}
    lines = [f"inputs = {_py_input(spec)}"]
    for row in spec.rows:
        v = _py_var(row.name, var)
        if row.layer.arity is None:
            ins = "[" + ", ".join(var[n] for n in row.inputs) + "]"
        else:
            ins = var[row.inputs[0]]
        lines.append(f"{v} = {_py_call(row)}({ins})")
        var[row.name] = v
    lines.append(f"model = keras.Model(inputs=inputs, outputs={var[spec.rows[-1].name]}, name={name})")
    return "\n".join(head + lines + ["", "model.summary()", ""])


_PY_RESERVED = {"inputs", "model", "keras", "None", "True", "False", "and", "or", "not", "in", "is", "if",
                "else", "for", "while", "def", "class", "return", "import", "from", "as", "with", "lambda",
                "pass", "break", "continue", "global", "del", "try", "except", "finally", "raise", "yield",
                "assert", "async", "await", "elif", "nonlocal", "print", "input"}


def _py_var(name: str, taken: dict) -> str:
    v = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not re.match(r"[A-Za-z_]", v):
        v = "x_" + v
    if v in _PY_RESERVED:
        v = v + "_"
    base, k = v, 1
    while v in taken.values():
        v = f"{base}_{k}"
        k += 1
    return v


def generate(spec: Spec, lang: str) -> str:
    lang = lang.lower()
    if lang == "r":
        return to_r(spec)
    if lang in ("python", "py"):
        return to_python(spec)
    raise SpecError(f"unknown language '{lang}': use r or python", field="lang")
