"""Load a YAML/JSON spec file: read it with line numbers, report unknown layer types (all at once),
expand blocks, repeats and variants (:mod:`cnnspec.spec.expand`) and link graph inputs.

A spec expands to an ordered list of :class:`~cnnspec.spec.model.Row` s (what ``check`` reports), each
knowing its file and line. Pure Python: never imports TensorFlow.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from cnnspec.errors import SpecError
from cnnspec.layers import lookup
from cnnspec.layers.shapes import MAX_DIM, Shape
from cnnspec.spec.expand import Expander, parse_blocks, row_validation_error  # noqa: F401  (public here too)
from cnnspec.spec.model import (INPUT, INPUT_TYPES, ROW_META, TOP_KEYS, Expect, ModelInput, Row,  # noqa: F401
                                Spec, parse_expect, parse_int, parse_shape)
from cnnspec.spec.yamlio import LineDict, load
from cnnspec.util import split_variant, suggest  # noqa: F401  (suggest is used by the importers too)

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
        if t not in unknown and t not in INPUT_TYPES and lookup(t) is None:
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
        raise SpecError(str(exc) + " (batch dimension left out)", file=file, line=line, field="input") from exc
    if not shape:
        raise SpecError("`input` must have at least one dimension", file=file, line=line, field="input")
    return shape, dtype, batch


def _model_inputs(doc: LineDict, ex: Expander, scope: dict, path: str):
    """The model inputs: the top-level ``input`` (one input named ``input``) or the ``Input`` rows
    (one or more, named), never both. Returns (first shape, first dtype, batch size, inputs)."""
    if ex.inputs:
        if "input" in doc:
            raise SpecError(f"`input` and Input rows (line {ex.inputs[0].line}) both declare model inputs: keep "
                            "one (a model with several inputs uses one Input row per input)", file=path,
                            line=doc.line_of("input"), field="input")
        first = ex.inputs[0]
        return first.shape, first.dtype, ex.batch_size, list(ex.inputs)
    if "input" not in doc:
        raise SpecError("missing `input` (or Input rows in `layers`)", file=path, line=doc.line, field="input")
    shape, dtype, batch = _parse_input(ex.subst(doc["input"], scope, doc.line_of("input"), "input"), doc, path)
    return shape, dtype, batch, [ModelInput(INPUT, shape, dtype, doc.line_of("input"))]


def _outputs(doc: LineDict, ex: Expander, scope: dict, path: str) -> list[str]:
    """The model outputs: the ``outputs`` list (row names, in order) or the last row."""
    if "outputs" not in doc:
        return [ex.rows[-1].name]
    line = doc.line_of("outputs")
    raw = ex.subst(doc["outputs"], scope, line, "outputs")
    raw = [raw] if isinstance(raw, str) else raw
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
        raise SpecError("`outputs` must be a list of row names, like [classifier, aux]", file=path, line=line,
                        field="outputs")
    rows = {r.name for r in ex.rows}
    seen: set[str] = set()
    for i, name in enumerate(raw):
        nl = raw.item_lines[i] if i < len(getattr(raw, "item_lines", [])) else line
        if name in seen:
            raise SpecError(f"`outputs` lists '{name}' twice", file=path, line=nl, field="outputs")
        seen.add(name)
        if name not in rows:
            what = " (an input, not a layer row)" if name in [x.name for x in ex.inputs] else ""
            raise SpecError(f"`outputs` names '{name}', which no row defines{what}"
                            f"{suggest(name, sorted(rows))}", file=path, line=nl, field="outputs")
    return list(raw)


def load_specs(path: str | Path, text: str | None = None) -> list[Spec]:
    """All variants of a spec file (one Spec when it has no ``variants``).
    ``FILE#NAME`` selects one variant. ``text``: the file's content, when it is not on disk."""
    path = str(path)
    file, selected = split_variant(path)
    path = str(file) if selected is not None else path
    doc = load(path, text)
    _check_top(doc, path)
    _check_types(doc, path)
    blocks = parse_blocks(doc.get("blocks"), path)
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
    specs = []
    for v in [selected] if selected else (list(names) or [None]):
        scope = dict(gvars)
        if v is not None:
            if not isinstance(variants[v], dict):
                raise SpecError(f"variant '{v}' must be a mapping of variable values", file=path,
                                line=variants.line_of(v), field=f"variants.{v}")
            scope.update(variants[v])
        spec = _variant(doc, path, Expander(path, blocks, v), scope, v, names)
        _link(spec)
        specs.append(spec)
    return specs


def _check_top(doc: Any, path: str) -> None:
    """A spec's top level: a mapping of known keys with ``layers``; name, source and description text."""
    if not isinstance(doc, LineDict):
        raise SpecError("a spec is a mapping with `input` and `layers` at the top level", file=path,
                        line=getattr(doc, "line", 1))
    for key in doc:
        if key not in TOP_KEYS:
            raise SpecError(f"unknown top-level key '{key}'{suggest(str(key), TOP_KEYS)}; allowed: "
                            f"{', '.join(TOP_KEYS)}", file=path, line=doc.line_of(key), field=str(key))
    if "layers" not in doc:
        raise SpecError("missing `layers`", file=path, line=doc.line, field="layers")
    for key in ("name", "source", "description"):
        if key in doc and doc[key] is not None and not isinstance(doc[key], str):
            raise SpecError(f"`{key}` must be text", file=path, line=doc.line_of(key), field=key)


def _variant(doc: LineDict, path: str, ex: Expander, scope: dict, v: str | None, names: tuple) -> Spec:
    """One variant of the file (``v`` None: the file has none): rows expanded, inputs, totals, train."""
    ex.expand(doc["layers"], scope, doc.line_of("layers"))
    if not ex.rows:
        raise SpecError("`layers` is empty", file=path, line=doc.line_of("layers"), field="layers")
    shape, dtype, batch, inputs = _model_inputs(doc, ex, scope, path)
    totals = None
    if doc.get("expect") is not None:
        totals = parse_expect(ex.subst(doc["expect"], scope, doc.line_of("expect"), "expect"), path,
                              doc.line_of("expect"), totals=True)
    train = doc.get("train")
    if train is not None:
        if not isinstance(train, dict):
            raise SpecError("`train` must be a mapping", file=path, line=doc.line_of("train"), field="train")
        train = ex.subst(train, scope, doc.line_of("train"), "train")
    return Spec(name=doc.get("name") or Path(path).stem, file=path, input_shape=shape, rows=ex.rows,
                input_dtype=dtype, batch_size=batch, source=doc.get("source"), description=doc.get("description"),
                variant=v, variants=names, expect=totals, train=train, input_line=inputs[0].line, inputs=inputs,
                outputs=_outputs(doc, ex, scope, path), outputs_declared="outputs" in doc)


def load_spec(path: str | Path, text: str | None = None) -> Spec:
    """One network: a spec without variants, or ``FILE#VARIANT`` (``text``: the content, if not on disk)."""
    specs = load_specs(path, text)
    if len(specs) > 1:
        raise SpecError(f"this spec has variants {', '.join(s.variant for s in specs)}: choose one with "
                        f"{specs[0].file}#{specs[0].variant}", file=specs[0].file)
    return specs[0]


def _link(spec: Spec) -> None:
    """Check that `inputs` name earlier rows or model inputs, and that every row and input reaches an
    output (the last row, or the rows listed under `outputs`)."""
    index = {r.name: i for i, r in enumerate(spec.rows)}
    given = {i.name: i for i in spec.inputs}
    used: set[str] = set()
    for i, row in enumerate(spec.rows):
        for ref in row.inputs:
            if ref in given:
                if given[ref].position > i:
                    raise SpecError(f"'inputs' names '{ref}', an input declared later (line {given[ref].line}): "
                                    "declare Input rows before the rows that take them", file=spec.file,
                                    line=row.line_of("inputs"), field="inputs")
                used.add(ref)
                continue
            j = index.get(ref)
            if j is None and ref == INPUT and "inputs" not in row.key_lines:
                raise SpecError(f"'{row.name}' takes the model input by default, but this spec declares its inputs "
                                f"with Input rows ({', '.join(given)}): put an Input row before it or give its "
                                "`inputs`", file=spec.file, line=row.line, field="inputs")
            if j is None:
                raise SpecError(f"'inputs' names '{ref}', which no row defines"
                                f"{suggest(ref, list(index) + list(given))}", file=spec.file,
                                line=row.line_of("inputs"), field="inputs")
            if j >= i:
                what = "itself" if j == i else f"a later row (line {spec.rows[j].line})"
                raise SpecError(f"'inputs' names '{ref}', {what}: rows take outputs of earlier rows only, "
                                "so this would be a cycle", file=spec.file, line=row.line_of("inputs"),
                                field="inputs")
            used.add(ref)
    outs = set(spec.outputs)
    for row in spec.rows:
        if row.name not in used and row.name not in outs:
            where = (f"the model's outputs are {', '.join(spec.outputs)}" if spec.outputs_declared else
                     f"the model's output is the last row, '{spec.rows[-1].name}'; a model with several outputs "
                     "lists them under `outputs:`")
            raise SpecError(f"the output of '{row.name}' is never used ({where})", file=spec.file, line=row.line)
    for inp in spec.inputs:
        if inp.name not in used:
            raise SpecError(f"input '{inp.name}' is never used: no row takes it in `inputs`", file=spec.file,
                            line=inp.line)
