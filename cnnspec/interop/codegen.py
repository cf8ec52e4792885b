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

from cnnspec.interop.codegen_bases import is_base, python_lines, r_lines
from cnnspec.layers import Layer



def ordered_options(row: Row) -> dict[str, Any]:
    """The explicit options, Keras's positional parameters first (filters, kernel_size, ...)."""
    return _ordered(row.layer)


def _ordered(layer: Layer) -> dict[str, Any]:
    opts = layer.options()
    first = [k for k in type(layer).positional if k in opts]
    return {**{k: opts[k] for k in first}, **{k: v for k, v in opts.items() if k not in first}}


def is_sequential(spec: Spec) -> bool:
    """True when the spec is a plain chain (no ``inputs:``, one input, one output), so Sequential code can
    express it."""
    if spec.input_names != [INPUT] or spec.outputs != [spec.rows[-1].name]:
        return False
    prev = INPUT
    for row in spec.rows:
        if row.inputs != [prev]:
            return False
        prev = row.name
    return True


def _functional_only(spec: Spec) -> bool:
    """Pretrained bases are constructed before the model: such specs use the functional API."""
    return spec.batch_size is not None or any(is_base(r.layer) for r in spec.rows)


def _input_shapes(spec: Spec) -> dict[str, Any]:
    from cnnspec.check.infer import infer

    return {r.row.name: r.input_shapes[0] for r in infer(spec) if r.input_shapes}


def _regularizer(value: dict) -> dict | None:
    if set(value) <= {"l1", "l2"} and value:
        return {k: float(v) for k, v in value.items()}
    return None


# ---------------------------------------------------------------------------------------------- R
def r_value(v: Any, key: str = "") -> str:
    """A Python option value as R source text (vectors with ``c()``, ``NULL``, ``TRUE``/``FALSE``)."""
    if isinstance(v, Layer):
        return _r_layer(v)
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
    return _r_layer_args(row.layer, row.name)


def _r_layer_args(layer: Layer, name: str | None) -> list[str]:
    args = [f"{k} = {r_value(v, k)}" for k, v in _ordered(layer).items()]
    if not layer.trainable:
        args.append("trainable = FALSE")
    if name is not None:
        args.append(f"name = {r_value(name)}")
    return args


def _r_layer(layer: Layer) -> str:
    """A nested layer (wrapped by TimeDistributed or Bidirectional) as an R call without input."""
    return f"{type(layer).r_name}({', '.join(_r_layer_args(layer, layer.name))})"


def _r_call(row: Row, first: str | None = None) -> str:
    args = ([first] if first else []) + _r_args(row)
    return f"{type(row.layer).r_name}({', '.join(args)})"


#: R packages the generated R code can target: keras3 (Keras 3; the default) or keras (2.x, Keras 2).
R_TARGETS = {"keras3": "the R package keras3 (>= 1.0; Keras 3)",
             "keras": "the R package keras (2.13 to 2.15; Keras 2, TensorFlow <= 2.15)"}


def to_r(spec: Spec, target: str = "keras3") -> str:
    """R code for the keras3 package (native pipe, ``keras_input``) or, with ``target="keras"``, the
    keras 2.x package (``%>%``, ``layer_input``; it has no ``keras_input``)."""
    from cnnspec.interop.codegen_train import r_train
    from cnnspec.keras.build import _model_name

    if target not in R_TARGETS:
        raise SpecError(f"unknown R target '{target}': use {' or '.join(R_TARGETS)}", field="target")
    k3 = target == "keras3"
    pipe = "|>" if k3 else "%>%"
    head = [f"# {spec.label}: generated by `cnnspec code --lang r` from {spec.file}",
            f"# Targets {R_TARGETS[target]}.", f"library({target})", ""]
    shape = r_value(list(spec.input_shape))
    name = r_value(_model_name(spec.label))
    dtype = spec.input_dtype != "float32"
    train = r_train(spec, r_value, pipe, target)
    if is_sequential(spec) and not _functional_only(spec):
        dt = f", {'input_dtype' if k3 else 'dtype'} = {r_value(spec.input_dtype)}" if dtype else ""
        lines = [f"model <- keras_model_sequential(input_shape = {shape}{dt}, name = {name})"]
        for row in spec.rows:
            lines[-1] += f" {pipe}"
            lines.append("  " + _r_call(row))
        return "\n".join(head + lines + ["", "summary(model)"] + train + [""])
    var: dict[str, str] = {}
    lines = []
    for inp in spec.inputs:
        v = "inputs" if spec.input_names == [INPUT] else _r_var(inp.name, var)
        dt = f", dtype = {r_value(inp.dtype)}" if inp.dtype != "float32" else ""
        dt += f", batch_size = {spec.batch_size}" if spec.batch_size is not None else ""
        lines.append(f"{v} <- {'keras_input' if k3 else 'layer_input'}(shape = {r_value(list(inp.shape))}{dt}, "
                     f"name = {r_value(inp.name)})")
        var[inp.name] = v
    shapes = _input_shapes(spec) if _functional_only(spec) else {}
    for row in spec.rows:
        v = _r_var(row.name, var)
        if is_base(row.layer):
            lines += r_lines(row.layer, v, var[row.inputs[0]], shapes[row.name], row.name, r_value)
        elif row.layer.arity is None:
            ins = ", ".join(var[n] for n in row.inputs)
            lines.append(f"{v} <- {_r_call(row, f'list({ins})')}")
        else:
            lines.append(f"{v} <- {var[row.inputs[0]]} {pipe}\n  {_r_call(row)}")
        var[row.name] = v
    lines.append(f"model <- keras_model(inputs = {_listed(spec.input_names, var, 'list(')}, "
                 f"outputs = {_listed(spec.outputs, var, 'list(')}, name = {name})")
    return "\n".join(head + lines + ["", "summary(model)"] + train + [""])


def _listed(names: list[str], var: dict[str, str], open_: str) -> str:
    """One variable, or several as an R ``list(a, b)`` / a Python ``[a, b]`` (``open_``: ``list(`` or ``[``)."""
    if len(names) == 1:
        return var[names[0]]
    return open_ + ", ".join(var[n] for n in names) + (")" if open_ == "list(" else "]")


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
    """A Python option value as Python source text (tuples for shapes, regularizer shorthands expanded)."""
    if isinstance(v, Layer):
        return _py_layer(v, v.name)
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
    return _py_layer(row.layer, row.name)


def _py_layer(layer: Layer, name: str | None) -> str:
    cls = type(layer)
    opts = _ordered(layer)
    args = []
    for p in cls.positional[:cls.py_positional]:
        if p not in opts:
            break
        args.append(py_value(opts.pop(p), p))
    args += [f"{k}={py_value(v, k)}" for k, v in opts.items()]
    if not layer.trainable:
        args.append("trainable=False")
    if name is not None:
        args.append(f"name={py_value(name)}")
    return f"keras.layers.{cls.keras_class}({', '.join(args)})"


def _py_input(spec: Spec, index: int = 0) -> str:
    inp = spec.inputs[index]
    dtype = f", dtype={py_value(inp.dtype)}" if inp.dtype != "float32" else ""
    dtype += f", batch_size={spec.batch_size}" if spec.batch_size is not None else ""
    return f"keras.Input(shape={py_value(tuple(inp.shape))}{dtype}, name={py_value(inp.name)})"


def to_python(spec: Spec) -> str:
    """Python Keras 3 code (Sequential or functional), with compile()/fit() from the train section."""
    from cnnspec.interop.codegen_train import py_train
    from cnnspec.keras.build import _model_name

    head = [f"# {spec.label}: generated by `cnnspec code --lang python` from {spec.file}", "import keras", ""]
    name = py_value(_model_name(spec.label))
    if is_sequential(spec) and not _functional_only(spec):
        lines = ["model = keras.Sequential(["]
        lines.append(f"    {_py_input(spec)},")
        lines += [f"    {_py_call(row)}," for row in spec.rows]
        lines.append(f"], name={name})")
        return "\n".join(head + lines + ["", "model.summary()"] + py_train(spec, py_value) + [""])
    var: dict[str, str] = {}
    lines = []
    for k, inp in enumerate(spec.inputs):
        var[inp.name] = "inputs" if spec.input_names == [INPUT] else _py_var(inp.name, var)
        lines.append(f"{var[inp.name]} = {_py_input(spec, k)}")
    shapes = _input_shapes(spec) if _functional_only(spec) else {}
    for row in spec.rows:
        v = _py_var(row.name, var)
        if is_base(row.layer):
            lines += python_lines(row.layer, v, var[row.inputs[0]], shapes[row.name], row.name, py_value)
            var[row.name] = v
            continue
        if row.layer.arity is None:
            ins = ", ".join(var[n] for n in row.inputs)
            ins = ins if row.layer.call_with_args else f"[{ins}]"
        else:
            ins = var[row.inputs[0]]
        lines.append(f"{v} = {_py_call(row)}({ins})")
        var[row.name] = v
    lines.append(f"model = keras.Model(inputs={_listed(spec.input_names, var, '[')}, "
                 f"outputs={_listed(spec.outputs, var, '[')}, name={name})")
    return "\n".join(head + lines + ["", "model.summary()"] + py_train(spec, py_value) + [""])


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


def generate(spec: Spec, lang: str, target: str = "keras3", force: bool = False) -> str:
    """The spec as ``lang`` ("r" or "python") code; R code for ``target`` (keras3 or keras).

    A spec that fails ``cnnspec check`` (its computed shapes or counts disagree with the printed
    ones) is refused unless ``force``: the code would build a network other than the paper's table.
    """
    lang = lang.lower()
    if lang not in ("r", "python", "py"):
        raise SpecError(f"unknown language '{lang}': use r or python", field="lang")
    if not force:
        from cnnspec.check.infer import check

        rep = check(spec)
        if not rep.ok:
            m = rep.mismatches[0]
            first = m.message(spec.file).split(": ", 1)[1]  # without the file:line prefix, given below
            raise SpecError(f"the spec fails check, so no code is written (fix the spec, or --force): "
                            f"{len(rep.mismatches)} mismatch(es) with the printed table, the first: {first}",
                            file=spec.file, line=m.line)
    if lang == "r":
        return to_r(spec, target)
    return to_python(spec)
