"""The table a paper needs, in the forms papers use: a terminal table (Keras's summary layout,
printed by rich or, without colour, by :mod:`cnnspec.check.texttable`), Markdown, LaTeX (booktabs)
and JSON. Pure Python; rich is imported only by :func:`to_rich`."""
from __future__ import annotations

from cnnspec.util import printable

from cnnspec.check.texttable import Cell, Column, TableModel, column_widths

from cnnspec.check.infer import Report
from cnnspec.layers.shapes import format_shape


def human_bytes(n: int) -> str:
    """Keras's ``readable_memory_size`` (float32 weights: 4 bytes each)."""
    units = ["B", "KB", "MB", "GB", "TB"]
    size = float(n)
    for u in units:
        if size < 1024 or u == units[-1]:
            return f"{size:.2f} {u}"
        size /= 1024
    return f"{size:.2f} TB"  # pragma: no cover


def totals_lines(report: Report) -> list[str]:
    """The 'Total/Trainable/Non-trainable params' lines under a summary table."""
    return [f"Total params: {report.total:,} ({human_bytes(report.total * 4)})",
            f"Trainable params: {report.trainable:,} ({human_bytes(report.trainable * 4)})",
            f"Non-trainable params: {report.non_trainable:,} ({human_bytes(report.non_trainable * 4)})"]


def _fmt(report: Report, shape) -> str:
    """A row's output shape as Keras prints it (a fixed batch size when the input has one)."""
    return format_shape(shape, batch_size=report.spec.batch_size)


def _layer_label(r) -> str:
    return f"{r.row.name} ({r.row.type})"


def _is_graph(report: Report) -> bool:
    if len(report.spec.inputs) > 1:
        return True
    prev = report.spec.inputs[0].name
    for r in report.rows:
        if r.row.inputs != [prev]:
            return True
        prev = r.row.name
    return False


def input_rows(report: Report, position: int) -> list:
    """The model inputs to print before layer row ``position`` (a spec written with Input rows prints
    them, as Keras's functional summary prints InputLayer rows): (label, printed shape) pairs."""
    spec = report.spec
    if spec.input_names == ["input"]:
        return []
    return [(f"{i.name} (InputLayer)", format_shape(i.shape, batch_size=spec.batch_size))
            for i in spec.inputs if i.position == position]


def inner_rows(r) -> list:
    """The rows inside a nested model (a pretrained base), for ``summary --expand``; [] otherwise."""
    expand = getattr(r.row.layer, "expand", None)
    return expand(r.input_shapes[0]) if expand is not None and r.input_shapes else []


def table_model(report: Report, with_expect: bool = True, expand: bool = False) -> TableModel:
    """The report as a table like Keras's ``model.summary()`` (title, columns, styled cells,
    totals caption), ready for :func:`rich_table` or :func:`cnnspec.check.texttable.plain_text`."""
    spec = report.spec
    has_expect = with_expect and any(r.row.expect for r in report.rows)
    graph = _is_graph(report)
    title = [Cell(f"Model: \"{printable(spec.label)}\""),
             Cell(f"  {printable(spec.source)}" if spec.source else "", "dim")]
    cols = [Column("Layer (type)"), Column("Output Shape", no_wrap=True, keep=True),
            Column("Param #", "right", no_wrap=True, keep=True)]
    cols += [Column("Connected to")] if graph else []
    if has_expect:  # on a narrow terminal the printed values go (the ✓/✗ mark and the mismatch lines stay)
        cols += [Column("Printed shape", style="dim", no_wrap=True, keep=True, optional=True),
                 Column("Printed #", "right", style="dim", no_wrap=True, keep=True, optional=True), Column("")]
    t = TableModel(title, cols, caption="\n".join(totals_lines(report)))
    bad = {(m.layer, m.field) for m in report.mismatches if m.layer is not None}
    for i, r in enumerate(report.rows):
        for label, shape in input_rows(report, i):
            t.add_row([printable(label), shape, "0"] + (["-"] if graph else []) + [""] * (len(cols) - 3 - int(graph)))
        cells = [printable(_layer_label(r)), _fmt(report, r.output), f"{r.count.total:,}"]
        if graph:
            cells.append(printable(", ".join(r.row.inputs)))
        if has_expect:
            cells += _expect_cells(report, r, (i, "output") in bad,
                                   any((i, f) in bad for f in ("params", "trainable", "non_trainable")))
        t.add_row(cells)
        for inner in (inner_rows(r) if expand else []):
            sub = [Cell(printable(f"  {inner.name} ({inner.layer.keras_class})"), "dim"), _fmt(report, inner.output),
                   f"{inner.count.total:,}"]
            sub += [printable(", ".join(inner.inputs))] if graph else []
            t.add_row(sub + [""] * (len(cells) - len(sub)), style="dim")
    return t


def _expect_cells(report: Report, r, out_bad: bool, par_bad: bool) -> list:
    """The printed shape, printed count and agreement mark of one row ("" when it printed none)."""
    ex = r.row.expect
    if not ex:
        return ["", "", ""]
    printed = _fmt(report, _expected_shape(r)) if ex.output is not None else ""
    return [Cell(printed, "bold red" if out_bad else ""),
            Cell(f"{ex.params:,}" if ex.params is not None else "", "bold red" if par_bad else ""),
            Cell("✗", "bold red") if (out_bad or par_bad) else Cell("✓", "green")]


def rich_table(report: Report, with_expect: bool = True, expand: bool = False):
    """The report as a rich terminal table (user text printed literally: cells are rich Text)."""
    return to_rich(table_model(report, with_expect, expand))


def to_rich(model: TableModel):
    """A :class:`TableModel` as a rich ``Table`` (imports rich)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    t = Table(title=Text.assemble(*((c.text, c.style) for c in model.title)), box=box.SIMPLE_HEAVY,
              title_justify="left", show_lines=False)
    widths = column_widths(model)
    for c, w in zip(model.columns, widths):
        t.add_column(c.header, justify=c.justify, style=c.style or None, no_wrap=c.no_wrap,
                     min_width=w - 2 if c.keep else None, overflow="fold")
    for cells, style in model.rows:
        t.add_row(*(Text(c.text, style=c.style) for c in cells), style=style or None)
    t.caption = model.caption
    t.caption_justify = "left"
    return t


def _expected_shape(r):
    from cnnspec.check.infer import _normalize_expected

    return _normalize_expected(r.row.expect.output, r.output, r.row.expect.output_printed)


def markdown(report: Report, expand: bool = False) -> str:
    """The report as a Markdown table with the totals below it."""
    lines = [f"**Model: {report.spec.label}**", "", "| Layer (type) | Output Shape | Param # |",
             "|---|---|---:|"]
    for i, r in enumerate(report.rows):
        lines += [f"| {label} | {shape} | 0 |" for label, shape in input_rows(report, i)]
        lines.append(f"| {_layer_label(r)} | {_fmt(report, r.output)} | {r.count.total:,} |")
        for inner in (inner_rows(r) if expand else []):
            lines.append(f"| &nbsp;&nbsp;{inner.name} ({inner.layer.keras_class}) | {_fmt(report, inner.output)} | "
                         f"{inner.count.total:,} |")
    lines.append("")
    lines.extend(f"{x}  " for x in totals_lines(report))
    return "\n".join(lines) + "\n"


def _tex(s: str) -> str:
    """Escape LaTeX's special characters in a label."""
    s = s.replace("\\", r"\textbackslash{}")
    for ch in "_&%#$":
        s = s.replace(ch, "\\" + ch)
    return s


def latex(report: Report) -> str:
    """The report as a LaTeX ``tabular`` (special characters escaped) with a caption from the spec."""
    spec = report.spec
    out = [r"\begin{table}[ht]", r"\centering",
           f"\\caption{{{_tex(spec.description or spec.source or spec.label)}}}", r"\begin{tabular}{llr}", r"\toprule",
           r"Layer (type) & Output Shape & Param \# \\", r"\midrule"]
    for i, r in enumerate(report.rows):
        out += [f"{_tex(label)} & {shape} & 0 \\\\" for label, shape in input_rows(report, i)]
        out.append(f"{_tex(_layer_label(r))} & {_fmt(report, r.output)} & {r.count.total:,} \\\\")
    out += [r"\midrule",
            f"\\multicolumn{{3}}{{l}}{{Total params: {report.total:,}}} \\\\",
            f"\\multicolumn{{3}}{{l}}{{Trainable params: {report.trainable:,}}} \\\\",
            f"\\multicolumn{{3}}{{l}}{{Non-trainable params: {report.non_trainable:,}}} \\\\",
            r"\bottomrule", r"\end{tabular}", f"\\label{{tab:{_tex(spec.label).replace('#', '-')}}}",
            r"\end{table}"]
    return "\n".join(out) + "\n"
