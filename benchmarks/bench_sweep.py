"""Sweep throughput: one 4-trial sweep (2 variants x 2 learning rates, embedded sample) run with 1 and
with 2 concurrent trials on the local executor, and with 2 on a local Ray started for the sweep.

    python benchmarks/bench_sweep.py [--limit 500] [--epochs 1] [--out /tmp/bench_sweep] [--no-ray]

Prints one JSON document and the Markdown rows for docs/results.md: wall seconds of the sweep, trials
per minute, the mean seconds of a trial's process (TensorFlow import, data, training, evaluation) and
of its training run (run_seconds), and Ray's start-up. Figures are ratios against the 1-concurrent run
measured in the same invocation.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SWEEP = """spec: {spec}
data: {{name: sample, limit: {limit}}}
train: {{epochs: {epochs}}}
grid:
  variant: [A, B]
  train.learning_rate: [0.001, 0.01]
"""


def one(sweep_file: Path, out: Path, executor: str, concurrent: int) -> dict:
    from cnnspec.experiments.sweep import run_sweep
    from cnnspec.runs.files import read_json

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    res = run_sweep(str(sweep_file), out, executor=executor, max_concurrent=concurrent)
    wall = time.perf_counter() - t0
    rows = res["rows"]
    assert all(r["status"] == "finished" for r in rows), [(r["trial"], r["status"], r["reason"]) for r in rows]
    proc = [read_json(out / "outcomes" / f"{r['trial']}.json")["seconds"] for r in rows]
    return {"executor": executor, "concurrent": concurrent, "threads": res["threads"], "trials": len(rows),
            "wall_seconds": round(wall, 1), "trials_per_minute": round(60 * len(rows) / wall, 2),
            "trial_process_seconds": round(statistics.fmean(proc), 1),
            "trial_run_seconds": round(statistics.fmean(r["seconds"] for r in rows), 1),
            "startup_seconds": res["startup_seconds"],
            "test_accuracy": [round(r["test_accuracy"], 4) for r in rows]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--out", default="/tmp/bench_sweep")
    ap.add_argument("--no-ray", action="store_true")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    sf = out / "sweep.yaml"
    sf.write_text(SWEEP.format(spec=ROOT / "specs" / "sweeps" / "tiny_family.yaml", limit=a.limit, epochs=a.epochs))
    results = [one(sf, out / "local1", "local", 1), one(sf, out / "local2", "local", 2)]
    if not a.no_ray:
        results.append(one(sf, out / "ray2", "ray", 2))
    base = results[0]["wall_seconds"]
    for r in results:
        r["speedup_vs_local1"] = round(base / r["wall_seconds"], 2)
    print(json.dumps(results, indent=2))
    print("| executor | concurrent x threads | sweep wall s | trials/min | s per trial process | s per run | "
          "start-up s | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['executor']} | {r['concurrent']} x {r['threads']} | {r['wall_seconds']} | {r['trials_per_minute']} "
              f"| {r['trial_process_seconds']} | {r['trial_run_seconds']} | {r['startup_seconds']} | "
              f"{r['speedup_vs_local1']} |")


if __name__ == "__main__":
    main()
