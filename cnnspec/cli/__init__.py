"""Command-line entry point. Errors are mapped to one-line messages here, once.

Command modules register themselves on ``cnnspec.cli.app.app`` when imported; they must stay light
(TensorFlow is imported inside the commands that need it, never at module import). ``main`` imports
only the module of the command being run (``COMMANDS``; a test keeps it equal to what the modules
register), and every module for ``--help`` or an unknown command. ``check`` and ``summary`` run
without typer at all when :mod:`cnnspec.cli.fast` can parse their arguments.
"""
from __future__ import annotations

import importlib
import os
import sys
import types

from cnnspec.errors import CnnspecError


class _CliPackage(types.ModuleType):
    """This package, whose attribute ``app`` is the typer application (``from cnnspec.cli import
    app``), imported on first use so that the fast `check` path never imports typer."""

    @property
    def app(self):
        """The typer application of :mod:`cnnspec.cli.app`."""
        return importlib.import_module("cnnspec.cli.app").app

    @app.setter
    def app(self, value) -> None:
        """Importing the submodule ``cnnspec.cli.app`` sets it here; ``app`` stays the application."""


sys.modules[__name__].__class__ = _CliPackage

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
    """One line, with control bytes escaped (the printer shows user text literally, never as
    rich markup: a message like "pip install 'cnnspec[train]'" or a file named "[bold].yaml")."""
    from cnnspec.util import printable

    return printable(" ".join(str(text).split()))


def _error(text: str) -> None:
    from cnnspec.cli.output import Printer

    Printer().error(text)


def _click_kind(exc: BaseException) -> str | None:
    """"abort", "exit" or "usage" when ``exc`` is one of click's (or typer's bundled click's)
    control exceptions, else None. Looks only when typer ran (the fast path never raises them)."""
    if "typer" not in sys.modules:
        return None
    import typer

    mods = [m for m in (sys.modules.get("click.exceptions"), sys.modules.get("typer._click.exceptions")) if m]
    if isinstance(exc, (typer.Abort, *(m.Abort for m in mods if hasattr(m, "Abort")))):
        return "abort"
    if isinstance(exc, (typer.Exit, *(m.Exit for m in mods if hasattr(m, "Exit")))):
        return "exit"
    if isinstance(exc, tuple(m.ClickException for m in mods if hasattr(m, "ClickException"))):
        return "usage"
    return None


def _usage_error(exc) -> int:
    """Click's message for a usage error (unknown flag, missing argument, bad choice), one line,
    with the help hint; ``cnnspec`` without arguments prints the help."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        exc.show()
        return exc.exit_code
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None and exc.exit_code == 2 else ""
    _error(_one_line(exc.format_message()) + hint)
    return exc.exit_code


def _run(args: list[str] | None):
    """Run the command: the fast path for `check` and `summary` when it can parse the arguments,
    else the typer application (which imports only the command's module)."""
    from cnnspec.cli.fast import try_fast

    rv = try_fast(sys.argv[1:] if args is None else list(args))
    if rv is not None:
        return rv
    load_commands(args)
    from cnnspec.cli.app import app

    return app(args=args, standalone_mode=False, prog_name="cnnspec")


def _encodable_streams() -> None:
    """On a stream whose encoding cannot write every character (``PYTHONIOENCODING=ascii``, a C
    locale), write what it cannot as ``\\uXXXX`` escapes instead of failing mid-table."""
    for stream in (sys.stdout, sys.stderr):
        enc = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
        if enc not in ("utf8", "utf8sig", "utf16", "utf32") and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass


def main(argv: list[str] | None = None) -> None:
    """``cnnspec`` / ``python -m cnnspec``: run a command; every error ends as one line and an exit
    code (2 bad input or usage, 1 a check that disagreed or a diverged run, 130 interrupted,
    3 internal). ``CNNSPEC_DEBUG=1`` also prints the traceback with its causes."""
    debug = bool(os.environ.get("CNNSPEC_DEBUG"))
    _encodable_streams()
    try:
        rv = _run(argv)
    except CnnspecError as exc:
        if debug:
            import traceback

            traceback.print_exception(exc)
        _error(_one_line(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _error("interrupted")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - click's control exceptions, else last resort: still one line
        kind = _click_kind(exc)
        if kind == "abort":
            _error("interrupted")
            sys.exit(130)
        if kind == "exit":
            sys.exit(getattr(exc, "exit_code", 0))
        if kind == "usage":
            sys.exit(_usage_error(exc))
        if debug:
            raise
        _error(f"internal error: {type(exc).__name__}: {_one_line(exc)} (set CNNSPEC_DEBUG=1 for the traceback)")
        sys.exit(3)
    if rv == 130:  # typer turns KeyboardInterrupt (Ctrl-C, SIGTERM) into a silent exit 130
        _error("interrupted")
    sys.exit(rv if isinstance(rv, int) else 0)
