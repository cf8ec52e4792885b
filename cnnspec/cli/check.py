"""`cnnspec check`, `summary`, `layers` and `schema`: pure Python, never imports TensorFlow.

``check`` and ``summary`` do their work in :mod:`cnnspec.cli.checking`, which the fast entry path
(:mod:`cnnspec.cli.fast`) calls directly, without typer, for the arguments it can parse.
"""
from __future__ import annotations

from enum import Enum
import sys
from typing import List, Optional

import typer

from cnnspec.cli.app import app, console, emit_json, err_console
from cnnspec.cli.checking import run_check, run_summary


@app.command("check")
def check_cmd(
    specs: List[str] = typer.Argument(..., help="Spec files (YAML or JSON); FILE#VARIANT picks one variant."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the diagnostics, no tables."),
) -> int:
    """Validate specs: compute every row's shape and parameters, compare with the printed table.

    Exit 0 when everything agrees, 1 when expectations disagree, 2 when a spec is invalid.
    """
    return run_check(specs, json_out=json_out, quiet=quiet)


class Fmt(str, Enum):
    """Output formats of ``cnnspec summary``."""
    table = "table"
    markdown = "markdown"
    latex = "latex"
    json = "json"


@app.command("summary")
def summary_cmd(
    spec: str = typer.Argument(..., help="Spec file; FILE#VARIANT picks one variant."),
    fmt: Fmt = typer.Option(Fmt.table, "--format", "-f", help="table, markdown, latex or json."),
    expand: bool = typer.Option(False, "--expand", help="Also print the rows inside nested models "
                                                         "(pretrained bases)."),
) -> int:
    """Print the model's summary table (the one a paper needs), without expectations."""
    return run_summary(spec, fmt.value, expand=expand)


@app.command("layers")
def layers_cmd(json_out: bool = typer.Option(False, "--json", help="Machine-readable list."),
               md: bool = typer.Option(False, "--markdown", help="The Markdown of docs/layers.md.")) -> int:
    """List every layer type, its R keras name, aliases and options with Keras's defaults."""
    from rich.table import Table

    from cnnspec.layers.registry_docs import markdown, registry

    if md:
        sys.stdout.write(markdown())
        return 0
    rows = registry()
    if json_out:
        emit_json(rows)
        return 0
    t = Table("type", "R keras / aliases", "options (default)")
    for r in rows:
        opts = ", ".join(k if o["default"] == "required" else f"{k}={o['default']!r}"
                         for k, o in r["options"].items())
        t.add_row(r["type"], ", ".join([r["r_name"]] + r["aliases"]), opts)
    console.print(t)
    return 0


@app.command("schema")
def schema_cmd(out: Optional[str] = typer.Option(None, "--out", "-o", "--output", help="Write the schema to this file.")) -> int:
    """Print the JSON Schema of spec files, for editors: put
    `# yaml-language-server: $schema=<file>` on a spec's first line."""
    import json

    from cnnspec.layers.registry_docs import json_schema

    text = json.dumps(json_schema(), indent=1) + "\n"
    if out is None:
        sys.stdout.write(text)
        return 0
    from cnnspec.runs.files import atomic_text

    atomic_text(out, text)
    err_console.print(f"wrote {out}", markup=False)
    return 0
