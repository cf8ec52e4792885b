"""The typer application object shared by the command modules."""
from __future__ import annotations

import sys

import typer
from rich.console import Console

app = typer.Typer(
    name="cnnspec",
    help="Keras summary tables as the source: check, build, train, export and serve CNNs from a spec.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(obj) -> None:
    """Print one JSON document on stdout (no rich markup, no wrapping)."""
    import json

    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()
