"""Command-line entry point. Errors are mapped to one-line messages here, once.

Command modules register themselves on ``app`` when imported; they must stay light
(TensorFlow is imported inside the commands that need it, never at module import). ``main`` imports
only the module of the command being run (``COMMANDS``; a test keeps it equal to what the modules
register), and every module for ``--help`` or an unknown command.
"""
from __future__ import annotations

import os
import sys
import traceback

from cnnspec.errors import CnnspecError
from cnnspec.cli.app import app, err_console, safe_markup
import importlib

#: command -> the module of cnnspec.cli that registers it.
COMMANDS = {
    "check": "check", "summary": "check", "layers": "check", "schema": "check",
    "code": "code", "import": "code",
    "export": "deploy", "predict": "deploy", "bench": "deploy", "serve": "deploy",
    "doctor": "diagnose", "lr-find": "diagnose", "ensemble": "diagnose", "inspect": "diagnose",
    "sweep": "experiments", "compare": "experiments", "baseline": "experiments", "report": "experiments",
    "build": "train", "train": "train", "evaluate": "train",
}


def load_commands(argv: list[str] | None = None) -> None:
    """Register the command that ``argv`` runs (its module only), or every command."""
    args = sys.argv[1:] if argv is None else list(argv)
    first = next((a for a in args if not a.startswith("-")), None)
    names = [COMMANDS[first]] if first in COMMANDS and "--help" not in args[:1] else sorted(set(COMMANDS.values()))
    for name in names:
        importlib.import_module(f"cnnspec.cli.{name}")


def _one_line(text: str) -> str:
    """One line, with control bytes escaped and rich markup escaped (a message like
    "pip install 'cnnspec[train]'" or a file named "[bold].yaml" must print verbatim)."""
    return safe_markup(" ".join(str(text).split()))


def _click_classes() -> tuple[tuple, tuple, tuple]:
    """(ClickException, Abort, Exit) classes of click AND of the click copy typer bundles
    (``typer._click``): the installed typer raises its own, which are not click's."""
    exc, abort, exit_ = [], [], []
    try:
        import click

        exc.append(click.ClickException)
        abort.append(click.exceptions.Abort)
        exit_.append(click.exceptions.Exit)
    except ImportError:  # pragma: no cover - typer without click
        pass
    try:
        from typer._click import exceptions as tce  # type: ignore[attr-defined]

        exc.append(tce.ClickException)
    except ImportError:  # an older typer uses click itself
        pass
    import typer

    abort.append(typer.Abort)
    exit_.append(typer.Exit)
    return tuple(exc), tuple(abort), tuple(exit_)


_CLICK_ERRORS, _ABORTS, _EXITS = _click_classes()


def _error(text: str) -> None:
    err_console.print(f"[bold red]error:[/] {text}", markup=True)


def _usage_error(exc) -> int:
    """Click's message for a usage error (unknown flag, missing argument, bad choice), one line,
    with the help hint; ``cnnspec`` without arguments prints the help."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        exc.show()
        return exc.exit_code
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None and exc.exit_code == 2 else ""
    _error(_one_line(exc.format_message()) + safe_markup(hint))
    return exc.exit_code


def main(argv: list[str] | None = None) -> None:
    """``cnnspec`` / ``python -m cnnspec``: run a command; every error ends as one line and an exit
    code (2 bad input or usage, 1 a check that disagreed or a diverged run, 130 interrupted,
    3 internal). ``CNNSPEC_DEBUG=1`` also prints the traceback with its causes."""
    debug = bool(os.environ.get("CNNSPEC_DEBUG"))
    load_commands(argv)
    try:
        rv = app(args=argv, standalone_mode=False, prog_name="cnnspec")
    except CnnspecError as exc:
        if debug:
            traceback.print_exception(exc)
        _error(_one_line(exc))
        sys.exit(exc.exit_code)
    except _ABORTS:
        _error("interrupted")
        sys.exit(130)
    except _EXITS as exc:
        sys.exit(getattr(exc, "exit_code", 0))
    except _CLICK_ERRORS as exc:
        sys.exit(_usage_error(exc))
    except KeyboardInterrupt:
        _error("interrupted")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - last resort: still one line
        if debug:
            raise
        _error(f"internal error: {type(exc).__name__}: {_one_line(exc)} (set CNNSPEC_DEBUG=1 for the traceback)")
        sys.exit(3)
    if rv == 130:  # typer turns KeyboardInterrupt (Ctrl-C, SIGTERM) into a silent exit 130
        _error("interrupted")
    sys.exit(rv if isinstance(rv, int) else 0)
