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

def _console(stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    # Piped output (CI logs, files) gets a wide table instead of rich's 80-column default.
    return Console(stderr=stderr, highlight=False, soft_wrap=True,
                   width=None if probe.is_terminal else 160)


console = _console()
err_console = _console(stderr=True)


def emit_json(obj) -> None:
    """Print one JSON document on stdout (no rich markup, no wrapping)."""
    import json

    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()
