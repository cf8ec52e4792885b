"""Safe, bounded YAML/JSON reading that remembers the line of every mapping and key.

Mappings load as :class:`LineDict` (a dict with ``line`` and ``key_lines``) so errors found
much later (pydantic validation, shape inference) can still name the file and line.
Guards: size cap, binary detection, duplicate keys, alias bombs and recursive aliases.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cnnspec.errors import SpecError

MAX_BYTES = 2_000_000      # a spec is a text file of a few KB
MAX_NODES = 200_000        # after alias expansion: stops billion-laughs documents
MAX_DEPTH = 64


class LineDict(dict):
    """A mapping that knows the line it starts on and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict

    def __init__(self, *args, line: int = 0, key_lines: dict | None = None, **kw) -> None:
        super().__init__(*args, **kw)
        self.line = line
        self.key_lines = dict(key_lines or {})

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list):
    """A YAML list that remembers the line of each item (for file:line errors)."""
    line: int = 0

    def __init__(self, *args, line: int = 0) -> None:
        super().__init__(*args)
        self.line = line
        self.item_lines: list[int] = []


# Loaded documents dump back as plain YAML (a sweep writes trial specs from what it loaded).
yaml.SafeDumper.add_representer(LineDict, lambda dumper, value: dumper.represent_dict(dict(value)))
yaml.SafeDumper.add_representer(LineList, lambda dumper, value: dumper.represent_list(list(value)))


def read_text(path: str | Path, what: str = "a YAML/JSON spec") -> str:
    """A spec file's text (size-capped, UTF-8), as a one-line SpecError when it cannot be read;
    ``what`` the file should have been, for the message (``cnnspec import`` reads code and tables)."""
    p = Path(path)
    spec = what == "a YAML/JSON spec"
    try:
        if p.is_dir():
            raise SpecError(f"is a directory, not {'a spec file' if spec else what}", file=str(path))
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise SpecError(f"file is {size} bytes; a spec is at most {MAX_BYTES} bytes", file=str(path))
        data = p.read_bytes()
    except FileNotFoundError as exc:
        raise SpecError("no such file", file=str(path)) from exc
    except PermissionError as exc:
        raise SpecError("permission denied", file=str(path)) from exc
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror or exc}", file=str(path)) from exc
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with its byte-order mark (Windows PowerShell's `>`)
        try:
            return _text_or_empty(data.decode("utf-16"), spec, path)
        except UnicodeDecodeError as exc:
            raise SpecError(f"not UTF-16 text after its byte-order mark (byte {exc.start}): not {what}",
                            file=str(path)) from exc
    if b"\x00" in data:
        raise SpecError(f"binary file, not {what}", file=str(path))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text (byte {exc.start}): not {what}", file=str(path)) from exc
    return _text_or_empty(text, spec, path)


def _text_or_empty(text: str, spec: bool, path) -> str:
    if not text.strip():
        raise SpecError("empty file: a spec needs at least `input` and `layers`" if spec else "empty file",
                        file=str(path))
    return text


def load(path: str | Path, text: str | None = None) -> Any:
    """Parse a spec file into LineDict/LineList/scalars, with bounded work and memory."""
    file = str(path)
    node = _compose(read_text(path) if text is None else text, file)
    try:
        return _Tree(file).build(node, 0)
    except RecursionError as exc:
        raise SpecError("nesting too deep (recursive YAML alias?)", file=file) from exc


def _compose(text: str, file: str) -> yaml.Node:
    """The YAML node tree of a spec's text (JSON checked as JSON first), or a one-line SpecError."""
    if file.endswith(".json"):
        import json

        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"malformed JSON: {exc.msg} (column {exc.colno})", file=file, line=exc.lineno) from exc
        except RecursionError as exc:
            raise SpecError("malformed JSON: nesting too deep", file=file) from exc
        text = text.replace("\t", " ")  # JSON allows tabs as whitespace, YAML's flow style does not
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "malformed YAML"
        raise SpecError(f"malformed YAML: {problem}", file=file, line=line) from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"malformed YAML: {' '.join(str(exc).split())}", file=file) from exc
    except RecursionError as exc:
        raise SpecError("malformed YAML: nesting too deep", file=file) from exc
    if node is None:
        raise SpecError("empty document: a spec needs at least `input` and `layers`", file=file)
    return node


class _Tree:
    """Builds LineDict/LineList/scalars from YAML nodes within a node budget and a depth limit
    (an alias bomb or a recursive alias is an error, not a hang)."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.budget = MAX_NODES
        self.ctor = yaml.SafeLoader("")

    def build(self, n: yaml.Node, depth: int) -> Any:
        """The value of node ``n`` with the line of every key and list item."""
        self.budget -= 1
        line = n.start_mark.line + 1
        if self.budget < 0:
            raise SpecError(f"document expands to more than {MAX_NODES} nodes (YAML alias bomb?)",
                            file=self.file, line=line)
        if depth > MAX_DEPTH:
            raise SpecError(f"nesting deeper than {MAX_DEPTH} levels (recursive YAML alias?)",
                            file=self.file, line=line)
        if isinstance(n, yaml.MappingNode):
            return self.mapping(n, line, depth)
        if isinstance(n, yaml.SequenceNode):
            out_l = LineList(line=line)
            for item in n.value:
                out_l.append(self.build(item, depth + 1))
                out_l.item_lines.append(item.start_mark.line + 1)
            return out_l
        try:
            return self.ctor.construct_object(n, deep=True)
        except yaml.YAMLError as exc:
            raise SpecError(f"bad value: {' '.join(str(exc).split())[:120]}", file=self.file, line=line) from exc

    def mapping(self, n: yaml.MappingNode, line: int, depth: int) -> LineDict:
        """A mapping node: plain scalar keys, no duplicates, ``<<: *anchor`` merge keys resolved."""
        self.ctor.flatten_mapping(n)
        out = LineDict(line=line)
        for knode, vnode in n.value:
            key = self.build(knode, depth + 1)
            kline = knode.start_mark.line + 1
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise SpecError("mapping keys must be plain scalars", file=self.file, line=kline)
            if key in out:
                raise SpecError(f"duplicate key '{key}' (first on line {out.key_lines[key]})",
                                file=self.file, line=kline, field=str(key))
            out.key_lines[key] = kline
            out[key] = self.build(vnode, depth + 1)
        return out
