"""The spec's data model: rows, expectations and specs, and the parsers of printed shapes and counts.

Pure Python (never imports TensorFlow).
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from cnnspec.errors import SpecError
from cnnspec.layers import Layer
from cnnspec.layers.shapes import MAX_DIM, Shape
from cnnspec.spec.yamlio import LineDict
from cnnspec.util import suggest

TOP_KEYS = ("name", "source", "description", "notes", "input", "layers", "outputs", "expect", "train", "vars",
            "blocks", "variants")
ROW_META = ("name", "inputs", "expect")
MAX_ROWS = 10_000
MAX_REPEAT = 1_000
INPUT = "input"
#: Row types that declare a model input (a functional model's InputLayer rows), not a layer.
INPUT_TYPES = ("Input", "InputLayer", "layer_input", "keras_input")
#: The keys an ``Input`` row takes.
INPUT_KEYS = ("type", "name", "shape", "dtype", "batch_size", "expect")


@dataclass
class Expect:
    """What a paper's table prints for a row or for the totals (all optional)."""

    output: Shape | None = None
    output_text: str | None = None
    output_printed: bool = False  # written as Keras prints it, '(None, 26, 26, 32)': batch included
    params: int | None = None
    total: int | None = None
    trainable: int | None = None
    non_trainable: int | None = None
    lines: dict[str, int] = field(default_factory=dict)


@dataclass
class ModelInput:
    """One model input: its name (what rows name in ``inputs``), shape without the batch dimension,
    dtype, the source line, and ``position``: how many layer rows come before it in the spec."""
    name: str
    shape: Shape
    dtype: str = "float32"
    line: int = 0
    position: int = 0
    #: what the table prints on the InputLayer row (its output shape, 0 parameters), if given
    expect: "Expect | None" = None


@dataclass
class Row:
    """One expanded row of a spec: its validated layer, name, graph inputs, expectations and source lines."""
    layer: Layer
    name: str
    inputs: list[str]
    line: int
    key_lines: dict[str, int]
    expect: Expect | None = None
    origin: str = ""

    @property
    def type(self) -> str:
        return self.layer.keras_class

    def line_of(self, key: str | None) -> int:
        return self.key_lines.get(key, self.line) if key else self.line


@dataclass
class Spec:
    """An expanded spec (one variant): input shape, rows, totals expectations, train section, source file."""
    name: str
    file: str
    input_shape: Shape
    rows: list[Row]
    input_dtype: str = "float32"
    #: a fixed batch size (stateful recurrent layers need one), or None
    batch_size: int | None = None
    source: str | None = None
    description: str | None = None
    variant: str | None = None
    variants: tuple[str, ...] = ()
    expect: Expect | None = None
    train: LineDict | None = None
    input_line: int = 0
    #: the model inputs, in order (default: one input named ``input`` with ``input_shape``)
    inputs: list[ModelInput] = field(default_factory=list)
    #: the names of the rows that are the model's outputs, in order (default: the last row)
    outputs: list[str] = field(default_factory=list)
    #: True when the spec lists ``outputs:`` itself
    outputs_declared: bool = False

    def __post_init__(self) -> None:
        if not self.inputs:
            self.inputs = [ModelInput(INPUT, self.input_shape, self.input_dtype, self.input_line)]
        if not self.outputs and self.rows:
            self.outputs = [self.rows[-1].name]

    @property
    def multi_io(self) -> bool:
        """True for a model with several inputs or several outputs."""
        return len(self.inputs) > 1 or len(self.outputs) > 1

    @property
    def input_names(self) -> list[str]:
        """The names of the model inputs, in order."""
        return [i.name for i in self.inputs]

    @property
    def label(self) -> str:
        return f"{self.name}#{self.variant}" if self.variant else self.name

    def fingerprint(self) -> str:
        """Stable hash of what defines the network (not of comments or expectations)."""
        body = {"input": list(self.input_shape), "dtype": self.input_dtype,
                "rows": [[r.type, r.name, r.inputs, r.layer.options()] for r in self.rows]}
        if self.batch_size is not None:
            body["batch_size"] = self.batch_size
        if self.input_names != [INPUT]:  # several (or named) inputs; a one-input spec hashes as before
            body["inputs"] = [[i.name, list(i.shape), i.dtype] for i in self.inputs]
        if self.outputs != [self.rows[-1].name]:
            body["outputs"] = self.outputs
        blob = json.dumps(body, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# ----------------------------------------------------------------------------------------------
def parse_int(value: Any, what: str) -> int:
    """An integer from a spec value (bools and non-integral numbers refused with ValueError naming ``what``)."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9][0-9,. ]*\s*", value):
        return int(re.sub(r"[,. ]", "", value))
    raise ValueError(f"{what} must be an integer (or a printed count like '1,179,776'), got {value!r}")


def parse_shape(value: Any, what: str = "output") -> tuple[Shape, str]:
    """A shape as printed ('(None, 26, 26, 32)', batch included) or as a list (batch optional:
    a leading null is dropped later when the rank says so). Returns (shape, printed text)."""
    if isinstance(value, str):
        text = value.strip()
        m = re.fullmatch(r"\(?\s*(.*?)\s*,?\s*\)?", text)
        parts = [p.strip() for p in (m.group(1) if m else text).split(",") if p.strip()]
        dims: list = []
        for p in parts:
            if p in ("None", "null", "NA", "?"):
                dims.append(None)
            elif re.fullmatch(r"[0-9]+", p):
                dims.append(int(p))
            else:
                raise ValueError(f"cannot read {value!r} as a shape like '(None, 26, 26, 32)'")
        if not dims:
            raise ValueError(f"a printed shape starts with the batch dimension None, got {value!r}")
        # the batch dimension: None, or a fixed batch size as stateful models print it, (1, 184, 32)
        return tuple(dims[1:]), text
    if isinstance(value, (list, tuple)):
        dims = []
        for d in value:
            if d is None or (isinstance(d, str) and d.strip() in ("None", "NA", "?")):  # [None, 26, 26, 8]
                dims.append(None)
            elif isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= MAX_DIM:
                dims.append(d)
            else:
                raise ValueError(f"dimensions must be positive integers or null, got {d!r}")
        shape = tuple(dims)
        return shape, "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
    raise ValueError(f"{what} must be a list like [26, 26, 32] or a string like '(None, 26, 26, 32)'")


def parse_expect(raw: Any, file: str, line: int, totals: bool = False) -> Expect:
    """The printed values of a row (or of the totals) as an :class:`Expect`; SpecError at ``file:line``."""
    if not isinstance(raw, dict):
        raise SpecError("`expect` must be a mapping like {output: [26, 26, 32], params: 320}",
                        file=file, line=line, field="expect")
    allowed = ("total", "trainable", "non_trainable") if totals else ("output", "params", "trainable",
                                                                      "non_trainable")
    ex = Expect()
    for key, value in raw.items():
        kl = raw.line_of(key) if isinstance(raw, LineDict) else line
        if key not in allowed:
            raise SpecError(f"unknown key '{key}'{suggest(str(key), allowed)}; allowed: {', '.join(allowed)}",
                            file=file, line=kl, field=f"expect.{key}")
        ex.lines[key] = kl
        if value is None:
            continue
        try:
            if key == "output":
                ex.output, ex.output_text = parse_shape(value)
                ex.output_printed = isinstance(value, str)
            else:
                setattr(ex, key, parse_int(value, key))
        except ValueError as exc:
            raise SpecError(str(exc), file=file, line=kl, field=f"expect.{key}") from exc
    return ex


# ----------------------------------------------------------------------------------------------
