"""A summary table as data (title, columns, rows of styled cells, caption) and a text renderer that
lays it out exactly as rich does (``box.SIMPLE_HEAVY``, one space of padding), without colour or
with rich's ANSI styles.

``check/render.py`` describes the table once (:func:`cnnspec.check.render.table_model`); the CLI
prints it with :func:`render_text`, which saves importing rich (about a sixth of a cold
``cnnspec check``). The renderer covers the cases whose layout is simple arithmetic: single-line
cells of characters one column wide, a table no wider than the page, the few styles the table
uses. For anything else it returns None and the caller uses rich, so the output is the same
either way (``tests/test_cli_fast.py`` compares the two, byte for byte, on every spec).
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
    """A column: header text, justification ("left"/"right"), style applied to its cells.
    ``keep``: never shortened (counts, shapes); ``optional``: left out when the table is wider than
    the page (what repeats another column, like the printed values beside the computed ones)."""
    header: str
    justify: str = "left"
    style: str = ""
    no_wrap: bool = False
    keep: bool = False
    optional: bool = False


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

    def encodable(self, encoding: str | None) -> "TableModel":
        """This table, with the ✓/✗ marks written ``ok``/``X`` when ``encoding`` cannot write them."""
        try:
            "✓✗".encode(encoding or "utf-8")
            return self
        except (UnicodeEncodeError, LookupError):
            swap = {"✓": "ok", "✗": "X"}
            rows = [([Cell(swap.get(c.text, c.text), c.style) for c in cells], style) for cells, style in self.rows]
            return TableModel(self.title, self.columns, rows, self.caption)

    def width(self) -> int:
        """The width rich gives the table when nothing wraps (one-line cells)."""
        return sum(column_widths(self)) + len(self.columns) + 1

    def fitted(self, max_width: int) -> "TableModel":
        """This table, or, when wider than ``max_width``, the same without its optional columns."""
        if self.width() <= max_width or not any(c.optional for c in self.columns):
            return self
        keep = [i for i, c in enumerate(self.columns) if not c.optional]
        return TableModel(self.title, [self.columns[i] for i in keep],
                          [([cells[i] for i in keep], style) for cells, style in self.rows], self.caption)


def simple(text: str) -> bool:
    """True when ``text`` is one line of characters that each take one terminal column (printable
    ASCII or :data:`NARROW`): its width is then ``len(text)`` for rich too."""
    return all(" " <= ch <= "~" or ch in NARROW for ch in text)


def _fits(model: TableModel) -> bool:
    texts = [c.text for c in model.title] + [c.header for c in model.columns]
    texts += [c.text for cells, _ in model.rows for c in cells]
    texts += model.caption.split("\n")
    return all(simple(t) for t in texts) and all(len(cells) == len(model.columns) for cells, _ in model.rows)


def column_widths(model: TableModel) -> list[int]:
    """Each column's width including its one space of padding on either side."""
    widths = [len(c.header) for c in model.columns]
    for cells, _ in model.rows:
        widths = [max(w, max(map(len, c.text.split("\n")))) for w, c in zip(widths, cells)]
    return [w + 2 for w in widths]


#: SGR codes of the style words the table uses, in the order rich writes them (attributes, then colour).
_ATTRS = {"bold": "1", "dim": "2", "italic": "3"}
_COLORS = {"red": "31", "green": "32"}


def sgr(*styles: str) -> str | None:
    """The ANSI parameters of rich styles combined left to right ("dim" + "bold red" -> "1;2;31"),
    "" for none, None for a style word this module does not know (the caller then uses rich)."""
    words = [w for s in styles for w in s.split()]
    if any(w not in _ATTRS and w not in _COLORS for w in words):
        return None
    color = [_COLORS[w] for w in words if w in _COLORS][-1:]
    return ";".join([code for name, code in _ATTRS.items() if name in words] + color)


def _paint(text: str, code: str, ansi: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if ansi and code and text else text


def _cell(text: str, width: int, justify: str, style: str, text_style: str, ansi: bool) -> str:
    """A cell with its one space of padding on each side, each piece styled as rich styles it (the
    padding in the cell's style, the text in the cell's and its own); right-justified text loses
    its trailing spaces first (as in rich)."""
    inner = width - 2
    body = text.rstrip().rjust(inner) if justify == "right" else text.ljust(inner)
    pad = _paint(" ", style, ansi)
    return pad + _paint(body, text_style, ansi) + pad


def _codes(model: TableModel) -> dict | None:
    """The SGR code of every style the model uses, or None when one is unknown."""
    styles = {c.style for c in model.title} | {c.style for c in model.columns} | {"bold", "dim italic"}
    styles |= {f"{col.style} {row}".strip() for _, row in model.rows for col in model.columns}
    styles |= {f"{col.style} {row} {c.style}".strip() for cells, row in model.rows for c, col in zip(cells, model.columns)}
    codes = {st: sgr(st) for st in styles}
    return None if None in codes.values() else codes


def render_text(model: TableModel, max_width: int, ansi: bool = False) -> str | None:
    """The table as rich prints it at ``max_width`` columns -- without colour, or with rich's ANSI
    styles when ``ansi`` -- ending in a newline; None when the layout needs rich (multi-line or
    wide characters, a table wider than ``max_width``, a style not known here)."""
    codes = _codes(model)
    if not model.columns or not _fits(model) or codes is None:
        return None
    widths = column_widths(model)
    table_width = sum(widths) + len(widths) + 1
    if table_width > max_width or min(widths) < 3:  # rich draws an empty column differently
        return None
    lines = []
    title = "".join(_paint(c.text, codes[c.style], ansi) for c in model.title)
    if title:
        lines.append(title)
    lines.append(" " * table_width)
    lines.append(" " + " ".join(_cell(c.header, w, c.justify, codes["bold"], codes["bold"], ansi)
                                for c, w in zip(model.columns, widths)) + " ")
    lines.append(" " + "━".join("━" * w for w in widths) + " ")
    for cells, row in model.rows:
        lines.append(" " + " ".join(
            _cell(c.text, w, col.justify, codes[f"{col.style} {row}".strip()],
                  codes[f"{col.style} {row} {c.style}".strip()], ansi)
            for c, w, col in zip(cells, widths, model.columns)) + " ")
    lines.append(" " * table_width)
    if model.caption:
        lines.extend(_paint(line, codes["dim italic"], ansi) for line in model.caption.split("\n"))
    return "\n".join(lines) + "\n"


def plain_text(model: TableModel, max_width: int) -> str | None:
    """The table as rich prints it without colour (:func:`render_text`)."""
    return render_text(model, max_width)
