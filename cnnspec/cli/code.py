"""`cnnspec code` (spec -> R or Python Keras code) and `cnnspec import` (code -> spec). Pure Python."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from cnnspec.errors import CnnspecError
from cnnspec.runs.files import check_output
from cnnspec.util import split_variant
from cnnspec.cli.app import app, err_console


class Lang(str, Enum):
    """The language ``cnnspec code`` writes."""
    r = "r"
    python = "python"


class RTarget(str, Enum):
    """The R package the generated R code targets (keras3 or keras 2.x)."""
    keras3 = "keras3"
    keras = "keras"


def _write(text: str, out: Optional[Path]) -> None:
    if out is None:
        import sys

        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from cnnspec.runs.files import atomic_text

    try:
        atomic_text(out, text)
    except OSError as exc:
        raise CnnspecError(f"cannot write: {exc.strerror or exc}", file=str(out)) from exc
    err_console.print(f"wrote {out}")


@app.command("code")
def code_cmd(
    spec: str = typer.Argument(..., help="Spec file; FILE#VARIANT picks one variant."),
    lang: Lang = typer.Option(Lang.r, "--lang", "-l", help="r (R keras3) or python (Keras 3)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", "--output", help="Write to FILE instead of stdout."),
    target: RTarget = typer.Option(RTarget.keras3, "--target",
                                   help="R package the R code is for: keras3 (Keras 3) or keras (2.x, Keras 2)."),
    force: bool = typer.Option(False, "--force", help="Write the code even when the spec fails check."),
) -> int:
    """Print the equivalent R (keras3) or Python Keras 3 code of a spec, with compile() and fit() from its
    train: section, runnable as printed. A spec that fails check is refused (exit 2) unless --force."""
    from cnnspec.interop.codegen import generate
    from cnnspec.spec.loader import load_spec

    if out is not None:
        check_output(out, [split_variant(spec)[0]], what="--out")
    _write(generate(load_spec(spec), lang.value, target=target.value, force=force), out)
    return 0


class Source(str, Enum):
    """What ``cnnspec import`` reads (detected from the file when not given)."""
    r = "r"
    python = "python"
    summary = "summary"
    model = "model"


@app.command("import")
def import_cmd(
    file: str = typer.Argument(..., help="R or Python model code, a printed summary table (Keras 3, Keras 2, "
                                         "R, CSV, Markdown) or a saved model (.keras, .h5, config .json); "
                                         "- reads code or a summary from standard input."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", "--output", help="Write the spec to FILE instead of stdout."),
    name: Optional[str] = typer.Option(None, "--name", help="Spec name (default: the model's or the file's)."),
    source: Optional[Source] = typer.Option(None, "--from",
                                            help="Force the kind of input (default: by extension and content)."),
    lang: Optional[Lang] = typer.Option(None, "--lang", "-l", help="Same as --from r|python."),
    input_shape: Optional[str] = typer.Option(None, "--input", help="The model input for a summary that does not "
                                              "print it, e.g. 28,28,1 (default: inferred from the first row)."),
) -> int:
    """Read a model (code, printed summary or saved model; never run) and write the spec YAML."""
    from cnnspec.interop.importer import import_file

    if out is not None:
        check_output(out, [file], what="--out")
    kind = source.value if source else (lang.value if lang else None)
    _write(import_file(file, name=name, lang=kind, input_shape=_shape(input_shape)), out)
    return 0


def _shape(text: Optional[str]) -> Optional[tuple]:
    if text is None:
        return None
    parts = [p.strip() for p in text.strip("()[] ").split(",") if p.strip()]
    if not parts or not all(p.isdigit() and 0 < int(p) <= 1_000_000 for p in parts):
        raise CnnspecError(f"--input must be sizes like 28,28,1, got {text!r}", field="--input")
    return tuple(int(p) for p in parts)

