"""`cnnspec sweep`, `cnnspec baseline`, `cnnspec compare` and `cnnspec report` (see docs/experiments.md).
Thin: parse, call cnnspec.experiments, print. TensorFlow is imported only by the trial processes."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from cnnspec.cli.app import app, console, emit_json, err_console
from cnnspec.errors import CnnspecError


class SweepStopped(CnnspecError):
    """Ctrl-C or SIGTERM stopped the sweep (its trials recorded `interrupted`): exit 130."""

    exit_code = 130


class Executor(str, Enum):
    """Where trials run."""

    local = "local"
    ray = "ray"


class Model(str, Enum):
    """Baseline models."""

    knn = "knn"
    random_forest = "random_forest"
    xgboost = "xgboost"
    logistic = "logistic"


def _reader(run_dir: Path):
    from cnnspec.runs.files import read_json

    def epochs() -> int:
        try:
            return int(read_json(run_dir / "state.json").get("epoch", 0))
        except (OSError, ValueError):
            return 0
    return epochs


def _show_factory(quiet: bool):
    """Progress: one live line per running trial and an overall bar on a terminal, plain lines otherwise."""
    con = err_console
    st: dict = {"n": 0, "done": 0, "prog": None, "tasks": {}}

    def line(text: str) -> None:
        if not quiet:
            (st["prog"].console if st["prog"] else con).print(text, markup=False, highlight=False)

    def show(event: str, **kw) -> None:
        if event == "plan":
            st["n"] = len(kw["trials"])
            line(f"{st['n']} trial(s); up to {kw['concurrent']} at once, {kw['threads']} TensorFlow thread(s) each")
            if con.is_terminal and not quiet:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

                st["prog"] = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=con, transient=True)
                st["prog"].start()
                st["all"] = st["prog"].add_task("sweep", total=st["n"])
        elif event == "executor":
            ex = kw["executor"]
            if ex.name == "ray":
                line(f"ray: connected in {ex.startup_seconds:.1f} s")
        elif event == "start":
            t = kw["task"]
            if st["prog"]:
                st["tasks"][t["name"]] = (st["prog"].add_task(t["name"], total=t.get("total_epochs")),
                                          _reader(Path(t["out"])))
            else:
                line(f"start  {t['name']}")
        elif event == "done":
            t, oc = kw["task"], kw["outcome"]
            st["done"] += 1
            if st["prog"] and t["name"] in st["tasks"]:
                st["prog"].remove_task(st["tasks"].pop(t["name"])[0])
                st["prog"].update(st["all"], completed=st["done"])
            why = f" ({oc['reason']})" if oc.get("reason") else ""
            secs = f" in {oc['seconds']:.1f} s" if oc.get("seconds") else ""
            line(f"{oc['status']:<11} {t['name']}{secs}{why}")
        elif event == "tick" and st["prog"]:
            for task_id, epochs in st["tasks"].values():
                st["prog"].update(task_id, completed=epochs())
        elif event == "close" and st["prog"]:
            st["prog"].stop()
    return show


@app.command("sweep")
def sweep_cmd(
    sweep_file: str = typer.Argument(..., help="Sweep file (YAML/JSON), see docs/experiments.md."),
    out: Path = typer.Option(..., "--out", "-o", "--output", help="Sweep directory (created, or resumed when it exists)."),
    executor: Executor = typer.Option(Executor.local, "--executor", help="local (process pool) or ray."),
    max_concurrent: Optional[int] = typer.Option(None, "--max-concurrent", min=1,
                                                 help="Trials at once (default: one per core)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1,
                                          help="TensorFlow threads per trial (default: cores / concurrent)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster HOST:PORT (default RAY_ADDRESS, "
                                                                   "else a local Ray for this sweep)."),
    extend: bool = typer.Option(False, "--extend", help="Accept a changed sweep file for an existing DIR: "
                                                         "add its new trials."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run failed trials again."),
    json_out: bool = typer.Option(False, "--json", help="Print the results table as JSON on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
) -> int:
    """Train every trial of a sweep (variants x grid / random search x repeats, plus baselines) and compare."""
    from cnnspec.experiments.sweep import run_sweep

    show = _show_factory(quiet or json_out and not err_console.is_terminal)
    try:
        res = run_sweep(sweep_file, out, executor=executor.value, max_concurrent=max_concurrent, threads=threads,
                        address=address, extend=extend, retry_failed=retry_failed, show=show)
    finally:
        show("close")
    rows = res["rows"]
    if json_out:
        emit_json({"sweep": str(out), "best": res["best"], "stopped": res["stopped"], "rows": rows,
                   "executor": res["executor"], "seconds": res["seconds"], "startup_seconds": res["startup_seconds"]})
    else:
        _print_table(rows)
        counts = {}
        for r in rows:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        console.print(f"{out}: " + ", ".join(f"{v} {k}" for k, v in counts.items()) +
                      (f"; best {res['best']} (best.yaml)" if res["best"] else ""), markup=False, highlight=False)
    if res["stopped"]:
        raise SweepStopped(f"sweep stopped; run the same command again to finish it ({out})")
    return 0


def _print_table(rows: list[dict]) -> None:
    from rich.table import Table
    from rich.text import Text

    from cnnspec.experiments.results import _cell, flat

    cols, data = flat(rows)
    # the terminal table keeps the essentials (results.csv/results.md and --json have every column)
    cols = [c for c in cols if c not in ("run_dir", "metric", "reason", "kind", "repeat", "spec", "test_error")]
    t = Table(title_justify="left")
    metric = rows[0].get("metric") if rows else "metric"
    for c in cols:  # the trial's name folds rather than being cut (it is its directory)
        t.add_column(f"best {metric}" if c == "best_metric" else c, overflow="fold",
                     min_width=min(24, max(len(r["trial"]) for r in rows)) if c == "trial" else None)
    for r in data:
        t.add_row(*[Text(_cell(r.get(c))) for c in cols])
    console.print(t)


@app.command("compare")
def compare_cmd(
    targets: List[str] = typer.Argument(..., help="Run directories and/or sweep directories."),
    sort: Optional[str] = typer.Option(None, "--sort", help="Column to sort by (e.g. test_accuracy, best_metric)."),
    metric: str = typer.Option("val_accuracy", "--metric", help="Metric for plain run directories."),
    json_out: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
    markdown: bool = typer.Option(False, "--markdown", help="A Markdown table on stdout."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also write a test-error bar chart (PNG)."),
) -> int:
    """One comparison table for any set of runs (CNN runs, baselines, sweeps)."""
    from cnnspec.experiments.results import METRIC_NAMES, collect, sort_rows, to_markdown

    if metric not in METRIC_NAMES:
        raise CnnspecError(f"unknown --metric {metric!r}: choose one of {', '.join(METRIC_NAMES)}")
    rows = collect(targets, metric)
    if sort:
        rows = sort_rows(rows, sort)
    if plot is not None:
        from cnnspec.experiments.plots import plot_test_errors

        if plot.suffix.lower() != ".png" or not plot.parent.is_dir():
            raise CnnspecError("--plot takes a .png file in an existing folder", file=str(plot))
        if not plot_test_errors(rows, plot, "Test error"):
            raise CnnspecError("no finished run to plot")
    if json_out:
        emit_json({"rows": rows})
    elif markdown:
        import sys

        sys.stdout.write(to_markdown(rows))
    else:
        _print_table(rows)
    return 0


@app.command("baseline")
def baseline_cmd(
    model: Model = typer.Option(..., "--model", help="knn, random_forest, xgboost or logistic."),
    out: Path = typer.Option(..., "--out", "-o", "--output", help="Run directory to write."),
    data: str = typer.Option("sample", "--data", help="Dataset name (as cnnspec train --data)."),
    data_path: Optional[str] = typer.Option(None, "--data-path"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Keep the first N train and N test images."),
    seed: int = typer.Option(0, "--seed", min=0),
    n_jobs: Optional[int] = typer.Option(None, "--n-jobs", min=1, help="Worker threads (default: all cores)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing baseline run."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> int:
    """A non-CNN model on seed 000's features (every pixel + each channel's mean and sd), tuned by CV/OOB."""
    from cnnspec.experiments.baselines import run_baseline
    from cnnspec.experiments.executors import cpu_count

    res = run_baseline(model.value, data, data_path, limit, out, seed=seed, n_jobs=n_jobs or cpu_count(),
                       force=force)
    if json_out:
        emit_json(res)
    else:
        console.print(f"{out}: {model.value} ({res['tuned']}) test accuracy {res['test_accuracy']:.4f}, "
                      f"{res['seconds']:.1f} s", markup=False, highlight=False)
    return 0


@app.command("report")
def report_cmd(
    target: Path = typer.Argument(..., help="A run directory or a sweep directory."),
    output: Optional[Path] = typer.Option(None, "--out", "-o", "--output", help="HTML file (default: TARGET/report.html)."),
) -> int:
    """One self-contained HTML page: table, comparison plots, learning curves, confusion matrices."""
    from cnnspec.experiments.report import write_report

    path = write_report(target, output)
    console.print(f"wrote {path}", markup=False, highlight=False)
    return 0
