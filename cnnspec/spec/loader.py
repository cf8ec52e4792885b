"""The spec language: load a YAML/JSON spec, expand blocks, repeats and variants, and validate
every row against its layer class. Pure Python: never imports TensorFlow.

A spec expands to an ordered list of :class:`Row` s (what ``check`` reports), each knowing its
file and line.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cnnspec.errors import SpecError
from cnnspec.util import split_variant, suggest  # noqa: F401  (suggest is used by the importer too)
from cnnspec.layers import Layer, lookup
from cnnspec.layers.shapes import MAX_DIM, Shape
from cnnspec.spec.yamlio import LineDict, LineList, load

TOP_KEYS = ("name", "source", "description", "notes", "input", "layers", "expect", "train", "vars",
            "blocks", "variants")
ROW_META = ("name", "inputs", "expect")
MAX_ROWS = 10_000
MAX_REPEAT = 1_000
INPUT = "input"


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
class Row:
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

    @property
    def label(self) -> str:
        return f"{self.name}#{self.variant}" if self.variant else self.name

    def fingerprint(self) -> str:
        """Stable hash of what defines the network (not of comments or expectations)."""
        body = {"input": list(self.input_shape), "dtype": self.input_dtype,
                "rows": [[r.type, r.name, r.inputs, r.layer.options()] for r in self.rows]}
        if self.batch_size is not None:
            body["batch_size"] = self.batch_size
        blob = json.dumps(body, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# ----------------------------------------------------------------------------------------------
def parse_int(value: Any, what: str) -> int:
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
                raise ValueError(f"{what}: cannot read {value!r} as a shape like '(None, 26, 26, 32)'")
        if not dims:
            raise ValueError(f"{what}: a printed shape starts with the batch dimension None, got {value!r}")
        # the batch dimension: None, or a fixed batch size as stateful models print it, (1, 184, 32)
        return tuple(dims[1:]), text
    if isinstance(value, (list, tuple)):
        dims = []
        for d in value:
            if d is None:
                dims.append(None)
            elif isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= MAX_DIM:
                dims.append(d)
            else:
                raise ValueError(f"{what}: dimensions must be positive integers or null, got {d!r}")
        shape = tuple(dims)
        return shape, "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
    raise ValueError(f"{what} must be a list like [26, 26, 32] or a string like '(None, 26, 26, 32)'")


def parse_expect(raw: Any, file: str, line: int, totals: bool = False) -> Expect:
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
            raise SpecError(str(exc), file=file, line=kl, field=f"expect.{key}") from None
    return ex


# ----------------------------------------------------------------------------------------------
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)$")


class _Expander:
    """Turns the ``layers`` list (with ``use``/``repeat`` and ``$vars``) into rows."""

    def __init__(self, file: str, blocks: dict, variant: str | None) -> None:
        self.file = file
        self.blocks = blocks
        self.variant = variant
        self.rows: list[Row] = []
        self.counters: dict[str, int] = {}
        self.names: dict[str, int] = {}

    def err(self, msg: str, line: int, fld: str | None = None) -> SpecError:
        if self.variant:
            msg = f"{msg} [variant {self.variant}]"
        return SpecError(msg, file=self.file, line=line, field=fld)

    # -- variables --
    def subst(self, value: Any, scope: dict, line: int, fld: str | None) -> Any:
        if isinstance(value, LineDict):
            out = LineDict(line=value.line, key_lines=value.key_lines)
            for k, v in value.items():
                out[k] = self.subst(v, scope, value.line_of(k), str(k))
            return out
        if isinstance(value, list):
            items = getattr(value, "item_lines", [])
            out_l = LineList(line=getattr(value, "line", line))
            out_l.item_lines = list(items)
            for i, v in enumerate(value):
                out_l.append(self.subst(v, scope, items[i] if i < len(items) else line, fld))
            return out_l
        if isinstance(value, str) and "$" in value:
            def lookup(name: str) -> Any:
                if name not in scope:
                    raise self.err(f"unknown variable ${name}{suggest(name, scope)}; define it under `vars`, "
                                   "a block's `vars` or a `with`", line, fld)
                return scope[name]
            whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", value) or re.fullmatch(
                r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", value)
            if whole:
                return lookup(whole.group(1))
            return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: str(lookup(m.group(1))),
                          value.replace("$$", "\x00")).replace("\x00", "$")
        return value

    # -- expansion --
    def expand(self, items: Any, scope: dict, line: int, stack: tuple[str, ...] = (), origin: str = "") -> None:
        if not isinstance(items, list):
            raise self.err("`layers` must be a list of rows", line, "layers")
        lines = getattr(items, "item_lines", [line] * len(items))
        for item, iline in zip(items, lines):
            if not isinstance(item, dict):
                raise self.err(f"each row must be a mapping like {{type: Conv2D, ...}}, got {item!r:.60}", iline)
            if "type" in item:
                self.add_row(item, scope, origin)
            elif "use" in item:
                self.use_block(item, scope, stack, origin)
            elif "repeat" in item:
                self.repeat(item, scope, stack, origin)
            else:
                raise self.err("a row needs `type` (a layer), `use` (a block) or `repeat` with `layers`",
                               item.line if isinstance(item, LineDict) else iline)
            if len(self.rows) > MAX_ROWS:
                raise self.err(f"the spec expands to more than {MAX_ROWS} rows", iline)

    def _count(self, item: LineDict, scope: dict, key: str = "repeat") -> int:
        n = self.subst(item.get(key, 1), scope, item.line_of(key), key)
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_REPEAT:
            raise self.err(f"`{key}` must be an integer from 0 to {MAX_REPEAT}, got {n!r}", item.line_of(key), key)
        return n

    def _check_keys(self, item: LineDict, allowed: tuple[str, ...], what: str) -> None:
        for k in item:
            if k not in allowed:
                raise self.err(f"unknown key '{k}' in a {what}{suggest(str(k), allowed)}; allowed: "
                               f"{', '.join(allowed)}", item.line_of(k), str(k))

    def repeat(self, item: LineDict, scope: dict, stack, origin: str) -> None:
        self._check_keys(item, ("repeat", "layers", "with"), "repeat row")
        if "layers" not in item:
            raise self.err("a `repeat` row needs `layers`", item.line, "layers")
        n = self._count(item, scope)
        extra = self._with(item, scope)
        for i in range(1, n + 1):
            self.expand(item["layers"], {**scope, **extra, "i": i}, item.line_of("layers"), stack,
                        f"{origin}repeat {i}/{n} (line {item.line}) ")

    def _with(self, item: LineDict, scope: dict) -> dict:
        w = item.get("with") or {}
        if not isinstance(w, dict):
            raise self.err("`with` must be a mapping of variable values", item.line_of("with"), "with")
        return {k: self.subst(v, scope, w.line_of(k) if isinstance(w, LineDict) else item.line, f"with.{k}")
                for k, v in w.items()}

    def use_block(self, item: LineDict, scope: dict, stack, origin: str) -> None:
        self._check_keys(item, ("use", "with", "repeat"), "block use")
        bname = self.subst(item["use"], scope, item.line_of("use"), "use")
        if not isinstance(bname, str) or bname not in self.blocks:
            raise self.err(f"unknown block '{bname}'{suggest(str(bname), self.blocks)}; blocks: "
                           f"{', '.join(self.blocks) or 'none defined'}", item.line_of("use"), "use")
        if bname in stack:
            raise self.err(f"block '{bname}' uses itself ({' -> '.join(stack + (bname,))})", item.line_of("use"), "use")
        block = self.blocks[bname]
        n = self._count(item, scope)
        extra = self._with(item, scope)
        for i in range(1, n + 1):
            defaults = {k: self.subst(v, scope, block["line"], f"vars.{k}") for k, v in block["vars"].items()}
            inner = {**scope, **defaults, **extra, "i": i,
                     "input": self.rows[-1].name if self.rows else INPUT}
            self.expand(block["layers"], inner, block["line"], stack + (bname,),
                        f"{origin}block '{bname}' {i}/{n} (used on line {item.line}) ")

    def add_row(self, raw: LineDict, scope: dict, origin: str) -> None:
        item = self.subst(raw, scope, raw.line, None)
        line = item.line
        tname = item["type"]
        cls = lookup(tname) if isinstance(tname, str) else None
        if cls is None:
            from cnnspec.layers.registry import LAYER_CLASSES, suggest_type

            raise self.err(f"unknown layer type '{tname}'{suggest_type(str(tname))}: not supported by cnnspec "
                           f"(`cnnspec layers` lists the {len(LAYER_CLASSES)} supported types)",
                           item.line_of("type"), "type")
        data = {k: v for k, v in item.items() if k not in ROW_META}
        data["type"] = tname
        try:
            layer = cls.model_validate(data)
        except ValidationError as exc:
            raise self._validation_error(exc, cls, item) from None
        # name: explicit, or Keras's own naming (conv2d, conv2d_1, ...)
        name = item.get("name")
        if name is None:
            base = cls.default_name()
            k = self.counters.get(base, 0)
            name = base if k == 0 else f"{base}_{k}"
            while name in self.names:
                k += 1
                name = f"{base}_{k}"
            self.counters[base] = k + 1
        elif not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-/]{1,128}", name):
            raise self.err(f"a layer name must be 1-128 letters, digits or _ . - /, got {name!r}",
                           item.line_of("name"), "name")
        if name == INPUT:
            raise self.err("the name 'input' is reserved for the model input", item.line_of("name"), "name")
        if name in self.names:
            first = self.rows[self.names[name]]
            raise self.err(f"duplicate layer name '{name}' (first on line {first.line})",
                           item.line_of("name"), "name")
        inputs = item.get("inputs")
        if inputs is None:
            inputs = [self.rows[-1].name if self.rows else INPUT]
        elif isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(isinstance(x, str) for x in inputs):
            raise self.err("`inputs` must be a name or a list of names of earlier rows",
                           item.line_of("inputs"), "inputs")
        expect = None
        if item.get("expect") is not None:
            expect = parse_expect(item["expect"], self.file, item.line_of("expect"))
        key_lines = {str(k): v for k, v in item.key_lines.items()}
        self.names[name] = len(self.rows)
        self.rows.append(Row(layer, name, list(inputs), line, key_lines, expect, origin.strip()))

    def _validation_error(self, exc: ValidationError, cls: type[Layer], item: LineDict) -> SpecError:
        # A misspelt option also makes a required one "missing": report the misspelling.
        e = sorted(exc.errors(), key=lambda x: x["type"] != "extra_forbidden")[0]
        loc = [str(x) for x in e["loc"]]
        fld = loc[0] if loc else None
        line = item.line_of(fld) if fld else item.line
        options = [f for f in cls.model_fields if f not in ("type", "trainable", "expect", "name", "inputs")]
        if e["type"] == "extra_forbidden":
            msg = (f"unknown option '{fld}' for {cls.keras_class}{suggest(fld, options)}; options: "
                   f"{', '.join(options) or 'none'}")
        elif e["type"] == "missing":
            msg = f"{cls.keras_class} needs option '{fld}'"
        else:
            got = e.get("input")
            msg = f"{e['msg']} (got {got!r:.60})" if got is not None and e["type"] != "value_error" else e["msg"]
            msg = msg.replace("Value error, ", "")
        return self.err(msg, line, ".".join(loc) if loc else None)


def row_validation_error(file: str, exc: ValidationError, cls: type[Layer], item: LineDict) -> SpecError:
    """The one-line error for a row its layer class refused (a misspelt option reported first);
    importers use it for the rows they build."""
    return _Expander(file, {}, None)._validation_error(exc, cls, item)


def _row_types(node: Any, line: int, out: list[tuple[str, int]], seen: set[int] | None = None) -> None:
    """Every literal ``type`` of the rows under ``node`` (layers, blocks, repeats, wrapped layers);
    each node once (YAML aliases share nodes)."""
    seen = set() if seen is None else seen
    if id(node) in seen or len(seen) > 200_000:
        return
    seen.add(id(node))
    if isinstance(node, list):
        for item, il in zip(node, getattr(node, "item_lines", [line] * len(node))):
            _row_types(item, il, out, seen)
    elif isinstance(node, dict):
        t = node.get("type")
        if isinstance(t, str) and "$" not in t:
            out.append((t, node.line_of("type") if isinstance(node, LineDict) else line))
        for k in ("layers", "layer", "backward_layer"):
            if k in node:
                _row_types(node[k], node.line_of(k) if isinstance(node, LineDict) else line, out, seen)


def _check_types(doc: LineDict, path: str) -> None:
    """All unsupported layer types of the file in one error (not one per run)."""
    found: list[tuple[str, int]] = []
    seen: set[int] = set()
    _row_types(doc.get("layers"), doc.line_of("layers"), found, seen)
    blocks = doc.get("blocks")
    if isinstance(blocks, dict):
        for body in blocks.values():
            _row_types(body, doc.line_of("blocks"), found, seen)
    unknown: dict[str, int] = {}
    for t, line in found:
        if t not in unknown and lookup(t) is None:
            unknown[t] = line
    if not unknown:
        return
    from cnnspec.layers.registry import LAYER_CLASSES, suggest_type

    first = min(unknown.values())
    if len(unknown) == 1:
        t = next(iter(unknown))
        raise SpecError(f"unknown layer type '{t}'{suggest_type(t)}: not supported by cnnspec (`cnnspec layers` "
                        f"lists the {len(LAYER_CLASSES)} supported types)", file=path, line=first, field="type")
    listed = ", ".join(f"'{t}' (line {ln}){suggest_type(t)}" for t, ln in unknown.items())
    raise SpecError(f"unknown layer types, not supported by cnnspec: {listed} (`cnnspec layers` lists the "
                    f"{len(LAYER_CLASSES)} supported types)", file=path, line=first, field="type")


def _parse_blocks(raw: Any, file: str) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SpecError("`blocks` must map block names to lists of rows", file=file, field="blocks")
    out = {}
    for name, body in raw.items():
        bl = raw.line_of(name) if isinstance(raw, LineDict) else 0
        if isinstance(body, list):
            out[name] = {"vars": {}, "layers": body, "line": bl}
        elif isinstance(body, dict) and "layers" in body:
            for k in body:
                if k not in ("vars", "layers", "doc"):
                    raise SpecError(f"unknown key '{k}' in block '{name}'; allowed: vars, layers, doc",
                                    file=file, line=body.line_of(k), field=f"blocks.{name}.{k}")
            v = body.get("vars") or {}
            if not isinstance(v, dict):
                raise SpecError("block `vars` must be a mapping", file=file, line=body.line_of("vars"),
                                field=f"blocks.{name}.vars")
            out[name] = {"vars": v, "layers": body["layers"], "line": body.line_of("layers")}
        else:
            raise SpecError(f"block '{name}' must be a list of rows or a mapping with `layers`", file=file,
                            line=bl, field=f"blocks.{name}")
    return out


def _parse_input(raw: Any, doc: LineDict, file: str) -> tuple[Shape, str, int | None]:
    line = doc.line_of("input")
    dtype = "float32"
    batch = None
    if isinstance(raw, dict):
        for k in raw:
            if k not in ("shape", "dtype", "batch_size"):
                raise SpecError(f"unknown key '{k}' in `input`; allowed: shape, dtype, batch_size", file=file,
                                line=raw.line_of(k), field=f"input.{k}")
        batch = raw.get("batch_size")
        if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int)
                                  or not 1 <= batch <= MAX_DIM):
            raise SpecError(f"input batch_size must be a positive integer, got {batch!r}", file=file,
                            line=raw.line_of("batch_size"), field="input.batch_size")
        dtype = raw.get("dtype", "float32")
        if dtype not in ("float32", "float16", "bfloat16", "float64", "int32", "int64", "uint8"):
            raise SpecError(f"unsupported input dtype {dtype!r}", file=file, line=raw.line_of("dtype"),
                            field="input.dtype")
        raw = raw.get("shape")
    try:
        shape, _ = parse_shape(raw, "input")
    except ValueError as exc:
        raise SpecError(str(exc) + " (batch dimension left out)", file=file, line=line, field="input") from None
    if not shape:
        raise SpecError("`input` must have at least one dimension", file=file, line=line, field="input")
    return shape, dtype, batch


def load_specs(path: str | Path, text: str | None = None) -> list[Spec]:
    """All variants of a spec file (one Spec when it has no ``variants``).
    ``FILE#NAME`` selects one variant. ``text``: the file's content, when it is not on disk."""
    path = str(path)
    file, selected = split_variant(path)
    path = str(file) if selected is not None else path
    doc = load(path, text)
    if not isinstance(doc, LineDict):
        raise SpecError("a spec is a mapping with `input` and `layers` at the top level", file=path,
                        line=getattr(doc, "line", 1))
    for key in doc:
        if key not in TOP_KEYS:
            raise SpecError(f"unknown top-level key '{key}'{suggest(str(key), TOP_KEYS)}; allowed: "
                            f"{', '.join(TOP_KEYS)}", file=path, line=doc.line_of(key), field=str(key))
    for req in ("input", "layers"):
        if req not in doc:
            raise SpecError(f"missing `{req}`", file=path, line=doc.line, field=req)
    for key in ("name", "source", "description"):
        if key in doc and doc[key] is not None and not isinstance(doc[key], str):
            raise SpecError(f"`{key}` must be text", file=path, line=doc.line_of(key), field=key)
    name = doc.get("name") or Path(path).stem
    _check_types(doc, path)
    blocks = _parse_blocks(doc.get("blocks"), path)
    gvars = doc.get("vars") or {}
    if not isinstance(gvars, dict):
        raise SpecError("`vars` must be a mapping", file=path, line=doc.line_of("vars"), field="vars")
    variants = doc.get("variants") or {}
    if not isinstance(variants, dict):
        raise SpecError("`variants` must map variant names to variable values", file=path,
                        line=doc.line_of("variants"), field="variants")
    names = tuple(str(v) for v in variants)
    if selected is not None and selected not in variants:
        raise SpecError(f"no variant '{selected}'{suggest(selected, names)}; variants: "
                        f"{', '.join(names) or 'none'}", file=path, line=doc.line_of("variants"), field="variants")
    wanted = [selected] if selected else (list(names) or [None])
    specs = []
    for v in wanted:
        scope = dict(gvars)
        if v is not None:
            over = variants[v]
            if not isinstance(over, dict):
                raise SpecError(f"variant '{v}' must be a mapping of variable values", file=path,
                                line=variants.line_of(v), field=f"variants.{v}")
            scope.update(over)
        ex = _Expander(path, blocks, v)
        ex.expand(doc["layers"], scope, doc.line_of("layers"))
        if not ex.rows:
            raise SpecError("`layers` is empty", file=path, line=doc.line_of("layers"), field="layers")
        shape, dtype, batch = _parse_input(ex.subst(doc["input"], scope, doc.line_of("input"), "input"), doc, path)
        totals = None
        if doc.get("expect") is not None:
            totals = parse_expect(ex.subst(doc["expect"], scope, doc.line_of("expect"), "expect"), path,
                                  doc.line_of("expect"), totals=True)
        train = doc.get("train")
        if train is not None:
            if not isinstance(train, dict):
                raise SpecError("`train` must be a mapping", file=path, line=doc.line_of("train"), field="train")
            train = ex.subst(train, scope, doc.line_of("train"), "train")
        spec = Spec(name=name, file=path, input_shape=shape, rows=ex.rows, input_dtype=dtype, batch_size=batch,
                    source=doc.get("source"), description=doc.get("description"), variant=v, variants=names,
                    expect=totals, train=train, input_line=doc.line_of("input"))
        _link(spec)
        specs.append(spec)
    return specs


def load_spec(path: str | Path, text: str | None = None) -> Spec:
    """One network: a spec without variants, or ``FILE#VARIANT`` (``text``: the content, if not on disk)."""
    specs = load_specs(path, text)
    if len(specs) > 1:
        raise SpecError(f"this spec has variants {', '.join(s.variant for s in specs)}: choose one with "
                        f"{specs[0].file}#{specs[0].variant}", file=specs[0].file)
    return specs[0]


def _link(spec: Spec) -> None:
    """Check that `inputs` name earlier rows and that every row reaches the output."""
    index = {r.name: i for i, r in enumerate(spec.rows)}
    used: set[str] = set()
    for i, row in enumerate(spec.rows):
        for ref in row.inputs:
            if ref == INPUT:
                used.add(ref)
                continue
            j = index.get(ref)
            if j is None:
                raise SpecError(f"'inputs' names '{ref}', which no row defines"
                                f"{suggest(ref, list(index) + [INPUT])}", file=spec.file,
                                line=row.line_of("inputs"), field="inputs")
            if j >= i:
                what = "itself" if j == i else f"a later row (line {spec.rows[j].line})"
                raise SpecError(f"'inputs' names '{ref}', {what}: rows take outputs of earlier rows only, "
                                "so this would be a cycle", file=spec.file, line=row.line_of("inputs"),
                                field="inputs")
            used.add(ref)
    for row in spec.rows[:-1]:
        if row.name not in used:
            raise SpecError(f"the output of '{row.name}' is never used (the model's output is the last row, "
                            f"'{spec.rows[-1].name}')", file=spec.file, line=row.line)
