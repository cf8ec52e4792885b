"""R keras or Python Keras code -> a spec, by parsing (the code is never run). Pure Python.

R: a small tokenizer and recursive-descent parser for the subset model definitions use
(``%>%``/``|>`` pipelines, ``<-``, calls with named arguments, ``c(...)``, ``list(...)``,
``TRUE``/``FALSE``/``NULL``, comments, continuation lines), then an interpreter that follows
the model through the pipes. Python: the ``ast`` module, ``keras.Sequential([...])``,
``model.add(...)`` and the functional API. Variables bound to literal values earlier in the
file (``num_classes <- 10``) are substituted; any other non-literal argument, an unknown
layer function or an unsupported construct is a one-line :class:`SpecError` with file and line.
"""
from __future__ import annotations

import ast
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cnnspec.interop.codegen import POSITIONAL
from cnnspec.errors import SpecError
from cnnspec.layers import LAYER_CLASSES, Layer
from cnnspec.layers.base import snake_case
from cnnspec.spec.loader import INPUT, _Expander, suggest
from cnnspec.spec.yamlio import LineDict, read_text

R_LAYERS: dict[str, type[Layer]] = {c.r_name: c for c in LAYER_CLASSES}
PY_LAYERS: dict[str, type[Layer]] = {c.keras_class: c for c in LAYER_CLASSES}
PY_ALIASES = {"Convolution1D": "Conv1D", "Convolution2D": "Conv2D", "Convolution2DTranspose": "Conv2DTranspose",
              "SeparableConvolution2D": "SeparableConv2D", "MaxPool1D": "MaxPooling1D", "MaxPool2D": "MaxPooling2D",
              "AvgPool1D": "AveragePooling1D", "AvgPool2D": "AveragePooling2D",
              "GlobalMaxPool1D": "GlobalMaxPooling1D", "GlobalMaxPool2D": "GlobalMaxPooling2D",
              "GlobalAvgPool1D": "GlobalAveragePooling1D", "GlobalAvgPool2D": "GlobalAveragePooling2D"}
R_ALIASES = {"layer_conv_2d_transpose": "layer_conv_2d_transpose", "layer_max_pool_2d": "layer_max_pooling_2d",
             "layer_average_pool_2d": "layer_average_pooling_2d", "layer_up_sampling_2d": "layer_upsampling_2d",
             "layer_up_sampling_1d": "layer_upsampling_1d"}
#: Keras 2 spellings of options that Keras 3 renamed.
RENAMED = {("LeakyReLU", "alpha"): "negative_slope"}
#: Calls on a model that do not change its architecture.
VERBS = {"compile", "fit", "evaluate", "predict", "summary", "print", "plot", "save_model", "save_model_tf",
         "save_model_hdf5", "save_model_weights_tf", "save_model_weights_hdf5", "export_savedmodel",
         "freeze_weights", "unfreeze_weights", "get_weights", "count_params", "fit_generator", "save",
         "save_weights", "load_weights", "build", "export", "to_json", "get_config", "predict_classes",
         "evaluate_generator", "str", "invisible", "train_on_batch", "test_on_batch", "predict_on_batch",
         "layers", "get_layer", "pop", "keras_model_summary"}


# ----------------------------------------------------------------------------------------------
@dataclass
class ImportedRow:
    cls: type[Layer]
    options: dict[str, Any]
    line: int
    name: str | None = None
    inputs: list[str] | None = None
    trainable: bool = True


@dataclass
class Model:
    """What the code builds, as it is followed through the statements."""

    rows: list[ImportedRow] = field(default_factory=list)
    input_shape: tuple | None = None
    input_dtype: str | None = None
    name: str | None = None
    functional: bool = False
    output: "Tensor | None" = None


@dataclass
class Tensor:
    model: Model
    ref: str  # INPUT or a row's name


@dataclass
class Opaque:
    """A value the importer does not follow (data, a variable with no literal value ...)."""

    what: str


@dataclass
class PendingLayer:
    """A Python layer object not yet placed (``layers.Dense(10)`` before ``model.add`` / ``(x)``)."""

    cls: type[Layer]
    args: dict[str, tuple[Any, int]]
    line: int
    label: str


class _Builder:
    """Shared by both languages: turns (class, arguments with lines) into validated rows."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.models: list[tuple[str | None, Model]] = []

    def err(self, msg: str, line: int | None) -> SpecError:
        return SpecError(msg, file=self.file, line=line)

    def literal(self, value: Any, arg: str, label: str, line: int) -> Any:
        if isinstance(value, Opaque):
            raise self.err(f"{label}: argument '{arg}' is not a literal ({value.what}); write the value "
                           "(cnnspec import reads the code, it does not run it)", line)
        if isinstance(value, (Model, Tensor, PendingLayer)):
            raise self.err(f"{label}: argument '{arg}' must be a literal value, got a model or layer", line)
        if isinstance(value, list):
            return [self.literal(v, arg, label, line) for v in value]
        if isinstance(value, dict):
            return {k: self.literal(v, f"{arg}.{k}", label, line) for k, v in value.items()}
        return value

    def add_row(self, model: Model, cls: type[Layer], args: dict[str, tuple[Any, int]], line: int, label: str,
                inputs: list[str] | None) -> ImportedRow:
        opts: dict[str, Any] = {}
        lines: dict[str, int] = {}
        name, trainable = None, True
        for key, (value, aline) in args.items():
            value = self.literal(value, key, label, aline)
            key = RENAMED.get((cls.keras_class, key), key)
            if key in ("input_shape", "batch_input_shape", "input_dim"):
                shape = _shape(value, key)
                if shape is None:
                    raise self.err(f"{label}: {key} must be a list of sizes like c(28, 28, 1), got {value!r}", aline)
                if model.rows or model.functional:
                    if model.input_shape is not None and model.input_shape != shape or model.functional:
                        raise self.err(f"{label}: {key} is only allowed on the first layer", aline)
                model.input_shape = shape
                continue
            if key == "name":
                if not isinstance(value, str):
                    raise self.err(f"{label}: name must be a string, got {value!r}", aline)
                if value == INPUT:
                    raise self.err(f"{label}: the name '{INPUT}' is reserved for the model input", aline)
                first = next((r for r in model.rows if r.name == value), None)
                if first is not None:
                    raise self.err(f"{label}: duplicate layer name '{value}' (first on line {first.line})", aline)
                name = value
                continue
            if key == "trainable":
                if not isinstance(value, bool):
                    raise self.err(f"{label}: trainable must be TRUE/FALSE, got {value!r}", aline)
                trainable = value
                continue
            if key in ("dtype", "batch_size", "input_dtype") and key not in cls.model_fields:
                if key != "batch_size" and not model.rows:
                    model.input_dtype = value
                continue
            if key in ("type", "inputs", "expect") or key not in cls.model_fields:
                options = [f for f in cls.model_fields if f not in Layer.META and f != "trainable"]
                raise self.err(f"{label}: unknown option '{key}' for {cls.keras_class}{suggest(key, options)}; "
                               f"options: {', '.join(options) or 'none'}", aline)
            opts[key] = value
            lines[key] = aline
        item = LineDict({**opts, "type": cls.keras_class}, line=line, key_lines=lines)
        try:
            cls.model_validate(dict(item))
        except ValidationError as exc:
            e = _Expander(self.file, {}, None)._validation_error(exc, cls, item)
            raise self.err(f"{label}: {e.message}", e.line) from None
        row = ImportedRow(cls, opts, line, name, inputs, trainable)
        model.rows.append(row)
        return row

    def next_name(self, model: Model, cls: type[Layer]) -> str:
        """Keras's default naming (conv2d, conv2d_1 ...), as the spec expander does it."""
        taken = {r.name for r in model.rows}
        base = cls.default_name()
        k = 0
        name = base
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        return name

    def result(self) -> Model:
        built = [(v, m) for v, m in self.models if m.rows]
        if not built:
            raise self.err("no Keras model found: expected keras_model_sequential() |> layer_...() (R) or "
                           "keras.Sequential([...]) / model.add(...) / keras.Model(inputs, outputs) (Python)", None)
        named = [m for v, m in built if v == "model"]
        model = named[-1] if named else built[-1][1]
        if model.input_shape is None:
            raise self.err("no input shape: give keras_model_sequential(input_shape = c(...)), input_shape on the "
                           "first layer, or keras.Input(shape=...)", model.rows[0].line)
        return model


def _shape(value: Any, key: str) -> tuple | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        return None
    if key == "batch_input_shape":
        value = value[1:]
    if not all(v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0) for v in value):
        return None
    return tuple(value)


# ============================================================================================== R
_R_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\f]+) | (?P<comment>\#[^\n]*) | (?P<nl>\n)
  | (?P<num>(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)L?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<id>[A-Za-z.][A-Za-z0-9._]*|`[^`]+`)
  | (?P<op>%[^%\n]*%|\|>|<<-|<-|->>|->|::|==|!=|<=|>=|&&|\|\||\[\[|[-+*/^$@~!<>&|;:,=()\[\]{}?])
""", re.VERBOSE)


@dataclass
class Tok:
    kind: str
    value: str
    line: int


def r_tokenize(text: str, file: str) -> list[Tok]:
    toks: list[Tok] = []
    pos, line = 0, 1
    depth: list[str] = []
    while pos < len(text):
        m = _R_TOKEN.match(text, pos)
        if not m:
            raise SpecError(f"R syntax error: unexpected character {text[pos]!r}", file=file, line=line)
        kind = m.lastgroup
        val = m.group()
        if kind == "nl":
            if not depth:
                toks.append(Tok("nl", val, line))
            line += 1
        elif kind == "str":
            line_end = line + val.count("\n")
            toks.append(Tok("str", val, line))
            line = line_end
        elif kind in ("num", "id", "op"):
            toks.append(Tok(kind, val, line))
            if val in ("(", "["):
                depth.append(val)
            elif val == "[[":
                depth += ["[", "["]
            elif val in (")", "]"):
                if not depth:
                    raise SpecError(f"R syntax error: unmatched '{val}'", file=file, line=line)
                depth.pop()
            elif val == "{":
                raise SpecError("unsupported R construct '{ ... }' (cnnspec import reads straight-line model "
                                "code: write the layers out)", file=file, line=line)
        pos = m.end()
    if depth:
        raise SpecError(f"R syntax error: unclosed '{depth[-1]}' at the end of the file", file=file, line=line)
    toks.append(Tok("eof", "", line))
    return toks


_BINARY = {"||": 1, "|": 1, "&&": 2, "&": 2, "==": 4, "!=": 4, "<": 4, ">": 4, "<=": 4, ">=": 4,
           "+": 5, "-": 5, "*": 6, "/": 6, "|>": 7, ":": 8, "^": 10}
_UNSUPPORTED = {"function", "if", "for", "while", "repeat", "else", "next", "break", "\\"}


class RParser:
    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.toks = r_tokenize(text, file)
        self.i = 0

    def peek(self) -> Tok:
        return self.toks[self.i]

    def next(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def err(self, msg: str, tok: Tok | None = None) -> SpecError:
        tok = tok or self.peek()
        return SpecError(msg, file=self.file, line=tok.line)

    def expect(self, value: str) -> Tok:
        t = self.next()
        if t.value != value:
            got = "end of line" if t.kind == "nl" else ("end of file" if t.kind == "eof" else f"'{t.value}'")
            raise self.err(f"R syntax error: expected '{value}', got {got}", t)
        return t

    def skip_nl(self) -> None:
        while self.peek().kind == "nl":
            self.i += 1

    def program(self) -> list:
        stmts = []
        while True:
            while self.peek().kind == "nl" or self.peek().value == ";":
                self.i += 1
            if self.peek().kind == "eof":
                return stmts
            stmts.append(self.statement())
            t = self.peek()
            if t.kind not in ("nl", "eof") and t.value != ";":
                raise self.err(f"R syntax error: unexpected '{t.value}'", t)

    def statement(self):
        t = self.peek()
        e = self.expr(0)
        op = self.peek()
        if op.value in ("<-", "<<-", "=") :
            self.next()
            self.skip_nl()
            if e[0] not in ("id", "dollar", "index"):
                raise self.err("R syntax error: can only assign to a name", op)
            value = self.statement()
            return ("assign", e, value, t.line)
        if op.value in ("->", "->>"):
            self.next()
            target = self.expr(0)
            return ("assign", target, e, t.line)
        return e

    def expr(self, min_prec: int):
        left = self.unary()
        while True:
            t = self.peek()
            v = t.value
            if t.kind != "op":
                return left
            if v.startswith("%") and v.endswith("%") and len(v) >= 2:
                prec = 7
            elif v in _BINARY:
                prec = _BINARY[v]
            else:
                return left
            if prec < min_prec:
                return left
            self.next()
            self.skip_nl()  # a trailing operator continues the statement on the next line
            right = self.expr(prec + 1 if v != "^" else prec)
            left = ("bin", v, left, right, t.line)

    def unary(self):
        t = self.peek()
        if t.value in ("-", "+"):
            self.next()
            e = self.expr(9)
            return ("neg", e, t.line) if t.value == "-" else e
        if t.value in ("!", "~"):
            self.next()
            return ("opaque", f"'{t.value}' expression", self.expr(3), t.line)
        return self.postfix(self.primary())

    def primary(self):
        t = self.next()
        if t.kind == "num":
            return ("num", _r_number(t.value), t.line)
        if t.kind == "str":
            return ("str", _r_string(t.value), t.line)
        if t.kind == "id":
            name = t.value.strip("`")
            if name in _UNSUPPORTED:
                raise self.err(f"unsupported R construct '{name}' (cnnspec import reads straight-line model "
                               "code: write the layers out)", t)
            if self.peek().value == "::":
                self.next()
                t2 = self.next()
                if t2.kind != "id":
                    raise self.err("R syntax error: expected a name after '::'", t2)
                name = t2.value.strip("`")  # keras::layer_dense -> layer_dense
            consts = {"TRUE": True, "FALSE": False, "T": True, "F": False, "NULL": None}
            if name in consts:
                return ("const", consts[name], t.line)
            return ("id", name, t.line)
        if t.value == "(":
            self.skip_nl()
            e = self.statement()
            self.skip_nl()
            self.expect(")")
            return e
        if t.kind == "eof":
            raise self.err("R syntax error: unexpected end of file", t)
        if t.kind == "nl":
            raise self.err("R syntax error: unexpected end of line", t)
        raise self.err(f"R syntax error: unexpected '{t.value}'", t)

    def postfix(self, e):
        while True:
            t = self.peek()
            if t.value == "(":
                self.next()
                args = self.args(")")
                e = ("call", e, args, t.line)
            elif t.value in ("[", "[["):
                self.next()
                self.args("]")
                if t.value == "[[":
                    self.expect("]")
                e = ("opaque", "an indexing expression", e, t.line)
            elif t.value in ("$", "@"):
                self.next()
                n = self.next()
                if n.kind not in ("id", "str"):
                    raise self.err(f"R syntax error: expected a name after '{t.value}'", n)
                e = ("dollar", e, n.value, t.line)
            else:
                return e

    def args(self, close: str) -> list:
        out = []
        if self.peek().value == close:
            self.next()
            return out
        while True:
            t = self.peek()
            if t.value in (",", close):  # an empty argument (x[, 1])
                out.append((None, ("const", None, t.line), t.line))
            elif (t.kind in ("id", "str") and self.toks[self.i + 1].value == "="):
                self.i += 2
                out.append((t.value.strip("`\"'"), self.expr(0), t.line))
            else:
                out.append((None, self.expr(0), t.line))
            t = self.next()
            if t.value == close:
                return out
            if t.value != ",":
                raise self.err(f"R syntax error: expected ',' or '{close}', got '{t.value}'", t)


def _r_number(text: str):
    if text.endswith("L"):
        return int(text[:-1], 0)
    if text.lower().startswith("0x"):
        return int(text, 16)
    if re.fullmatch(r"\d+", text):
        return int(text)
    return float(text)


def _r_string(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


class RImporter(_Builder):
    def __init__(self, text: str, file: str) -> None:
        super().__init__(file)
        self.env: dict[str, Any] = {}
        self.stmts = RParser(text, file).program()

    def run(self) -> Model:
        for st in self.stmts:
            if st[0] == "assign":
                target, value = st[1], st[2]
                v = self.eval(value)
                if target[0] == "id":
                    self.env[target[1]] = v
                    if isinstance(v, Model):
                        self.models.append((target[1], v))
            else:
                v = self.eval(st)
                if isinstance(v, Model) and all(v is not m for _, m in self.models):
                    self.models.append((None, v))
        return self.result()

    # -- evaluation --
    def eval(self, node) -> Any:
        kind = node[0]
        if kind in ("num", "str", "const"):
            return node[1]
        if kind == "id":
            name = node[1]
            if name in self.env:
                return self.env[name]
            if name.startswith("activation_"):  # activation = activation_relu (the R function)
                return name[len("activation_"):]
            return Opaque(f"'{name}' is not a literal defined in this file")
        if kind == "neg":
            v = self.eval(node[1])
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return -v
            if isinstance(v, list) and all(isinstance(x, (int, float)) for x in v):
                return [-x for x in v]
            return Opaque("a negated expression")
        if kind == "assign":
            v = self.eval(node[2])
            if node[1][0] == "id":
                self.env[node[1][1]] = v
            return v
        if kind == "bin":
            op, left, right, line = node[1], node[2], node[3], node[4]
            if op in ("%>%", "|>"):
                lhs = self.eval(left)
                if right[0] == "call":
                    return self.call(right[1], [(None, lhs, line)] + self.eval_args(right[2]), right[3])
                if right[0] == "id":
                    return self.call(right, [(None, lhs, line)], line)
                raise SpecError(f"unsupported R construct: the right side of {op} must be a function call",
                                file=self.file, line=line)
            a, b = self.eval(left), self.eval(right)
            return _arith(op, a, b)
        if kind == "call":
            return self.call(node[1], self.eval_args(node[2]), node[3])
        if kind == "dollar":
            base = self.eval(node[1])
            if isinstance(base, (Model, Tensor)):
                return Opaque(f"'${node[2]}' of a model")
            return Opaque(f"'{_r_text(node)}'")
        if kind == "opaque":
            self.eval(node[2])
            return Opaque(node[1])
        raise SpecError(f"unsupported R construct '{kind}'", file=self.file, line=node[-1])

    def eval_args(self, args) -> list:
        return [(name, self.eval(e), line) for name, e, line in args]

    def call(self, fnode, args: list, line: int) -> Any:
        if fnode[0] != "id":
            for _, v, _ in args:
                if isinstance(v, (Model, Tensor)):
                    raise SpecError("unsupported R construct: a computed function applied to the model",
                                    file=self.file, line=line)
            return Opaque("a call")
        fn = fnode[1]
        fn = R_ALIASES.get(fn, fn)
        values = [v for _, v, _ in args]
        if fn == "c":
            out = []
            for v in values:
                out.extend(v if isinstance(v, list) else [v])
            if any(isinstance(v, Opaque) for v in out):
                return next(v for v in out if isinstance(v, Opaque))
            return out
        if fn == "list":
            if args and all(n for n, _, _ in args):
                return {n: v for n, v, _ in args}
            return values
        if fn in ("as.integer", "as.numeric", "as.double", "as.character", "shape", "tuple", "I", "list_of"):
            return values[0] if len(values) == 1 else values
        if fn.startswith("regularizer_"):
            return self.regularizer(fn, args, line)
        if fn.startswith("initializer_") and not args:
            return fn[len("initializer_"):]
        if fn in ("keras_model_sequential", "keras_sequential_model"):
            m = Model()
            for n, v, aline in args:
                if n in ("input_shape", "batch_input_shape"):
                    m.input_shape = _shape(self.literal(v, n, fn, aline), n)
                    if m.input_shape is None:
                        raise self.err(f"{fn}: {n} must be a list of sizes like c(28, 28, 1)", aline)
                elif n == "name":
                    m.name = self.literal(v, n, fn, aline)
                elif n == "input_dtype":
                    m.input_dtype = self.literal(v, n, fn, aline)
                elif n == "layers" and v is not None:
                    raise self.err(f"{fn}: layers = list(...) is not supported: pipe the layers instead", aline)
                elif n not in ("trainable",):
                    raise self.err(f"{fn}: unsupported argument '{n}'", aline)
            return m
        if fn in ("keras_input", "layer_input"):
            m = Model(functional=True)
            for n, v, aline in args:
                if n in ("shape", "batch_shape", None):
                    m.input_shape = _shape(self.literal(v, n or "shape", fn, aline),
                                           "batch_input_shape" if n == "batch_shape" else "shape")
                    if m.input_shape is None:
                        raise self.err(f"{fn}: shape must be a list of sizes like c(28, 28, 1)", aline)
                elif n == "dtype":
                    m.input_dtype = self.literal(v, n, fn, aline)
            return Tensor(m, INPUT)
        if fn in ("keras_model", "keras_model_functional"):
            named = {n: v for n, v, _ in args if n}
            pos = [v for n, v, _ in args if not n]
            outputs = named.get("outputs", pos[1] if len(pos) > 1 else None)
            inputs = named.get("inputs", pos[0] if pos else None)
            if not isinstance(outputs, Tensor) or not isinstance(inputs, Tensor):
                raise self.err(f"{fn}: inputs and outputs must be the tensors built above (one input, one output)",
                               line)
            m = outputs.model
            m.output = outputs
            if "name" in named:
                m.name = named["name"]
            return m
        if fn in R_LAYERS:
            return self.layer(R_LAYERS[fn], fn, args, line)
        if fn in VERBS or fn in ("library", "require", "set.seed", "use_python", "use_virtualenv"):
            return Opaque(f"the result of {fn}()")
        if fn.startswith("layer_"):
            raise self.err(f"unknown layer function '{fn}'{suggest(fn, R_LAYERS)}", line)
        for v in values:
            if isinstance(v, (Model, Tensor)):
                raise self.err(f"unsupported R construct: {fn}() applied to the model (not a known layer "
                               "function or verb)", line)
        return Opaque(f"the result of {fn}()")

    def regularizer(self, fn: str, args: list, line: int) -> dict:
        kind = fn[len("regularizer_"):]
        if kind not in ("l1", "l2", "l1_l2"):
            raise self.err(f"unknown regularizer '{fn}': use regularizer_l1, regularizer_l2 or regularizer_l1_l2", line)
        keys = ["l1", "l2"] if kind == "l1_l2" else [kind]
        out = {}
        for i, (n, v, aline) in enumerate(args):
            n = kind if n == "l" else (n or (keys[i] if i < len(keys) else None))
            if n not in keys:
                raise self.err(f"{fn}: unexpected argument '{n}'", aline)
            out[n] = float(self.literal(v, n, fn, aline))
        return out or {k: 0.01 for k in keys}

    def layer(self, cls: type[Layer], fn: str, args: list, line: int) -> Any:
        target = None
        if args and args[0][0] in (None, "object") and isinstance(args[0][1], (Model, Tensor, list)) and (
                not isinstance(args[0][1], list) or (args[0][1] and all(isinstance(x, Tensor) for x in args[0][1]))):
            target = args[0][1]
            args = args[1:]
        named: dict[str, tuple[Any, int]] = {}
        positional = list(POSITIONAL.get(cls.keras_class, ()))
        for n, v, aline in args:
            if n is None:
                if cls.arity is None and n is None and target is None and isinstance(v, list):
                    target = v
                    continue
                if not positional:
                    raise self.err(f"{fn}: too many unnamed arguments (name them, e.g. units = 10)", aline)
                n = positional.pop(0)
            elif n in positional:
                positional.remove(n)
            if n == "inputs" and cls.arity is None:
                target = v
                continue
            if n in named:
                raise self.err(f"{fn}: argument '{n}' given twice", aline)
            named[n] = (v, aline)
        if target is None:
            raise self.err(f"{fn}() is not applied to a model: pipe it, e.g. model |> {fn}(...)", line)
        if isinstance(target, Model):
            if cls.arity is None:
                raise self.err(f"{fn} merges tensors: use the functional API, {fn}(list(a, b))", line)
            if target.functional:
                raise self.err(f"{fn}: layers are piped into tensors in a functional model", line)
            self.add_row(target, cls, named, line, fn, None)
            return target
        tensors = target if isinstance(target, list) else [target]
        model = tensors[0].model
        if any(t.model is not model for t in tensors):
            raise self.err(f"{fn}: inputs come from different models", line)
        row = self.add_row(model, cls, named, line, fn, [t.ref for t in tensors])
        if row.name is None:
            row.name = self.next_name(model, cls)
        return Tensor(model, row.name)


def _arith(op: str, a: Any, b: Any) -> Any:
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool):
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            if b == 0:
                return Opaque("a division by zero")
            return a // b if isinstance(a, int) and isinstance(b, int) and a % b == 0 else a / b
        if op == "^":
            return a ** b
    if isinstance(a, (Model, Tensor)) or isinstance(b, (Model, Tensor)):
        return Opaque(f"an expression with '{op}' on a model")
    return Opaque(f"an expression with '{op}'")


def _r_text(node) -> str:
    if node[0] == "id":
        return node[1]
    if node[0] == "dollar":
        return f"{_r_text(node[1])}${node[2]}"
    return "an expression"


# ============================================================================================== Python
class PyImporter(_Builder):
    def __init__(self, text: str, file: str) -> None:
        super().__init__(file)
        try:
            self.tree = ast.parse(text, filename=file)
        except SyntaxError as exc:
            raise SpecError(f"Python syntax error: {exc.msg}", file=file, line=exc.lineno) from None
        self.env: dict[str, Any] = {}

    def run(self) -> Model:
        for st in self.tree.body:
            self.statement(st)
        return self.result()

    def statement(self, st: ast.stmt) -> None:
        if isinstance(st, (ast.Import, ast.ImportFrom, ast.Pass)):
            return
        if isinstance(st, ast.Assign):
            v = self.eval(st.value)
            for t in st.targets:
                if isinstance(t, ast.Name):
                    self.env[t.id] = v
                    if isinstance(v, Model) and all(v is not m for _, m in self.models):
                        self.models.append((t.id, v))
            return
        if isinstance(st, ast.AnnAssign) and st.value is not None and isinstance(st.target, ast.Name):
            self.env[st.target.id] = self.eval(st.value)
            return
        if isinstance(st, ast.Expr):
            v = self.eval(st.value)
            if isinstance(v, Model) and all(v is not m for _, m in self.models):
                self.models.append((None, v))
            return
        # compound statements: fine when they build nothing
        for node in ast.walk(st):
            if isinstance(node, ast.Call):
                name = _dotted(node.func)
                last = name.rsplit(".", 1)[-1] if name else ""
                if last in PY_LAYERS or last in PY_ALIASES or last in ("Sequential", "add", "Model", "Input"):
                    kind = type(st).__name__.lower().replace("functiondef", "def")
                    raise SpecError(f"unsupported Python construct '{kind}' around the model definition "
                                    "(cnnspec import reads straight-line code: write the layers out)",
                                    file=self.file, line=st.lineno)

    def eval(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.Tuple, ast.List)):
            return [self.eval(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                return Opaque("a dict with **")
            return {self.eval(k): self.eval(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.Name):
            if node.id in self.env:
                return self.env[node.id]
            return Opaque(f"'{node.id}' is not a literal defined in this file")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            v = self.eval(node.operand)
            return -v if isinstance(v, (int, float)) and not isinstance(v, bool) else Opaque("a negated expression")
        if isinstance(node, ast.BinOp):
            ops = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "/", ast.Pow: "^"}
            op = ops.get(type(node.op))
            a, b = self.eval(node.left), self.eval(node.right)
            if op is None:
                return Opaque("an expression")
            return _arith(op, a, b)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Attribute):
            dotted = _dotted(node) or node.attr
            if re.fullmatch(r"(?:\w+\.)*(?:activations|nn)\.\w+", dotted):  # keras.activations.relu, tf.nn.relu
                return node.attr
            return Opaque(f"'{dotted}'")
        return Opaque(f"a {type(node).__name__} expression")

    def kwargs(self, node: ast.Call) -> dict[str, tuple[Any, int]]:
        out = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise SpecError("unsupported Python construct '**kwargs' in a layer call", file=self.file,
                                line=kw.value.lineno)
            out[kw.arg] = (self.eval(kw.value), kw.value.lineno)
        return out

    def call(self, node: ast.Call) -> Any:
        func = node.func
        line = node.lineno
        # applying a layer object: layers.Dense(10)(x)
        if isinstance(func, ast.Call) or (isinstance(func, ast.Name) and isinstance(self.env.get(func.id),
                                                                                     PendingLayer)):
            layer = self.eval(func)
            if isinstance(layer, PendingLayer):
                return self.apply(layer, node)
            return Opaque("a call")
        name = _dotted(func) or ""
        last = name.rsplit(".", 1)[-1]
        if isinstance(func, ast.Attribute):
            base = self.eval(func.value) if not _dotted(func.value) or _dotted(func.value).split(".")[0] in self.env \
                else None
            if isinstance(base, Model):
                if func.attr == "add":
                    if len(node.args) != 1:
                        raise self.err("model.add() takes one layer", line)
                    obj = self.eval(node.args[0])
                    self.place(base, obj, node.args[0].lineno)
                    return None
                if func.attr in VERBS:
                    return Opaque(f"the result of model.{func.attr}()")
                raise self.err(f"unsupported Python construct: model.{func.attr}()", line)
        if last in PY_ALIASES:
            last = PY_ALIASES[last]
        if last == "Sequential":
            m = Model()
            kw = self.kwargs(node)
            layers = self.eval(node.args[0]) if node.args else kw.pop("layers", (None, 0))[0]
            if "name" in kw:
                m.name = kw["name"][0]
            if layers is not None:
                if not isinstance(layers, list):
                    raise self.err("Sequential() takes a list of layers", line)
                elts = node.args[0].elts if node.args and isinstance(node.args[0], (ast.List, ast.Tuple)) else []
                for i, obj in enumerate(layers):
                    self.place(m, obj, elts[i].lineno if i < len(elts) else line)
            return m
        if last in ("Input", "InputLayer"):
            m = Model(functional=(last == "Input"))
            kw = self.kwargs(node)
            shape = self.eval(node.args[0]) if node.args else None
            for k in ("shape", "input_shape", "batch_shape", "batch_input_shape"):
                if k in kw:
                    shape = _shape(self.literal(kw[k][0], k, last, kw[k][1]),
                                   "batch_input_shape" if "batch" in k else k)
                    break
            else:
                shape = _shape(self.literal(shape, "shape", last, line), "shape") if shape is not None else None
            if shape is None:
                raise self.err(f"{last}: shape must be a tuple of sizes like (28, 28, 1)", line)
            m.input_shape = shape
            if "dtype" in kw:
                m.input_dtype = kw["dtype"][0]
            return Tensor(m, INPUT)
        if last in ("Model", "Functional"):
            if True:
                kw = self.kwargs(node)
                pos = [self.eval(a) for a in node.args]
                inputs = kw.get("inputs", (pos[0] if pos else None, line))[0]
                outputs = kw.get("outputs", (pos[1] if len(pos) > 1 else None, line))[0]
                if not isinstance(outputs, Tensor) or not isinstance(inputs, Tensor):
                    raise self.err("keras.Model(inputs, outputs): inputs and outputs must be the tensors built above "
                                   "(one input, one output)", line)
                m = outputs.model
                m.output = outputs
                if "name" in kw:
                    m.name = kw["name"][0]
                return m
        if last in ("L1", "L2", "L1L2", "l1", "l2", "l1_l2") and ("regularizers" in name or last == "L1L2"):
            kw = self.kwargs(node)
            keys = ["l1", "l2"] if last.lower() == "l1l2" or last == "l1_l2" else [last.lower()]
            out = {}
            for i, a in enumerate(node.args):
                out[keys[i]] = float(self.literal(self.eval(a), keys[i], last, a.lineno))
            for k, (v, aline) in kw.items():
                out[k] = float(self.literal(v, k, last, aline))
            return out
        if "initializers" in name and not node.args and not node.keywords:
            return snake_case(last)
        if last in PY_LAYERS:
            cls = PY_LAYERS[last]
            args = {}
            positional = list(POSITIONAL.get(cls.keras_class, ()))
            for a in node.args:
                if not positional:
                    raise self.err(f"{last}: too many positional arguments (name them)", a.lineno)
                args[positional.pop(0)] = (self.eval(a), a.lineno)
            for k, v in self.kwargs(node).items():
                if k in args:
                    raise self.err(f"{last}: argument '{k}' given twice", v[1])
                args[k] = v
            return PendingLayer(cls, args, line, last)
        if "layers" in name.split(".")[:-1] or (last[:1].isupper() and last.endswith(("1D", "2D", "3D"))):
            raise self.err(f"unknown Keras layer '{last}'{suggest(last, list(PY_LAYERS) + list(PY_ALIASES))}", line)
        for a in list(node.args) + [k.value for k in node.keywords]:
            if isinstance(self.eval(a), (Model, Tensor)):
                raise self.err(f"unsupported Python construct: {name or 'a call'}() applied to the model", line)
        return Opaque(f"the result of {name or 'a call'}()")

    def place(self, model: Model, obj: Any, line: int) -> None:
        if isinstance(obj, Tensor):  # keras.Input(...) as the first element of a Sequential
            if model.rows or model.input_shape is not None:
                raise self.err("keras.Input must come first in a Sequential", line)
            model.input_shape = obj.model.input_shape
            model.input_dtype = obj.model.input_dtype
            return
        if not isinstance(obj, PendingLayer):
            raise self.err("Sequential layers must be keras.layers.* calls written in place "
                           f"({obj.what if isinstance(obj, Opaque) else type(obj).__name__})", line)
        self.add_row(model, obj.cls, dict(obj.args), obj.line, obj.label, None)

    def apply(self, layer: PendingLayer, node: ast.Call) -> Any:
        if len(node.args) != 1:
            raise self.err(f"{layer.label}(...)(x): apply a layer to one tensor or a list of tensors", node.lineno)
        x = self.eval(node.args[0])
        tensors = x if isinstance(x, list) else [x]
        if not tensors or not all(isinstance(t, Tensor) for t in tensors):
            raise self.err(f"{layer.label}(...)(x): x must be keras.Input(...) or a layer output defined above",
                           node.lineno)
        model = tensors[0].model
        row = self.add_row(model, layer.cls, dict(layer.args), layer.line, layer.label, [t.ref for t in tensors])
        if row.name is None:
            row.name = self.next_name(model, layer.cls)
        return Tensor(model, row.name)


def _dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


# ============================================================================================== output
def detect_language(path: str, text: str) -> str:
    ext = Path(path).suffix.lower()
    if ext in (".r", ".rmd"):
        return "r"
    if ext == ".py":
        return "python"
    if re.search(r"%>%|\|>|<-|\blayer_[a-z_0-9]+\s*\(", text):
        return "r"
    return "python"


def _plain(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _flow(v: Any) -> str:
    return yaml.safe_dump(_plain(v), default_flow_style=True, sort_keys=False, width=10**6,
                          allow_unicode=True).strip().removesuffix("...").strip()


def to_yaml(model: Model, name: str, source: str) -> str:
    out = [f"# Imported by `cnnspec import` from {source}: check it with `cnnspec check`.",
           f"name: {_flow(name)}", f"source: {_flow('imported from ' + source)}"]
    if model.input_dtype and model.input_dtype != "float32":
        out.append(f"input: {{shape: {_flow(list(model.input_shape))}, dtype: {_flow(model.input_dtype)}}}")
    else:
        out.append(f"input: {_flow(list(model.input_shape))}")
    out.append("layers:")
    prev = INPUT
    for r in model.rows:
        row: dict[str, Any] = {"type": r.cls.keras_class}
        if r.name is not None:
            row["name"] = r.name
        if r.inputs is not None and r.inputs != [prev]:
            row["inputs"] = r.inputs[0] if len(r.inputs) == 1 else r.inputs
        row.update(r.options)
        if not r.trainable:
            row["trainable"] = False
        out.append(f"  - {_flow(row)}")
        prev = r.name if r.name is not None else prev
    return "\n".join(out) + "\n"


def _prune(model: Model) -> None:
    """Functional code may build more than reaches the output: keep rows the output needs."""
    if not model.functional or model.output is None:
        return
    by_name = {r.name: r for r in model.rows}
    need = set()
    stack = [model.output.ref]
    while stack:
        n = stack.pop()
        if n in need or n == INPUT:
            continue
        need.add(n)
        stack.extend(by_name[n].inputs or [])
    model.rows = [r for r in model.rows if r.name in need]


def import_text(text: str, file: str, name: str | None = None, lang: str | None = None) -> str:
    """The spec YAML for R or Python model code (validated by :func:`load_spec`)."""
    from cnnspec.spec.loader import load_spec

    lang = lang or detect_language(file, text)
    imp = RImporter(text, file) if lang == "r" else PyImporter(text, file)
    model = imp.run()
    _prune(model)
    spec_name = name or model.name or re.sub(r"[^A-Za-z0-9_]", "_", Path(file).stem) or "imported"
    out = to_yaml(model, spec_name, f"{Path(file).name} ({'R' if lang == 'r' else 'Python'})")
    fd, tmp = tempfile.mkstemp(suffix=".yaml", prefix="cnnspec-import-")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(out)
        try:
            load_spec(tmp)
        except SpecError as exc:
            raise SpecError(f"the imported spec is invalid: {exc.message}", file=file) from None
    finally:
        os.unlink(tmp)
    return out


def import_file(path: str, name: str | None = None, lang: str | None = None) -> str:
    return import_text(read_text(path), str(path), name=name, lang=lang)
