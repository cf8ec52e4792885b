"""Cold start of `cnnspec check` against `python -c "import keras"`, in the same run.

    .venv/bin/python benchmarks/bench_check.py [--runs 7] [--json]

Each measurement is a fresh process; the commands alternate round by round (so a busy moment of a
shared machine hits all of them) and each gets the median of --runs wall times and of --runs CPU
times (user + system of the child). The goal (issue 14): the check takes at most 5% of the time
Python needs just to import Keras.

The check runs as a user runs it after ``scripts/setup.sh``: the ``cnnspec`` console script of the
venv (``python -m cnnspec`` when there is none), this tree's code first on the path, and Python's
bytecode cache on (``PYTHONDONTWRITEBYTECODE`` is removed from the children's environment: a user's
install has ``__pycache__``; one unmeasured warm-up round writes it, for Keras too).
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


def measure(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one fresh process running ``cmd``."""
    import resource

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode not in (0, 1):
        raise SystemExit(f"{cmd} failed: {res.stderr.decode()[-300:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    py = sys.executable
    script = Path(py).with_name("cnnspec")
    cli = [str(script)] if script.exists() else [py, "-m", "cnnspec"]
    cmds = {
        "check_table3": [*cli, "check", "specs/table3.yaml"],
        "check_all_specs": [*cli, "check", "-q",
                            *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").glob("*.yaml"))],
        "check_resnet50_transfer": [*cli, "check", "specs/seed002_transfer.yaml#resnet50"],
        "import_keras": [py, "-c", "import keras"],
    }
    for cmd in cmds.values():  # warm-up: bytecode caches written, files in the page cache
        measure(cmd)
    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
    load_before = os.getloadavg()[0]
    for _ in range(args.runs):
        for k, cmd in cmds.items():
            samples[k].append(measure(cmd))
    res = {"runs": args.runs, "cli": " ".join(Path(c).name for c in cli),
           "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    for k, ts in samples.items():
        res[f"{k}_s"] = statistics.median(t[0] for t in ts)
        res[f"{k}_cpu_s"] = statistics.median(t[1] for t in ts)
    res["ratio_resnet50_check_vs_import_keras"] = res["check_resnet50_transfer_s"] / res["import_keras_s"]
    res["ratio_check_vs_import_keras"] = res["check_table3_s"] / res["import_keras_s"]
    res["cpu_ratio_check_vs_import_keras"] = res["check_table3_cpu_s"] / res["import_keras_cpu_s"]
    res["goal"] = "ratio <= 0.05"
    res["met"] = res["ratio_check_vs_import_keras"] <= 0.05
    res["met_cpu"] = res["cpu_ratio_check_vs_import_keras"] <= 0.05
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"load average {res['load_average'][0]} -> {res['load_average'][1]}; CLI: {res['cli']}")
        print(f"cnnspec check specs/table3.yaml   median {res['check_table3_s']:.3f} s "
              f"(CPU {res['check_table3_cpu_s']:.3f} s)")
        print(f"cnnspec check -q specs/*.yaml      median {res['check_all_specs_s']:.3f} s")
        print(f"cnnspec check seed002 ResNet50    median {res['check_resnet50_transfer_s']:.3f} s "
              f"(ratio to import keras {res['ratio_resnet50_check_vs_import_keras']:.3f})")
        print(f"python -c 'import keras'           median {res['import_keras_s']:.3f} s "
              f"(CPU {res['import_keras_cpu_s']:.3f} s)")
        print(f"ratio check / import keras         {res['ratio_check_vs_import_keras']:.3f} wall, "
              f"{res['cpu_ratio_check_vs_import_keras']:.3f} CPU (goal <= 0.05: wall {'met' if res['met'] else 'NOT met'}, "
              f"CPU {'met' if res['met_cpu'] else 'NOT met'})")


if __name__ == "__main__":
    main()
