"""A summary table as data (title, columns, rows of styled cells, caption) and a plain-text renderer
that lays it out exactly as rich does (``box.SIMPLE_HEAVY``, one space of padding, no colour).

``check/render.py`` describes the table once (:func:`cnnspec.check.render.table_model`); the CLI
prints it with :func:`plain_text` when the output is not a terminal, which saves importing rich
(about a sixth of a cold ``cnnspec check``), and with rich otherwise. The plain renderer covers
the cases whose layout is simple arithmetic: single-line cells of characters one column wide, a
table no wider than the page. For anything else it returns None and the caller uses rich, so the
output is the same either way (``tests/test_cli_fast.py`` compares the two on every spec).
Pure Python, no imports beyond the standard library.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: Non-ASCII characters the plain renderer knows to be one terminal column wide (rich agrees).
NARROW = frozenset("✓✗━–—×·°µ’‘“”…")


@dataclass
class Cell:
    """One cell: its text and a rich style name ("" for none)."""
    text: str
    style: str = ""


@dataclass
class Column:
    """A column: header text, justification ("left"/"right"), style applied to its cells."""
    header: str
    justify: str = "left"
    style: str = ""
    no_wrap: bool = False


@dataclass
class TableModel:
    """What a summary table shows, independent of how it is printed."""
    title: list[Cell]
    columns: list[Column]
    rows: list[tuple[list[Cell], str]] = field(default_factory=list)  # (cells, row style)
    caption: str = ""

    def add_row(self, cells: list, style: str = "") -> None:
        """Append a row; ``cells`` are :class:`Cell` objects or plain strings."""
        self.rows.append(([c if isinstance(c, Cell) else Cell(c) for c in cells], style))


def simple(text: str) -> bool:
    """True when ``text`` is one line of characters that each take one terminal column (printable
    ASCII or :data:`NARROW`): its width is then ``len(text)`` for rich too."""
    return all(" " <= ch <= "~" or ch in NARROW for ch in text)


def _fits(model: TableModel) -> bool:
    texts = [c.text for c in model.title] + [c.header for c in model.columns]
    texts += [c.text for cells, _ in model.rows for c in cells]
    texts += model.caption.split("\n")
    return all(simple(t) for t in texts) and all(len(cells) == len(model.columns) for cells, _ in model.rows)


def _widths(model: TableModel) -> list[int]:
    """Each column's width including its one space of padding on either side."""
    widths = [len(c.header) for c in model.columns]
    for cells, _ in model.rows:
        widths = [max(w, len(c.text)) for w, c in zip(widths, cells)]
    return [w + 2 for w in widths]


def _cell(text: str, width: int, justify: str) -> str:
    """A padded cell; right-justified text loses its trailing spaces first (as in rich)."""
    inner = width - 2
    return " " + (text.rstrip().rjust(inner) if justify == "right" else text.ljust(inner)) + " "


def plain_text(model: TableModel, max_width: int) -> str | None:
    """The table as rich prints it without colour at ``max_width`` columns (with a trailing
    newline), or None when the layout needs rich (multi-line or wide characters, too wide)."""
    if not _fits(model):
        return None
    widths = _widths(model)
    table_width = sum(widths) + len(widths) + 1
    if table_width > max_width:
        return None
    lines = []
    title = "".join(c.text for c in model.title)
    if title:
        lines.append(title)
    lines.append(" " * table_width)
    lines.append(" " + " ".join(_cell(c.header, w, c.justify) for c, w in zip(model.columns, widths)) + " ")
    lines.append(" " + "━".join("━" * w for w in widths) + " ")
    for cells, _ in model.rows:
        lines.append(" " + " ".join(_cell(c.text, w, col.justify)
                                    for c, w, col in zip(cells, widths, model.columns)) + " ")
    lines.append(" " * table_width)
    if model.caption:
        lines.extend(model.caption.split("\n"))
    return "\n".join(lines) + "\n"
