"""Nested models in a printed summary, for :mod:`.import_summary`: a keras.applications base row
(identified and verified by :mod:`.summary_bases`, its traced ``preprocess_input`` rows folded into it),
the rows Keras printed inside an unknown nested model (expand_nested), or a one-line error saying how to
proceed. Pure Python."""
from __future__ import annotations

import re

from cnnspec.interop.import_common import ImportedRow
from cnnspec.interop.summary_parse import TextRow
from cnnspec.layers.shapes import format_shape
from cnnspec.spec.loader import INPUT

_CUT = ("…", "...")
_INPUT_TYPES = ("InputLayer", "Input", "input", "layer_input")


def _cut(text: str) -> tuple[str, bool]:
    for c in _CUT:
        if text.endswith(c):
            return text[: -len(c)], True
    return text, False


class NestedRows:
    """Mixed into the summary importer's builder (which provides err, row, shape_of, params_of ...)."""

    def nested(self, r: TextRow, prev: str, kids: list[TextRow]) -> ImportedRow:
        """A nested model's row: a keras.applications base (identified and verified), else its rows when
        the summary shows them (expand_nested), else a one-line error saying how to proceed."""
        from cnnspec.interop.summary_bases import identify

        label = re.match(r"^(?P<name>[^()]*?)\s*\((?P<type>[^()]*)\)?\s*$", r.label.strip())
        name = re.sub(r"\s+", "", label.group("name")) if label else r.label.strip()
        inputs = self.inputs_of(r, prev) if self.p.graph else [prev]
        shape, params = self.shape_of(r), self.params_of(r)
        ins = None if self.model.input_shape is None else self.shapes.get(inputs[0], self.model.input_shape)
        try:
            found = identify(_cut(name)[0], shape, params, ins, label.group("type").strip() if label else None)
        except ValueError as exc:
            if kids:
                row = self.flatten(kids, inputs[0])
                self.names[name] = row.name  # later rows name the nested model: its last row
                return row
            raise self.err(f"row '{r.label}': {exc}; print the summary with expand_nested=True (Python: "
                           "model.summary(expand_nested=True), R: summary(model, expand_nested = TRUE)) to import "
                           "its layers, or write them in place of the nested model", r.line) from exc
        from cnnspec.layers.applications import application_class

        cls = application_class(found.name)
        if ins is None:
            self.model.input_shape = found.input_shape
            self.shapes[INPUT] = found.input_shape
        row = ImportedRow(cls, dict(found.options), r.line, self.row_name(name, cls), inputs)
        row.expect = {"output": format_shape(shape), "params": params}
        row.inferred, row.comment = bool(found.notes), "; ".join(found.notes)
        self.model.rows.append(row)
        self.names[name or row.name] = row.name
        self.shapes[row.name] = shape
        self.row_inputs[row.name] = [found.input_shape]
        return row

    def preprocessing(self, groups: list) -> set[int]:
        """Rows that are a base's ``preprocess_input`` traced by Keras (GetItem, Stack, Add ... before
        the base): left out, the base row preprocesses (``preprocess: true``) and takes their input."""
        from cnnspec.interop.summary_bases import by_name, preprocess_run
        from cnnspec.layers.applications import TYPE_NAMES

        skip: set[int] = set()
        types = [printed_part(r.label) for r, _ in groups]
        for k, (r, _) in enumerate(groups):
            if not nested_type(r.label):
                continue
            kind = types[k]
            names = [TYPE_NAMES[kind]] if kind in TYPE_NAMES else by_name(_cut(printed_part(r.label, 1))[0])
            n = preprocess_run(types[:k], [g[0].params for g in groups[:k]], names[0]) if names else 0
            skip.update(range(k - n, k))
        return skip

    def flatten(self, kids: list[TextRow], prev: str) -> ImportedRow:
        """The rows of an unknown nested model printed with expand_nested, in place of it (they take what
        the nested model takes; read as a chain, the way Keras prints a nested Sequential)."""
        row = None
        for k in kids:
            name, classes, printed_type, given = self.layer_of(k)
            if printed_type in _INPUT_TYPES:
                continue
            row = self.row(k, name, classes, [prev], self.shape_of(k), self.params_of(k), given)
            prev = row.name
        if row is None:
            raise self.err("a nested model without layers", kids[0].line)
        return row


def nested_type(label: str) -> bool:
    """A nested model's row (``vgg19 (Functional)``), or a base's row as cnnspec prints it (``(VGG19)``)."""
    from cnnspec.interop.summary_bases import NESTED
    from cnnspec.layers.applications import TYPE_NAMES

    m = re.search(r"\(\s*(\w+)\s*\)?\s*$", label)
    return bool(m) and (m.group(1) in NESTED or m.group(1) in TYPE_NAMES)


def printed_part(label: str, group: int = 2) -> str:
    """The printed type (group 2) or name (group 1) of a row label ``name (Type)``."""
    m = re.match(r"^(?P<name>[^()]*?)\s*\((?P<type>[^()]*)\)?\s*$", label.strip())
    if not m:
        return label.strip() if group == 1 else ""
    return re.sub(r"\s+", "", m.group(group))


_MARK = ("└", "|")


def nesting(rows: list[TextRow]) -> list[tuple[TextRow, list[TextRow]]]:
    """Rows with the rows printed inside a nested model's row (expand_nested: '└ name' in Keras 3,
    '| name' in Keras 2, indented rows in `cnnspec summary --expand`), their markers removed. Only a
    nested model's row has rows inside; a marked row elsewhere is an ordinary row."""
    out: list[tuple[TextRow, list[TextRow]]] = []
    for r in rows:
        label = r.label.strip()
        parent = out[-1][0] if out and nested_type(out[-1][0].label) else None
        marked = label.startswith(_MARK)
        if marked:
            r.label = label.lstrip("".join(_MARK) + " ")
        if parent is not None and (marked or r.indent > parent.indent):
            out[-1][1].append(r)
        else:
            out.append((r, []))
    return out
