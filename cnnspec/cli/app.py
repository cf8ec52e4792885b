"""The typer application object shared by the command modules, and what they print with.

The consoles live in :mod:`cnnspec.cli.console` (rich) and the text helpers in
:mod:`cnnspec.cli.output` (no rich, no typer: the fast ``check`` path uses them); both are
re-exported here for the command modules.
"""
from __future__ import annotations

import typer

from cnnspec.cli.console import SafeConsole, console, err_console  # noqa: F401  (re-exported)
from cnnspec.cli.output import emit_json, safe, safe_markup  # noqa: F401  (re-exported)

app = typer.Typer(
    name="cnnspec",
    help="Keras summary tables as the source: check, build, train, export and serve CNNs from a spec.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
