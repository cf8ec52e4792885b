"""Shape inference, parameter counting and the comparison with a paper's printed table.
Pure Python (never imports TensorFlow)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnnspec.errors import SpecError
from cnnspec.layers.base import Count, shape_rule
from cnnspec.layers.shapes import Shape, ShapeError, format_shape
from cnnspec.spec.loader import Row, Spec


@dataclass
class RowResult:
    """What check computed for one row: output shape, trainable and non-trainable counts, the formula."""
    row: Row
    input_shapes: list[Shape]
    output: Shape
    count: Count

    def to_json(self) -> dict:
        return {"type": self.row.type, "name": self.row.name, "inputs": self.row.inputs,
                "output_shape": list(self.output), "params": self.count.total,
                "trainable": self.count.trainable, "non_trainable": self.count.non_trainable,
                "weights": [{"name": w.name, "shape": list(w.shape), "trainable": w.trainable}
                            for w in self.count.weights],
                "line": self.row.line}


@dataclass
class Mismatch:
    """A printed value that disagrees with the computed one, with the formula and a likely cause."""
    layer: int | None
    field: str
    expected: Any
    computed: Any
    line: int
    hint: str
    formula: str = ""
    name: str | None = None

    def to_json(self) -> dict:
        def js(v):
            return list(v) if isinstance(v, tuple) else v
        return {"layer": self.layer, "name": self.name, "field": self.field, "expected": js(self.expected),
                "computed": js(self.computed), "line": self.line, "hint": self.hint, "formula": self.formula}

    def message(self, file: str) -> str:
        what = f"{self.name}" if self.name else "totals"
        exp, com = self.expected, self.computed
        if self.field == "output":
            exp, com = format_shape(exp), format_shape(com)
        text = f"{file}:{self.line}: {what}: {self.field} expected {exp}, computed {com}"
        if self.formula:
            text += f" ({self.formula})"
        if self.hint:
            text += f". Likely cause: {self.hint}"
        return text


@dataclass
class Report:
    """The result of checking one spec: every row's result, the totals and the mismatches."""
    spec: Spec
    rows: list[RowResult]
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def trainable(self) -> int:
        return sum(r.count.trainable for r in self.rows)

    @property
    def non_trainable(self) -> int:
        return sum(r.count.non_trainable for r in self.rows)

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def printed(self) -> bool:
        """True when the spec gives printed values to compare (a row's, an Input row's or the totals')."""
        s = self.spec
        return any(r.row.expect for r in self.rows) or s.expect is not None or any(i.expect for i in s.inputs)

    def to_json(self) -> dict:
        s = self.spec
        return {"spec": s.name, "variant": s.variant, "file": s.file, "fingerprint": s.fingerprint(),
                "input_shape": list(s.input_shape),
                "inputs": [{"name": i.name, "shape": list(i.shape), "dtype": i.dtype, "line": i.line}
                           for i in s.inputs],
                "outputs": list(s.outputs), "total_params": self.total,
                "trainable_params": self.trainable, "non_trainable_params": self.non_trainable,
                "layers": [r.to_json() for r in self.rows],
                "mismatches": [m.to_json() for m in self.mismatches], "ok": self.ok}


def infer(spec: Spec) -> list[RowResult]:
    """Every row's output shape and parameters. Raises SpecError (with file:line:field) when Keras
    would reject the network."""
    shapes: dict[str, Shape] = {i.name: i.shape for i in spec.inputs}
    results = []
    for row in spec.rows:
        ins = [shapes[n] for n in row.inputs]
        if getattr(row.layer, "stateful", False) and spec.batch_size is None:
            raise SpecError(f"{row.name} ({row.type}): a stateful layer needs a fixed batch size: write "
                            "`input: {shape: [...], batch_size: N}`", file=spec.file, line=row.line_of("stateful"),
                            field="stateful")
        try:
            out, cnt = row.layer.infer(ins)
        except ShapeError as exc:
            fld = exc.field
            line = row.line_of(fld) if fld in row.key_lines else row.line
            where = f" [variant {spec.variant}]" if spec.variant else ""
            raise SpecError(f"{row.name} ({row.type}): {exc}{where}", file=spec.file, line=line,
                            field=fld) from exc
        if cnt.total > 10**13:
            raise SpecError(f"{row.name} ({row.type}): {cnt.total} parameters is absurd", file=spec.file,
                            line=row.line)
        shapes[row.name] = out
        results.append(RowResult(row, ins, out, cnt))
    return results


def _normalize_expected(exp: Shape, computed: Shape, from_text: bool) -> Shape:
    if not from_text and len(exp) == len(computed) + 1 and exp and exp[0] is None:
        return exp[1:]  # a list written with the batch dimension: [null, 26, 26, 32]
    return exp


def _shape_hint(res: RowResult, exp: Shape, results: list[RowResult], i: int) -> str:
    layer = res.row.layer
    causes = []
    if layer.arity == 1:
        causes = [alt.cause for alt in layer.shape_alternatives(res.input_shapes[0]) if tuple(alt.value) == exp]
    neighbour = ""
    for j in (i + 1, i - 1, i + 2, i - 2):
        if 0 <= j < len(results) and results[j].output == exp:
            other = results[j].row
            neighbour = (f"{format_shape(exp)} is the output of row '{other.name}' ({other.type}, line "
                         f"{other.line}): the table prints a neighbouring row's shape here")
            break
    # When the next printed shape agrees with what this row computes, the network is as computed and the
    # printed value is a misprint, whatever option change could also produce it.
    nxt = results[i + 1] if i + 1 < len(results) else None
    downstream_agrees = (nxt is not None and nxt.row.expect is not None and nxt.row.expect.output is not None
                         and _normalize_expected(nxt.row.expect.output, nxt.output,
                                                 nxt.row.expect.output_printed) == nxt.output)
    if downstream_agrees:
        first = neighbour or "the printed shape is a misprint"
        return first + (f"; the next printed row, '{nxt.row.name}', agrees with the computed "
                        f"{format_shape(res.output)}, so the network is as computed")
    if causes:
        return " or ".join(causes) + (f"; or {neighbour}" if neighbour else "")
    if neighbour:
        return neighbour
    if res.input_shapes and exp == res.input_shapes[0]:
        return "the expected shape equals this layer's input: was padding 'same' meant?"
    return ""


def _param_hint(res: RowResult, exp: int) -> str:
    layer = res.row.layer
    if layer.arity == 1:
        for alt in layer.param_alternatives(res.input_shapes[0]):
            if alt.value == exp:
                return alt.cause
    if exp == res.count.trainable and res.count.non_trainable:
        return "only the trainable parameters counted"
    return ""


def compare(spec: Spec, results: list[RowResult]) -> list[Mismatch]:
    """Compare a row's printed values with the computed ones; the mismatches found."""
    out: list[Mismatch] = []
    for i, res in enumerate(results):
        ex = res.row.expect
        if ex is None:
            continue
        row = res.row
        if ex.output is not None:
            exp = _normalize_expected(ex.output, res.output, ex.output_printed)
            if exp != res.output:
                out.append(Mismatch(i, "output", exp, res.output, ex.lines.get("output", row.line),
                                    _shape_hint(res, exp, results, i),
                                    shape_rule(row.layer, res.input_shapes[0]) if row.layer.arity == 1 else "",
                                    row.name))
        for fld, computed in (("params", res.count.total), ("trainable", res.count.trainable),
                              ("non_trainable", res.count.non_trainable)):
            expv = getattr(ex, fld)
            if expv is not None and expv != computed:
                hint = _param_hint(res, expv) if fld == "params" else ""
                if fld == "trainable" and expv == res.count.total:
                    hint = "non-trainable weights (batch norm's moving mean and variance) counted as trainable"
                out.append(Mismatch(i, fld, expv, computed, ex.lines.get(fld, row.line), hint,
                                    res.count.formula, row.name))
    out.extend(_compare_inputs(spec))
    out.extend(_compare_totals(spec, results, out))
    return out


def _compare_inputs(spec: Spec) -> list[Mismatch]:
    """What an Input row's ``expect`` prints against its shape (and an input's 0 parameters)."""
    out = []
    for inp in spec.inputs:
        ex = inp.expect
        if ex is None:
            continue
        if ex.output is not None:
            exp = _normalize_expected(ex.output, inp.shape, ex.output_printed)
            if exp != tuple(inp.shape):
                out.append(Mismatch(None, "output", exp, tuple(inp.shape), ex.lines.get("output", inp.line),
                                    "the printed shape differs from the input's `shape`", "", inp.name))
        for fld in ("params", "trainable", "non_trainable"):
            if getattr(ex, fld) not in (None, 0):
                out.append(Mismatch(None, fld, getattr(ex, fld), 0, ex.lines.get(fld, inp.line),
                                    "an input layer has no weights", "", inp.name))
    return out


def _compare_totals(spec: Spec, results: list[RowResult], row_mismatches: list[Mismatch]) -> list[Mismatch]:
    ex = spec.expect
    if ex is None:
        return []
    tr = sum(r.count.trainable for r in results)
    nt = sum(r.count.non_trainable for r in results)
    computed = {"total": tr + nt, "trainable": tr, "non_trainable": nt}
    printed_rows = [r.row.expect.params for r in results if r.row.expect and r.row.expect.params is not None]
    all_printed = len(printed_rows) == len(results)
    out = []
    for fld in ("total", "trainable", "non_trainable"):
        expv = getattr(ex, fld)
        if expv is None or expv == computed[fld]:
            continue
        hint = ""
        if fld == "trainable" and expv == computed["total"]:
            hint = "batch norm's non-trainable half (moving mean and variance) counted as trainable"
        elif fld == "total" and expv == tr:
            hint = "the non-trainable parameters (batch norm's moving statistics) left out of the total"
        elif fld == "non_trainable" and expv == 0 and nt:
            hint = "batch norm's moving mean and variance are non-trainable parameters"
        elif fld == "total" and all_printed and sum(printed_rows) == expv and row_mismatches:
            hint = "the printed total is the sum of the printed rows: it follows from the row mismatches above"
        elif fld == "total" and all_printed and sum(printed_rows) != expv:
            hint = f"the printed rows add up to {sum(printed_rows)}, not to the printed total"
        formula = f"{tr} trainable + {nt} non-trainable = {tr + nt}" if fld == "total" else ""
        out.append(Mismatch(None, fld, expv, computed[fld], ex.lines.get(fld, 0), hint, formula))
    return out


def check(spec: Spec) -> Report:
    """Infer, compare, and validate the `train:` section too (pure Python, like the rest)."""
    results = infer(spec)
    if spec.train is not None:
        from cnnspec.spec.trainconfig import for_spec

        for_spec(spec)
    return Report(spec, results, compare(spec, results))
