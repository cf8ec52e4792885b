"""Printing for commands, without importing rich when the output needs no rich.

rich lays out tables and colours text for a terminal; a pipe or a file gets no colour, and the
summary table's layout is then plain arithmetic (:mod:`cnnspec.check.texttable`). :class:`Printer`
writes plain text itself whenever rich would print no escape code to that stream (:func:`is_plain`
mirrors rich's own decision) and the text is one it lays out identically; otherwise it hands the
same content to the rich consoles of :mod:`cnnspec.cli.console`. So ``cnnspec check x.yaml > out``
prints the same bytes with or without rich, and a terminal still gets rich's colours.

User text is printed literally: control bytes shown as ``\\xNN`` (:func:`safe`), never markup.
"""
from __future__ import annotations

import json
import os
import sys

from cnnspec.util import printable

#: Width of tables printed to a pipe or file (rich's default would be 80 columns).
PIPE_WIDTH = 160


def safe(text: object) -> str:
    """``str(text)`` with control bytes shown as ``\\xNN`` (tab and newline kept)."""
    return printable(text)


def safe_markup(text: object) -> str:
    """:func:`safe`, with rich markup escaped: for user text inside a ``markup=True`` print."""
    from rich.markup import escape

    return escape(safe(text))


def emit_json(obj) -> None:
    """Print one JSON document on stdout (no rich markup, no wrapping; non-ASCII escaped)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


def is_plain(stream) -> bool:
    """True when rich would write to ``stream`` without escape codes: rich's ``is_terminal`` test
    (``TTY_COMPATIBLE``, ``FORCE_COLOR``, ``isatty``) answered without importing rich; IDLE and
    IPython sessions are left to rich."""
    if "IPython" in sys.modules or getattr(sys.stdin, "__module__", "").startswith("idlelib"):
        return False
    tty_compatible = os.environ.get("TTY_COMPATIBLE", "")
    if tty_compatible in ("0", "1"):
        return tty_compatible == "0"
    force_color = os.environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color == ""
    isatty = getattr(stream, "isatty", None)
    try:
        return isatty is None or not isatty()
    except ValueError:  # a closed file
        return True


def _lines_simple(text: str) -> bool:
    """Text rich prints unchanged on a pipe (no tab to expand; control bytes already escaped)."""
    return "\t" not in text


class Printer:
    """Prints a command's output to stdout and its errors to stderr, plainly when it can."""

    def __init__(self) -> None:
        self.plain_out = is_plain(sys.stdout)
        self.plain_err = is_plain(sys.stderr)

    @staticmethod
    def _rich(stderr: bool = False):
        from cnnspec.cli.console import console, err_console

        return err_console if stderr else console

    def table(self, model) -> None:
        """Print a :class:`cnnspec.check.texttable.TableModel` (rich's layout either way)."""
        from cnnspec.check.texttable import plain_text

        text = plain_text(model, PIPE_WIDTH) if self.plain_out else None
        if text is None:
            from cnnspec.check.render import to_rich

            self._rich().print(to_rich(model))
        else:
            sys.stdout.write(text)

    def line(self, *pieces: tuple[str, str]) -> None:
        """Print one line made of ``(text, style)`` pieces (user text literally)."""
        text = "".join(safe(t) for t, _ in pieces)
        if self.plain_out and _lines_simple(text):
            sys.stdout.write(text + "\n")
            return
        from rich.text import Text

        self._rich().print(Text.assemble(*((safe(t), s) for t, s in pieces)))

    def out(self, text: str) -> None:
        """Print ``text`` as it is (a Markdown or LaTeX table: no styling, no wrapping)."""
        if self.plain_out and _lines_simple(text):
            sys.stdout.write(safe(text))
            return
        self._rich().out(text, end="")

    def error(self, text: str) -> None:
        """Print ``error: <text>`` on stderr, the prefix in bold red on a terminal."""
        if self.plain_err and _lines_simple(text):
            sys.stderr.write(f"error: {safe(text)}\n")
            return
        self._rich(stderr=True).print(f"[bold red]error:[/] {safe_markup(text)}", markup=True)
