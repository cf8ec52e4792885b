"""``cnnspec report RUN_OR_SWEEP_DIR``: one self-contained HTML page (tfruns' view_run for cnnspec).

A sweep's page has the comparison table, the test-error bar chart, the metric-vs-value plots and,
per trial, its learning curves and confusion matrix; a run's page has its metrics, per-class table,
curves and confusion matrix. Every image is embedded as base64 and all text is HTML-escaped, so the
page opens anywhere without the directory. Pure Python (no TensorFlow).
"""
from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from pathlib import Path

from cnnspec.errors import CnnspecError
from cnnspec.experiments.results import _cell, collect, flat, is_run_dir
from cnnspec.runs.files import atomic_text, read_json

CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee;margin:4px}.run{margin-top:2em;border-top:2px solid #ddd}
.failed,.diverged{color:#b00}.pruned{color:#888}h1{font-size:22px}h2{font-size:18px}h3{font-size:15px}"""


def _img(path: Path, alt: str) -> str:
    if not path.exists():
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(rows: list[dict]) -> str:
    cols, data = flat(rows)
    cols = [c for c in cols if c not in ("run_dir", "metric")]
    metric = rows[0].get("metric", "metric") if rows else "metric"
    head = "".join(f"<th>{html.escape('best ' + metric if c == 'best_metric' else c)}</th>" for c in cols)
    body = []
    for r in data:
        cls = html.escape(str(r.get("status") or ""))
        body.append(f'<tr class="{cls}">' + "".join(f"<td>{html.escape(_cell(r.get(c)))}</td>" for c in cols)
                    + "</tr>")
    return f'<table id="results"><tr>{head}</tr>{"".join(body)}</table>'


def _run_section(run: Path, title: str) -> str:
    parts = [f'<div class="run"><h3>{html.escape(title)}</h3>']
    if (run / "metrics.json").exists():
        m = read_json(run / "metrics.json")
        parts.append(f"<p>test accuracy {m.get('accuracy', 0):.4f}, loss {m.get('loss', 0):.4f} on "
                     f"{m.get('n', '?')} {html.escape(str(m.get('dataset', '')))} test images</p>")
        pc = m.get("per_class") or {}
        if pc:
            rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{v['precision']:.3f}</td><td>{v['recall']:.3f}"
                           f"</td><td>{v['f1']:.3f}</td><td>{v['support']}</td></tr>" for k, v in pc.items())
            parts.append("<details><summary>per-class precision / recall</summary><table><tr><th>class</th>"
                         f"<th>precision</th><th>recall</th><th>f1</th><th>support</th></tr>{rows}</table></details>")
    elif (run / "run.json").exists():
        info = read_json(run / "run.json")
        parts.append(f"<p>status {html.escape(str(info.get('status')))}"
                     f"{': ' + html.escape(str(info['error'])) if info.get('error') else ''}</p>")
    parts.append(_img(run / "learning_curves.png", "learning curves"))
    parts.append(_img(run / "confusion_matrix.png", "confusion matrix"))
    parts.append("</div>")
    return "".join(parts)


def render(target: Path) -> str:
    """The HTML text of a run's or a sweep's report."""
    target = Path(target)
    is_sweep = (target / "sweep.json").exists()
    if not is_sweep and not is_run_dir(target):
        raise CnnspecError("is neither a run directory (run.json) nor a sweep directory (sweep.json)",
                           file=str(target))
    rows = collect([target])
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
           f"<title>cnnspec report: {html.escape(target.name)}</title><style>{CSS}</style></head><body>",
           f"<h1>cnnspec {'sweep' if is_sweep else 'run'} {html.escape(target.name)}</h1>",
           f"<p>{html.escape(str(target))}, written {when}</p>", "<h2>Results</h2>", _table(rows)]
    if is_sweep:
        figs = [target / "test_errors.png"] + sorted(target.glob("metric_vs_*.png"))
        out.append("<h2>Comparison</h2>" + "".join(_img(f, f.stem) for f in figs))
        if (target / "best.yaml").exists():
            out.append("<h2>Best trial's spec</h2><details><summary>best.yaml</summary><pre>" +
                       html.escape((target / "best.yaml").read_text(errors="replace")) + "</pre></details>")
        out.append("<h2>Trials</h2>")
        for r in rows:
            out.append(_run_section(Path(r["run_dir"]), f"{r['trial']} ({r['status']})"))
    else:
        out.append(_run_section(target, target.name))
    out.append("</body></html>\n")
    return "\n".join(out)


def write_report(target: Path, output: Path | None = None) -> Path:
    """Write the report (default TARGET/report.html) atomically; returns its path."""
    target = Path(target)
    text = render(target)
    path = Path(output) if output is not None else target / "report.html"
    if path.exists() and path.is_dir():
        raise CnnspecError("is a directory; give an .html file", file=str(path))
    if not path.parent.exists():
        raise CnnspecError("the output folder does not exist", file=str(path.parent))
    atomic_text(path, text)
    return path
