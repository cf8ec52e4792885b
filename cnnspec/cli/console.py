"""The rich consoles the commands print with (stdout and stderr), and the console class that keeps
user text literal.

User-controlled text (file names, layer and class names, messages quoting them) is printed
literally: the consoles interpret no rich markup and no emoji codes unless a call asks for
markup explicitly (then :func:`cnnspec.cli.output.safe_markup` must wrap every user-controlled
piece), and every string printed has its control bytes (terminal escapes) shown as ``\\xNN``.
Importing this module imports rich; the check path imports it only when it prints to a terminal
(:mod:`cnnspec.cli.output`).
"""
from __future__ import annotations

from rich.console import Console

from cnnspec.cli.output import PIPE_WIDTH
from cnnspec.util import printable


class SafeConsole(Console):
    """A rich Console that escapes control bytes in every string it renders (print arguments,
    table cells and titles, before layout) and, as a last line, in every text segment it writes
    (rich.Text objects too); rich's own control segments (cursor moves of a progress bar) pass.
    Markup and emoji codes are off unless a call turns markup on."""

    def render_str(self, text: str, **kw):  # noqa: D102 - see class docstring
        return super().render_str(printable(text), **kw)

    def _render_buffer(self, buffer) -> str:
        from rich.segment import Segment

        return super()._render_buffer(seg if seg.control else Segment(printable(seg.text), seg.style)
                                      for seg in buffer)


def _console(stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    # Piped output (CI logs, files) gets a wide table instead of rich's 80-column default.
    return SafeConsole(stderr=stderr, highlight=False, soft_wrap=True, markup=False, emoji=False,
                       width=None if probe.is_terminal else PIPE_WIDTH)


console = _console()
err_console = _console(stderr=True)
