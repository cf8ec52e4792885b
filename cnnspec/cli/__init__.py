"""Command-line entry point. Errors are mapped to one-line messages here, once.

Command modules register themselves on ``app`` when imported; they must stay light
(TensorFlow is imported inside the commands that need it, never at module import).
"""
from __future__ import annotations

import os
import sys

import click

from cnnspec.errors import CnnspecError
from cnnspec.cli.app import app, err_console
from cnnspec.cli import check, code, deploy, diagnose, experiments, train  # noqa: E402,F401  (each registers its commands on `app`)


def _one_line(text: str) -> str:
    """One line, with rich markup escaped (a message like "pip install 'cnnspec[train]'" must
    print verbatim)."""
    from rich.markup import escape

    return escape(" ".join(str(text).split()))


def main(argv: list[str] | None = None) -> None:
    debug = bool(os.environ.get("CNNSPEC_DEBUG"))
    try:
        rv = app(args=argv, standalone_mode=False, prog_name="cnnspec")
    except CnnspecError as exc:
        err_console.print(f"[bold red]error:[/] {_one_line(exc)}", markup=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err_console.print("[bold red]error:[/] interrupted", markup=True)
        sys.exit(130)
    except click.ClickException as exc:
        err_console.print(f"[bold red]error:[/] {_one_line(exc.format_message())}", markup=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("[bold red]error:[/] interrupted", markup=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - last resort: still one line
        if debug:
            raise
        err_console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {_one_line(exc)} "
                          "(set CNNSPEC_DEBUG=1 for the traceback)", markup=True)
        sys.exit(3)
    sys.exit(rv if isinstance(rv, int) else 0)
