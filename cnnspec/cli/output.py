"""Printing for commands, without importing rich when the output needs no rich.

rich lays out tables and colours text; for the summary table and one-line messages the layout is
plain arithmetic and the colours a handful of ANSI codes (:mod:`cnnspec.check.texttable`).
:class:`Printer` writes the text itself: plain where rich would print no escape code (:func:`is_plain`
mirrors rich's own decision) or with rich's ANSI codes on an ordinary terminal, when the text is one
it lays out identically; otherwise it hands the same content to the rich consoles of
:mod:`cnnspec.cli.console`. So ``cnnspec check x.yaml`` prints the same bytes with or without
rich, on a pipe and on a terminal.

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


def stream_mode(stream) -> str:
    """How to print to ``stream``: "plain" (rich would write no escape code), "ansi" (an ordinary
    terminal, where rich writes the standard ANSI codes of its styles) or "rich" (anything
    unusual: a stream not encoded in UTF-8, ``FORCE_COLOR``, ``TTY_COMPATIBLE``, ``NO_COLOR``, a
    dumb terminal, IPython)."""
    if not (getattr(stream, "encoding", "utf-8") or "utf-8").lower().startswith("utf"):
        return "rich"  # rich swaps in ASCII boxes (and fails on the marks) where UTF-8 is missing
    if is_plain(stream):
        return "plain"
    env = os.environ
    if ("TTY_COMPATIBLE" in env or "FORCE_COLOR" in env or env.get("NO_COLOR", "") != ""
            or env.get("TERM", "").strip().lower() in ("dumb", "unknown") or "IPython" in sys.modules):
        return "rich"
    return "ansi"


def terminal_width() -> int:
    """The width rich gives a terminal console: the first of stdin, stdout, stderr that is a
    terminal, ``COLUMNS`` overriding it, 80 when neither says."""
    width = None
    for fd in (0, 1, 2):
        try:
            width = os.get_terminal_size(fd).columns
            break
        except (AttributeError, ValueError, OSError):
            pass
    columns = os.environ.get("COLUMNS")
    if columns is not None and columns.isdigit():
        width = int(columns)
    return width or 80


def _write(stream, text: str) -> None:
    """Write and flush as rich does; a closed pipe (``cnnspec check ... | head``) ends the process
    quietly with exit code 1, as rich's ``Console.on_broken_pipe`` does."""
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(1) from None


def _simple_line(text: str, mode: str) -> bool:
    """Text this module prints as rich would: no tab (rich expands tabs), and on a terminal no
    newline (rich styles each line separately); control bytes are already escaped."""
    return mode != "rich" and "\t" not in text and (mode == "plain" or "\n" not in text)


class Printer:
    """Prints a command's output to stdout and its errors to stderr, without rich when it can."""

    def __init__(self) -> None:
        self.out_mode = stream_mode(sys.stdout)
        self.err_mode = stream_mode(sys.stderr)

    @staticmethod
    def _rich(stderr: bool = False):
        from cnnspec.cli.console import console, err_console

        return err_console if stderr else console

    def table(self, model) -> None:
        """Print a :class:`cnnspec.check.texttable.TableModel` (rich's layout either way)."""
        from cnnspec.check.texttable import render_text

        text = None
        model = model.encodable(getattr(sys.stdout, "encoding", None))
        if self.out_mode != "rich":
            ansi = self.out_mode == "ansi"
            width = terminal_width() if ansi else PIPE_WIDTH
            model = model.fitted(width)
            text = render_text(model, width, ansi=ansi)
        if text is None:
            from cnnspec.check.render import to_rich

            console = self._rich()
            console.print(to_rich(model.fitted(console.width)))
        else:
            _write(sys.stdout, text)

    def line(self, *pieces: tuple[str, str]) -> None:
        """Print one line made of ``(text, style)`` pieces (user text literally)."""
        from cnnspec.check.texttable import sgr

        parts = [(safe(t), sgr(s)) for t, s in pieces]
        if _simple_line("".join(t for t, _ in parts), self.out_mode) and all(c is not None for _, c in parts):
            ansi = self.out_mode == "ansi"
            _write(sys.stdout, "".join(f"\x1b[{c}m{t}\x1b[0m" if ansi and c and t else t for t, c in parts) + "\n")
            return
        from rich.text import Text

        self._rich().print(Text.assemble(*((safe(t), s) for t, s in pieces)))

    def out(self, text: str) -> None:
        """Print ``text`` as it is (a Markdown or LaTeX table: no styling, no wrapping)."""
        if _simple_line(text, "plain" if self.out_mode == "ansi" else self.out_mode):
            _write(sys.stdout, safe(text))
            return
        self._rich().out(text, end="")

    def error(self, text: str) -> None:
        """Print ``error: <text>`` on stderr, the prefix in bold red on a terminal."""
        text = safe(text)
        if _simple_line(text, self.err_mode):
            prefix = "\x1b[1;31merror:\x1b[0m" if self.err_mode == "ansi" else "error:"
            _write(sys.stderr, f"{prefix} {text}\n")
            return
        self._rich(stderr=True).print(f"[bold red]error:[/] {safe_markup(text)}", markup=True)
