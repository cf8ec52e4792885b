"""The typer application object shared by the command modules, and the consoles they print with.

User-controlled text (file names, layer and class names, messages quoting them) is printed
literally: the consoles interpret no rich markup and no emoji codes unless a call asks for
markup explicitly (then :func:`safe_markup` must wrap every user-controlled piece), and every
string printed has its control bytes (terminal escapes) shown as ``\\xNN`` (:func:`safe`).
"""
from __future__ import annotations

import sys

import typer
from rich.console import Console

from cnnspec.util import printable

app = typer.Typer(
    name="cnnspec",
    help="Keras summary tables as the source: check, build, train, export and serve CNNs from a spec.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def safe(text: object) -> str:
    """``str(text)`` with control bytes shown as ``\\xNN`` (tab and newline kept)."""
    return printable(text)


def safe_markup(text: object) -> str:
    """:func:`safe`, with rich markup escaped: for user text inside a ``markup=True`` print."""
    from rich.markup import escape

    return escape(safe(text))


class SafeConsole(Console):
    """A rich Console that escapes control bytes in every string it renders (print arguments,
    table cells and titles, before layout) and, as a last line, in every text segment it writes
    (rich.Text objects too); rich's own control segments (cursor moves of a progress bar) pass.
    Markup and emoji codes are off unless a call turns markup on."""

    def render_str(self, text: str, **kw):  # noqa: D102 - see class docstring
        return super().render_str(safe(text), **kw)

    def _render_buffer(self, buffer) -> str:
        from rich.segment import Segment

        return super()._render_buffer(seg if seg.control else Segment(printable(seg.text), seg.style)
                                      for seg in buffer)


def _console(stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    # Piped output (CI logs, files) gets a wide table instead of rich's 80-column default.
    return SafeConsole(stderr=stderr, highlight=False, soft_wrap=True, markup=False, emoji=False,
                       width=None if probe.is_terminal else 160)


console = _console()
err_console = _console(stderr=True)


def emit_json(obj) -> None:
    """Print one JSON document on stdout (no rich markup, no wrapping; non-ASCII escaped)."""
    import json

    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()
