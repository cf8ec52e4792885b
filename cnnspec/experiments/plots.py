"""Sweep figures (matplotlib, Agg): test errors as bars, like seed 000's Figures 7 and 10, and the
ranking metric against each numeric swept value."""
from __future__ import annotations

from pathlib import Path

from cnnspec.experiments.results import aggregate, value_columns
from cnnspec.runs.metrics import _plt, _save


def plot_test_errors(rows: list[dict], path: str | Path, title: str = "Test error") -> bool:
    """Bar chart of test error per configuration (mean, with sd whiskers over repeats), lowest first.
    Returns False (no file) when no trial finished."""
    agg = [a for a in aggregate(rows) if a["error_mean"] is not None]
    if not agg:
        return False
    agg.sort(key=lambda a: a["error_mean"])
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(agg) + 2), 4.2))
    colors = ["#4c72b0" if a["kind"] == "cnn" else "#dd8452" for a in agg]
    errs = [a["error_sd"] or 0.0 for a in agg]
    bars = ax.bar(range(len(agg)), [a["error_mean"] for a in agg], yerr=errs if any(errs) else None,
                  color=colors, capsize=3)
    for b, a in zip(bars, agg):
        ax.text(b.get_x() + b.get_width() / 2, b.get_height(), f"{a['error_mean']:.3f}", ha="center",
                va="bottom", fontsize=8)
    ax.set_xticks(range(len(agg)), [a["config"] for a in agg], rotation=45 if len(agg) > 3 else 0, ha="right"
                  if len(agg) > 3 else "center", fontsize=8)
    ax.set_ylabel("test error (1 - accuracy)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    return True


def _numeric(vals) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)


def plot_metric_vs_values(rows: list[dict], folder: str | Path) -> list[Path]:
    """One PNG per numeric swept key: the ranking metric of each finished trial against the value
    (log scale when the values span more than a factor 50). Returns the files written."""
    out = []
    done = [r for r in rows if r.get("status") == "finished" and r.get("best_metric") is not None]
    for key in value_columns(rows):
        pts = [((r.get("values") or {}).get(key), r["best_metric"], r.get("variant")) for r in done]
        pts = [p for p in pts if p[0] is not None]
        if len(pts) < 2 or not _numeric([p[0] for p in pts]) or len({p[0] for p in pts}) < 2:
            continue
        plt = _plt()
        fig, ax = plt.subplots(figsize=(5.5, 4))
        for variant in sorted({str(p[2]) for p in pts}):
            sel = sorted((p[0], p[1]) for p in pts if str(p[2]) == variant)
            grid_like = 1 < len({s[0] for s in sel}) <= 6  # lines join grid values; random samples are points
            ax.plot([s[0] for s in sel], [s[1] for s in sel], "o-" if grid_like else "o", ms=4,
                    label=variant if variant != "None" else None)
        xs = [p[0] for p in pts]
        if min(xs) > 0 and max(xs) / min(xs) > 50:
            ax.set_xscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel(f"best {done[0]['metric']}")
        ax.grid(alpha=0.3)
        if any(p[2] for p in pts):
            ax.legend(fontsize=8)
        fig.tight_layout()
        p = Path(folder) / f"metric_vs_{key.replace('.', '_')}.png"
        _save(fig, p)
        out.append(p)
    return out
