"""What happens at each epoch of a run: learning-rate schedules, checkpointing, early stopping,
divergence (a NaN/inf loss) and the resume point. The logic is plain Python (:class:`EpochLogic`);
:func:`make_callbacks` wraps it in the one Keras callback a run uses."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

from cnnspec.spec.trainconfig import TrainConfig


@dataclass
class RunState:
    """What state.json holds: everything beyond last.keras needed to continue."""

    epoch: int = 0                      # finished epochs
    best: float | None = None           # checkpoint monitor's best value
    best_epoch: int | None = None
    es_best: float | None = None        # early stopping
    es_wait: int = 0
    plateau_best: float | None = None   # reduce_on_plateau
    plateau_wait: int = 0
    lr: float | None = None             # learning rate for the next epoch
    stopped_early: bool = False
    train_seconds: float = 0.0
    fit_seconds: float = 0.0            # wall time inside model.fit (callbacks and saves included)
    images_seen: int = 0
    wall_seconds: float = 0.0           # the run's wall time up to this epoch's end, over every attempt

    def to_json(self) -> dict:
        """The state.json object."""
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, d: dict) -> "RunState":
        """Parse state.json, refusing wrong types (a corrupt record) with ValueError."""
        kw = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k, v in kw.items():
            default = cls.__dataclass_fields__[k].default
            ok = (isinstance(v, bool) if isinstance(default, bool) else
                  v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)))
            if not ok or (k == "epoch" and (not isinstance(v, int) or v < 0)):
                raise ValueError(f"{k} = {v!r} is not valid")
        return cls(**kw)


def better(mode: str, monitor: str, value: float | None, best: float | None, min_delta: float = 0.0) -> bool:
    """Whether ``value`` improves on ``best`` for ``monitor`` (mode auto: max for accuracies)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best is None:
        return True
    if mode == "auto":
        mode = "max" if "acc" in monitor else "min"
    return value > best + min_delta if mode == "max" else value < best - min_delta


def schedule_lr(cfg: TrainConfig, base: float, epoch: int, state: RunState) -> float:
    """Learning rate for 0-based ``epoch`` (warm-up first, then the schedule counted from its end)."""
    s = cfg.lr_schedule
    if s is None:
        return base
    warm = getattr(s, "warmup_epochs", 0)
    if epoch < warm:
        return base * (s.warmup_start + (1 - s.warmup_start) * epoch / warm)
    e = epoch - warm
    if s.type == "step":
        return base * s.factor ** (e // s.every)
    if s.type == "exponential":
        return base * s.rate ** e
    if s.type == "cosine":
        return s.min_lr + (base - s.min_lr) * 0.5 * (1 + math.cos(math.pi * e / max(1, cfg.epochs - warm)))
    if s.type == "warmup":
        return base
    return state.lr if state.lr is not None else base  # reduce_on_plateau


def non_finite(value) -> bool:
    """True for NaN or +-inf (a diverged loss)."""
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


class EpochLogic:
    """Per-epoch bookkeeping of a run, independent of Keras (the callback delegates here).

    ``rundir`` (a :class:`cnnspec.runs.rundir.RunDir`, None on non-writing workers) receives
    model.keras and the resume point; ``save(name)`` saves the model there atomically."""

    def __init__(self, cfg: TrainConfig, state: RunState, history: list[dict], n_train: int, *,
                 rundir=None, save: Callable[[str], None] | None = None, progress: Callable | None = None,
                 stop=None, clock: Callable[[], float] | None = None):
        self.cfg, self.state, self.history, self.n_train = cfg, state, history, n_train
        self.clock = clock  # the run's wall seconds so far (state.wall_seconds at each epoch's end)
        self.rundir, self.save, self.progress, self.stop = rundir, save, progress, stop
        self.base_lr = cfg.optimizer_config().keras_kwargs()["learning_rate"]
        self.lr = self.base_lr
        self.t0 = 0.0
        self.diverged: str | None = None
        self.phase: int | None = None  # 1 or 2 in a two-phase (fine_tune) run
        self.main_head: str | None = None  # a model with several outputs: the first output's name

    def begin(self, epoch: int) -> float:
        """Start 0-based ``epoch``; returns its learning rate."""
        self.lr = schedule_lr(self.cfg, self.base_lr, epoch, self.state)
        self.t0 = time.perf_counter()
        if self.progress:
            self.progress("begin", epoch=epoch + 1)
        return self.lr

    def check_loss(self, epoch: int, logs: dict | None, batch: int | None = None) -> bool:
        """Record divergence when the loss is NaN/inf; True means stop training now."""
        loss = (logs or {}).get("loss")
        if self.diverged is None and loss is not None and non_finite(loss):
            where = f"epoch {epoch + 1}" + (f", batch {batch + 1}" if batch is not None else "")
            self.diverged = f"the training loss became {float(loss)} in {where}"
        return self.diverged is not None

    def end(self, epoch: int, logs: dict) -> bool:
        """Finish 0-based ``epoch``: record, checkpoint, schedule, write the resume point.

        Returns True when training should stop (early stopping or divergence)."""
        if self.check_loss(epoch, logs):
            return True  # the resume point stays at the last good epoch
        secs = time.perf_counter() - self.t0
        logs = {k: float(v) for k, v in logs.items()}
        if self.main_head is not None:  # Keras names each head's metrics '<head>_accuracy'
            for k in ("accuracy", "val_accuracy"):
                head_key = k.replace("accuracy", f"{self.main_head}_accuracy")
                if k not in logs and head_key in logs:
                    logs[k] = logs[head_key]
        row = {"epoch": epoch + 1, "loss": logs.get("loss"), "accuracy": logs.get("accuracy"),
               "val_loss": logs.get("val_loss"), "val_accuracy": logs.get("val_accuracy"),
               "lr": float(self.lr), "seconds": round(secs, 3)}
        row.update({k: v for k, v in sorted(logs.items()) if k not in row and k != "learning_rate"})
        if self.phase is not None:
            row["phase"] = self.phase
        st = self.state
        # a stop (Ctrl-C) waits until the epoch is committed: the state in memory, run.json's
        # epochs_finished and the resume point on disk never disagree
        with self.stop.deferred() if self.stop is not None else _nothing():
            st.epoch, st.train_seconds = epoch + 1, st.train_seconds + secs
            st.images_seen += self.n_train
            if self.clock is not None:
                st.wall_seconds = self.clock()
            self._checkpoint(epoch, logs)
            self._plateau(logs)
            stop = self._early_stopping(epoch, logs)
            self.history.append(row)
            self._commit()
        if self.progress:
            self.progress("end", epoch=epoch + 1, row=row)
        if self.stop is not None:
            self.stop.check()  # a stop whose KeyboardInterrupt got lost inside TensorFlow
        return stop

    def _save(self, name: str) -> None:
        if self.save is not None:
            self.save(name)

    def _checkpoint(self, epoch: int, logs: dict) -> None:
        """model.keras: the best so far by the checkpoint monitor, else the latest."""
        ck, es, st = self.cfg.checkpoint_config(), self.cfg.early_stopping, self.state
        if ck is not None:
            if better(ck.mode, ck.monitor, logs.get(ck.monitor), st.best):
                st.best, st.best_epoch = logs.get(ck.monitor), epoch + 1
                self._save("model.keras")
        elif es is None or not es.restore_best_weights:  # else saved when early stopping's monitor improves
            self._save("model.keras")
            st.best_epoch = epoch + 1

    def _plateau(self, logs: dict) -> None:
        """reduce_on_plateau: decides the next epoch's learning rate."""
        s, st = self.cfg.lr_schedule, self.state
        if s is None or s.type != "reduce_on_plateau":
            return
        cur = self.lr
        if better(s.mode, s.monitor, logs.get(s.monitor), st.plateau_best, s.min_delta):
            st.plateau_best, st.plateau_wait = logs.get(s.monitor), 0
        else:
            st.plateau_wait += 1
            if st.plateau_wait >= s.patience and s.patience >= 0:
                cur = max(cur * s.factor, s.min_lr)
                st.plateau_wait = 0
        st.lr = cur

    def _early_stopping(self, epoch: int, logs: dict) -> bool:
        es, st = self.cfg.early_stopping, self.state
        if es is None:
            return False
        if better(es.mode, es.monitor, logs.get(es.monitor), st.es_best, es.min_delta):
            st.es_best, st.es_wait = logs.get(es.monitor), 0
            if es.restore_best_weights and self.cfg.checkpoint_config() is None:
                self._save("model.keras")
                st.best_epoch = epoch + 1
            return False
        st.es_wait += 1
        if st.es_wait >= es.patience:
            st.stopped_early = True
            return True
        return False

    def _commit(self) -> None:
        """The resume point: last.keras, history.csv, then state.json (the commit). Called inside
        :meth:`end`'s deferral, so a stop waits until all three are written."""
        if self.rundir is None:
            return
        self._save("last.keras")
        self.rundir.write_history(self.history)
        self.rundir.write_json("state.json", self.state.to_json())


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def make_callbacks(logic: EpochLogic):
    """The Keras callback of a run: delegates to ``logic``; checks the loss after every batch
    (like keras.callbacks.TerminateOnNaN) and reports batches to a progress bar that wants them."""
    import keras

    batches = logic.progress is not None and getattr(logic.progress, "batches", False)

    class Recorder(keras.callbacks.Callback):
        """Keras's view of :class:`EpochLogic` (learning rate in, logs out, stop_training set)."""

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            self.model.optimizer.learning_rate.assign(logic.begin(epoch))

        def on_train_batch_end(self, batch, logs=None):
            if logic.check_loss(self.epoch, logs, batch):
                self.model.stop_training = True
            if batches:
                logic.progress("batch", batch=batch + 1)

        def on_epoch_end(self, epoch, logs=None):
            if logic.end(epoch, logs or {}):
                self.model.stop_training = True

    return Recorder()
