"""Expansion of a spec's ``layers``: blocks (``use``), ``repeat``, ``$vars`` and variants, each row
validated by its layer class (found through :func:`cnnspec.layers.lookup`) with file:line errors.

Pure Python (never imports TensorFlow).
"""
from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from cnnspec.errors import SpecError
from cnnspec.layers import Layer, lookup
from cnnspec.layers.shapes import MAX_DIM
from cnnspec.spec.model import (INPUT, INPUT_KEYS, INPUT_TYPES, MAX_REPEAT, MAX_ROWS, ROW_META, ModelInput, Row,
                                parse_expect, parse_shape)
from cnnspec.spec.yamlio import LineDict, LineList
from cnnspec.util import suggest

#: The dtypes a model input may have.
INPUT_DTYPES = ("float32", "float16", "bfloat16", "float64", "int32", "int64", "uint8")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)$")


class Expander:
    """Turns the ``layers`` list (with ``use``/``repeat`` and ``$vars``) into rows."""

    def __init__(self, file: str, blocks: dict, variant: str | None) -> None:
        self.file = file
        self.blocks = blocks
        self.variant = variant
        self.rows: list[Row] = []
        self.counters: dict[str, int] = {}
        self.names: dict[str, int] = {}
        #: the model inputs declared by ``Input`` rows, and the batch size one of them fixes
        self.inputs: list[ModelInput] = []
        self.batch_size: int | None = None
        #: the name of the latest row or input (a row's default input)
        self.last = INPUT

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
                article = "an" if what[:1].lower() in "aeiou" else "a"
                raise self.err(f"unknown key '{k}' in {article} {what}{suggest(str(k), allowed)}; allowed: "
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
                     "input": self.last}
            self.expand(block["layers"], inner, block["line"], stack + (bname,),
                        f"{origin}block '{bname}' {i}/{n} (used on line {item.line}) ")

    def add_row(self, raw: LineDict, scope: dict, origin: str) -> None:
        item = self.subst(raw, scope, raw.line, None)
        line = item.line
        tname = item["type"]
        if tname in INPUT_TYPES:
            self.add_input(item)
            return
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
            raise self._validation_error(exc, cls, item) from exc
        # name: explicit, or Keras's own naming (conv2d, conv2d_1, ...)
        name = item.get("name")
        for inner in _wrapped(layer):  # Keras names the layer a wrapper holds first: LSTM after it is lstm_1
            self._default_name(type(inner))
        if name is None:
            name = self._default_name(cls)
        elif not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-/]{1,128}", name):
            raise self.err(f"a layer name must be 1-128 letters, digits or _ . - /, got {name!r}",
                           item.line_of("name"), "name")
        if name == INPUT:
            raise self.err("the name 'input' is reserved for the model input", item.line_of("name"), "name")
        self._check_unique(name, item)
        inputs = item.get("inputs")
        if inputs is None:
            inputs = [self.last]
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
        self.last = name

    def _check_unique(self, name: str, item: LineDict) -> None:
        """A duplicate name (of a row or an input) is an error naming the first one's line."""
        first = (self.rows[self.names[name]].line if name in self.names else
                 next((i.line for i in self.inputs if i.name == name), None))
        if first is not None:
            raise self.err(f"duplicate layer name '{name}' (first on line {first})", item.line_of("name"), "name")

    def add_input(self, item: LineDict) -> None:
        """An ``Input`` row: one model input (name, shape, dtype, batch_size), as Keras's InputLayer rows."""
        self._check_keys(item, INPUT_KEYS, "Input row")
        if "shape" not in item:
            raise self.err("an Input row needs `shape` (without the batch dimension), like [28, 28, 1]",
                           item.line, "shape")
        try:
            shape, _ = parse_shape(item["shape"], "shape")
        except ValueError as exc:
            raise self.err(str(exc) + " (batch dimension left out)", item.line_of("shape"), "shape") from exc
        if not shape:
            raise self.err("an Input row's `shape` needs at least one dimension", item.line_of("shape"), "shape")
        dtype = item.get("dtype", "float32")
        if dtype not in INPUT_DTYPES:
            raise self.err(f"unsupported input dtype {dtype!r}; use one of {', '.join(INPUT_DTYPES)}",
                           item.line_of("dtype"), "dtype")
        batch = item.get("batch_size")
        if batch is not None:
            if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_DIM:
                raise self.err(f"batch_size must be a positive integer, got {batch!r}", item.line_of("batch_size"),
                               "batch_size")
            if self.batch_size not in (None, batch):
                raise self.err(f"batch_size {batch} differs from another input's {self.batch_size}: a model has "
                               "one batch size", item.line_of("batch_size"), "batch_size")
            self.batch_size = batch
        name = item.get("name")
        if name is None:
            k = sum(1 for i in self.inputs if i.name.startswith("input_layer"))
            name = "input_layer" if k == 0 else f"input_layer_{k}"
            while name in self.names or name in [i.name for i in self.inputs]:
                k += 1
                name = f"input_layer_{k}"
        elif not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-/]{1,128}", name):
            raise self.err(f"an input name must be 1-128 letters, digits or _ . - /, got {name!r}",
                           item.line_of("name"), "name")
        self._check_unique(name, item)
        expect = None
        if item.get("expect") is not None:
            expect = parse_expect(item["expect"], self.file, item.line_of("expect"))
        self.inputs.append(ModelInput(name, shape, dtype, item.line, len(self.rows), expect))
        self.last = name

    def _default_name(self, cls: type[Layer]) -> str:
        """Keras's next automatic name for a layer of ``cls`` (conv2d, conv2d_1, ...), taken."""
        base = cls.default_name()
        k = self.counters.get(base, 0)
        name = base if k == 0 else f"{base}_{k}"
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.counters[base] = k + 1
        return name

    def _validation_error(self, exc: ValidationError, cls: type[Layer], item: LineDict) -> SpecError:
        # A misspelt option also makes a required one "missing": report the misspelling.
        e = sorted(exc.errors(), key=lambda x: x["type"] != "extra_forbidden")[0]
        loc = _user_loc(e["loc"])
        fld = loc[0] if loc else None
        line = item.line_of(fld) if fld else item.line
        owner, key = _owner(cls, item, loc)  # the (nested) layer the option belongs to: layer.unit -> LSTM
        options = [f for f in owner.model_fields if f not in ("type", "trainable", "expect", "name", "inputs")]
        if e["type"] == "extra_forbidden":
            msg = (f"unknown option '{key}' for {owner.keras_class}{suggest(key, options)}; options: "
                   f"{', '.join(options) or 'none'}")
        elif e["type"] == "missing":
            msg = f"{owner.keras_class} needs option '{key}'"
        else:
            got = e.get("input")
            msg = f"{e['msg']} (got {got!r:.60})" if got is not None and e["type"] != "value_error" else e["msg"]
            msg = msg.replace("Value error, ", "")
        return self.err(msg, line, ".".join(loc) if loc else None)


def _wrapped(layer: Any) -> list:
    """The layers a wrapper row holds (Bidirectional's layer and backward_layer, TimeDistributed's layer)
    that Keras names automatically (no ``name`` of their own), in the order Keras creates them."""
    out = []
    for attr in ("layer", "backward_layer"):
        inner = getattr(layer, attr, None)
        if isinstance(inner, Layer) and not getattr(inner, "name", None):
            out.append(inner)
    return out


#: Segments pydantic adds to an error's location for the type it tried, not the user's keys.
_TYPE_TAG = re.compile(r"[\[\]\-, ]|^(int|float|str|bool|bytes|none|list|tuple|dict|set|literal|union)$")


def _user_loc(loc: tuple) -> list[str]:
    """An error location as the user wrote it: ``strides.constrained-int`` -> ``strides``."""
    return [str(x) for x in loc if isinstance(x, int) or not _TYPE_TAG.search(str(x))]


def _owner(cls: type[Layer], item: Any, loc: list[str]) -> tuple[type[Layer], str | None]:
    """The layer class whose option ``loc`` ends at, and that option: ``layer.unit`` of a Bidirectional
    row is LSTM's ``unit`` when the nested mapping says ``type: LSTM``."""
    from cnnspec.layers import lookup

    owner, value = cls, item
    for seg in loc[:-1]:
        value = value.get(seg) if isinstance(value, dict) else None
        inner = lookup(str(value.get("type"))) if isinstance(value, dict) and value.get("type") else None
        if inner is None:
            return cls, loc[0] if loc else None
        owner = inner
    return owner, loc[-1] if loc else None


def row_validation_error(file: str, exc: ValidationError, cls: type[Layer], item: LineDict) -> SpecError:
    """The one-line error for a row its layer class refused (a misspelt option reported first);
    importers use it for the rows they build."""
    return Expander(file, {}, None)._validation_error(exc, cls, item)


def parse_blocks(raw: Any, file: str) -> dict:
    """The spec's ``blocks:`` mapping, validated (each block a list of rows)."""
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
