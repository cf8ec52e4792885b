"""The fast entry path: `cnnspec check` and `cnnspec summary` without typer and click.

Importing typer (with its bundled click and parameter adapters) costs about as much as checking a
spec, so :func:`try_fast` parses these two commands' arguments itself, for the arguments whose
meaning is certain, and calls the same functions as the typer commands (:mod:`cnnspec.cli.checking`).
Anything else -- ``--help``, an unknown option, a missing argument, a bad ``--format`` value, an
option written in a form this parser does not take (``-qq``) -- returns None and the caller runs
the typer application, which prints click's help or its usage error: the fast path never decides
an error. :data:`FAST_COMMANDS` mirrors the typer commands' parameters; ``tests/test_cli_fast.py``
compares the two, so they cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Opt:
    """An option: its names, the keyword it fills, whether it is a flag, the values it accepts."""
    names: tuple[str, ...]
    dest: str
    flag: bool = True
    default: object = False
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Arg:
    """A positional argument: the keyword it fills and how many values (-1: one or more)."""
    dest: str
    nargs: int = 1


@dataclass(frozen=True)
class FastCommand:
    """One command's parameters (as its typer command declares them) and the function to run."""
    args: tuple[Arg, ...]
    opts: tuple[Opt, ...]
    run: str  # function name in cnnspec.cli.checking

    def option(self, name: str) -> Opt | None:
        """The option called ``name`` (``--json``, ``-q``), or None."""
        return next((o for o in self.opts if name in o.names), None)


FAST_COMMANDS: dict[str, FastCommand] = {
    "check": FastCommand(
        args=(Arg("specs", nargs=-1),),
        opts=(Opt(("--json",), "json_out"), Opt(("--quiet", "-q"), "quiet")),
        run="run_check"),
    "summary": FastCommand(
        args=(Arg("spec"),),
        opts=(Opt(("--format", "-f"), "fmt", flag=False, default="table",
                  choices=("table", "markdown", "latex", "json")),
              Opt(("--expand",), "expand")),
        run="run_summary"),
}


def _take_option(cmd: FastCommand, token: str, rest: list[str], values: dict) -> bool:
    """Apply the option ``token`` (consuming its value from ``rest``); False when unsure."""
    name, eq, value = token.partition("=") if token.startswith("--") else (token, "", "")
    opt = cmd.option(name)
    if opt is None and not token.startswith("--") and len(token) > 2:  # -fjson
        name, eq, value = token[:2], "=", token[2:]
        opt = cmd.option(name)
        if opt is not None and opt.flag:
            return False  # -qq and the like: click's business
    if opt is None:
        return False
    if opt.flag:
        if eq:
            return False
        values[opt.dest] = True
        return True
    if not eq:
        if not rest:
            return False
        value = rest.pop(0)
    if opt.choices is not None and value not in opt.choices:
        return False
    values[opt.dest] = value
    return True


def parse(cmd: FastCommand, argv: list[str]) -> dict | None:
    """The keyword arguments for ``cmd.run`` from the arguments after the command name, or None
    when click should parse them (help, errors, unusual forms)."""
    values = {o.dest: o.default for o in cmd.opts}
    positional: list[str] = []
    rest = list(argv)
    only_positional = False
    while rest:
        token = rest.pop(0)
        if only_positional or token == "-" or not token.startswith("-"):
            positional.append(token)
        elif token == "--":
            only_positional = True
        elif not _take_option(cmd, token, rest, values):
            return None
    for arg in cmd.args:
        if arg.nargs == -1:
            if not positional:
                return None
            values[arg.dest], positional = positional, []
        else:
            if not positional:
                return None
            values[arg.dest] = positional.pop(0)
    return None if positional else values


def try_fast(argv: list[str]) -> int | None:
    """Run ``argv`` (``["check", ...]``) without typer and return its exit code, or None when
    the typer application must run it."""
    cmd = FAST_COMMANDS.get(argv[0]) if argv else None
    if cmd is None:
        return None
    kwargs = parse(cmd, argv[1:])
    if kwargs is None:
        return None
    skip_pydantic_plugin_discovery()
    from cnnspec.cli import checking

    return getattr(checking, cmd.run)(**kwargs)


def skip_pydantic_plugin_discovery() -> None:
    """In a `check`/`summary` process, let pydantic build cnnspec's validators without looking for
    plugins: its plugin loader imports ``importlib.metadata`` (and ``email``, ``zipfile`` ...) and
    scans every installed package's entry points, about a fifth of a cold check, for plugins that
    watch validation -- nothing cnnspec's own option models need. A stand-in for pydantic's loader
    module answers "no plugins"; any other name asked of it comes from the real module. Left alone
    when the loader is already imported or ``PYDANTIC_DISABLE_PLUGINS`` says which plugins to keep."""
    import os
    import sys
    import types

    name = "pydantic.plugin._loader"
    if name in sys.modules or os.environ.get("PYDANTIC_DISABLE_PLUGINS") not in (None, "", "__all__", "1", "true"):
        return
    stub = types.ModuleType(name, "cnnspec's stand-in: no pydantic plugins in a `cnnspec check` process")

    def get_plugins():
        return ()

    def __getattr__(attr: str):
        if attr.startswith("__"):  # the import system asks for __path__ & co.
            raise AttributeError(attr)
        sys.modules.pop(name, None)  # any other name: the real loader, from now on
        import importlib

        return getattr(importlib.import_module(name), attr)

    stub.get_plugins, stub.__getattr__ = get_plugins, __getattr__
    sys.modules[name] = stub
