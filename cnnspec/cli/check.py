"""`cnnspec check` and `cnnspec summary`: pure Python, never imports TensorFlow."""
from __future__ import annotations

from enum import Enum
import sys
from typing import List, Optional

import typer

from cnnspec.errors import CnnspecError
from rich.text import Text

from cnnspec.cli.app import app, console, emit_json, err_console, safe, safe_markup


def _reports(path: str):
    from cnnspec.check.infer import check
    from cnnspec.spec.loader import load_specs

    return [check(s) for s in load_specs(path)]


@app.command("check")
def check_cmd(
    specs: List[str] = typer.Argument(..., help="Spec files (YAML or JSON); FILE#VARIANT picks one variant."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the diagnostics, no tables."),
) -> int:
    """Validate specs: compute every row's shape and parameters, compare with the printed table.

    Exit 0 when everything agrees, 1 when expectations disagree, 2 when a spec is invalid.
    """
    from cnnspec.check.render import rich_table

    code = 0
    reports, errors = [], []
    for path in specs:
        try:
            reps = _reports(path)
        except CnnspecError as exc:
            errors.append({"file": exc.file or path, "line": exc.line, "field": exc.field, "error": str(exc)})
            if not json_out:
                err_console.print(f"[bold red]error:[/] {safe_markup(' '.join(str(exc).split()))}", markup=True)
            code = 2
            continue
        for rep in reps:
            reports.append(rep)
            if not rep.ok:
                code = max(code, 1)
            if json_out:
                continue
            if not quiet:
                console.print(rich_table(rep))
            for m in rep.mismatches:
                console.print(_red(m.message(rep.spec.file)))
            verdict = (Text.assemble(("OK", "green"), ": every printed value agrees") if rep.ok else
                       Text(f"{len(rep.mismatches)} mismatch(es)", style="bold red"))
            if any(r.row.expect for r in rep.rows) or rep.spec.expect:
                console.print(Text.assemble(f"{safe(rep.spec.label)}: ", verdict))
            else:
                console.print(f"{rep.spec.label}: valid (no printed values to compare)")
    if json_out:
        if len(reports) == 1 and not errors:
            emit_json(reports[0].to_json())
        elif not reports and len(errors) == 1:
            emit_json(errors[0])
        else:
            emit_json({"reports": [r.to_json() for r in reports], "errors": errors})
    return code


def _red(msg: str):
    from rich.text import Text

    return Text(safe(msg), style="red")  # a Text, so brackets in messages are never read as markup


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
    from cnnspec.check.render import latex, markdown, rich_table

    reps = _reports(spec)
    if fmt is Fmt.json:
        emit_json(reps[0].to_json() if len(reps) == 1 else {"reports": [r.to_json() for r in reps]})
        return 0
    for rep in reps:
        if fmt is Fmt.table:
            console.print(rich_table(rep, with_expect=False, expand=expand))
        elif fmt is Fmt.markdown:
            console.out(markdown(rep, expand=expand), end="")
        else:
            console.out(latex(rep), end="")
    return 0


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
