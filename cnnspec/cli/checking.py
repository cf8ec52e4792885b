"""What `cnnspec check` and `cnnspec summary` do once their arguments are parsed.

Shared by the typer commands (:mod:`cnnspec.cli.check`) and the fast entry path
(:mod:`cnnspec.cli.fast`), so both print the same thing; imports neither typer nor rich (rich only
when printing to a terminal, through :class:`cnnspec.cli.output.Printer`). Pure Python, never
TensorFlow.
"""
from __future__ import annotations

from cnnspec.errors import CnnspecError
from cnnspec.cli.output import Printer, emit_json

#: ``cnnspec summary --format`` values.
SUMMARY_FORMATS = ("table", "markdown", "latex", "json")


def _reports(path: str):
    from cnnspec.check.infer import check
    from cnnspec.spec.loader import load_specs

    return [check(s) for s in load_specs(path)]


def run_check(specs: list[str], json_out: bool = False, quiet: bool = False) -> int:
    """Check every spec file (each error or disagreement printed), return the exit code:
    0 all agree, 1 an expectation disagrees, 2 a spec is invalid."""
    code = 0
    reports, errors = [], []
    p = Printer()
    for path in specs:
        try:
            reps = _reports(path)
        except CnnspecError as exc:
            errors.append({"file": exc.file or path, "line": exc.line, "field": exc.field, "error": str(exc)})
            if not json_out:
                p.error(" ".join(str(exc).split()))
            code = 2
            continue
        for rep in reps:
            reports.append(rep)
            if not rep.ok:
                code = max(code, 1)
            if not json_out:
                _print_report(p, rep, quiet)
    if json_out:
        if len(reports) == 1 and not errors:
            emit_json(reports[0].to_json())
        elif not reports and len(errors) == 1:
            emit_json(errors[0])
        else:
            emit_json({"reports": [r.to_json() for r in reports], "errors": errors})
    return code


def _print_report(p: Printer, rep, quiet: bool) -> None:
    """One spec's table (unless ``quiet``), its mismatches and its verdict line."""
    if not quiet:
        from cnnspec.check.render import table_model

        p.table(table_model(rep))
    for m in rep.mismatches:
        p.line((m.message(rep.spec.file), "red"))
    if rep.printed:
        verdict = (("OK", "green"), (": every printed value agrees", "")) if rep.ok else \
            ((f"{len(rep.mismatches)} mismatch(es)", "bold red"),)
        p.line((f"{rep.spec.label}: ", ""), *verdict)
    else:
        p.line((f"{rep.spec.label}: valid (no printed values to compare)", ""))


def run_summary(spec: str, fmt: str = "table", expand: bool = False) -> int:
    """Print the summary table of ``spec`` in ``fmt`` (one of :data:`SUMMARY_FORMATS`); exit code 0."""
    from cnnspec.check.render import latex, markdown, table_model

    reps = _reports(spec)
    if fmt == "json":
        emit_json(reps[0].to_json() if len(reps) == 1 else {"reports": [r.to_json() for r in reps]})
        return 0
    p = Printer()
    for rep in reps:
        if fmt == "table":
            p.table(table_model(rep, with_expect=False, expand=expand))
        elif fmt == "markdown":
            p.out(markdown(rep, expand=expand))
        else:
            p.out(latex(rep))
    return 0
