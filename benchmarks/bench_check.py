"""Cold start of `cnnspec check` against `python -c "import keras"`, in the same run.

    .venv/bin/python benchmarks/bench_check.py [--runs 7] [--json]

Each measurement is a fresh process (wall time, median of --runs). The goal (issue 2): the
check takes at most a tenth of the time Python needs just to import Keras.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wall(cmd: list[str], runs: int) -> list[float]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        res = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - t0)
        if res.returncode not in (0, 1):
            raise SystemExit(f"{cmd} failed: {res.stderr.decode()[-300:]}")
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    py = sys.executable
    check = wall([py, "-m", "cnnspec", "check", "specs/table3.yaml"], args.runs)
    check_all = wall([py, "-m", "cnnspec", "check", "-q", *sorted(str(p.relative_to(ROOT))
                                                               for p in (ROOT / "specs").glob("*.yaml"))],
                     args.runs)
    base = wall([py, "-m", "cnnspec", "check", "specs/seed002_transfer.yaml#resnet50"], args.runs)
    keras = wall([py, "-c", "import keras"], args.runs)
    res = {"runs": args.runs, "check_table3_s": statistics.median(check),
           "check_all_specs_s": statistics.median(check_all), "import_keras_s": statistics.median(keras),
           "check_resnet50_transfer_s": statistics.median(base)}
    res["ratio_resnet50_check_vs_import_keras"] = res["check_resnet50_transfer_s"] / res["import_keras_s"]
    res["ratio_check_vs_import_keras"] = res["check_table3_s"] / res["import_keras_s"]
    res["goal"] = "ratio <= 0.10"
    res["met"] = res["ratio_check_vs_import_keras"] <= 0.10
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"cnnspec check specs/table3.yaml   median {res['check_table3_s']:.3f} s")
        print(f"cnnspec check -q specs/*.yaml      median {res['check_all_specs_s']:.3f} s")
        print(f"cnnspec check seed002 ResNet50    median {res['check_resnet50_transfer_s']:.3f} s "
              f"(ratio to import keras {res['ratio_resnet50_check_vs_import_keras']:.3f})")
        print(f"python -c 'import keras'           median {res['import_keras_s']:.3f} s")
        print(f"ratio check / import keras         {res['ratio_check_vs_import_keras']:.3f} "
              f"(goal <= 0.10: {'met' if res['met'] else 'NOT met'})")


if __name__ == "__main__":
    main()
