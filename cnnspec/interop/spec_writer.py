"""The one spec writer every importer ends with: an :class:`ImportedModel` -> spec YAML (one
flow-style row per layer, comments for what was inferred or could not be known), validated in
memory with the spec loader and the checker before anything is written. Pure Python."""
from __future__ import annotations

from typing import Any

import yaml

from cnnspec.errors import SpecError
from cnnspec.interop.import_common import ImportedModel, positional
from cnnspec.spec.loader import INPUT


def _plain(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def flow(v: Any) -> str:
    """A value as one line of YAML flow style."""
    return yaml.safe_dump(_plain(v), default_flow_style=True, sort_keys=False, width=10**6,
                          allow_unicode=True).strip().removesuffix("...").strip()


def _comment(text: str) -> str:
    return " ".join(text.split())


def _inputs(model: ImportedModel) -> list[str]:
    """One ``Input`` row per model input (a model with several inputs)."""
    out = []
    for i in model.inputs:
        row: dict[str, Any] = {"type": "Input", "name": i.name, "shape": list(i.shape or ())}
        if i.dtype and i.dtype != "float32":
            row["dtype"] = i.dtype
        out.append(f"  - {flow(row)}")
    return out


def _rows(model: ImportedModel) -> list[str]:
    out = []
    prev = model.inputs[-1].name if len(model.inputs) > 1 else INPUT
    for r in model.rows:
        row: dict[str, Any] = {"type": r.cls.keras_class}
        if r.name is not None:
            row["name"] = r.name
        if r.inputs is not None and r.inputs != [prev]:
            row["inputs"] = r.inputs[0] if len(r.inputs) == 1 else r.inputs
        first = [k for k in positional(r.cls) if k in r.options]
        row.update({k: r.options[k] for k in first})
        row.update({k: v for k, v in r.options.items() if k not in first})
        if not r.trainable:
            row["trainable"] = False
        if r.expect:
            row["expect"] = r.expect
        note = ("inferred" + (f": {r.comment}" if r.comment else "")) if r.inferred else r.comment
        out.append(f"  - {flow(row)}" + (f"  # {_comment(note)}" if note else ""))
        prev = r.name if r.name is not None else prev
    return out


def to_yaml(model: ImportedModel, name: str, source: str) -> str:
    """The spec text of an imported model."""
    out = [f"# Imported by `cnnspec import` from {_comment(source)}: check it with `cnnspec check`."]
    out += [f"# {_comment(n)}" for n in model.notes]
    out += [f"name: {flow(name)}", f"source: {flow('imported from ' + source)}"]
    several = len(model.inputs) > 1
    if several:
        pass  # one Input row per input, below
    elif model.input_dtype and model.input_dtype != "float32":
        out.append(f"input: {{shape: {flow(list(model.input_shape))}, dtype: {flow(model.input_dtype)}}}")
    else:
        out.append(f"input: {flow(list(model.input_shape))}")
    if model.expect:
        out.append(f"expect: {flow(model.expect)}")
    out.append("layers:")
    out += (_inputs(model) if several else []) + _rows(model)
    if model.outputs and len(model.outputs) > 1:
        out.append(f"outputs: {flow(model.outputs)}")
    if model.train:
        out.append("train:")
        out += [f"  {k}: {flow(v)}" for k, v in model.train.items()]
    return "\n".join(out) + "\n"


def prune(model: ImportedModel) -> None:
    """Functional code may build more than reaches the outputs: keep the rows the outputs need (a
    model with one input then names it ``input``)."""
    from cnnspec.interop.import_graph import single_input_refs

    single_input_refs(model)
    if not model.functional or model.output is None:
        return
    by_name = {r.name: r for r in model.rows}
    need = set()
    stack = list(model.outputs or [model.output.ref])
    inputs = {INPUT} | {i.name for i in model.inputs}
    while stack:
        n = stack.pop()
        if n in need or n in inputs:
            continue
        need.add(n)
        stack.extend(by_name[n].inputs or [])
    model.rows = [r for r in model.rows if r.name in need]


def validate(text: str, file: str):
    """Load and check the spec text in memory (no file written); a SpecError names the source file.
    Returns the check report."""
    from cnnspec.check.infer import check
    from cnnspec.spec.loader import load_spec

    try:
        return check(load_spec("imported.yaml", text=text))
    except SpecError as exc:
        raise SpecError(f"the imported spec is invalid: {exc.message}", file=file) from exc
