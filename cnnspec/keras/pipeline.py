"""A run's data: loading and validating it against the spec (pure numpy, before TensorFlow),
then the tf.data input pipelines (scaling, one-hot labels, augmentation)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnspec.errors import DataError, SpecError
from cnnspec.runs.modelmeta import input_scale
from cnnspec.spec.trainconfig import TrainConfig


@dataclass
class Prepared:
    """The validated arrays of a run and how they are fed (``x * scale + offset``)."""

    ds: Any                      # cnnspec.data.Dataset
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    val_source: str | None
    num_outputs: int
    scale: float

    def record(self) -> dict:
        """run.json's ``data`` entry."""
        return {"name": self.ds.name, "source": self.ds.source, "fingerprint": self.ds.fingerprint(),
                "train_images": int(len(self.y_train)),
                "validation_images": int(0 if self.y_val is None else len(self.y_val)),
                "validation_source": self.val_source, "test_images": int(len(self.ds.y_test))}


def output_units(spec) -> int:
    """K of a classifier whose last layer outputs (None, K); SpecError otherwise. A model with several
    outputs: every head must be such a classifier (each learns the labels); the smallest K."""
    from cnnspec.check.infer import infer

    return min(head_units(spec, infer(spec)).values())


def head_units(spec, results) -> dict[str, int]:
    """Each output's K (a classifier head outputs (None, K)); SpecError naming the head otherwise."""
    by_name = {r.row.name: r for r in results}
    units = {}
    for name in spec.outputs:
        res = by_name[name]
        out = res.output
        if len(out) != 1 or out[0] is None:
            what = "last layer" if len(spec.outputs) == 1 else f"output '{name}'"
            raise SpecError(f"training needs a classifier whose {what} outputs (None, K); this spec's "
                            f"{what} outputs {tuple(out)}", file=spec.file, line=res.row.line)
        units[name] = int(out[0])
    return units


def _fmt_shape(s) -> str:
    return "x".join("?" if d is None else str(d) for d in s)


def check_data(spec, ds, what: str, units: int, x=None, y=None) -> None:
    """One-line DataError when images or labels do not fit the spec."""
    shape = tuple(ds.input_shape) if x is None else tuple(int(d) for d in x.shape[1:])
    want = tuple(spec.input_shape)
    if len(shape) != len(want) or any(w is not None and w != s for w, s in zip(want, shape)):
        raise DataError(f"{what} images are {_fmt_shape(shape)} but spec {spec.label} takes input "
                        f"{_fmt_shape(want)} ({spec.file})")
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
    """Load the run's dataset (and validation data) and check them against the spec."""
    from cnnspec.data import load_dataset

    if len(spec.inputs) > 1:
        from cnnspec.keras.pipeline_inputs import prepare_inputs

        return prepare_inputs(spec, cfg)
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
    return Prepared(ds, x, y, x_val, y_val, val_source, units, input_scale(cfg.scale, ds.value_range))


# ----------------------------------------------------------------------------------------------
# TensorFlow side (imported lazily)
# ----------------------------------------------------------------------------------------------
def augmenter(cfg: TrainConfig, input_shape):
    """The train section's augmentation as a Keras Sequential of random layers (None if none)."""
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
                 aug=None, distributed: bool = False, heads=None):
    """A tf.data pipeline of (x * scale + offset, label) batches; shuffled and augmented when training.
    ``heads``: a model with several outputs, [(name, units, loss)]: the label becomes one target per head
    (a mapping by output name), one-hot for a categorical head."""
    import tensorflow as tf

    # Batches are gathered from in-memory tensors by shuffled index batches: much cheaper than
    # shuffling and batching single images, and as fast as Keras's own numpy adapter.
    n = len(y)
    xt = {k: tf.constant(v) for k, v in x.items()} if isinstance(x, dict) else tf.constant(x)
    yt = tf.constant(y.astype(np.int64))
    ds = tf.data.Dataset.range(n)
    if training and cfg.shuffle:
        ds = ds.shuffle(n, seed=cfg.seed + epoch_seed, reshuffle_each_iteration=True)
    ds = ds.batch(cfg.batch_size)
    offset = float(cfg.offset)
    onehot = cfg.loss == "categorical_crossentropy"

    def feed(t, i):  # several inputs: uint8 arrays are pixels (scaled), others are fed as stored
        v = tf.gather(t, i)
        return tf.cast(v, tf.float32) * scale + offset if t.dtype == tf.uint8 else tf.cast(v, tf.float32)

    def prep(i):
        a = ({k: feed(t, i) for k, t in xt.items()} if isinstance(xt, dict)
             else tf.cast(tf.gather(xt, i), tf.float32) * scale + offset)
        b = tf.gather(yt, i)
        if heads:
            return a, {n: tf.one_hot(b, k) if loss == "categorical_crossentropy" else b for n, k, loss in heads}
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
