"""Training runs: spec + train section + flags -> a run directory (see docs/training.md).

Everything that can be refused (spec, train section, flags, data shapes, labels, the run
directory) is checked before TensorFlow is imported and before any file is written. After each
finished epoch the run directory holds a consistent resume point: ``last.keras`` (model and
optimizer state), ``history.csv`` and ``state.json`` (written last: the commit point).
"""
from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cnnspec import __version__
from cnnspec.errors import CnnspecError, DataError, SpecError
from cnnspec.runs.files import (atomic_bytes, atomic_json, atomic_text, history_text, read_history, read_json,
                    save_keras_atomic, sidecar)
from cnnspec.spec.trainconfig import TrainConfig, for_spec, with_flags

RUN_MARKERS = ("run.json", "state.json", "config.json")
RESUME_FLAGS_OK = ("epochs",)
# the files a run owns (--force removes these, and only these, before starting over)
OWN_FILES = ("spec.yaml", "config.json", "history.csv", "metrics.json", "model.keras", "model.cnnspec.json",
             "learning_curves.png", "confusion_matrix.png", "run.json", "last.keras", "state.json")


class Interrupted(CnnspecError):
    exit_code = 130


class TrainingFailed(CnnspecError):
    """TensorFlow/Keras failed during training (not bad input): exit 3, like an internal error."""

    exit_code = 3


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------
@dataclass
class Prepared:
    ds: Any                      # cnnspec.data.Dataset
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    val_source: str | None
    num_outputs: int
    scale: float


def output_units(spec) -> int:
    from cnnspec.check.infer import infer

    out = infer(spec)[-1].output
    if len(out) != 1 or out[0] is None:
        raise SpecError(f"training needs a classifier whose last layer outputs (None, K); this spec's "
                        f"last layer outputs {tuple(out)}", file=spec.file, line=spec.rows[-1].line)
    return int(out[0])


def check_data(spec, ds, what: str, units: int, x=None, y=None) -> None:
    """One-line DataError when images or labels do not fit the spec."""
    shape = tuple(ds.input_shape) if x is None else tuple(int(d) for d in x.shape[1:])
    want = tuple(spec.input_shape)
    if len(shape) != len(want) or any(w is not None and w != s for w, s in zip(want, shape)):
        fmt = lambda s: "x".join("?" if d is None else str(d) for d in s)  # noqa: E731
        raise DataError(f"{what} images are {fmt(shape)} but spec {spec.label} takes input "
                        f"{fmt(want)} ({spec.file})")
    ys = [ds.y_train, ds.y_test] if y is None else [y]
    top = max((int(a.max()) for a in ys if a.size), default=-1)
    low = min((int(a.min()) for a in ys if a.size), default=0)
    if low < 0:
        raise DataError(f"{what} has negative labels ({low})")
    if top >= units:
        raise DataError(f"{what} has labels up to {top} but the last layer of {spec.label} has {units} "
                        f"units (labels must be 0..{units - 1})")
    if x is None and ds.num_classes > units:
        raise DataError(f"{what} has {ds.num_classes} classes but the last layer of {spec.label} has "
                        f"{units} units")
    if x is None and ds.x_train.shape[0] == 0:
        raise DataError(f"{what} has no training images")


def split_validation(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split: (train indices, validation indices), each sorted."""
    n_val = int(round(n * fraction))
    if n_val < 1 or n_val >= n:
        raise DataError(f"validation_split {fraction} of {n} training images leaves "
                        f"{n - n_val} for training and {n_val} for validation")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def prepare_data(spec, cfg: TrainConfig) -> Prepared:
    from cnnspec.data import load_dataset

    units = output_units(spec)
    ds = load_dataset(cfg.dataset, path=cfg.data_path, limit=cfg.limit, seed=cfg.seed)
    check_data(spec, ds, f"dataset {ds.name}", units)
    x, y = ds.x_train, ds.y_train
    x_val = y_val = None
    val_source = None
    if cfg.validation_split is not None:
        tr, va = split_validation(len(x), cfg.validation_split, cfg.seed)
        x, y, x_val, y_val = x[tr], y[tr], x[va], y[va]
        val_source = f"validation_split {cfg.validation_split} of {ds.name} train (seed {cfg.seed})"
    elif cfg.validation == "test":
        x_val, y_val = ds.x_test, ds.y_test
        val_source = f"{ds.name} test split"
    elif cfg.validation is not None:
        vd = load_dataset(cfg.validation, limit=cfg.limit, seed=cfg.seed)
        check_data(spec, vd, f"validation dataset {vd.name}", units)
        x_val, y_val = vd.x_test, vd.y_test
        val_source = f"{vd.name} test split"
    if ds.x_test.shape[0] == 0:
        raise DataError(f"dataset {ds.name} has no test images to evaluate on")
    scale = cfg.scale if cfg.scale is not None else 1.0 / float(ds.value_range)
    return Prepared(ds, x, y, x_val, y_val, val_source, units, scale)


# ----------------------------------------------------------------------------------------------
# Run directory
# ----------------------------------------------------------------------------------------------
def spec_file_of(path: str) -> tuple[Path, str | None]:
    if "#" in path and not Path(path).exists():
        f, v = path.rsplit("#", 1)
        return Path(f), v
    return Path(path), None


def check_out_dir(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise CnnspecError("the run directory is a file", file=str(out))
    if not out.exists() or force:
        return
    entries = [p.name for p in out.iterdir()]
    if not entries:
        return
    if any(m in entries for m in RUN_MARKERS):
        status = "?"
        try:
            status = read_json(out / "run.json").get("status", "?")
        except Exception:  # noqa: BLE001
            pass
        raise CnnspecError(f"already holds a run (status {status}): continue it with "
                           f"`cnnspec train --resume {out}` or overwrite with --force", file=str(out))
    raise CnnspecError(f"is not empty and not a run directory ({len(entries)} entries): choose another "
                       "--out or pass --force to write into it", file=str(out))


def versions() -> dict:
    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "cnnspec": __version__, "platform": platform.platform()}


# ----------------------------------------------------------------------------------------------
# TensorFlow side
# ----------------------------------------------------------------------------------------------
def configure_devices() -> None:
    """``CNNSPEC_LOGICAL_CPUS=N`` splits the CPU into N logical devices (before TF initializes)."""
    n = os.environ.get("CNNSPEC_LOGICAL_CPUS")
    if not n:
        return
    import tensorflow as tf

    try:
        k = int(n)
        cpu = tf.config.list_physical_devices("CPU")[0]
        if k > 1:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(k)])
    except (ValueError, RuntimeError) as exc:
        raise CnnspecError(f"CNNSPEC_LOGICAL_CPUS={n}: {exc}") from None


def make_strategy(kind: str | None):
    import tensorflow as tf

    if kind in (None, "", "none"):
        return None
    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy()
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=cpus,
                                              cross_device_ops=tf.distribute.ReductionToOneDevice())
    if kind == "multiworker":
        if "TF_CONFIG" in os.environ:
            try:
                json.loads(os.environ["TF_CONFIG"])
            except ValueError:
                raise CnnspecError("TF_CONFIG is not valid JSON") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise CnnspecError(f"unknown --distribute {kind!r}: choose mirrored or multiworker")


def worker_count() -> int:
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster") or {}
    except (ValueError, AttributeError):
        raise CnnspecError("TF_CONFIG is not valid JSON") from None
    return sum(len(v) for k, v in cluster.items() if k in ("chief", "worker") and isinstance(v, list))


def is_chief() -> tuple[bool, int]:
    try:
        tfc = json.loads(os.environ.get("TF_CONFIG", "{}"))
    except ValueError:
        return True, 0
    task = tfc.get("task") or {}
    typ, idx = task.get("type", "chief"), int(task.get("index", 0))
    if typ == "chief":
        return True, 0
    has_chief = "chief" in (tfc.get("cluster") or {})
    return (typ == "worker" and idx == 0 and not has_chief), idx


def make_optimizer(cfg: TrainConfig):
    import keras

    opt = cfg.optimizer_config()
    classes = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
               "rmsprop": keras.optimizers.RMSprop, "adadelta": keras.optimizers.Adadelta,
               "adagrad": keras.optimizers.Adagrad, "adamax": keras.optimizers.Adamax,
               "nadam": keras.optimizers.Nadam}
    return classes[opt.name](**opt.keras_kwargs())


def make_metrics(cfg: TrainConfig):
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


def augmenter(cfg: TrainConfig, input_shape):
    import keras

    a = cfg.augmentation
    if a is None or not a.active():
        return None
    layers = []
    if a.horizontal_flip or a.vertical_flip:
        mode = ("horizontal_and_vertical" if a.horizontal_flip and a.vertical_flip
                else "horizontal" if a.horizontal_flip else "vertical")
        layers.append(keras.layers.RandomFlip(mode, seed=cfg.seed))
    if a.width_shift or a.height_shift:
        layers.append(keras.layers.RandomTranslation(a.height_shift, a.width_shift, fill_mode=a.fill_mode,
                                                     seed=cfg.seed + 1))
    if a.rotation:
        layers.append(keras.layers.RandomRotation(a.rotation / 360.0, fill_mode=a.fill_mode, seed=cfg.seed + 2))
    if a.zoom:
        layers.append(keras.layers.RandomZoom(a.zoom, fill_mode=a.fill_mode, seed=cfg.seed + 3))
    return keras.Sequential(layers, name="augmentation")


def make_dataset(x, y, cfg: TrainConfig, scale: float, *, units: int, training: bool, epoch_seed: int = 0,
                 aug=None, distributed: bool = False):
    import tensorflow as tf

    # Batches are gathered from in-memory tensors by shuffled index batches: much cheaper than
    # shuffling and batching single images, and as fast as Keras's own numpy adapter.
    n = len(x)
    xt = tf.constant(x)
    yt = tf.constant(y.astype(np.int64))
    ds = tf.data.Dataset.range(n)
    if training and cfg.shuffle:
        ds = ds.shuffle(n, seed=cfg.seed + epoch_seed, reshuffle_each_iteration=True)
    ds = ds.batch(cfg.batch_size)
    offset = float(cfg.offset)
    onehot = cfg.loss == "categorical_crossentropy"

    def prep(i):
        a = tf.cast(tf.gather(xt, i), tf.float32) * scale + offset
        b = tf.gather(yt, i)
        if onehot:
            b = tf.one_hot(b, units)
        return a, b

    ds = ds.map(prep, num_parallel_calls=tf.data.AUTOTUNE)
    if aug is not None:
        ds = ds.map(lambda a, b: (aug(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    if distributed:
        opts = tf.data.Options()
        opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        ds = ds.with_options(opts)
    return ds


def better(mode: str, monitor: str, value: float, best: float | None, min_delta: float = 0.0) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best is None:
        return True
    if mode == "auto":
        mode = "max" if "acc" in monitor else "min"
    return value > best + min_delta if mode == "max" else value < best - min_delta


_STOP = {"requested": False, "handle_signals": True}


def _sigterm_as_interrupt() -> dict:
    """Ctrl-C and SIGTERM (a scheduler's or `kill`'s stop) stop training cleanly and resumably.

    The handler raises KeyboardInterrupt at once and also records the request, so that a
    KeyboardInterrupt swallowed somewhere inside TensorFlow still stops the run at the end of the
    epoch in flight (see Recorder.on_epoch_end and run_training)."""
    import signal
    import threading

    _STOP["requested"] = False
    if not _STOP["handle_signals"] or threading.current_thread() is not threading.main_thread():
        return {}
    old = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum, frame):
        _STOP["requested"] = True
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return old


def _restore_signals(old: dict) -> None:
    import signal

    for sig, h in old.items():
        if h is not None:
            signal.signal(sig, h)


class deferred_sigint:
    """Hold Ctrl-C / SIGTERM while the resume point is written; raise KeyboardInterrupt right after."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __enter__(self):
        import signal
        import threading

        self.got = False
        self.old = {}
        if _STOP["handle_signals"] and threading.current_thread() is threading.main_thread():
            def handler(signum, frame):
                self.got = True
                _STOP["requested"] = True
            for name in self.SIGNALS:
                sig = getattr(signal, name)
                old = signal.getsignal(sig)
                if old is None:  # installed outside Python (embedding host): leave it alone
                    continue
                self.old[sig] = old
                signal.signal(sig, handler)
        return self

    def __exit__(self, *exc):
        import signal

        for sig, old in self.old.items():
            signal.signal(sig, old)
        if self.got and exc[0] is None:
            raise KeyboardInterrupt
        return False


# ----------------------------------------------------------------------------------------------
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

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, d: dict) -> "RunState":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def schedule_lr(cfg: TrainConfig, base: float, epoch: int, state: RunState) -> float:
    """Learning rate for 0-based ``epoch``."""
    s = cfg.lr_schedule
    if s is None:
        return base
    if s.type == "step":
        return base * s.factor ** (epoch // s.every)
    if s.type == "cosine":
        return s.min_lr + (base - s.min_lr) * 0.5 * (1 + math.cos(math.pi * epoch / cfg.epochs))
    return state.lr if state.lr is not None else base  # reduce_on_plateau


def make_callbacks(run, cfg: TrainConfig, state: RunState, history: list[dict], n_train: int,
                   progress: Callable | None, writer: bool):
    """Build the Keras callback that records, checkpoints, schedules and stops (per epoch only)."""
    import keras

    base_lr = cfg.optimizer_config().keras_kwargs()["learning_rate"]
    ck = cfg.checkpoint_config()
    es = cfg.early_stopping
    out: Path = run

    class Recorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.t0 = 0.0
            self.best_weights = None

        def on_epoch_begin(self, epoch, logs=None):
            lr = schedule_lr(cfg, base_lr, epoch, state)
            self.model.optimizer.learning_rate.assign(lr)
            self.lr = lr
            self.t0 = time.perf_counter()
            if progress:
                progress("begin", epoch=epoch + 1)

        def on_epoch_end(self, epoch, logs=None):
            secs = time.perf_counter() - self.t0
            logs = {k: float(v) for k, v in (logs or {}).items()}
            row = {"epoch": epoch + 1, "loss": logs.get("loss"), "accuracy": logs.get("accuracy"),
                   "val_loss": logs.get("val_loss"), "val_accuracy": logs.get("val_accuracy"),
                   "lr": float(self.lr), "seconds": round(secs, 3)}
            for k, v in sorted(logs.items()):
                if k not in row and k != "learning_rate":
                    row[k] = v
            state.epoch = epoch + 1
            state.train_seconds += secs
            state.images_seen += n_train
            # model.keras: the best so far by the checkpoint monitor, else the latest
            if ck is not None:
                if better(ck.mode, ck.monitor, logs.get(ck.monitor), state.best):
                    state.best, state.best_epoch = logs.get(ck.monitor), epoch + 1
                    if writer:
                        save_keras_atomic(self.model, out / "model.keras")
            elif es is not None and es.restore_best_weights:
                pass  # saved below when the early-stopping monitor improves
            elif writer:
                save_keras_atomic(self.model, out / "model.keras")
                state.best_epoch = epoch + 1
            # reduce_on_plateau: decides the next epoch's learning rate
            s = cfg.lr_schedule
            if s is not None and s.type == "reduce_on_plateau":
                cur = self.lr
                if better(s.mode, s.monitor, logs.get(s.monitor), state.plateau_best, s.min_delta):
                    state.plateau_best, state.plateau_wait = logs.get(s.monitor), 0
                else:
                    state.plateau_wait += 1
                    if state.plateau_wait >= s.patience and s.patience >= 0:
                        cur = max(cur * s.factor, s.min_lr)
                        state.plateau_wait = 0
                state.lr = cur
            # early stopping
            if es is not None:
                if better(es.mode, es.monitor, logs.get(es.monitor), state.es_best, es.min_delta):
                    state.es_best, state.es_wait = logs.get(es.monitor), 0
                    if es.restore_best_weights and ck is None and writer:
                        save_keras_atomic(self.model, out / "model.keras")
                        state.best_epoch = epoch + 1
                else:
                    state.es_wait += 1
                    if state.es_wait >= es.patience:
                        state.stopped_early = True
                        self.model.stop_training = True
            history.append(row)
            if writer:  # the resume point: last.keras, history.csv, then state.json (commit)
                with deferred_sigint():
                    save_keras_atomic(self.model, out / "last.keras")
                    atomic_text(out / "history.csv", history_text(history))
                    atomic_json(out / "state.json", state.to_json())
            if progress:
                progress("end", epoch=epoch + 1, row=row)
            if _STOP["requested"]:  # a stop whose KeyboardInterrupt got lost inside TensorFlow
                self.model.stop_training = True
                raise KeyboardInterrupt

    if progress is not None and getattr(progress, "batches", False):
        class BatchRecorder(Recorder):
            def on_train_batch_end(self, batch, logs=None):
                progress("batch", batch=batch + 1)
        return BatchRecorder()
    return Recorder()


# ----------------------------------------------------------------------------------------------
@dataclass
class Request:
    spec_path: str | None
    out: Path
    flags: dict = field(default_factory=dict)
    resume: bool = False
    force: bool = False
    distribute: str | None = None


def plan(req: Request):
    """Spec, config and data, all validated; nothing written, TensorFlow not imported."""
    from cnnspec.spec.loader import load_spec

    if req.resume:
        out = req.out
        if not (out / "config.json").exists() or not (out / "spec.yaml").exists():
            raise CnnspecError("is not a run directory (no config.json/spec.yaml): nothing to resume",
                               file=str(out))
        conf = read_json(out / "config.json")
        variant = conf.get("variant")
        spec = load_spec(str(out / "spec.yaml") + (f"#{variant}" if variant else ""))
        cfg = TrainConfig.model_validate(conf["train"])
        extra = {k: v for k, v in req.flags.items() if v is not None and k not in RESUME_FLAGS_OK
                 and conf["train"].get(k) != v}
        if extra:
            raise CnnspecError(f"--resume continues with the run's config; only --epochs may change "
                               f"(got {', '.join(sorted(extra))})", file=str(out))
        if req.flags.get("epochs"):
            cfg = cfg.model_copy(update={"epochs": req.flags["epochs"]})
        distribute = req.distribute if req.distribute is not None else conf.get("distribute")
        spec_bytes = None
    else:
        if not req.spec_path:
            raise CnnspecError("give a SPEC to train, or --resume RUN_DIR")
        spec = load_spec(req.spec_path)
        cfg = with_flags(for_spec(spec), req.flags, spec.file)
        if req.distribute == "multiworker" and worker_count() > 1:
            raise CnnspecError("--distribute multiworker with more than one worker in TF_CONFIG: Keras 3's "
                               "model.fit does not run under MultiWorkerMirroredStrategy across workers "
                               "(keras-team/keras#20585, tensorflow/tensorflow#72388); use --distribute "
                               "mirrored on one machine")
        if req.distribute != "multiworker" or is_chief()[0]:  # other workers write to a temp dir
            check_out_dir(req.out, req.force)
        spec_bytes = spec_file_of(req.spec_path)[0].read_bytes()
        distribute = req.distribute
    data = prepare_data(spec, cfg)
    return spec, cfg, data, spec_bytes, distribute


def run_training(req: Request, *, progress_factory=None, log: Callable[[str], None] = print,
                 handle_signals: bool = True) -> dict:
    """Plan, train, evaluate and record. ``handle_signals``: install SIGINT/SIGTERM handlers for the
    run (the CLI); the Python API leaves the host's handlers alone (Ctrl-C still interrupts)."""
    _STOP["handle_signals"] = handle_signals
    spec, cfg, data, spec_bytes, distribute = plan(req)
    out = req.out
    started = now()
    t_start = time.perf_counter()

    configure_devices()
    import warnings

    warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")
    import keras
    import tensorflow as tf

    from cnnspec.keras.build import build_model

    strategy = make_strategy(distribute)
    chief, widx = is_chief() if distribute == "multiworker" else (True, 0)
    if chief:
        wdir = out
    else:  # a non-chief worker's saves (needed by the collective ops) go to a throwaway folder
        import tempfile

        wdir = Path(tempfile.mkdtemp(prefix=f"cnnspec-worker{widx}-"))
    replicas = strategy.num_replicas_in_sync if strategy else 1
    devices = (list(strategy.extended.worker_devices) if strategy else
               [d.name for d in tf.config.list_logical_devices("CPU")][:1])

    state = RunState()
    history: list[dict] = []
    # resuming before any epoch finished (killed in epoch 1) starts over with the run's config
    resuming = req.resume and (out / "state.json").exists() and (out / "last.keras").exists()
    if req.resume and chief:
        for junk in out.glob(".*.tmp*"):  # temporary files of a killed write
            junk.unlink(missing_ok=True)
    elif req.force and chief:
        for own in OWN_FILES:
            (out / own).unlink(missing_ok=True)
    if resuming:
        state = RunState.from_json(read_json(out / "state.json"))
        history = [r for r in read_history(out / "history.csv") if r["epoch"] <= state.epoch]
        prev = read_json(out / "run.json") if (out / "run.json").exists() else {}
        started = prev.get("start_time", started)
        if state.epoch >= cfg.epochs or (state.stopped_early and not req.flags.get("epochs")):
            why = "stopped early" if state.stopped_early else f"finished {state.epoch} epochs"
            if (out / "metrics.json").exists() and prev.get("status") == "finished":
                raise CnnspecError(f"the run already {why}; pass --epochs N (more than {state.epoch}) "
                                   "to train further", file=str(out))
        if req.flags.get("epochs"):
            state.stopped_early = False
    try:
        wdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CnnspecError(f"cannot create the run directory: {exc.strerror or exc}", file=str(wdir)) from None

    keras.utils.set_random_seed(cfg.seed + state.epoch)
    run_info = {
        "status": "running", "spec": spec.label, "spec_file": str(req.spec_path or out / "spec.yaml"),
        "spec_fingerprint": spec.fingerprint(), "seed": cfg.seed,
        "data": {"name": data.ds.name, "source": data.ds.source, "fingerprint": data.ds.fingerprint(),
                 "train_images": int(len(data.x_train)),
                 "validation_images": int(0 if data.x_val is None else len(data.x_val)),
                 "validation_source": data.val_source, "test_images": int(len(data.ds.x_test))},
        "versions": versions(), "distribute": distribute or "none", "num_replicas_in_sync": replicas,
        "devices": devices, "start_time": started, "end_time": None, "command": sys.argv[1:],
        "resumed": [] if not req.resume else None,
    }
    if req.resume:
        prev = read_json(out / "run.json") if (out / "run.json").exists() else {}
        run_info["resumed"] = list(prev.get("resumed") or []) + [{"at_epoch": state.epoch, "time": now()}]
        run_info["spec_file"] = prev.get("spec_file", run_info["spec_file"])
        run_info["command"] = prev.get("command", []) + ["--resume"]
    if chief and not req.resume:
        atomic_bytes(out / "spec.yaml", spec_bytes)
        atomic_json(out / "config.json", {"spec": spec.label, "variant": spec.variant,
                                          "distribute": distribute or "none", "scale": data.scale,
                                          "train": cfg.model_dump(mode="json", exclude_none=True), "resolved": cfg.resolved()})
    if chief:
        atomic_json(out / "run.json", run_info)

    def body():
        if resuming:
            model = keras.saving.load_model(str(out / "last.keras"))
        else:
            model = build_model(spec, overrides=cfg.overrides())
            model.compile(optimizer=make_optimizer(cfg), loss=cfg.loss, metrics=make_metrics(cfg))
        return model

    if strategy is not None:
        with strategy.scope():
            model = body()
    else:
        model = body()

    aug = augmenter(cfg, spec.input_shape)
    train_ds = make_dataset(data.x_train, data.y_train, cfg, data.scale, units=data.num_outputs, training=True,
                            epoch_seed=state.epoch, aug=aug, distributed=strategy is not None)
    val_ds = None
    if data.x_val is not None:
        val_ds = make_dataset(data.x_val, data.y_val, cfg, data.scale, units=data.num_outputs, training=False,
                              distributed=strategy is not None)
    steps = math.ceil(len(data.x_train) / cfg.batch_size)
    progress = progress_factory(cfg.epochs, steps) if progress_factory else None
    rec = make_callbacks(wdir, cfg, state, history, len(data.x_train), progress, writer=True)
    status = "finished"
    old_handlers = _sigterm_as_interrupt()
    try:
        if state.epoch < cfg.epochs and not state.stopped_early:
            t_fit = time.perf_counter()
            model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, initial_epoch=state.epoch,
                      callbacks=[rec], verbose=0)
            state.fit_seconds += time.perf_counter() - t_fit
        if _STOP["requested"]:
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        status = "interrupted"
    except Exception as exc:  # recorded, then reported by the CLI as one (short) line
        text = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        run_info.update(status="failed", end_time=now(), epochs_finished=state.epoch, error=text)
        if chief:
            atomic_json(out / "run.json", run_info)
        if isinstance(exc, CnnspecError) or os.environ.get("CNNSPEC_DEBUG"):
            raise
        raise TrainingFailed(f"training failed after {state.epoch} finished epoch(s): {text}",
                             file=str(out)) from None
    finally:
        _restore_signals(old_handlers)
        if progress:
            progress("close")
    if status == "interrupted":
        run_info.update(status="interrupted", end_time=now(), epochs_finished=state.epoch)
        if chief:
            atomic_json(out / "run.json", run_info)
        raise Interrupted(f"interrupted after {state.epoch} finished epoch(s) of {cfg.epochs}; continue with: "
                          f"cnnspec train --resume {out}")

    # final evaluation of the best model on the test split
    best_path = wdir / "model.keras"
    if not best_path.exists():
        save_keras_atomic(model, best_path)
    best = keras.saving.load_model(str(best_path))
    test_ds = make_dataset(data.ds.x_test, data.ds.y_test, cfg.model_copy(update={"loss":
                           "sparse_categorical_crossentropy"}), data.scale, units=data.num_outputs,
                           training=False)
    t_eval = time.perf_counter()
    probs = best.predict(test_ds, verbose=0)
    eval_secs = time.perf_counter() - t_eval
    from cnnspec.runs.metrics import classification_metrics, plot_confusion, plot_learning_curves

    m = classification_metrics(data.ds.y_test, probs, data.ds.class_names)
    duration = time.perf_counter() - t_start
    metrics = {"dataset": data.ds.name, "split": "test", "model": "model.keras", "best_epoch": state.best_epoch,
               **{k: m[k] for k in ("n", "loss", "accuracy", "macro_avg", "class_names", "per_class",
                                    "confusion_matrix")},
               "epochs_finished": state.epoch, "stopped_early": state.stopped_early,
               "run_seconds": round(duration, 3), "train_seconds": round(state.train_seconds, 3),
               "fit_seconds": round(state.fit_seconds, 3), "train_images": int(len(data.x_train)),
               "train_images_per_second": round(state.images_seen / state.train_seconds, 1)
               if state.train_seconds else None,
               "eval_images_per_second": round(m["n"] / eval_secs, 1) if eval_secs else None}
    if chief:
        atomic_json(out / "metrics.json", metrics)
        atomic_json(out / "model.cnnspec.json", sidecar(spec, data.ds.class_names, data.scale, float(cfg.offset)))
        plot_learning_curves(history, out / "learning_curves.png", f"{spec.label} on {data.ds.name}")
        plot_confusion(m["confusion_matrix"], m["class_names"], out / "confusion_matrix.png",
                       f"{spec.label}: test accuracy {m['accuracy']:.4f}")
        run_info.update(status="finished", end_time=now(), epochs_finished=state.epoch,
                        stopped_early=state.stopped_early, best_epoch=state.best_epoch,
                        test_accuracy=m["accuracy"], test_loss=m["loss"])
        atomic_json(out / "run.json", run_info)
    return {"run_dir": str(out), "status": "finished", "epochs_finished": state.epoch,
            "best_epoch": state.best_epoch, "test_accuracy": m["accuracy"], "test_loss": m["loss"],
            "train_images_per_second": metrics["train_images_per_second"],
            "num_replicas_in_sync": replicas, "metrics": metrics}


# ----------------------------------------------------------------------------------------------
def evaluate(target: str, data_name: str | None, data_path: str | None, limit: int | None) -> tuple[dict, Path]:
    """Metrics of a run's model.keras (or a bare .keras) on a dataset's test split."""
    from cnnspec.data import load_dataset
    from cnnspec.errors import ModelFileError
    from cnnspec.runs.modelmeta import sidecar_path

    p = Path(target)
    if p.is_dir():
        model_path = p / "model.keras"
        if not model_path.exists():
            raise ModelFileError("no model.keras in this directory (not a finished run?)", file=str(p))
        default_out = p
    else:
        model_path = p
        if not p.exists():
            raise ModelFileError("no such file", file=str(p))
        if p.suffix != ".keras":
            raise ModelFileError("evaluate takes a run directory or a .keras file", file=str(p))
        default_out = p.parent
    meta = {}
    sc = sidecar_path(model_path)
    if sc.exists():
        try:
            meta = read_json(sc)
        except (OSError, ValueError):
            raise ModelFileError("unreadable metadata sidecar", file=str(sc)) from None
    if data_name is None and p.is_dir() and (p / "config.json").exists():
        conf = read_json(p / "config.json").get("train", {})
        data_name, data_path = conf.get("dataset"), data_path or conf.get("data_path")
    ds = load_dataset(data_name or "sample", path=data_path, limit=limit)
    want = meta.get("input_shape")
    if want and tuple(ds.input_shape) != tuple(want):
        raise DataError(f"dataset {ds.name} images are {'x'.join(map(str, ds.input_shape))} but the model "
                        f"takes input {'x'.join(map(str, want))}")
    scale = float(meta.get("scale", 1.0 / ds.value_range))
    offset = float(meta.get("offset", 0.0))

    import keras

    try:
        model = keras.saving.load_model(str(model_path))
    except Exception as exc:  # noqa: BLE001
        raise ModelFileError(f"cannot load the Keras model: {type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:200]}", file=str(model_path)) from None
    inshape = tuple(model.input_shape[1:])
    if len(inshape) != len(ds.input_shape) or any(a is not None and a != b for a, b in zip(inshape, ds.input_shape)):
        raise DataError(f"dataset {ds.name} images are {'x'.join(map(str, ds.input_shape))} but the model "
                        f"takes input {'x'.join('?' if d is None else str(d) for d in inshape)}")
    units = int(model.output_shape[-1])
    top = int(ds.y_test.max()) if ds.y_test.size else -1
    if top >= units:
        raise DataError(f"dataset {ds.name} has labels up to {top} but the model has {units} outputs")
    t0 = time.perf_counter()
    probs = model.predict((ds.x_test.astype(np.float32) * scale + offset), batch_size=256, verbose=0)
    secs = time.perf_counter() - t0
    from cnnspec.runs.metrics import classification_metrics

    names = meta.get("class_names") or ds.class_names
    if len(names) != units and len(ds.class_names) == units:
        names = ds.class_names
    m = classification_metrics(ds.y_test, probs, list(names))
    m = {"model": str(model_path), "dataset": ds.name, "data_fingerprint": ds.fingerprint(), "split": "test",
         "scale": scale, "offset": offset, **m, "images_per_second": round(m["n"] / secs, 1) if secs else None}
    return m, default_out


# ----------------------------------------------------------------------------------------------
def train(spec_path: str, data: str | None = None, out: str | None = None, epochs: int | None = None,
          batch_size: int | None = None, limit: int | None = None, *, resume: bool = False, force: bool = False,
          distribute: str | None = None, **flags) -> dict:
    """Python API (used by the R bridge): the same as ``cnnspec train``, without progress output.

    ``flags`` are other command-line options by their train-section names (``seed``,
    ``learning_rate``, ``optimizer``, ``validation_split``, ``validation``, ``data_path``).
    Returns the summary dict (``run_dir``, ``status``, ``test_accuracy``, ``metrics``, ...);
    raises a one-line CnnspecError on bad input.
    """
    allowed = {"seed", "learning_rate", "optimizer", "validation_split", "validation", "data_path"}
    unknown = sorted(set(flags) - allowed)
    if unknown:
        raise CnnspecError(f"train() got unknown option(s) {', '.join(unknown)}; options: data, out, epochs, "
                           f"batch_size, limit, {', '.join(sorted(allowed))}, resume, force, distribute")
    if resume and out is None:
        out = str(spec_path)  # train(RUN_DIR, resume=True)
    if out is None:
        stem = Path(str(spec_path).split("#")[0]).stem
        out = str(Path("runs") / f"{stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    for name, v in (("epochs", epochs), ("batch_size", batch_size), ("limit", limit)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
            raise CnnspecError(f"{name} must be a positive whole number, got {v!r}")
    fl = {"dataset": data, "epochs": epochs, "batch_size": batch_size, "limit": limit, **flags}
    req = Request(spec_path=None if resume else str(spec_path), out=Path(out), flags=fl, resume=resume,
                  force=force, distribute=distribute)
    return run_training(req, handle_signals=False)
