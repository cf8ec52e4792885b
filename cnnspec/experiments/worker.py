"""One trial in its own process: ``python -m cnnspec.experiments.worker TASK_JSON``.

The task names a trial spec (or a baseline), the run directory and where to write the outcome.
TensorFlow's thread pools are sized before any op runs (``threads``), so concurrent trials on a
few cores do not thrash. SIGTERM (the sweep stopping, or its death via PR_SET_PDEATHSIG) stops the
trial like Ctrl-C: the run records ``interrupted`` and resumes from its last finished epoch.
The outcome (status, reason, seconds) is written atomically to ``task["outcome"]``.
"""
from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from pathlib import Path


def _threads(n: int | None) -> None:
    if not n:
        return
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(n)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(min(n, 2))


def diverged(run_dir: Path) -> str | None:
    """The reason a finished run counts as diverged (a non-finite training loss), else None."""
    from cnnspec.runs.files import read_history

    for row in read_history(run_dir / "history.csv"):
        loss = row.get("loss")
        if loss is None or (isinstance(loss, float) and not math.isfinite(loss)) or isinstance(loss, str):
            return f"diverged: training loss {loss} in epoch {row.get('epoch')}"
    return None


def run_cnn(task: dict) -> dict:
    """Train (or resume) the trial's run directory through the public Python API, with the run's own
    SIGTERM handling (a stop is remembered: one swallowed inside TensorFlow still ends the run)."""
    from cnnspec.errors import CnnspecError
    from cnnspec.keras.training import train
    from cnnspec.runs.files import read_json

    out = Path(task["out"])
    epochs = task.get("epochs")
    status = {}
    if (out / "run.json").exists():
        status = read_json(out / "run.json")
    try:
        if (out / "config.json").exists() and (out / "spec.yaml").exists():
            if status.get("status") == "finished" and (out / "metrics.json").exists() and (
                    not epochs or status.get("epochs_finished", 0) >= epochs):
                res = {"status": "finished"}
            else:
                res = train(str(out), resume=True, epochs=epochs, handle_signals=True)
        else:  # new, or killed before config.json was written (--force replaces only a marked run)
            from cnnspec.runs.rundir import RunDir

            res = train(task["spec"], out=str(out), epochs=epochs, force=RunDir(out).looks_like_run(),
                        handle_signals=True)
    except CnnspecError as exc:
        from cnnspec.runs.rundir import RunDiverged, RunInterrupted, RunLocked

        # interrupted and locked trials are run again by the next `cnnspec sweep`; failed ones are not
        st = ("interrupted" if isinstance(exc, (RunInterrupted, RunLocked)) else
              "diverged" if isinstance(exc, RunDiverged) else "failed")
        return {"status": st, "reason": " ".join(str(exc).split())[:400]}
    why = diverged(out)
    if why:
        return {"status": "diverged", "reason": why}
    return {"status": res.get("status", "finished"), "reason": None}


def main(argv: list[str]) -> int:
    """Run one task; exit 0 when an outcome was written."""
    task = json.loads(argv[0])
    _threads(task.get("threads"))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    t0 = time.time()
    try:
        if task.get("kind", "cnn") == "cnn":
            from cnnspec.keras.util import set_thread_pools

            set_thread_pools(task.get("threads"))
            outcome = run_cnn(task)
        else:
            from cnnspec.experiments.baselines import run_baseline

            run_baseline(task["kind"], task["data"], task.get("data_path"), task.get("limit"), task["out"],
                         seed=task.get("seed", 0), n_jobs=task.get("threads") or 1, force=True)
            outcome = {"status": "finished", "reason": None}
    except KeyboardInterrupt:
        outcome = {"status": "interrupted", "reason": "stopped by a signal"}
    except Exception as exc:  # noqa: BLE001 - recorded as the trial's reason, the sweep goes on
        outcome = {"status": "failed", "reason": f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}"}
    outcome["seconds"] = round(time.time() - t0, 2)
    outcome["pid"] = os.getpid()
    from cnnspec.runs.files import atomic_json

    atomic_json(task["outcome"], outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
