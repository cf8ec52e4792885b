"""Data checks of ``cnnspec doctor`` (pure numpy, no TensorFlow): input scaling as the network sees
it, label range against the output units, class balance, and test images duplicated in the training
split. Each returns a :class:`cnnspec.check.doctor.Check`; thresholds are documented in
docs/training.md ("cnnspec doctor").
"""
from __future__ import annotations

import hashlib

import numpy as np

from cnnspec.check.doctor import Check, fmt

# inputs above this magnitude are raw pixel values, not scaled ones
MAX_SCALED = 20.0
# an input standard deviation below this carries (almost) no signal
MIN_STD = 1e-2
# classes whose counts differ by more than this factor are imbalanced
MAX_IMBALANCE = 2.0


def leading_rescaling(spec) -> tuple[float, float, list[str]]:
    """The (scale, offset) applied by the spec's leading ``Rescaling`` rows (augmentation rows, identity
    at inference, are skipped), and those rows' names."""
    scale, offset, names = 1.0, 0.0, []
    prev = None
    for row in spec.rows:
        if prev is not None and row.inputs != [prev]:
            break
        if row.type == "Rescaling":
            scale, offset = scale * row.layer.scale, offset * row.layer.scale + row.layer.offset
            names.append(row.name)
        elif not row.type.startswith("Random"):
            break
        prev = row.name
    return scale, offset, names


def input_scaling(x_raw: np.ndarray, scale: float, offset: float, where: str) -> Check:
    """Statistics of ``x_raw * scale + offset`` (what the first weighted layer sees)."""
    x = x_raw.astype(np.float64) * scale + offset
    lo, hi, mean, std = float(x.min()), float(x.max()), float(x.mean()), float(x.std())
    value = f"min {fmt(lo)}, max {fmt(hi)}, mean {fmt(mean)}, std {fmt(std)} ({where})"
    detail = {"min": lo, "max": hi, "mean": mean, "std": std, "scale": scale, "offset": offset}
    if not np.isfinite([lo, hi, mean, std]).all():
        return Check("input_scaling", "fail", value, "inputs are not finite: check the scale and the data", detail)
    if std == 0:
        return Check("input_scaling", "fail", value,
                     "every input value is the same: the network sees no image (a zero scale?); "
                     "use train.scale: 1/255 for 8-bit images and no Rescaling with scale 0", detail)
    if max(abs(lo), abs(hi)) > MAX_SCALED:
        return Check("input_scaling", "warn", value,
                     f"inputs reach {fmt(max(abs(lo), abs(hi)))}: raw pixel values; scale them to [0, 1] or "
                     "[-1, 1] (train.scale: 1/255, train.offset) as seed 004 advises", detail)
    if std < MIN_STD:
        return Check("input_scaling", "warn", value,
                     f"inputs barely vary (std {fmt(std)} < {MIN_STD}): the scale is far too small", detail)
    advice = "inputs are of order 1"
    if abs(mean) > std:
        advice += "; zero-centring them (train.offset) often speeds training up"
    return Check("input_scaling", "pass", value, advice, detail)


def label_range(y_train: np.ndarray, y_test: np.ndarray, units: int, loss: str,
                num_classes: int | None = None) -> Check:
    """Labels must be class indices 0..units-1 for a (sparse) categorical cross-entropy head; the
    dataset's ``num_classes`` (its class names) should equal the units."""
    ys = np.concatenate([np.asarray(y_train).reshape(-1), np.asarray(y_test).reshape(-1)])
    lo, hi = (int(ys.min()), int(ys.max())) if ys.size else (0, -1)
    present = int(np.unique(ys).size)
    value = f"labels {lo}..{hi} ({present} classes present), {units} output units, {loss}"
    detail = {"min": lo, "max": hi, "classes_present": present, "units": units, "loss": loss}
    if units < 2:
        return Check("label_range", "fail", value,
                     "one output unit cannot tell classes apart with a softmax cross-entropy: give the last "
                     "layer one unit per class", detail)
    if lo < 0 or hi >= units:
        return Check("label_range", "fail", value,
                     f"labels must be 0..{units - 1}: set the last layer's units to the number of classes", detail)
    fmt_word = "integer class ids" + (", one-hot encoded by cnnspec" if loss == "categorical_crossentropy" else "")
    k = num_classes if num_classes else hi + 1
    if k < units:
        return Check("label_range", "warn", value,
                     f"the dataset has {k} classes, so {units - k} output unit(s) never get a label: the initial "
                     f"loss is ln({units}), not ln({k}); use {k} units", detail)
    return Check("label_range", "pass", value, f"{fmt_word} match the softmax head", detail)


def class_balance(y_train: np.ndarray, units: int) -> Check:
    """Training images per class: max/min ratio."""
    counts = np.bincount(np.asarray(y_train).reshape(-1).clip(0), minlength=units)[:max(units, 1)]
    lo, hi = int(counts.min()), int(counts.max())
    ratio = float("inf") if lo == 0 else hi / lo
    value = f"{lo}..{hi} training images per class (max/min {fmt(ratio)})"
    detail = {"counts": counts.tolist()}
    if lo == 0:
        missing = [i for i, c in enumerate(counts) if c == 0]
        return Check("class_balance", "warn", value,
                     f"class(es) {', '.join(map(str, missing[:10]))} have no training image", detail)
    if ratio > MAX_IMBALANCE:
        return Check("class_balance", "warn", value,
                     f"classes differ by more than {MAX_IMBALANCE:g}x: accuracy hides the small classes; "
                     "look at per-class recall (cnnspec evaluate) or rebalance", detail)
    return Check("class_balance", "pass", value, "balanced", detail)


def _hashes(x: np.ndarray) -> list[bytes]:
    x = np.ascontiguousarray(x)
    return [hashlib.blake2b(img.tobytes(), digest_size=16).digest() for img in x]


def duplicates(x_train: np.ndarray, x_test: np.ndarray) -> Check:
    """Test images whose exact pixels also occur in the training split (a leak that inflates test
    accuracy), by hashing every image."""
    seen = set(_hashes(x_train))
    test = _hashes(x_test)
    dup = [i for i, h in enumerate(test) if h in seen]
    value = f"{len(dup)} of {len(test)} test images also in train ({len(seen)} distinct train images)"
    detail = {"count": len(dup), "test_indices": dup[:20]}
    if dup:
        return Check("duplicates", "warn", value,
                     "identical images in train and test inflate test accuracy: remove them from one split "
                     f"(first test indices: {', '.join(map(str, dup[:5]))})", detail)
    return Check("duplicates", "pass", value, "no exact duplicates between train and test", detail)
