"""Training runs: spec + train section + flags -> a run directory (see docs/training.md).

A run goes through short phases. :func:`plan` checks everything that can be refused (spec,
train section, flags, data, the run directory; for a resume also the saved records, the saved
spec and the data's fingerprint) before TensorFlow is imported and before any file is written.
:class:`_Run` then builds (or loads) the model, and only then creates and locks the run
directory (cnnspec.runs.rundir), trains, evaluates and records. Every exit path after the first
record writes its real status to run.json: finished, interrupted, diverged or failed.
"""
from __future__ import annotations

import math
import os
import platform
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np

from cnnspec import __version__
from cnnspec.errors import CnnspecError
from cnnspec.keras.callbacks import EpochLogic, RunState, make_callbacks  # noqa: F401 (RunState: API)
from cnnspec.keras.planning import Plan, Request, plan
from cnnspec.keras.stopping import StopSignals
from cnnspec.keras.tboard import tensorboard_callbacks
from cnnspec.runs import rundir as rd
from cnnspec.runs.rundir import RunDiverged, RunDir, RunFailed, RunInterrupted, now
from cnnspec.spec.trainconfig import TrainConfig

OWN_FILES = rd.OWN_FILES
__all__ = ["Plan", "Request", "plan", "run_training", "train", "RunState"]
# the names of the run outcomes before they moved to cnnspec.runs.rundir
Interrupted, TrainingFailed, Diverged = RunInterrupted, RunFailed, RunDiverged


def versions() -> dict:
    """Versions recorded in run.json."""
    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "cnnspec": __version__, "platform": platform.platform()}


def make_optimizer(cfg: TrainConfig):
    """The train section's optimizer as a Keras optimizer."""
    import keras

    from cnnspec.spec.trainconfig import KERAS_OPTIMIZERS

    opt = cfg.optimizer_config()
    return getattr(keras.optimizers, KERAS_OPTIMIZERS[opt.name])(**opt.keras_kwargs())


def make_metrics(cfg: TrainConfig):
    """The train section's metrics as Keras metrics."""
    import keras

    sparse = cfg.loss.startswith("sparse")
    out = []
    for m in cfg.metrics:
        if m == "accuracy":
            out.append("accuracy")
        elif m == "top_5_accuracy":
            cls = keras.metrics.SparseTopKCategoricalAccuracy if sparse else keras.metrics.TopKCategoricalAccuracy
            out.append(cls(k=5, name="top_5_accuracy"))
    return out


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"


class _Run:
    """The phases of one run after :func:`plan`: TensorFlow, model, run directory, fit, finish."""

    def __init__(self, p: Plan, stop: StopSignals, progress_factory=None, log: Callable[[str], None] = print):
        self.p, self.stop, self.progress_factory, self.log = p, stop, progress_factory, log
        self.t_start = time.perf_counter()
        self.earlier_seconds = p.state.wall_seconds  # 0 for a new run; the earlier attempts' for a resume
        self.info: dict | None = None   # run.json once written
        self.progress = None

    # -- phase 1: TensorFlow and the model (nothing written) ----------------------------------
    def setup(self) -> None:
        """Devices, strategy, which task writes, and the compiled model (built or loaded)."""
        from cnnspec.keras.distribute import configure_devices, devices_of, is_chief, make_strategy
        from cnnspec.keras.util import import_keras_quietly

        import_keras_quietly()
        configure_devices()
        import warnings

        warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")
        import keras

        p = self.p
        self.strategy = make_strategy(p.distribute)
        self.chief, widx = is_chief() if p.distribute == "multiworker" else (True, 0)
        if self.chief:
            self.run = p.run
        else:  # a non-chief worker's saves (needed by the collective ops) go to a throwaway folder
            import tempfile

            self.run = RunDir(tempfile.mkdtemp(prefix=f"cnnspec-worker{widx}-"))
        self.replicas, self.devices = devices_of(self.strategy)
        keras.utils.set_random_seed(p.cfg.seed + p.state.epoch)
        if self.strategy is not None:
            with self.strategy.scope():
                self.model = self._model()
        else:
            self.model = self._model()

    def _model(self):
        from cnnspec.keras.build import build_model
        from cnnspec.keras.planning import load_resume_model

        p = self.p
        if p.resuming:
            return load_resume_model(p)
        model = build_model(p.spec, overrides=p.cfg.overrides())
        from cnnspec.keras.build import adapt_normalization  # Normalization rows without mean/variance

        adapt_normalization(model, p.data.x_train, p.data.scale, float(p.cfg.offset))
        if len(model.outputs) > 1:  # one loss (weighted) and metric set per head, keyed by output name
            from cnnspec.keras.compiled import head_compile_args

            model.compile(optimizer=make_optimizer(p.cfg), **head_compile_args(model, p.cfg))
        else:
            model.compile(optimizer=make_optimizer(p.cfg), loss=p.cfg.loss, metrics=make_metrics(p.cfg))
        return model

    # -- phase 2: the run directory (created and locked only now) -----------------------------
    def open_dir(self) -> None:
        """Create and lock the run directory, re-check it under the lock, write the first records."""
        p, run = self.p, self.run
        run.create()
        run.lock.acquire()
        if self.chief:
            from cnnspec.keras.planning import recheck_locked

            recheck_locked(p)
        if p.replacing:
            self.log(f"--force: replacing the {p.replacing} in {run}")
            run.clear_own_files()
        run.clean_temporaries()
        run.mark()
        if not p.req.resume:
            run.write_bytes(rd.SPEC_YAML, p.spec_bytes)
            run.write_json(rd.CONFIG_JSON, {
                "spec": p.spec.label, "variant": p.spec.variant, "spec_fingerprint": p.spec.fingerprint(),
                "distribute": p.distribute or "none", "scale": p.data.scale,
                "train": p.cfg.model_dump(mode="json", exclude_none=True), "resolved": p.cfg.resolved()})
        self.info = run.record(self._run_info(), "running")

    def _run_info(self) -> dict:
        p = self.p
        info = {
            "status": "running", "spec": p.spec.label,
            "spec_file": str(p.req.spec_path or p.run / rd.SPEC_YAML), "spec_fingerprint": p.spec.fingerprint(),
            "seed": p.cfg.seed, "data": p.data.record(), "versions": versions(),
            "distribute": p.distribute or "none", "num_replicas_in_sync": self.replicas,
            "devices": self.devices, "start_time": now(), "end_time": None, "command": sys.argv[1:],
            "resumed": []}
        if p.req.resume:
            info["start_time"] = p.prev.get("start_time", info["start_time"])
            info["resumed"] = list(p.prev.get("resumed") or []) + [{"at_epoch": p.state.epoch, "time": now()}]
            info["spec_file"] = p.prev.get("spec_file", str(p.run / rd.SPEC_YAML))
            info["command"] = list(p.prev.get("command") or []) + ["--resume"]
        return info

    def seconds(self) -> float:
        """Wall seconds of the run so far, over every attempt: a resumed run adds the earlier attempts' time
        up to their last finished epoch (state.json's ``wall_seconds``)."""
        return round(self.earlier_seconds + time.perf_counter() - self.t_start, 3)

    # -- phase 3: fit ---------------------------------------------------------------------------
    def fit(self) -> None:
        """model.fit from the resume point (phase 1, then phase 2 of a fine_tune run); raises
        RunDiverged when the loss stops being finite."""
        import contextlib

        p, st = self.p, self.p.state
        ft = p.cfg.fine_tune
        if st.epoch < p.cfg.epochs and not st.stopped_early:
            self._fit_phase(p.cfg.epochs, phase=1 if ft else None)
        if ft is not None and st.epoch < p.cfg.epochs + ft.epochs and not st.stopped_early:
            from cnnspec.keras.finetune import start_phase2

            with self.strategy.scope() if self.strategy is not None else contextlib.nullcontext():
                start_phase2(self.model, p.cfg, ft, make_optimizer, make_metrics)
            self._fit_phase(p.cfg.epochs + ft.epochs, phase=2, lr=ft.learning_rate)

    def _fit_phase(self, epochs: int, phase: int | None = None, lr: float | None = None) -> None:
        """model.fit up to ``epochs`` from the resume point (one phase of a two-phase run)."""
        from cnnspec.keras.compiled import heads_feed
        from cnnspec.keras.pipeline import augmenter, make_dataset

        p, st = self.p, self.p.state
        d, dist = p.data, self.strategy is not None
        feed = heads_feed(self.model, p.cfg)
        train_ds = make_dataset(d.x_train, d.y_train, p.cfg, d.scale, units=d.num_outputs, training=True,
                                epoch_seed=st.epoch, aug=augmenter(p.cfg, p.spec.input_shape), distributed=dist,
                                heads=feed)
        val_ds = None if d.x_val is None else make_dataset(d.x_val, d.y_val, p.cfg, d.scale, units=d.num_outputs,
                                                           training=False, distributed=dist, heads=feed)
        steps = math.ceil(len(d.y_train) / p.cfg.batch_size)
        self.progress = self.progress_factory(epochs, steps) if self.progress_factory else None
        logic = EpochLogic(p.cfg, st, p.history, len(d.y_train), rundir=self.run, save=self._save,
                           progress=self.progress, stop=self.stop, clock=self.seconds)
        logic.phase = phase
        if feed:  # several outputs: history's accuracy/loss columns of the main (first) head stay filled
            logic.main_head = feed[0][0]
        if lr is not None:
            logic.base_lr = lr
        t_fit = time.perf_counter()
        try:
            self.model.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=st.epoch,
                           callbacks=[make_callbacks(logic), *tensorboard_callbacks(self.run)], verbose=0)
        finally:
            st.fit_seconds += time.perf_counter() - t_fit
        self.stop.check()
        if logic.diverged:
            raise RunDiverged(f"diverged: {logic.diverged}; stopped after {st.epoch} good epoch(s) (lower the "
                              "learning rate and start a new run)", file=str(p.run))

    def _save(self, name: str) -> None:
        from cnnspec.runs.files import save_keras_atomic

        save_keras_atomic(self.model, self.run / name)

    # -- phase 4: evaluate the best model and record --------------------------------------------
    def finish(self) -> dict:
        """Test-split metrics of model.keras; metrics.json, sidecar, plots, run.json finished."""
        import keras

        from cnnspec.keras.evaluate import test_split_metrics
        from cnnspec.runs.modelmeta import make_meta

        p, st, run = self.p, self.p.state, self.run
        if not (run / rd.MODEL).exists():
            self._save(rd.MODEL)
        best = keras.saving.load_model(str(run / rd.MODEL))
        m, eval_secs = test_split_metrics(best, p.data, p.cfg)
        self.stop.check()
        metrics = self._metrics(m, eval_secs)
        run.write_json(rd.METRICS_JSON, metrics)
        run.write_json(rd.SIDECAR, make_meta(p.spec, p.data.ds.class_names, p.data.scale, float(p.cfg.offset)))
        self._plots(m)
        run.record(self.info, "finished", seconds=metrics["run_seconds"], epochs_finished=st.epoch, stopped_early=st.stopped_early,
                   best_epoch=st.best_epoch, test_accuracy=m["accuracy"], test_loss=m["loss"])
        return {"run_dir": str(p.run), "status": "finished", "epochs_finished": st.epoch,
                "best_epoch": st.best_epoch, "test_accuracy": m["accuracy"], "test_loss": m["loss"],
                "train_images_per_second": metrics["train_images_per_second"],
                "num_replicas_in_sync": self.replicas, "metrics": metrics}

    def _metrics(self, m: dict, eval_secs: float) -> dict:
        p, st = self.p, self.p.state
        return {"dataset": p.data.ds.name, "split": "test", "model": rd.MODEL, "best_epoch": st.best_epoch,
                **{k: m[k] for k in ("n", "loss", "accuracy", "macro_avg", "class_names", "per_class",
                                     "confusion_matrix")},
                **({"heads": m["heads"]} if "heads" in m else {}),  # several outputs: each head's test metrics
                "epochs_finished": st.epoch, "stopped_early": st.stopped_early,
                "run_seconds": self.seconds(),
                "train_seconds": round(st.train_seconds, 3), "fit_seconds": round(st.fit_seconds, 3),
                "train_images": int(len(p.data.y_train)),
                "train_images_per_second": round(st.images_seen / st.train_seconds, 1) if st.train_seconds else None,
                "eval_images_per_second": round(m["n"] / eval_secs, 1) if eval_secs else None}

    def _plots(self, m: dict) -> None:
        from cnnspec.runs.metrics import plot_confusion, plot_learning_curves

        p = self.p
        plot_learning_curves(p.history, self.run / rd.PLOTS[0], f"{p.spec.label} on {p.data.ds.name}")
        plot_confusion(m["confusion_matrix"], m["class_names"], self.run / rd.PLOTS[1],
                       f"{p.spec.label}: test accuracy {m['accuracy']:.4f}")

    # -- the whole run ----------------------------------------------------------------------------
    def execute(self) -> dict:
        """All phases; once run.json exists, every way out records the run's real status."""
        self.setup()
        try:
            self.open_dir()
            self.fit()
            return self.finish()
        except BaseException as exc:
            new = self._record_end(exc)
            if new is exc:
                raise
            raise new from exc
        finally:
            if self.progress:
                self.progress("close")
            self.run.lock.release()

    def _record_end(self, exc: BaseException) -> BaseException:
        """Write run.json's status for ``exc``; returns the exception to raise."""
        p, st = self.p, self.p.state
        if self.info is None:  # nothing recorded yet: nothing to mark
            return exc
        done = {"epochs_finished": st.epoch}
        if isinstance(exc, (KeyboardInterrupt, RunInterrupted)):
            self._safe_record("interrupted", reason=self.stop.name, **done)
            return RunInterrupted(f"interrupted ({self.stop.name}) after {st.epoch} finished epoch(s) of "
                                  f"{p.cfg.epochs}; continue with: cnnspec train --resume {p.run}")
        if isinstance(exc, RunDiverged):
            self._safe_record("diverged", reason=exc.message, **done)
            return exc
        self._safe_record("failed", error=_short(exc), **done)
        if isinstance(exc, CnnspecError) or not isinstance(exc, Exception) or os.environ.get("CNNSPEC_DEBUG"):
            return exc
        return RunFailed(f"training failed after {st.epoch} finished epoch(s): {_short(exc)}", file=str(p.run))

    def _safe_record(self, status: str, **fields) -> None:
        with self.stop.deferred():
            try:
                self.run.record(self.info, status, seconds=self.seconds(), **fields)
            except OSError as err:  # a full disk must not hide the original failure
                self.log(f"could not record status {status} in run.json: {err}")


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


def run_training(req: Request, *, progress_factory=None, log: Callable[[str], None] = _stderr,
                 handle_signals: bool = True) -> dict:
    """Plan, train, evaluate and record. ``handle_signals``: install SIGINT/SIGTERM handlers for the
    run (the CLI); the Python API leaves the host's handlers alone (Ctrl-C still interrupts).
    ``log`` receives notes for the user (what --force replaces)."""
    p = plan(req)
    try:
        with StopSignals(enabled=handle_signals) as stop:
            return _Run(p, stop, progress_factory, log).execute()
    finally:
        p.run.lock.release()


def default_out(spec_path: str) -> str:
    """``runs/STEM-YYYYmmdd-HHMMSS`` for a run without --out (Python API)."""
    stem = Path(str(spec_path).split("#")[0]).stem
    return str(Path("runs") / f"{stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}")


def train(spec_path: str, data: str | None = None, out: str | None = None, epochs: int | None = None,
          batch_size: int | None = None, limit: int | None = None, *, resume: bool = False, force: bool = False,
          distribute: str | None = None, handle_signals: bool = False, **flags) -> dict:
    """Python API (used by the R bridge): the same as ``cnnspec train``, without progress output.
    ``handle_signals=True`` (a process of its own, as a sweep's worker): SIGINT/SIGTERM stop the run
    as in the CLI, remembered even when TensorFlow swallows the KeyboardInterrupt.

    ``flags`` are other command-line options by their train-section names (``seed``,
    ``learning_rate``, ``optimizer``, ``validation_split``, ``validation``, ``data_path``).
    ``train(RUN_DIR, resume=True)`` continues a run; ``train(SPEC, out=RUN_DIR, resume=True)``
    also checks that SPEC is the run's spec. Returns the summary dict (``run_dir``, ``status``,
    ``test_accuracy``, ``metrics``, ...); raises a one-line CnnspecError on bad input.
    """
    allowed = {"seed", "learning_rate", "optimizer", "validation_split", "validation", "data_path"}
    unknown = sorted(set(flags) - allowed)
    if unknown:
        raise CnnspecError(f"train() got unknown option(s) {', '.join(unknown)}; options: data, out, epochs, "
                           f"batch_size, limit, {', '.join(sorted(allowed))}, resume, force, distribute")
    spec = None if resume and out is None else str(spec_path)
    if resume and out is None:
        out = str(spec_path)  # train(RUN_DIR, resume=True)
    if out is None:
        out = default_out(str(spec_path))
    for name, v in (("epochs", epochs), ("batch_size", batch_size), ("limit", limit)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
            raise CnnspecError(f"{name} must be a positive whole number, got {v!r}")
    fl = {"dataset": data, "epochs": epochs, "batch_size": batch_size, "limit": limit, **flags}
    req = Request(spec_path=spec, out=Path(out), flags=fl, resume=resume, force=force, distribute=distribute)
    return run_training(req, handle_signals=handle_signals)
