"""Read a printed model summary into rows of text: Keras 3's boxed table (unicode box
characters, cells wrapped over lines, long names cut with '…'), Keras 2 / tf.keras's plain table
(``=`` and ``_`` rules, wrapped or cut names, "Connected to"), R keras / keras3 printouts (the
same tables with R's headers), cnnspec's own ``summary`` table, and a paper's table typed as
CSV or Markdown. Nothing is interpreted here beyond cells; :mod:`.summary_infer` does that."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from cnnspec.errors import SpecError

_BOX_V = "│┃|║"
MAX_ROWS = 2_000  # layers in one summary: far above real networks, bounds the inference work
_RULE = re.compile(r"^[\s_=━─═┏┓┗┛┡┩┢┪┣┫┳┻╇╈╋┼├┤┬┴┌┐└┘╞╡╪+\-:|]*$")
_TOTALS = re.compile(r"(?i)^\s*(total|trainable|non-trainable)\s+params\s*:\s*([\d,. ]+\d|\d)")


@dataclass
class TextRow:
    """One layer of the printed table, as text cells joined over wrapped lines."""

    label: str
    shape: str
    params: str
    connected: str = ""
    line: int = 0
    indent: int = 0  # leading spaces of a plain table's row (`cnnspec summary --expand` indents a base's rows)


@dataclass
class Printed:
    """The whole printed summary: rows, totals, the model's name."""

    rows: list[TextRow] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    totals_lines: dict[str, int] = field(default_factory=dict)
    name: str | None = None
    graph: bool = False


def _columns(cells: list[str]) -> dict[str, int] | None:
    """Which cell is the layer, the shape, the count, the connections (from a header row)."""
    cols: dict[str, int] = {}
    for i, c in enumerate(cells):
        low = c.strip().lower()
        if "connected" in low or low in ("inputs", "input from"):
            cols.setdefault("connected", i)
        elif "param" in low or low in ("#", "weights", "parameters"):
            cols.setdefault("params", i)
        elif "shape" in low or "output" in low:
            cols.setdefault("shape", i)
        elif "layer" in low or low in ("type", "name"):
            cols.setdefault("label", i)
    return cols if {"label", "shape", "params"} <= set(cols) else None


def _split_box(line: str) -> list[str]:
    parts = re.split(f"[{_BOX_V}]", line)
    return [p.strip() for p in parts[1:-1]] if len(parts) > 2 else [p.strip() for p in parts]


def _split_spaces(line: str) -> list[str]:
    return [p.strip() for p in re.split(r"\s{2,}", line.strip()) if p.strip()]


def read_summary(text: str, file: str) -> Printed:
    """The rows and totals of a printed summary, whatever its format."""
    out = Printed()
    lines = text.splitlines()
    m = re.search(r"""(?m)^\s*Model:?\s*["']?([A-Za-z0-9_.\-]+)["']?""", text)
    if m:
        out.name = m.group(1)
    for i, ln in enumerate(lines, 1):
        t = _TOTALS.match(ln.replace("*", "").strip(" |"))
        if t:
            key = {"total": "total", "trainable": "trainable", "non-trainable": "non_trainable"}[t.group(1).lower()]
            out.totals[key] = int(re.sub(r"[,. ]", "", t.group(2)))
            out.totals_lines[key] = i
    header = _find_header(lines)
    if header is None:
        raise SpecError("not a model summary: no header row with the layer, output shape and parameter columns "
                        "(like 'Layer (type)  Output Shape  Param #')", file=file)
    hline, kind, cols = header
    reader = {"box": _rows_box, "md": _rows_box, "csv": _rows_csv, "plain": _rows_plain}[kind]
    out.rows = reader(lines, hline, cols, file)
    out.graph = "connected" in cols
    if len(out.rows) > MAX_ROWS:
        raise SpecError(f"the summary has {len(out.rows)} rows; cnnspec imports at most {MAX_ROWS}", file=file)
    if not out.rows:
        raise SpecError("the summary table has no layer rows", file=file, line=hline + 1)
    return out


def _box_header(lines: list[str], i: int):
    """A box table's header starting at line ``i``, its cells wrapped over several lines as a narrow
    terminal prints them ('Param' above '#'): (its last line, columns) or None."""
    width = len(_split_box(lines[i]))
    j = i
    while j + 1 < len(lines) and re.search(f"[{_BOX_V}]", lines[j + 1]) and not _RULE.match(lines[j + 1]) \
            and len(_split_box(lines[j + 1])) == width and j - i < 4:
        j += 1
    for last in range(i, j + 1):  # the shortest run of lines that names every column
        merged = [" ".join(p for p in parts if p) for parts in zip(*(_split_box(ln) for ln in lines[i:last + 1]))]
        cols = _columns(merged)
        if cols:
            return last, cols
    return None


def _find_header(lines: list[str]):
    for i, ln in enumerate(lines):
        box = re.search(f"[{_BOX_V}]", ln) and not _RULE.match(ln)
        if box and (i == 0 or not re.search(f"[{_BOX_V}]", lines[i - 1]) or _RULE.match(lines[i - 1])):
            found = _box_header(lines, i)
            if found:
                return found[0], ("md" if ln.lstrip().startswith("|") else "box"), found[1]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        rule_after = i + 2 < len(lines) and lines[i + 2].strip() and _RULE.match(lines[i + 2])
        plain_pair = not re.search(f"[{_BOX_V}]", ln + nxt) and ln.strip() and not _RULE.match(ln) \
            and nxt.strip() and not _RULE.match(nxt)
        if plain_pair and rule_after and re.search(r"(?i)param|weights", ln + nxt):
            cols = _plain_columns(ln, nxt)  # a plain header wrapped over two lines ('Layer' above '(type)')
            if cols and not _plain_columns(ln):
                return i + 1, "plain", cols
        if not re.search(r"(?i)param|weights", ln) or not re.search(r"(?i)layer|type|name", ln):
            continue
        for delim in (",", ";", "\t"):
            if delim in ln:
                cols = _columns(next(csv.reader([ln], delimiter=delim)))
                if cols:
                    return i, "csv", {**cols, "delim": delim}
        cols = _plain_columns(ln)
        if cols:
            return i, "plain", cols
    return None


def _plain_columns(ln: str, below: str = "") -> dict[str, int] | None:
    """Column start positions of a plain header (Keras 2, cnnspec summary); ``below``: the header's
    second line when a narrow terminal wrapped it ('Connected' above 'to')."""
    starts = {}
    for key, pat in (("label", r"layer\s*\(type\)|layer"), ("shape", r"output\s+shape"), ("params", r"param\s*#|params"),
                     ("connected", r"connected\s+to" if not below else r"connected")):
        hits = [m.start() for m in (re.search(pat, t.lower()) for t in (ln, below) if t) if m]
        if hits:
            starts[key] = min(hits)
    if not {"label", "shape", "params"} <= set(starts):
        return None
    starts["label"] = 0
    return starts


def _rows_box(lines: list[str], hline: int, cols: dict, file: str) -> list[TextRow]:
    rows: list[TextRow] = []
    new_row = True
    for i in range(hline + 1, len(lines)):
        ln = lines[i]
        if _TOTALS.match(ln.replace("*", "").strip(" |")) or not ln.strip():
            if rows and not ln.strip():
                new_row = True
            continue
        if not re.search(f"[{_BOX_V}]", ln) or _RULE.match(ln):
            new_row = True
            continue
        cells = _split_box(ln)
        if len(cells) <= max(v for k, v in cols.items() if k != "delim"):
            continue
        _add_cells(rows, cells, cols, i + 1, new_row)
        new_row = False
    return rows


def _add_cells(rows: list[TextRow], cells: list[str], cols: dict, line: int, new_row: bool) -> None:
    get = {k: cells[v] if v < len(cells) else "" for k, v in cols.items() if k != "delim"}
    starts = bool(get["params"]) or (new_row and bool(get["label"]))
    if starts or not rows:
        rows.append(TextRow(get["label"], get["shape"], get["params"], get.get("connected", ""), line))
        return
    r = rows[-1]  # a wrapped cell continues the row above
    r.label = f"{r.label} {get['label']}".strip()
    r.shape = f"{r.shape} {get['shape']}".strip()
    r.connected = f"{r.connected} {get.get('connected', '')}".strip()


def _rows_csv(lines: list[str], hline: int, cols: dict, file: str) -> list[TextRow]:
    body = "\n".join(lines[hline + 1:])
    rows = []
    for k, cells in enumerate(csv.reader(io.StringIO(body), delimiter=cols["delim"])):
        if not cells or not any(c.strip() for c in cells) or _TOTALS.match(",".join(cells)):
            continue
        cells = [c.strip() for c in cells]
        if len(cells) <= max(v for key, v in cols.items() if key != "delim"):
            raise SpecError(f"expected {len(cols) - 1} columns, got {len(cells)}", file=file, line=hline + k + 2)
        _add_cells(rows, cells, cols, hline + k + 2, True)
    return rows


def _rows_plain(lines: list[str], hline: int, cols: dict, file: str) -> list[TextRow]:
    order = sorted((v, k) for k, v in cols.items())
    rows: list[TextRow] = []
    prefix = ""  # a label wrapped before its row (a paper's "batch_normalization_1 (Batch" line)
    for i in range(hline + 1, len(lines)):
        ln = lines[i].rstrip()
        if not ln.strip() or _RULE.match(ln):
            continue
        if _TOTALS.match(ln) or re.match(r"(?i)^\s*(model|optimizer params|none)\b", ln):
            if rows:
                break
            continue
        cells = _cut(ln, order)
        if not _plausible(cells):
            cells = _regex_cells(ln, "connected" in cols)
            if cells is None:
                frag = ln.strip()
                if len(frag.split()) > 2 or not re.fullmatch(r"[\w.\-/() ]+", frag):
                    continue
                if frag.count("(") <= frag.count(")") and rows and rows[-1].label.count("(") > \
                        rows[-1].label.count(")"):
                    rows[-1].label += " " + frag  # Keras 2.13+: "(MaxPooling2" then "D)"
                else:
                    prefix = f"{prefix} {frag}".strip()  # a paper: "(Batch" then "Normalization) (None ..."
                continue
        if prefix and cells.get("params"):
            cells["label"] = f"{prefix} {cells['label']}"
            prefix = ""
        before = len(rows)
        _add_cells(rows, [cells.get(k, "") for k in ("label", "shape", "params", "connected")],
                   {"label": 0, "shape": 1, "params": 2, "connected": 3}, i + 1, False)
        if len(rows) > before:
            rows[-1].indent = len(ln) - len(ln.lstrip(" "))
    return rows


def _cut(ln: str, order: list[tuple[int, str]]) -> dict[str, str]:
    """Cells by the header's column starts; a boundary inside a word moves to the word's start
    (right-aligned counts reach left of their header)."""
    starts = []
    for start, _ in order:
        b = min(start, len(ln))
        while 0 < b < len(ln) and not ln[b - 1].isspace() and not ln[b].isspace():
            b -= 1
        starts.append(b)
    out = {}
    for j, (_, key) in enumerate(order):
        end = starts[j + 1] if j + 1 < len(starts) else len(ln)
        out[key] = ln[starts[j]:max(end, starts[j])].strip()
    return out


_SHAPE = re.compile(r"\[?\((?:None|\d+|\?)(?:,\s*(?:None|\d+|\?))*,?\)\]?|multiple")


def _plausible(cells: dict[str, str]) -> bool:
    p, s, label = cells.get("params", ""), cells.get("shape", ""), cells.get("label", "")
    if p and not re.fullmatch(r"[\d,. ]+(\s*\(unbuilt\))?", p):
        return False
    if not p:  # a continuation: wrapped label or further connections
        return not s or bool(_SHAPE.fullmatch(s))
    return bool(_SHAPE.fullmatch(s)) and bool(label)


_ROW = re.compile(r"^\s*(?P<label>\S.*?)\s+(?P<shape>\[?\((?:None|\d)[^)]*\)\]?|multiple)\s+(?P<params>[\d,]+)"
                  r"(?:\s+(?P<connected>.*))?$")


def _regex_cells(ln: str, graph: bool) -> dict[str, str] | None:
    m = _ROW.match(ln)
    if m:
        return {k: (v or "").strip() for k, v in m.groupdict().items()}
    if graph and re.match(r"^\s{8,}\S", ln):  # a further "Connected to" entry
        return {"label": "", "shape": "", "params": "", "connected": ln.strip()}
    return None
