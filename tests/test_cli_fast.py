"""The fast `check`/`summary` path (no typer, click or rich) behaves as the typer commands do.

- its parameter table mirrors the typer commands' parameters (introspected, so they cannot drift);
- whatever it parses, click parses to the same values; what it cannot parse goes to typer;
- the table and lines it prints are byte for byte what rich prints, on a pipe and on a terminal;
- running `cnnspec check` on a spec imports neither typer, click nor rich.
"""
from __future__ import annotations

import enum
import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from cnnspec.check.texttable import NARROW, Cell, Column, TableModel, render_text
from cnnspec.cli import output
from cnnspec.cli.fast import FAST_COMMANDS, parse

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(ROOT.glob("specs/*.yaml")) + sorted(ROOT.glob("tests/specs/*.yaml"))


def _click_commands():
    import cnnspec.cli.check  # noqa: F401  (registers the commands)
    from typer.main import get_command

    from cnnspec.cli import app

    return get_command(app).commands


def _describe_typer(param) -> tuple:
    ann = param.type_descriptor.annotation
    choices = tuple(m.value for m in ann) if isinstance(ann, type) and issubclass(ann, enum.Enum) else None
    default = param.default.value if isinstance(param.default, enum.Enum) else param.default
    if type(param).__name__.endswith("Argument"):
        return ("arg", param.name, param.nargs, param.required)
    return ("opt", param.name, tuple(param.opts), tuple(param.secondary_opts), bool(param.is_flag), default, choices,
            param.envvar, param.multiple)


def _describe_fast(cmd) -> list[tuple]:
    return ([("arg", a.dest, a.nargs, True) for a in cmd.args] +
            [("opt", o.dest, o.names, (), o.flag, o.default, o.choices, None, False) for o in cmd.opts])


@pytest.mark.parametrize("name", sorted(FAST_COMMANDS))
def test_fast_table_mirrors_the_typer_command(name):
    cmd = _click_commands()[name]
    typer_side = [_describe_typer(p) for p in cmd.params]
    fast = _describe_fast(FAST_COMMANDS[name])
    assert sorted(typer_side, key=str) == sorted(fast, key=str)
    assert [d for d in typer_side if d[0] == "arg"] == [d for d in fast if d[0] == "arg"]  # positional order
    assert cmd.allow_interspersed_args and not cmd.ignore_unknown_options and not cmd.context_settings


TOKENS = ["a.yaml", "b.yaml#v", "-", "--", "--json", "-q", "--quiet", "-qq", "--json=1", "--format", "-f", "json",
          "table", "latex", "JSON", "bogus", "--expand", "-fjson", "-f=json", "--format=markdown", "--format=",
          "--help", "-x", "--quie", "-q-"]


def _click_params(name: str, argv: list[str]) -> dict | None:
    cmd = _click_commands()[name]
    try:
        ctx = cmd.make_context(name, list(argv))
    except Exception:  # click's usage errors and --help's Exit
        return None
    return {k: (v.value if isinstance(v, enum.Enum) else list(v) if isinstance(v, tuple) else v)
            for k, v in ctx.params.items()}


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(FAST_COMMANDS)), argv=st.lists(st.sampled_from(TOKENS), max_size=6))
def test_what_the_fast_parser_accepts_click_reads_the_same(name, argv):
    fast = parse(FAST_COMMANDS[name], argv)
    if fast is not None:
        assert _click_params(name, argv) == fast


@pytest.mark.parametrize("name, argv", [
    ("check", ["a.yaml"]), ("check", ["-q", "a.yaml", "b.yaml#v", "--json"]), ("check", ["a.yaml", "--", "-q"]),
    ("summary", ["a.yaml", "-f", "latex"]), ("summary", ["--format=json", "a.yaml", "--expand"]),
    ("summary", ["a.yaml", "-fmarkdown"])])
def test_the_usual_forms_take_the_fast_path(name, argv):
    assert parse(FAST_COMMANDS[name], argv) == _click_params(name, argv) is not None


@pytest.mark.parametrize("argv", [["check"], ["check", "--help"], ["check", "a.yaml", "--bogus"], ["check", "-qq", "a"],
                                  ["summary", "a.yaml", "--format", "bogus"], ["summary", "a.yaml", "b.yaml"]])
def test_help_and_usage_errors_are_left_to_typer(argv):
    assert parse(FAST_COMMANDS[argv[0]], argv[1:]) is None


def _cli(*args, env=None):
    e = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "cnnspec", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=e, cwd=ROOT)


def test_usage_errors_and_help_through_the_real_cli():
    p = _cli("check")
    assert p.returncode == 2 and "Missing argument 'specs'" in p.stderr and "cnnspec check --help" in p.stderr
    p = _cli("summary", "specs/table6.yaml", "--format", "bogus")
    assert p.returncode == 2 and "Invalid value for '--format'" in p.stderr
    p = _cli("check", "--help")
    assert p.returncode == 0 and "--quiet" in p.stdout and "Validate specs" in p.stdout


def test_check_imports_no_typer_click_or_rich():
    """Structural: the check and summary paths of the real CLI load none of the three (stdout is a
    pipe here; on a terminal the same holds, by the comparisons with rich below)."""
    code = ("import sys\nfrom cnnspec.cli import main\n"
            "for argv in (['check', 'specs/table3.yaml'], ['check', '-q', 'specs/lenet5.yaml', 'specs/table6.yaml'],"
            " ['check', '--json', 'specs/table3_2.yaml'], ['summary', 'specs/table6.yaml', '-f', 'latex'],"
            " ['check', 'no/such.yaml']):\n"
            "    try:\n        main(argv)\n    except SystemExit as e:\n        print('exit', e.code, file=sys.stderr)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'click', 'rich')"
            " or m == 'importlib.metadata'))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert p.stdout.strip().splitlines()[-1] == "[]", p.stderr[-2000:]
    assert [ln for ln in p.stderr.splitlines() if ln.startswith("exit")] == ["exit 0", "exit 1", "exit 1", "exit 0",
                                                                             "exit 2"]


@pytest.mark.parametrize("env", [{}, {"PYDANTIC_DISABLE_PLUGINS": "some_plugin"}])
def test_pydantic_plugin_discovery_is_skipped_only_in_check(env):
    """The check path skips pydantic's plugin discovery (importlib.metadata) unless plugins were named;
    the stand-in hands any other name to pydantic's real loader, and other commands keep it."""
    code = ("import sys\nfrom cnnspec.cli import main\n"
            "try:\n    main(['check', '-q', 'specs/table6.yaml'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
            "print('importlib.metadata' in sys.modules)\n"
            "from pydantic.plugin._loader import PYDANTIC_ENTRY_POINT_GROUP, get_plugins\n"
            "print(PYDANTIC_ENTRY_POINT_GROUP, list(get_plugins()))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=str(ROOT), **env))
    assert p.returncode == 0, p.stderr[-2000:]
    skipped, group = p.stdout.strip().splitlines()[-2:]
    assert skipped == ("False" if not env else "True") and group == "pydantic []"


WIDTH = 200  # the terminal's width in the terminal comparisons


def _run(mode: str, terminal: bool, monkeypatch, fn, *args, **kw) -> tuple[str, str]:
    """(stdout, stderr) of ``fn`` printing in ``mode`` ("plain", "ansi" or "rich"); rich's consoles
    write to a terminal of WIDTH columns when ``terminal``, else to a pipe."""
    from cnnspec.cli import console
    from cnnspec.cli.console import SafeConsole

    monkeypatch.setattr(output, "stream_mode", lambda stream: mode)
    monkeypatch.setattr(output, "terminal_width", lambda: WIDTH)
    for name, stderr in (("console", False), ("err_console", True)):
        monkeypatch.setattr(console, name, SafeConsole(
            stderr=stderr, force_terminal=terminal, color_system="standard" if terminal else None, highlight=False,
            soft_wrap=True, markup=False, emoji=False, width=WIDTH if terminal else output.PIPE_WIDTH))
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        fn(*args, **kw)
    return out.getvalue(), err.getvalue()


def _same_as_rich(monkeypatch, fn, *args, **kw) -> tuple[str, str]:
    """Assert the plain and ANSI outputs equal rich's on a pipe and on a terminal; the plain one."""
    plain = _run("plain", False, monkeypatch, fn, *args, **kw)
    assert plain == _run("rich", False, monkeypatch, fn, *args, **kw)
    ansi = _run("ansi", True, monkeypatch, fn, *args, **kw)
    assert ansi == _run("rich", True, monkeypatch, fn, *args, **kw)
    return plain


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_plain_and_terminal_output_is_what_rich_prints(spec, monkeypatch):
    from cnnspec.cli.checking import run_check, run_summary

    for fn, args, kw in [(run_check, ([str(spec)],), {}), (run_check, ([str(spec)],), {"quiet": True}),
                         (run_summary, (str(spec),), {"expand": True}),
                         (run_summary, (str(spec),), {"fmt": "markdown"}), (run_summary, (str(spec),), {"fmt": "latex"})]:
        _same_as_rich(monkeypatch, fn, *args, **kw)


def test_hostile_user_text_plain_equals_rich(tmp_path, monkeypatch):
    from cnnspec.cli.checking import run_check

    src = (ROOT / "specs/table6.yaml").read_text()
    names = ['"t[/]i\\e[2Jny"', '"[bold]x[/bold] \\\\[y]"', '"tab\\there"', '"new\\nline"', '"wide 漢字 ü"',
             '"a  b  "', '"' + "n" * 250 + '"']
    for i, name in enumerate(names):
        p = tmp_path / f"x[red]{i}\x1b.yaml"
        p.write_text(src.replace("name: table6", f"name: {name}").replace("units: 128", "units: 129"))
        out, err = _same_as_rich(monkeypatch, run_check, [str(p)])
        assert "\x1b" not in out + err and "mismatch" in out
    bad = tmp_path / "[bold]y[red\x1bz[/].yaml"
    out, err = _same_as_rich(monkeypatch, run_check, [str(bad)])
    assert err.startswith("error: ") and "[bold]y[red\\x1bz[/].yaml" in err


def test_is_plain_agrees_with_rich(monkeypatch):
    from rich.console import Console

    class Tty(io.StringIO):
        def isatty(self):
            return True

    for env in ({}, {"FORCE_COLOR": "1"}, {"FORCE_COLOR": ""}, {"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"},
                {"TTY_COMPATIBLE": "1"}, {"TTY_COMPATIBLE": "x"}, {"NO_COLOR": "1"}):
        for var in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR"):
            monkeypatch.delenv(var, raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        for stream in (io.StringIO(), Tty()):
            rich = Console(file=stream)
            assert output.is_plain(stream) == (not rich.is_terminal), (env, stream)
            if output.stream_mode(stream) == "ansi":  # a terminal rich colours with standard codes
                assert rich.is_terminal and rich.color_system and not rich.no_color and not rich.is_dumb_terminal
    for var in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)
    for term, mode in (("dumb", "rich"), ("xterm-256color", "ansi")):
        monkeypatch.setenv("TERM", term)
        assert output.stream_mode(Tty()) == mode
    monkeypatch.setenv("NO_COLOR", "1")
    assert output.stream_mode(Tty()) == "rich"
    assert output.stream_mode(io.TextIOWrapper(io.BytesIO(), encoding="latin-1")) == "rich"  # rich's ASCII boxes
    monkeypatch.setenv("COLUMNS", "123")
    assert output.terminal_width() == Console(file=Tty()).width == 123


def test_narrow_characters_are_one_column_for_rich():
    from rich.cells import cell_len

    assert all(cell_len(ch) == 1 for ch in NARROW)


_text = st.text(alphabet=st.sampled_from(list("ab [/]\\,()#*_: ") + sorted(NARROW) + ["\t", "é", "漢", "\n"]),
                max_size=24)


@settings(max_examples=200, deadline=None)
@given(title=_text, source=_text, cols=st.lists(st.tuples(_text, st.sampled_from(["left", "right"]),
                                                          st.sampled_from(["", "dim"]), st.booleans()),
                                                min_size=1, max_size=5),
       rows=st.lists(st.tuples(st.lists(_text, min_size=5, max_size=5), st.sampled_from(["", "dim"])), max_size=4),
       caption=_text, width=st.sampled_from([40, 160]))
def test_plain_table_equals_rich_for_any_text(title, source, cols, rows, caption, width):
    from cnnspec.check.render import to_rich
    from cnnspec.cli.console import SafeConsole

    model = TableModel([Cell(title), Cell(source, "dim")], [Column(*c) for c in cols], caption=caption)
    for cells, style in rows:
        model.add_row([Cell(t, st) for t, st in zip(cells[:len(cols)], ["", "bold red", "green", "dim", "red"])], style)
    for ansi in (False, True):
        text = render_text(model, width, ansi=ansi)
        if text is not None:
            buf = io.StringIO()
            SafeConsole(file=buf, force_terminal=ansi, color_system="standard" if ansi else None, highlight=False,
                        soft_wrap=True, markup=False, emoji=False, width=width).print(to_rich(model))
            assert text == buf.getvalue()


def test_closed_pipe_ends_quietly_with_exit_1():
    """`cnnspec check ... | head -1`: as with rich, no error line and exit code 1 once the reader is gone."""
    p = subprocess.Popen([sys.executable, "-m", "cnnspec", "check", *["specs/table3_2.yaml"] * 60],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    p.stdout.read(10)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 1 and err == ""
