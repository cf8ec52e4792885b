"""`cnnspec doctor`, `lr-find`, `ensemble` and `inspect`: looking at a model before and after training
(seed 004). TensorFlow is imported inside the commands (through cnnspec.keras)."""
from __future__ import annotations

from typing import Optional

import typer

from cnnspec.cli.app import app, console, emit_json

_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


@app.command("doctor")
def doctor_cmd(
    spec: str = typer.Argument(..., help="Spec file (FILE#VARIANT picks a variant) with an optional train: section."),
    data: Optional[str] = typer.Option(None, "--data", help="Dataset (default: train.dataset, else sample)."),
    data_path: Optional[str] = typer.Option(None, "--data-path", help="Where the dataset's files are."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Keep the first N train and N test images."),
    json_out: bool = typer.Option(False, "--json", help="Print the checks as a JSON list."),
) -> int:
    """Sanity checks before a long run: data, initial loss, init, dead ReLUs, update ratios, overfitting 20 images.

    Exit 0 when no check fails (warnings allowed), 1 when one fails, 2 on bad input."""
    from cnnspec.keras.doctor import diagnose

    checks = diagnose(spec, data, data_path, limit)
    if json_out:
        emit_json([c.to_json() for c in checks])
    else:
        from rich.table import Table
        from rich.text import Text

        t = Table(title=f"cnnspec doctor {spec}", title_justify="left", show_lines=False)
        for col in ("status", "check", "measured", "advice"):
            t.add_column(col, overflow="fold")
        for c in checks:
            t.add_row(Text(c.status.upper(), style=_STYLE[c.status]), Text(c.name), Text(c.value), Text(c.advice))
        console.print(t)
        counts = {s: sum(c.status == s for c in checks) for s in _STYLE}
        console.print(f"{counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail", markup=False)
    return 1 if any(c.status == "fail" for c in checks) else 0
