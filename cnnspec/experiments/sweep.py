"""``cnnspec sweep``: plan the trials of a sweep file, run the missing ones on an executor, and write
the comparison (results.csv, results.md, test_errors.png, metric_vs_*.png, best.yaml).

The sweep directory::

    DIR/sweep.json        fingerprint of the sweep file + spec, the trials, pruned trials
    DIR/sweep.yaml        a copy of the sweep file
    DIR/specs/T.yaml      each trial's spec (values filled in: check/train it as is)
    DIR/trials/T/         each trial's ordinary run directory (evaluate/export/predict work on it)
    DIR/outcomes/T.json   each trial's outcome (status, reason, seconds), written by its worker
    DIR/logs/T.log        each worker's output

Resumable: a finished or failed trial is not run again; an interrupted one resumes from its last
finished epoch. A different sweep file is refused for an existing DIR unless ``extend``.
"""
from __future__ import annotations

import hashlib
import math
import signal
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from cnnspec.errors import CnnspecError, SpecError
from cnnspec.experiments.plan import Trial, data_path, plan_trials, trial_spec
from cnnspec.experiments.results import LOWER_IS_BETTER, run_row
from cnnspec.experiments.sweep_table import write_results
from cnnspec.experiments.sweepfile import Sweep, load_sweep
from cnnspec.runs.files import atomic_bytes, atomic_json, atomic_text, read_json

OWN_FILES = ("sweep.json", "sweep.yaml", "results.csv", "results.md", "best.yaml", "test_errors.png")
OWN_DIRS = ("specs", "trials", "outcomes", "logs")
LOCK = ".sweep.lock"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class SweepRun:
    """One invocation of ``cnnspec sweep`` on a directory."""

    def __init__(self, sweep: Sweep, out: Path, extend: bool, retry_failed: bool) -> None:
        self.sweep, self.out, self.retry_failed = sweep, out, retry_failed
        self.state = self._open(extend)
        self.stop_requested = False
        self.trials: dict[str, Trial] = {}

    # -- directory and state --------------------------------------------------------------------
    def _open(self, extend: bool) -> dict:
        out = self.out
        root = out.resolve()
        owned = [root / f for f in OWN_FILES]
        for inp in (Path(self.sweep.file), self.sweep.spec_path):
            r = inp.resolve()
            if r == root / "sweep.yaml" and inp == Path(self.sweep.file):
                continue  # rerunning the sweep's own copy
            if r == root or r in owned or any(r.is_relative_to(root / d) for d in OWN_DIRS):
                raise CnnspecError(f"the sweep directory would overwrite an input ({inp})", file=str(out))
        if out.exists() and not out.is_dir():
            raise CnnspecError("is a file, not a sweep directory", file=str(out))
        fp = self.sweep.fingerprint()
        if (out / "sweep.json").exists():
            try:
                state = read_json(out / "sweep.json")
            except (OSError, ValueError) as exc:
                raise CnnspecError("unreadable sweep.json", file=str(out / "sweep.json")) from exc
            if state.get("fingerprint") != fp and not extend:
                raise CnnspecError(f"was made by a different sweep file or spec (fingerprint "
                                   f"{state.get('fingerprint')}, now {fp}): pass --extend to add the new trials "
                                   "to it, or choose another --out", file=str(out))
            state["fingerprint"] = fp
            return state
        if out.exists() and any(p.name != LOCK for p in out.iterdir()):
            raise CnnspecError("is not empty and not a sweep directory: choose another --out", file=str(out))
        return {"fingerprint": fp, "created": _now(), "trials": [], "pruned": {}}

    def lock(self) -> None:
        """Hold DIR/.sweep.lock until :meth:`unlock` (or this process ends): a second sweep on DIR is refused."""
        from cnnspec.runs.rundir import RunLock, RunLocked

        self.out.mkdir(parents=True, exist_ok=True)
        self._lock = RunLock(self.out, LOCK)
        try:
            self._lock.acquire()
        except RunLocked as exc:
            raise CnnspecError(exc.message.replace("another cnnspec process", "another cnnspec sweep") +
                               " or stop it first", file=str(self.out)) from exc

    def unlock(self) -> None:
        """Release the sweep lock (the file stays, with no pid in it)."""
        if getattr(self, "_lock", None) is not None:
            self._lock.release()

    def _save_state(self) -> None:
        atomic_json(self.out / "sweep.json", self.state)

    def outcome(self, name: str) -> dict:
        """The trial's recorded outcome ({} when none)."""
        p = self.out / "outcomes" / f"{name}.json"
        try:
            return read_json(p) if p.exists() else {}
        except (OSError, ValueError):
            return {}

    def record(self, name: str, outcome: dict) -> None:
        """Write a trial's outcome (the parent's view: crashes, bad values, pruning)."""
        atomic_json(self.out / "outcomes" / f"{name}.json", outcome)

    # -- trials ---------------------------------------------------------------------------------
    def add(self, trials: list[Trial]) -> None:
        """Register trials: write their spec files (refusing a changed one that has a run) and sweep.json."""
        for d in OWN_DIRS:
            (self.out / d).mkdir(parents=True, exist_ok=True)
        known = {t["name"]: t for t in self.state["trials"]}
        for t in trials:
            self.trials[t.name] = t
            if t.kind != "cnn":
                known.setdefault(t.name, {**t.to_json(), "spec_sha": None})
                continue
            text = trial_spec(self.sweep, t)
            sp = self.out / "specs" / f"{t.name}.yaml"
            old = known.get(t.name, {}).get("spec_sha")
            run = self.out / "trials" / t.name
            if old is not None and old != _sha(text) and run.exists() and any(run.iterdir()):
                raise CnnspecError(f"trial {t.name} already ran with other settings; the sweep file changes "
                                   "what it trains: choose another --out", file=str(self.out))
            if old != _sha(text) or not sp.exists():
                atomic_text(sp, text)
                if old is not None:  # settings changed before it ran: forget its outcome
                    (self.out / "outcomes" / f"{t.name}.json").unlink(missing_ok=True)
            known[t.name] = {**t.to_json(), "spec_sha": _sha(text)}
            self._validate(t, sp)
        self.state["trials"] = list(known.values())
        self._save_state()

    def _validate(self, t: Trial, sp: Path) -> None:
        """Bad values (a dropout rate of 2, an unknown optimizer...) fail the trial before it starts."""
        from cnnspec.check.infer import infer
        from cnnspec.spec.loader import load_spec
        from cnnspec.spec.trainconfig import for_spec

        try:
            spec = load_spec(sp)
            for_spec(spec)
            infer(spec)
        except SpecError as exc:
            if not (self.out / "trials" / t.name / "run.json").exists():
                self.record(t.name, {"status": "failed", "reason": f"bad values: {exc}", "seconds": 0.0})


    def status(self, t: Trial, epochs: int | None = None) -> str:
        """finished, failed, diverged, pruned (nothing to do), or todo."""
        if t.name in self.state.get("pruned", {}):
            return "pruned"
        oc = self.outcome(t.name)
        if oc.get("status") in ("failed", "diverged") and not self.retry_failed:
            return oc["status"]
        run = self.out / "trials" / t.name
        info = read_json(run / "run.json") if (run / "run.json").exists() else {}
        if info.get("status") == "diverged" and not self.retry_failed:
            return "diverged"
        if (run / "metrics.json").exists() and info:
            if info.get("status") == "finished" and (epochs is None or info.get("epochs_finished", 0) >= epochs):
                return "finished"
        return "todo"

    def task(self, t: Trial, threads: int, epochs: int | None = None) -> dict:
        """What a worker process gets."""
        d = self.sweep.model.data_settings()
        try:  # for the progress bar only
            total = epochs or (_epochs_of(self, t) if t.kind == "cnn" else None)
        except CnnspecError:
            total = None
        return {"name": t.name, "kind": t.kind, "total_epochs": total, "spec": str(self.out / "specs" / f"{t.name}.yaml"),
                "out": str(self.out / "trials" / t.name), "epochs": epochs, "threads": threads,
                "outcome": str(self.out / "outcomes" / f"{t.name}.json"), "log": str(self.out / "logs" / f"{t.name}.log"),
                "data": d.name, "data_path": data_path(self.sweep), "limit": d.limit, "seed": self.sweep.model.random.seed
                if self.sweep.model.random else 0}

    # -- running --------------------------------------------------------------------------------
    def run_tasks(self, executor, trials: list[Trial], threads: int, show, epochs: int | None = None) -> None:
        """Run the trials that are not done, on the executor."""
        todo = [t for t in trials if self.status(t, epochs) == "todo"]
        if not todo or self.stop_requested:
            return
        for t in todo:  # an outcome of an earlier, interrupted attempt is stale now
            if self.outcome(t.name).get("status") not in ("failed", "diverged"):
                (self.out / "outcomes" / f"{t.name}.json").unlink(missing_ok=True)
            elif self.retry_failed:
                (self.out / "outcomes" / f"{t.name}.json").unlink(missing_ok=True)

        def done(task: dict, code: int) -> None:
            oc = self.outcome(task["name"])
            if not oc:
                from cnnspec.experiments.executors import exit_reason

                st = "interrupted" if self.stop_requested else "failed"
                oc = {"status": st, "reason": exit_reason(code, Path(task["log"])), "seconds": None}
                self.record(task["name"], oc)
            show("done", task=task, outcome=oc)

        executor.run([self.task(t, threads, epochs) for t in todo], done, lambda: self.stop_requested,
                     started=lambda task: show("start", task=task), tick=lambda: show("tick"))

    def metric_of(self, t: Trial) -> float | None:
        """The trial's ranking metric so far (None when it has none)."""
        return run_row(self.out / "trials" / t.name, self.sweep.model.metric)["best_metric"]

    def ranked(self, trials: list[Trial]) -> list[Trial]:
        """Finished trials, best first."""
        sign = 1 if self.sweep.model.metric in LOWER_IS_BETTER else -1
        ok = [(self.metric_of(t), t) for t in trials if self.status(t) == "finished"]
        ok = [(m, t) for m, t in ok if m is not None and math.isfinite(m)]
        return [t for m, t in sorted(ok, key=lambda x: sign * x[0])]


# ----------------------------------------------------------------------------------------------
def check_metric(sweep: Sweep, trials: list[Trial]) -> None:
    """A val_* metric needs validation data in every trial: refused before anything is written."""
    import yaml

    from cnnspec.spec.trainconfig import parse_train

    metric = sweep.model.metric
    if not metric.startswith("val_"):
        return
    for t in trials:
        if t.kind != "cnn":
            continue
        try:
            cfg = parse_train((yaml.safe_load(trial_spec(sweep, t)) or {}).get("train"))
        except (SpecError, yaml.YAMLError):
            continue  # bad values: that trial fails on its own
        if not cfg.has_validation:
            raise sweep.err(f"metric {metric} needs validation data, which trial {t.name} has not: set "
                            "validation_split (or validation) under `train:`, or rank by "
                            f"{metric[4:]} or test_{metric[4:]}", "metric" if "metric" in sweep.doc else "train")


def _epochs_of(run: SweepRun, t: Trial) -> int:
    from cnnspec.spec.loader import load_spec
    from cnnspec.spec.trainconfig import for_spec

    return for_spec(load_spec(run.out / "specs" / f"{t.name}.yaml")).epochs


def _halving(run: SweepRun, executor, trials: list[Trial], threads: int, show) -> None:
    """Successive halving over rungs of min_epochs * eta**k epochs (up to each trial's epochs)."""
    h = run.sweep.model.halving
    alive = [t for t in trials if run.status(t) != "failed"]
    rung = h.min_epochs
    while alive and not run.stop_requested:
        final = max(_epochs_of(run, t) for t in alive)
        rung = min(rung, final)
        run.run_tasks(executor, alive, threads, show, epochs=rung)
        if rung >= final or run.stop_requested:
            return
        ranked = run.ranked(alive)
        keep = ranked[:max(1, math.ceil(len(ranked) / h.eta))]
        for t in alive:
            if t not in keep and run.status(t) == "finished":
                run.state.setdefault("pruned", {})[t.name] = f"stopped by successive halving after {rung} epoch(s)"
        run._save_state()
        alive = keep
        rung *= h.eta


def run_sweep(path: str, out: str | Path, *, executor: str = "local", max_concurrent: int | None = None,
              threads: int | None = None, address: str | None = None, extend: bool = False,
              retry_failed: bool = False, show: Callable[..., None] = lambda *a, **k: None) -> dict[str, Any]:
    """Run a sweep to completion (or until stopped). Returns {"rows", "best", "stopped", "executor", ...}."""
    sweep = load_sweep(path)
    run = SweepRun(sweep, Path(out), extend, retry_failed)
    trials = plan_trials(sweep)
    if max_concurrent is not None and max_concurrent < 1:
        raise CnnspecError("--max-concurrent must be at least 1")
    check_metric(sweep, trials)
    run.lock()
    try:
        return _run_locked(run, sweep, trials, path, executor, max_concurrent, threads, address, show)
    finally:
        run.unlock()


def _run_locked(run, sweep, trials, path, executor, max_concurrent, threads, address, show) -> dict[str, Any]:
    """The body of :func:`run_sweep`, with the sweep directory locked."""
    from cnnspec.experiments.executors import cpu_count, default_concurrency, make_executor

    run.add(trials)
    atomic_bytes(run.out / "sweep.yaml", Path(path).read_bytes())
    n = max_concurrent or default_concurrency(len(trials))
    threads = threads or max(1, cpu_count() // n)
    show("plan", trials=trials, concurrent=n, threads=threads)
    old = {}

    def on_signal(signum, frame):
        run.stop_requested = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        old[sig] = signal.signal(sig, on_signal)
    ex = None
    t0 = time.perf_counter()
    try:
        cnn = [t for t in trials if t.kind == "cnn"]
        if any(run.status(t) == "todo" for t in trials) or (sweep.model.random and sweep.model.random.refine):
            ex = make_executor(executor, n, threads, address)
            show("executor", executor=ex)
        if ex is not None:
            if sweep.model.halving:
                _halving(run, ex, cnn, threads, show)
            else:
                run.run_tasks(ex, cnn, threads, show)
            run.run_tasks(ex, [t for t in trials if t.kind != "cnn"], threads, show)
            ref = sweep.model.random.refine if sweep.model.random else None
            if ref is not None and not run.stop_requested:
                top = [t.values for t in run.ranked(cnn)[:ref.top_k]]
                fine = [t for t in plan_trials(sweep, refine_top=top) if t.stage == "refine"]
                run.add(fine)
                trials += fine
                run.run_tasks(ex, fine, threads, show)
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
        if ex is not None:
            ex.close()
    result = write_results(run.out)
    result.update(stopped=run.stop_requested, executor=executor, concurrent=n, threads=threads,
                  seconds=round(time.perf_counter() - t0, 2),
                  startup_seconds=round(ex.startup_seconds, 2) if ex is not None else 0.0)
    return result


def sweep_columns(path: str, out: str, executor: str = "local", max_concurrent: int | None = None,
                  address: str | None = None, extend: bool = False, retry_failed: bool = False) -> dict:
    """``cnnspec sweep`` for the R bridge: runs the sweep, returns its table as columns."""
    from cnnspec.experiments.results import columns

    res = run_sweep(path, out, executor=executor, max_concurrent=max_concurrent, address=address,
                    extend=extend, retry_failed=retry_failed)
    if res["stopped"]:
        raise CnnspecError(f"sweep stopped; run it again to finish it ({out})")
    return {"columns": columns(res["rows"]), "best": res["best"] or ""}
