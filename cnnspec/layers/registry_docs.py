"""What the registry generates: the rows of `cnnspec layers`, docs/layers.md and the JSON Schema
of a spec file (`cnnspec schema`, for editors: ``# yaml-language-server: $schema=...``).
Pure Python: everything comes from the layer classes and their option descriptions."""
from __future__ import annotations

from typing import Any

from cnnspec.layers import APPLICATION_CLASSES, LAYER_CLASSES, family
from cnnspec.layers.base import Layer
from cnnspec.layers.options import describe

FAMILY_TITLES = {
    "conv": "Convolution", "pooling": "Pooling", "core": "Core", "recurrent": "Recurrent",
    "wrappers": "Wrappers", "attention": "Attention", "regularization": "Regularization (identity at inference)",
    "normalization": "Normalization", "activation": "Activations", "reshaping": "Reshaping",
    "preprocessing": "Preprocessing", "augmentation": "Augmentation (identity at inference but RandomCrop)",
    "merge": "Merging",
}


def _default(info) -> Any:
    if info.is_required():
        return "required"
    d = info.default
    return list(d) if isinstance(d, tuple) else d


def describe_layer(cls: type[Layer]) -> dict[str, Any]:
    """One registry entry: names, family, facts and options (default and description)."""
    opts = {}
    fields = {(info.alias or f): info for f, info in cls.model_fields.items() if f not in cls.META}
    for key in [p for p in cls.positional if p in fields] + [k for k in fields if k not in cls.positional]:
        opts[key] = {"default": _default(fields[key]), "doc": describe(cls, key)}
    return {"type": cls.keras_class, "r_name": cls.r_name, "aliases": list(cls.aliases), "family": family(cls),
            "doc": (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " "),
            "inputs": "1" if cls.arity == 1 else (f"{cls.min_inputs}-{cls.max_inputs}" if cls.max_inputs else
                                                  f"{cls.min_inputs}+"),
            "training_only": cls.training_only, "positional": list(cls.positional), "options": opts}


def registry() -> list[dict[str, Any]]:
    """Every layer type, in registry order, then the pretrained bases."""
    return [describe_layer(cls) for cls in LAYER_CLASSES + APPLICATION_CLASSES]


def _fmt_default(v: Any) -> str:
    if v == "required":
        return "**required**"
    if v is None:
        return "none"
    return f"`{v!r}`" if not isinstance(v, str) else f"`{v}`"


def markdown() -> str:
    """docs/layers.md: every layer type by family, with its names and options."""
    out = ["# Layer types", "",
           "Generated from the layer registry by `cnnspec layers --markdown` (a test keeps this file in step;",
           "do not edit by hand). A row's `type` is the Keras 3 class, an alias Keras accepts, or the R keras",
           "function. Options are Keras's own, with Keras's defaults; every row also takes `name`, `inputs`,",
           "`trainable` and `expect` (see [spec-format.md](spec-format.md)). Parameter counts are the sums of",
           "the weights each layer declares; `cnnspec check --json` lists them.", ""]
    by_family: dict[str, list[dict]] = {}
    for entry in registry()[:len(LAYER_CLASSES)]:
        by_family.setdefault(entry["family"], []).append(entry)
    for fam, entries in by_family.items():
        out += [f"## {FAMILY_TITLES.get(fam, fam)}", ""]
        for e in entries:
            names = [f"`{e['r_name']}`"] + [f"`{a}`" for a in e["aliases"]]
            out += [f"### `{e['type']}`", "", e["doc"], "",
                    f"Also written {', '.join(names)}. Inputs: {e['inputs']}."
                    + (" Left out of exports (identity at inference)." if e["training_only"] else ""), ""]
            if e["options"]:
                out += ["| option | default | meaning |", "|---|---|---|"]
                out += [f"| `{k}` | {_fmt_default(o['default'])} | {o['doc']} |" for k, o in e["options"].items()]
                out.append("")
    return "\n".join(out + _applications_md())


def _applications_md() -> list[str]:
    """One section for the pretrained bases (they share their options)."""
    first = describe_layer(APPLICATION_CLASSES[0])
    out = ["## Pretrained bases (keras.applications)", "",
           "A row names a base; Keras prints it as one `Functional` row, and so does `cnnspec summary`",
           "(`--expand` prints the rows inside). `check` counts it without TensorFlow from the base's",
           "architecture shipped with cnnspec; `build`/`train` construct the real keras.applications model.",
           "See [transfer.md](transfer.md).", "",
           "| type | R keras | preprocessing |", "|---|---|---|"]
    out += [f"| `{c.keras_class}` | `{c.r_name}` | {c.preprocessing} |" for c in APPLICATION_CLASSES]
    out += ["", "| option | default | meaning |", "|---|---|---|"]
    out += [f"| `{k}` | {_fmt_default(o['default'])} | {o['doc']} |" for k, o in first["options"].items()]
    return out + [""]


_VAR = {"type": "string", "pattern": r"^\$", "description": "a variable ($name or ${name})"}


def _row_schema(cls: type[Layer]) -> dict[str, Any]:
    schema = cls.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})
    props = schema.get("properties", {})
    for key, prop in list(props.items()):
        if key == "type":
            props[key] = {"enum": list(cls.type_names()), "description": describe(cls, "type")}
            continue
        prop.pop("title", None)
        prop.setdefault("description", describe(cls, key))
        props[key] = {"anyOf": [prop, _VAR], "description": prop["description"]}
    props["inputs"] = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                       "description": describe(cls, "inputs")}
    props["expect"] = {"$ref": "#/$defs/expect"}
    for nested in ("layer", "backward_layer"):
        if nested in props:
            props[nested] = {"$ref": "#/$defs/row", "description": describe(cls, nested)}
    schema.pop("title", None)
    schema["description"] = describe_layer(cls)["doc"]
    return {"schema": schema, "defs": defs}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a spec file."""
    defs: dict[str, Any] = {}
    rows = []
    for cls in LAYER_CLASSES + APPLICATION_CLASSES:
        r = _row_schema(cls)
        defs.update(r["defs"])
        defs[cls.keras_class] = r["schema"]
        rows.append({"$ref": f"#/$defs/{cls.keras_class}"})
    shape = {"anyOf": [{"type": "array", "items": {"type": ["integer", "null"]}}, {"type": "string"}]}
    count = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}]}
    defs["expect"] = {"type": "object", "additionalProperties": False, "description": describe(Layer, "expect"),
                      "properties": {"output": shape, "params": count, "trainable": count, "non_trainable": count}}
    defs["use"] = {"type": "object", "additionalProperties": False, "required": ["use"],
                   "properties": {"use": {"type": "string"}, "with": {"type": "object"},
                                  "repeat": {"type": ["integer", "string"]}}}
    defs["repeat"] = {"type": "object", "additionalProperties": False, "required": ["repeat", "layers"],
                      "properties": {"repeat": {"type": ["integer", "string"]}, "with": {"type": "object"},
                                     "layers": {"$ref": "#/$defs/layers"}}}
    # a row whose type is a variable ($base) is checked once expanded, by `cnnspec check`
    rows.append({"type": "object", "required": ["type"],
                 "properties": {"type": {"type": "string", "pattern": r"^\$"}}})
    # a model input (a functional model with several inputs: one Input row each)
    defs["Input"] = {"type": "object", "additionalProperties": False, "required": ["type", "shape"],
                     "description": "a model input, as Keras's InputLayer row (instead of the top-level `input`)",
                     "properties": {"type": {"enum": ["Input", "InputLayer", "layer_input", "keras_input"]},
                                    "name": {"type": "string"}, "shape": shape, "dtype": {"type": "string"},
                                    "batch_size": {"type": ["integer", "string"]},
                                    "expect": {"$ref": "#/$defs/expect"}}}
    rows.append({"$ref": "#/$defs/Input"})
    defs["row"] = {"anyOf": rows}
    defs["layers"] = {"type": "array", "items": {"anyOf": [{"$ref": "#/$defs/row"}, {"$ref": "#/$defs/use"},
                                                          {"$ref": "#/$defs/repeat"}]}}
    totals = {"type": "object", "additionalProperties": False,
              "properties": {"total": count, "trainable": count, "non_trainable": count}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://cnnspec.invalid/spec.schema.json",
        "title": "cnnspec spec", "type": "object", "additionalProperties": False, "required": ["layers"],
        "properties": {
            "name": {"type": "string"}, "source": {"type": "string"}, "description": {"type": "string"},
            "notes": {}, "vars": {"type": "object"}, "variants": {"type": "object"},
            "input": {"description": "input shape without the batch dimension, or {shape, dtype}",
                      "anyOf": [shape, {"type": "object", "properties": {
                          "shape": shape, "dtype": {"type": "string"}, "batch_size": {"type": "integer"}}}]},
            "layers": {"$ref": "#/$defs/layers"},
            "outputs": {"description": "the output rows of a model with several outputs, in order",
                        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "blocks": {"type": "object", "additionalProperties": {
                "anyOf": [{"$ref": "#/$defs/layers"},
                          {"type": "object", "properties": {"vars": {"type": "object"}, "doc": {"type": "string"},
                                                            "layers": {"$ref": "#/$defs/layers"}}}]}},
            "expect": totals, "train": {"type": "object", "description": "the training section (docs/training.md)"},
        },
        "$defs": defs,
    }
