"""A sweep directory's table: one row per trial from its run and its recorded outcome, and the files
made from it (results.csv, results.md, the figures, best.yaml)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from cnnspec.experiments.plan import Trial
from cnnspec.experiments.results import best_row, run_row, to_csv, to_markdown
from cnnspec.runs.files import atomic_bytes, atomic_text, read_json


def sweep_rows(out: Path) -> list[dict]:
    """The table of a sweep directory: one row per trial, in plan order."""
    state = read_json(out / "sweep.json")
    metric = "val_accuracy"
    if (out / "sweep.yaml").exists():
        import yaml

        try:
            metric = (yaml.safe_load((out / "sweep.yaml").read_text()) or {}).get("metric", metric)
        except yaml.YAMLError:
            pass
    rows = []
    for t in state.get("trials", []):
        name = t["name"]
        row = run_row(out / "trials" / name, metric)
        oc = {}
        p = out / "outcomes" / f"{name}.json"
        if p.exists():
            try:
                oc = read_json(p)
            except (OSError, ValueError):
                oc = {}
        if oc.get("status") in ("failed", "diverged", "interrupted") and row["status"] != "finished" \
                or oc.get("status") == "diverged":
            row["status"], row["reason"] = oc["status"], oc.get("reason")
        if name in state.get("pruned", {}):
            row["status"], row["reason"] = "pruned", state["pruned"][name]
        if row["seconds"] is None:
            row["seconds"] = oc.get("seconds")
        row.update(trial=name, kind=t.get("kind", "cnn"), variant=t.get("variant") or row["variant"],
                   values=t.get("values") or {}, repeat=t.get("repeat", 0) + 1 if t.get("kind", "cnn") == "cnn"
                   else None, config=Trial(name, t.get("variant"), {}, kind=t.get("kind", "cnn")).config_key)
        if row["kind"] != "cnn" and row["spec"] is None:
            row["spec"] = row["kind"]
        rows.append(row)
    return rows


def write_results(out: Path) -> dict[str, Any]:
    """results.csv, results.md, test_errors.png, metric_vs_*.png and best.yaml from the trials' runs."""
    from cnnspec.experiments.plots import plot_metric_vs_values, plot_test_errors

    rows = sweep_rows(out)
    atomic_text(out / "results.csv", to_csv(rows))
    atomic_text(out / "results.md", to_markdown(rows, f"Sweep {out.name}"))
    figs = []
    if plot_test_errors(rows, out / "test_errors.png", f"Test error: {out.name}"):
        figs.append(str(out / "test_errors.png"))
    figs += [str(p) for p in plot_metric_vs_values(rows, out)]
    best = best_row(rows)
    if best is not None:
        atomic_bytes(out / "best.yaml", (out / "specs" / f"{best['trial']}.yaml").read_bytes())
    return {"rows": rows, "best": best["trial"] if best else None, "figures": figs}
