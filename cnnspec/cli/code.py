"""`cnnspec code` (spec -> R or Python Keras code) and `cnnspec import` (code -> spec). Pure Python."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from cnnspec.errors import CnnspecError
from cnnspec.cli.app import app, err_console


class Lang(str, Enum):
    r = "r"
    python = "python"


def _write(text: str, out: Optional[Path]) -> None:
    if out is None:
        import sys

        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        out.write_text(text)
    except OSError as exc:
        raise CnnspecError(f"cannot write: {exc.strerror or exc}", file=str(out)) from None
    err_console.print(f"wrote {out}")


@app.command("code")
def code_cmd(
    spec: str = typer.Argument(..., help="Spec file; FILE#VARIANT picks one variant."),
    lang: Lang = typer.Option(Lang.r, "--lang", "-l", help="r (R keras) or python (Keras 3)."),
    out: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
) -> int:
    """Print the equivalent R keras or Python Keras 3 code of a spec, runnable as printed."""
    from cnnspec.interop.codegen import generate
    from cnnspec.spec.loader import load_spec

    _write(generate(load_spec(spec), lang.value), out)
    return 0


@app.command("import")
def import_cmd(
    file: str = typer.Argument(..., help="R (.R) or Python (.py) file defining a Keras model."),
    out: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the spec to FILE instead of stdout."),
    name: Optional[str] = typer.Option(None, "--name", help="Spec name (default: the model's or the file's)."),
    lang: Optional[Lang] = typer.Option(None, "--lang", "-l", help="Force the language (default: by extension)."),
) -> int:
    """Read R keras or Python Keras model code (without running it) and write the spec YAML."""
    from cnnspec.interop.importer import import_file

    _write(import_file(file, name=name, lang=lang.value if lang else None), out)
    return 0
