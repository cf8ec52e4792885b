"""The comparison table: one row per run directory (a CNN run or a baseline), read from the files
every run writes (run.json, metrics.json, history.csv, config.json, spec.yaml). Used by
``cnnspec sweep`` (results.csv/results.md), ``cnnspec compare`` and ``cnnspec report``.
Pure Python (no TensorFlow)."""
from __future__ import annotations

import csv
import io
import math
import statistics
from pathlib import Path
from typing import Any

from cnnspec.errors import CnnspecError
from cnnspec.runs.files import read_history, read_json

COLUMNS = ["trial", "kind", "spec", "variant", "repeat", "params", "epochs", "metric", "best_metric",
           "test_accuracy", "test_error", "seconds", "status", "reason"]
LOWER_IS_BETTER = ("loss", "val_loss", "test_loss")
METRIC_NAMES = ("val_accuracy", "val_loss", "accuracy", "loss", "test_accuracy", "test_loss")


def is_run_dir(p: Path) -> bool:
    """A CNN run or a baseline run (what ``train``/``baseline`` write)."""
    return p.is_dir() and ((p / "run.json").exists() or (p / "config.json").exists())


def _params(run: Path, variant: str | None) -> int | None:
    from cnnspec.check.infer import infer
    from cnnspec.spec.loader import load_spec

    try:
        spec = load_spec(str(run / "spec.yaml") + (f"#{variant}" if variant else ""))
        return int(sum(r.count.total for r in infer(spec)))
    except Exception:  # noqa: BLE001 - a table cell, not a check
        return None


def best_of(history: list[dict], metric: str) -> float | None:
    """Best value of ``metric`` over the epochs (max for accuracies, min for losses)."""
    vals = [r.get(metric) for r in history]
    vals = [v for v in vals if isinstance(v, float) and math.isfinite(v)]
    if not vals:
        return None
    return min(vals) if metric in LOWER_IS_BETTER else max(vals)


def run_row(run: Path, metric: str = "val_accuracy") -> dict[str, Any]:
    """The table row of one run directory (missing files leave cells empty, never fail)."""
    run = Path(run)
    info = read_json(run / "run.json") if (run / "run.json").exists() else {}
    conf = read_json(run / "config.json") if (run / "config.json").exists() else {}
    mets = read_json(run / "metrics.json") if (run / "metrics.json").exists() else {}
    kind = info.get("kind", "cnn")
    variant = conf.get("variant")
    status = info.get("status", "pending" if not info else "?")
    if status == "finished" and not mets:
        status = "incomplete"
    test_acc = mets.get("accuracy")
    if metric.startswith("test_"):
        best = mets.get(metric[5:])
    elif kind == "cnn":
        best = best_of(read_history(run / "history.csv"), metric)
    else:
        best = info.get("cv_accuracy") if metric in ("val_accuracy", "accuracy") else None
    return {"trial": run.name, "kind": kind, "spec": info.get("spec") or conf.get("spec"), "variant": variant,
            "repeat": None, "params": _params(run, variant) if kind == "cnn" else None,
            "epochs": info.get("epochs_finished"), "metric": metric, "best_metric": best,
            "test_accuracy": test_acc, "test_error": None if test_acc is None else 1.0 - test_acc,
            "seconds": mets.get("run_seconds") or info.get("seconds"), "status": status,
            "reason": None if status == "finished" else info.get("error") or info.get("reason"),
            "run_dir": str(run)}


def collect(targets: list[str | Path], metric: str = "val_accuracy") -> list[dict[str, Any]]:
    """Rows for run directories and sweep directories (a sweep's table already knows its trials)."""
    rows: list[dict] = []
    for t in targets:
        p = Path(t)
        if (p / "sweep.json").exists():
            from cnnspec.experiments.sweep_table import sweep_rows

            rows += sweep_rows(p)
        elif is_run_dir(p):
            rows.append(run_row(p, metric))
        elif p.is_dir() and any(is_run_dir(c) for c in p.iterdir()):
            rows += [run_row(c, metric) for c in sorted(p.iterdir()) if is_run_dir(c)]
        elif not p.exists():
            raise CnnspecError("no such run or sweep directory", file=str(p))
        else:
            raise CnnspecError("is not a run directory (no run.json) nor a sweep directory (no sweep.json)",
                               file=str(p))
    return rows


def sort_rows(rows: list[dict], key: str) -> list[dict]:
    """Rows by ``key``, best first for metrics and errors; empty cells last."""
    if rows and key not in rows[0] and not any(key in r for r in rows):
        known = sorted({k for r in rows for k in r})
        raise CnnspecError(f"cannot sort by {key!r}: columns are {', '.join(known)}")
    desc = key in ("test_accuracy", "best_metric") and not (key == "best_metric" and rows and
                                                           rows[0].get("metric") in LOWER_IS_BETTER)
    have = [r for r in rows if r.get(key) is not None]
    none = [r for r in rows if r.get(key) is None]
    try:
        have.sort(key=lambda r: r[key], reverse=desc)
    except TypeError:
        have.sort(key=lambda r: str(r[key]), reverse=desc)
    return have + none


def value_columns(rows: list[dict]) -> list[str]:
    """The swept keys present in the rows (columns after ``variant``)."""
    keys: list[str] = []
    for r in rows:
        for k in r.get("values") or {}:
            if k not in keys:
                keys.append(k)
    return keys


def flat(rows: list[dict]) -> tuple[list[str], list[dict]]:
    """Columns and rows with swept values as their own columns."""
    vcols = value_columns(rows)
    cols = COLUMNS[:4] + vcols + COLUMNS[4:]
    out = []
    for r in rows:
        d = {c: r.get(c) for c in cols if c not in vcols}
        for k in vcols:
            d[k] = (r.get("values") or {}).get(k)
        d["run_dir"] = r.get("run_dir")
        if isinstance(d.get("seconds"), float):
            d["seconds"] = round(d["seconds"], 1)
        out.append(d)
    return cols + ["run_dir"], out


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}".rstrip("0").rstrip(".") if abs(v) < 1e4 else f"{v:.4g}"
    return str(v)


def to_csv(rows: list[dict]) -> str:
    """results.csv text."""
    cols, data = flat(rows)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in data:
        w.writerow({k: "" if r.get(k) is None else r[k] for k in cols})
    return buf.getvalue()


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def to_markdown(rows: list[dict], title: str | None = None) -> str:
    """results.md: the per-trial table, then mean ± sd per configuration when there are repeats."""
    cols, data = flat(rows)
    cols = [c for c in cols if c not in ("run_dir", "metric")]
    metric = rows[0].get("metric", "val_accuracy") if rows else "val_accuracy"
    head = [("best " + metric) if c == "best_metric" else c for c in cols]
    lines = [f"# {title}\n" if title else "", "| " + " | ".join(head) + " |",
             "|" + "|".join("---" for _ in cols) + "|"]
    for r in data:
        lines.append("| " + " | ".join(_md_escape(_cell(r.get(c))) for c in cols) + " |")
    agg = aggregate(rows)
    if any(a["n"] > 1 for a in agg):
        lines += ["", f"Mean ± sd over repeats (finished trials): best {metric}, test error", "",
                  "| configuration | n | best " + metric + " | test error |", "|---|---|---|---|"]
        for a in agg:
            lines.append(f"| {_md_escape(a['config'])} | {a['n']} | {_pm(a['metric_mean'], a['metric_sd'])} | "
                         f"{_pm(a['error_mean'], a['error_sd'])} |")
    return "\n".join(ln for ln in lines if ln is not None).lstrip("\n") + "\n"


def _pm(mean, sd) -> str:
    if mean is None:
        return ""
    return f"{mean:.4f}" + (f" ± {sd:.4f}" if sd is not None else "")


def aggregate(rows: list[dict]) -> list[dict]:
    """Mean and sd of the metric and test error per configuration (repeats pooled), finished trials."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("status") == "finished":
            groups.setdefault(r.get("config") or r["trial"], []).append(r)
    out = []
    for cfg, rs in groups.items():
        ms = [r["best_metric"] for r in rs if r.get("best_metric") is not None]
        es = [r["test_error"] for r in rs if r.get("test_error") is not None]
        out.append({"config": cfg, "n": len(rs), "kind": rs[0].get("kind"),
                    "metric_mean": statistics.fmean(ms) if ms else None,
                    "metric_sd": statistics.stdev(ms) if len(ms) > 1 else None,
                    "error_mean": statistics.fmean(es) if es else None,
                    "error_sd": statistics.stdev(es) if len(es) > 1 else None})
    return out


def best_row(rows: list[dict]) -> dict | None:
    """The finished CNN trial with the best metric (ties: lower test error)."""
    cand = [r for r in rows if r.get("status") == "finished" and r.get("kind") == "cnn"
            and r.get("best_metric") is not None]
    if not cand:
        return None
    sign = 1 if cand[0].get("metric") in LOWER_IS_BETTER else -1
    return min(cand, key=lambda r: (sign * r["best_metric"], r.get("test_error") or 1.0))


def columns(rows: list[dict]) -> dict[str, list]:
    """The table as columns for an R data.frame (cnnspec_sweep(), cnnspec_compare()): numbers as floats
    (NaN when empty), everything else as text ("" when empty); swept values are their own columns."""
    cols, data = flat(rows)
    cols = [c for c in cols if c != "metric"]
    out: dict[str, list] = {}
    for c in cols:
        vals = [r.get(c) for r in data]
        numeric = all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in vals)
        if numeric and any(v is not None for v in vals):
            out[c] = [float("nan") if v is None else float(v) for v in vals]
        else:
            out[c] = ["" if v is None else str(v) for v in vals]
    return out


def compare_columns(targets: list[str], sort: str | None = None, metric: str = "val_accuracy") -> dict:
    """``cnnspec compare`` as columns (the R bridge)."""
    rows = collect(list(targets), metric)
    return columns(sort_rows(rows, sort) if sort else rows)
