"""A printed model summary -> an :class:`ImportedModel`: the layer types, names and graph
(from "Connected to") as printed, each row's options inferred by :mod:`.summary_infer`, the
printed shapes, counts and totals kept as expectations so ``cnnspec check`` compares them."""
from __future__ import annotations

import ast
import difflib
import re
from typing import Any

from cnnspec.errors import SpecError
from cnnspec.interop.import_common import ImportedInput, ImportedModel, ImportedRow, layer_class
from cnnspec.interop.summary_infer import Explained, by_count, explain
from cnnspec.interop.summary_nested import NestedRows, nested_type, nesting, printed_part
from cnnspec.interop.summary_parse import Printed, TextRow, read_summary
from cnnspec.layers import LAYER_CLASSES, Layer
from cnnspec.layers.shapes import Shape, format_shape
from cnnspec.spec.loader import INPUT
from cnnspec.util import suggest

_CUT = ("…", "...")
_INPUT_TYPES = ("InputLayer", "Input", "input", "layer_input")


def import_summary(text: str, file: str, input_shape: Shape | None = None) -> ImportedModel:
    """The model a printed summary describes (format detected: Keras 3, Keras 2, R, CSV, Markdown)."""
    printed = read_summary(text, file)
    return _Builder(printed, file, input_shape).build()


def _cut(text: str) -> tuple[str, bool]:
    """(text without a trailing '…', whether it was cut)."""
    for c in _CUT:
        if text.endswith(c):
            return text[: -len(c)], True
    return text, False


class _Builder(NestedRows):
    """Turns the printed rows into imported rows, one at a time, following shapes and connections."""

    def __init__(self, printed: Printed, file: str, input_shape: Shape | None) -> None:
        self.p = printed
        self.file = file
        default = re.fullmatch(r"(sequential|functional|model)(_\d+)?", printed.name or "")
        self.model = ImportedModel(name=None if default else printed.name)
        self.model.input_shape = input_shape
        self.names: dict[str, str] = {}   # printed label -> row name (INPUT for the input layer)
        self.shapes: dict[str, Shape] = {}
        self.row_inputs: dict[str, list[Shape]] = {}

    def err(self, msg: str, line: int | None) -> SpecError:
        """A one-line error at a line of the summary."""
        return SpecError(msg, file=self.file, line=line)

    def build(self) -> ImportedModel:
        """The imported model of the whole table."""
        m = self.model
        prev = INPUT
        groups = nesting(self.p.rows)
        skip = self.preprocessing(groups)
        for k, (r, kids) in enumerate(groups):
            if k in skip:  # a base's traced preprocess_input: the rows stand for the tensor they take
                self.names[printed_part(r.label, 1)] = self.inputs_of(r, prev)[0] if self.p.graph else prev
                if m.input_shape is None and not self.p.graph:
                    m.input_shape = self.shapes[INPUT] = self.shape_of(r)
                continue
            if nested_type(r.label):
                prev = self.nested(r, prev, kids).name
                continue
            name, classes, printed_type, given = self.layer_of(r)
            shape = self.shape_of(r)
            if printed_type in _INPUT_TYPES:
                self.add_input(name, shape, r)
                prev = name
                continue
            inputs = self.inputs_of(r, prev) if self.p.graph else [prev]
            row = self.row(r, name, classes, inputs, shape, self.params_of(r), given)
            prev = row.name
        if not m.rows:
            raise self.err("the summary has no layers besides the input", None)
        used = {x for row in m.rows for x in (row.inputs or [])}
        outputs = [row.name for row in m.rows if row.name not in used]
        if len(outputs) > 1:  # rows no other row takes: the model's outputs, in the table's order
            m.outputs = outputs
        if self.p.graph:
            m.functional = True
        if self.p.totals:
            m.expect = dict(self.p.totals)
            self.frozen_rows()
        m.notes.append("options a summary does not print (activations, dropout rates, initializers) are Keras's "
                       "defaults or marked 'inferred': set them by hand")
        return m

    def add_input(self, name: str, shape: Shape, r: TextRow) -> None:
        """An InputLayer row: a model input (a graph with several inputs prints one row per input)."""
        m = self.model
        if any(i.name == name for i in m.inputs):
            raise self.err(f"a second model input named '{name}'", r.line)
        if not m.inputs:  # --input, when given, is the first input's shape
            shape = m.input_shape = m.input_shape or shape
        m.inputs.append(ImportedInput(name, shape, None, r.line))
        self.names[name] = name
        self.shapes[name] = shape

    # -- cells -----------------------------------------------------------------------------------------
    def layer_of(self, r: TextRow) -> tuple[str, list[type[Layer]], str, dict]:
        """(name, candidate classes, printed type, options stated in the cell) of a row."""
        label = r.label.strip()
        call = re.match(r"^(?P<type>[A-Za-z_]\w*)\s*\((?P<args>.*=.*)\)\s*$", label)
        if call and (layer_class(call.group("type")) or call.group("type") in _INPUT_TYPES):
            cls = layer_class(call.group("type"))
            return "", [cls] if cls else [], call.group("type"), _options(call.group("args"), cls)
        m = re.match(r"^(?P<name>[^()]*?)\s*\((?P<type>[^()]*)\)?\s*$", label)
        if m and m.group("type").strip():
            name = re.sub(r"\s+", "", m.group("name"))
            tname = re.sub(r"\s+", "", m.group("type"))
        else:
            name, tname = "", re.sub(r"\s+", "", label)
        tname, cut = _cut(tname)
        cut = cut or ("(" in label and not label.rstrip().endswith(")"))  # Keras 2 cut long types: (MaxPooling2
        if tname in _INPUT_TYPES:
            return name or "input", [], tname, {}
        cls = layer_class(tname) or layer_class(tname, r=True)
        classes = [cls] if cls else [c for c in LAYER_CLASSES if cut and c.keras_class.startswith(tname)]
        if len(classes) > 1 and name:  # a cut type: the printed name tells (global_average_pooling2d)
            named = [c for c in classes if re.fullmatch(re.escape(c.default_name()) + r"(_\d+)?", name)]
            classes = named or classes
        if not classes and not cut:  # a typo in a typed table: BatchNormalizatation
            close = difflib.get_close_matches(tname, [c.keras_class for c in LAYER_CLASSES], n=1, cutoff=0.85)
            classes = [layer_class(close[0])] if close else []
        if not classes:
            names = [c.keras_class for c in LAYER_CLASSES]
            raise self.err(f"row '{label}': layer type '{tname}' is not one cnnspec models"
                           f"{suggest(tname, names)} (Lambda layers and nested models cannot be imported)", r.line)
        return name, classes, tname, {}

    def shape_of(self, r: TextRow) -> Shape:
        """The printed output shape without the batch dimension."""
        text = re.sub(r"\s+", "", r.shape).strip("[]")
        if text.endswith(_CUT) or text.count("(") != 1:
            raise self.err(f"output shape {r.shape!r} cannot be read (one output like (None, 26, 26, 32))", r.line)
        dims = text.strip("()").split(",")
        out = []
        for d in dims[1:] if dims and dims[0] in ("None", "?", "NA", "null") else dims:
            if d in ("None", "?", "NA", "null"):
                out.append(None)
            elif d.isdigit() and int(d) > 0:
                out.append(int(d))
            elif d:
                raise self.err(f"output shape {r.shape!r} cannot be read", r.line)
        if not out:
            raise self.err(f"output shape {r.shape!r} cannot be read", r.line)
        return tuple(out)

    def params_of(self, r: TextRow) -> int:
        """The printed parameter count."""
        text = re.sub(r"\(unbuilt\)", "", r.params)
        digits = re.sub(r"[,. \u202f]", "", text)
        if not digits.isdigit():
            raise self.err(f"parameter count {r.params!r} cannot be read", r.line)
        return int(digits)

    def inputs_of(self, r: TextRow, prev: str) -> list[str]:
        """The rows a functional row takes, from its 'Connected to' cell."""
        text = r.connected.strip()
        if text in ("", "-"):
            return [prev]
        refs = []
        if "'" in text or '"' in text:  # Keras 2.13+: ['a[0][0]', 'b[0][0]'], wrapped anywhere, even mid-name
            parts = re.findall(r"""['"]([^'"]+)['"]""", re.sub(r"\s+", "", text))
        else:  # Keras 2: one entry a line; cnnspec: "a, b"
            parts = re.split(r"[,\s]+", text.strip("[]"))
        for part in parts:
            part = re.sub(r"(\[\d+\])+", "", part.strip("[]"))
            if part:
                refs.append(self.resolve(part, r, refs))
        return refs or [prev]

    def resolve(self, ref: str, r: TextRow, taken: list[str] = ()) -> str:
        """The row a printed (possibly cut) reference names. A cut name ('batch_normalizat…') may fit
        several rows: the earliest whose output no row has used yet (nor this row already), as each
        output of a graph is used by a later row; else the latest used one."""
        ref, cut = _cut(ref)
        whole = "[" in ref  # cut inside the node index ('conv2d[0][0…'): the name itself is whole
        ref = re.sub(r"\[.*$", "", ref)
        if (not cut or whole) and ref in self.names:
            return self.names[ref]
        if ref == INPUT:
            return INPUT  # cnnspec's own table calls the model input 'input'
        hits = []
        if cut:  # rows printed with the same cut name share one key of self.names: look at the rows too
            rows = [row.name for row in self.model.rows]
            order = [*dict.fromkeys([*(n for n in self.names.values() if n not in rows), *rows])]
            printed = {v for k, v in self.names.items() if k.startswith(ref)}
            hits = [n for n in order if n in printed or (n or "").startswith(ref)]
        if not hits:
            raise self.err(f"'Connected to' names '{ref}', which no row above defines", r.line)
        used = {i for row in self.model.rows for i in (row.inputs or [])} | set(taken)
        fresh = [h for h in hits if h not in used]
        if fresh:  # the earliest: a merge lists its inputs in the order their layers were made
            return fresh[0]
        return ([h for h in hits if h not in taken] or hits)[-1]

    # -- rows ------------------------------------------------------------------------------------------
    def row(self, r: TextRow, name: str, classes, inputs: list[str], shape: Shape, params: int,
            given: dict) -> ImportedRow:
        """Infer one row's options and append it with its printed values as expectations."""
        m = self.model
        ins = None if m.input_shape is None else [self.shapes.get(i, m.input_shape) for i in inputs]
        if ins is None and m.rows:
            raise self.err("cannot follow the shapes: the input shape is unknown", r.line)
        ex = explain(classes, ins, shape, params, given)
        if (ex is None or not ex.exact) and ins is not None and len(inputs) == 1:
            revised = self.revise_previous(inputs[0], classes, shape, params)
            ex = revised or ex
        if ex is None:
            raise self.err(f"row '{r.label}': no {classes[0].keras_class} options fit input "
                           f"{format_shape(ins[0]) if ins else 'unknown'} and output {format_shape(shape)}; "
                           "check the printed shapes", r.line)
        if ins is None:
            self.first_input(ex, r, shape)
        row_name = self.row_name(name, ex.cls)
        row = ImportedRow(ex.cls, dict(ex.options), r.line, row_name, inputs)
        row.expect = {"output": format_shape(shape), "params": params}
        row.inferred, row.comment = _comment(ex, params)
        m.rows.append(row)
        self.names[name or row_name] = row_name
        self.shapes[row_name] = shape
        self.row_inputs[row_name] = ins or [self.model.input_shape]
        return row

    def frozen_rows(self) -> None:
        """Totals with more non-trainable weights than the rows have: frozen layers (trainable: false).
        The rows whose weights make up the difference: one row, or the first rows (a frozen base)."""
        want = self.p.totals.get("non_trainable")
        counts = [self.count_of(r) for r in self.model.rows]
        if want is None or None in counts:
            return
        diff = want - sum(c.non_trainable for c in counts)
        if diff <= 0:
            return
        rows = self.model.rows
        single = [i for i, c in enumerate(counts) if c.trainable == diff]
        prefix = next((k for k in range(1, len(rows) + 1) if sum(c.trainable for c in counts[:k]) == diff), None)
        chosen = single[:1] if single else (list(range(prefix)) if prefix else [])
        if not chosen:
            from cnnspec.interop.summary_bases import fine_tune_from

            for row in rows:
                start = fine_tune_from(row, self.row_inputs.get(row.name), diff)
                if start is not None:
                    row.options["fine_tune_from"] = start
                    row.comment = "; ".join(x for x in (row.comment, "fine_tune_from from the printed "
                                                        "non-trainable total") if x)
                    return
        for i in chosen:
            rows[i].trainable = False
            rows[i].comment = "; ".join(x for x in (rows[i].comment, "trainable: false from the printed "
                                                    "non-trainable total") if x)

    def count_of(self, row: ImportedRow):
        """The count the class computes for an imported row (None if it cannot)."""
        try:
            layer = row.cls.model_validate({**row.options, "type": row.cls.keras_class})
            return layer.infer(self.row_inputs[row.name])[1]
        except Exception:  # noqa: BLE001 - a row kept as printed may not compute
            return None

    def revise_previous(self, prev_name: str, classes, shape: Shape, params: int) -> Explained | None:
        """A row no option set explains may follow a misprinted shape: the row before, with the options
        that give its printed count and an output this row can take, explains both (seed 003's Table 3.2)."""
        prev = next((r for r in self.model.rows if r.name == prev_name), None)
        if prev is None or not prev.expect or prev.cls.arity != 1:
            return None
        printed = self.shapes[prev_name]
        for options, computed in by_count(prev.cls, self.row_inputs[prev_name], printed, prev.expect["params"]):
            if computed == printed:
                continue
            ex = explain(classes, [computed], shape, params)
            if ex is not None and ex.exact:
                prev.options, prev.inferred = dict(options), True
                prev.comment = (f"printed output {format_shape(printed)} is a misprint: the next row takes "
                                f"{format_shape(computed)}; `cnnspec check` flags it")
                self.shapes[prev_name] = computed
                return ex
        return None

    def first_input(self, ex: Explained, r: TextRow, shape: Shape) -> None:
        """Take the model input inferred from the first row, or ask for --input."""
        if ex.input_shape is None or not ex.exact or (tuple(ex.input_shape) == shape and _changes_rank(ex)):
            raise self.err("the summary does not print the model's input shape and the first row does not tell "
                           "it: give it with --input (e.g. --input 28,28,1)", r.line)
        self.model.input_shape = ex.input_shape
        self.shapes[INPUT] = ex.input_shape
        self.model.notes.append(f"input shape {tuple(ex.input_shape)} inferred from the first row (the summary "
                                "does not print it); change it if the data differs")

    def row_name(self, printed: str, cls: type[Layer]) -> str:
        """The printed name, or Keras's default name when it is cut or taken."""
        base, cut = _cut(printed)
        taken = {r.name for r in self.model.rows}
        if base and not cut and re.fullmatch(r"[A-Za-z0-9_.\-/]{1,128}", base) and base not in taken:
            return base
        stem = cls.default_name()
        base = base if stem.startswith(base) else ""
        k = 0
        while True:
            cand = stem if k == 0 else f"{stem}_{k}"
            if cand not in taken and cand != INPUT and (not base or cand.startswith(base)):
                return cand
            k += 1


def _changes_rank(ex: Explained) -> bool:
    """A first row like Flatten tells nothing about the input: its output fits many inputs."""
    try:
        layer = ex.cls.model_validate({**ex.options, "type": ex.cls.keras_class})
        probe = tuple(ex.input_shape) + (4,) if len(ex.input_shape) < 3 else tuple(ex.input_shape)
        return len(layer.infer([probe])[0]) != len(probe)
    except Exception:  # noqa: BLE001 - any failure: the probe says nothing
        return False


def _options(text: str, cls: type[Layer] | None) -> dict[str, Any]:
    """Options a paper typed in the layer cell: ``Conv2D(filters=32, kernel size=(3, 3))``."""
    if cls is None:
        return {}
    text = text.translate(str.maketrans("‘’“”", "''\"\"")).replace("c(", "(")
    out: dict[str, Any] = {}
    for part in re.split(r",\s*(?=[A-Za-z_][\w ]*=)", text):
        if "=" not in part:
            continue
        key, value = (x.strip() for x in part.split("=", 1))
        key = re.sub(r"\s+", "_", key)
        try:
            v = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            v = value.strip("'\"")
        if key in cls.model_fields and key not in Layer.META:
            out[key] = list(v) if isinstance(v, tuple) else v
    return out


def _comment(ex: Explained, params: int) -> tuple[bool, str]:
    notes = list(ex.notes)
    if not ex.exact:
        notes.insert(0, "no option set explains the printed row: kept as printed, `cnnspec check` flags it")
        return False, "; ".join(notes)
    if ex.alternatives:
        notes.append("also fits: " + " | ".join(ex.alternatives))
    return bool(ex.alternatives or ex.notes), "; ".join(notes)


__all__: list[Any] = ["import_summary"]
