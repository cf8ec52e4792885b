"""The :class:`Dataset` object and the validation every loader shares (pure numpy, no TensorFlow).

Loaders hand raw arrays to :func:`build`, which checks shapes, dtypes and labels and returns a
Dataset (images channels-last and 4D, labels int64 in ``0..K-1``). :func:`ensure_fits` refuses an
array that cannot fit in the memory available *before* it is allocated (decompression bombs).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace

import numpy as np

from cnnspec.errors import DataError

#: Largest image (width x height) a loader decodes by default; bigger files are refused before decoding.
MAX_IMAGE_PIXELS = 50_000_000


def max_image_pixels() -> int:
    """The pixel limit in force: ``CNNSPEC_MAX_IMAGE_PIXELS`` or :data:`MAX_IMAGE_PIXELS`."""
    try:
        return int(os.environ.get("CNNSPEC_MAX_IMAGE_PIXELS") or MAX_IMAGE_PIXELS)
    except ValueError:
        return MAX_IMAGE_PIXELS


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(str(text).split())


def data_error(message: str, file: object = None) -> DataError:
    """A one-line DataError naming ``file``."""
    return DataError(one_line(message), file=str(file) if file is not None else None)


def available_memory() -> int:
    """Bytes of memory available now (MemAvailable; at most ``CNNSPEC_MAX_MEMORY`` when set)."""
    cap = os.environ.get("CNNSPEC_MAX_MEMORY")
    if cap and cap.isdigit():
        return min(int(cap), _system_available())
    return _system_available()


def _system_available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def ensure_fits(nbytes: int, what: str, file: object = None) -> None:
    """Refuse to allocate ``nbytes`` for ``what`` when that exceeds the memory available now."""
    avail = available_memory()
    if nbytes > avail:
        raise data_error(f"{what} would need {nbytes / 2**30:.1f} GiB once decompressed, more than the "
                         f"{avail / 2**30:.1f} GiB of memory available; refusing to load it", file)


@dataclass
class Dataset:
    """Four arrays plus metadata. Images are channels-last and 4D: (N, H, W, C)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    source: str
    value_range: float = 255.0
    #: Human-readable remarks from loading (e.g. files skipped in an image folder).
    notes: list[str] = field(default_factory=list)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def fingerprint(self) -> str:
        """sha256 (first 16 hex chars) over dtypes, shapes and bytes of the arrays and the class names."""
        h = hashlib.sha256()
        for label, arr in (("x_train", self.x_train), ("y_train", self.y_train),
                           ("x_test", self.x_test), ("y_test", self.y_test)):
            arr = np.ascontiguousarray(arr)
            h.update(f"{label}:{arr.dtype.str}:{arr.shape};".encode())
            h.update(arr.tobytes())
        h.update(("\x00".join(self.class_names)).encode("utf-8"))
        return h.hexdigest()[:16]

    def subset(self, train: int | None = None, test: int | None = None, seed: int = 0) -> "Dataset":
        """A deterministic, class-balanced subset (round-robin over classes, original order kept).

        ``None`` keeps that split whole; a count larger than the split keeps it whole.
        """
        idx_tr = balanced_indices(self.y_train, train, seed, "train")
        idx_te = balanced_indices(self.y_test, test, seed + 1, "test")
        return replace(self, x_train=self.x_train[idx_tr], y_train=self.y_train[idx_tr],
                       x_test=self.x_test[idx_te], y_test=self.y_test[idx_te],
                       notes=list(self.notes))

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={self.x_train.shape}, test={self.x_test.shape}, "
                f"classes={self.num_classes}, source={self.source!r})")


def balanced_indices(y: np.ndarray, n: int | None, seed: int, what: str) -> np.ndarray:
    """Indices of a class-balanced subset of ``n`` labels (round-robin over classes, original order kept)."""
    if n is None:
        return np.arange(len(y))
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise data_error(f"subset size for {what} must be a non-negative integer, got {n!r}")
    if n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
    order = []
    depth = max((len(p) for p in per_class), default=0)
    for i in range(depth):  # round-robin: one of each class, then the next of each, ...
        for p in per_class:
            if i < len(p):
                order.append(p[i])
        if len(order) >= n:
            break
    return np.sort(np.asarray(order[:n], dtype=np.int64))



def as_images(x: object, what: str, file: object) -> np.ndarray:
    """``x`` as a 4D numeric image array (a channel axis added to 3D input); DataError otherwise."""
    try:
        x = np.asarray(x)
    except Exception as e:  # ragged lists and the like
        raise data_error(f"{what} is not an array: {e}", file) from e
    if x.dtype == object or x.dtype.kind not in "uifb":
        raise data_error(f"{what} has dtype {x.dtype}, expected numeric image data", file)
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4:
        raise data_error(f"{what} has shape {x.shape}, expected (N, H, W) or (N, H, W, C)", file)
    if x.dtype.kind == "f" and x.size and not np.isfinite(x).all():
        raise data_error(f"{what} contains NaN or infinite values", file)
    return x


def as_labels(y: object, n: int, what: str, file: object) -> np.ndarray:
    """``y`` as int64 class labels, one per image, non-negative; DataError otherwise."""
    try:
        y = np.asarray(y)
    except Exception as e:
        raise data_error(f"{what} is not an array: {e}", file) from e
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise data_error(f"{what} has shape {y.shape}, expected (N,) integer class labels", file)
    if y.dtype.kind == "f":
        if y.size and (not np.isfinite(y).all() or not np.all(y == np.round(y))):
            raise data_error(f"{what} holds non-integer labels (dtype {y.dtype})", file)
    elif y.dtype.kind not in "iub":
        raise data_error(f"{what} holds non-integer labels (dtype {y.dtype})", file)
    if len(y) != n:
        raise data_error(f"{what} has {len(y)} labels but there are {n} images", file)
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise data_error(f"{what} has a negative label ({int(y.min())})", file)
    return y


def build(name: str, x_train, y_train, x_test, y_test, class_names: list[str] | None,
           source: str, file: object, value_range: float | None = None,
           notes: list[str] | None = None) -> Dataset:
    """Validate four arrays and make a Dataset (images 4D, labels int64 in 0..K-1)."""
    xtr = as_images(x_train, "x_train", file)
    xte = as_images(x_test, "x_test", file)
    ytr = as_labels(y_train, len(xtr), "y_train", file)
    yte = as_labels(y_test, len(xte), "y_test", file)
    if xtr.shape[1:] != xte.shape[1:]:
        raise data_error(f"x_train images are {xtr.shape[1:]} but x_test images are {xte.shape[1:]}", file)
    if len(xtr) == 0:
        raise data_error("the training split is empty", file)
    top = int(max(ytr.max(initial=0), yte.max(initial=0)))
    if class_names is None:
        class_names = [str(i) for i in range(top + 1)]
    class_names = [str(c) for c in class_names]
    k = len(class_names)
    for y, what in ((ytr, "y_train"), (yte, "y_test")):
        if y.size and y.max() >= k:
            raise data_error(f"{what} has label {int(y.max())} out of range 0..{k - 1} ({k} classes)", file)
    # dtype: uint8 stays; other integers within 0..255 become uint8; everything else float32.
    if value_range is None:
        lo = min(xtr.min(initial=0), xte.min(initial=0))
        hi = max(xtr.max(initial=0), xte.max(initial=0))
        if xtr.dtype == np.uint8 and xte.dtype == np.uint8:
            value_range = 255.0
        elif xtr.dtype.kind in "iub" and xte.dtype.kind in "iub" and lo >= 0 and hi <= 255:
            xtr, xte, value_range = xtr.astype(np.uint8), xte.astype(np.uint8), 255.0
        else:
            xtr, xte = xtr.astype(np.float32), xte.astype(np.float32)
            value_range = 1.0 if hi <= 1.0 else 255.0 if hi <= 255.0 else float(hi)
    return Dataset(name=name, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte,
                   class_names=class_names, source=str(source), value_range=float(value_range),
                   notes=list(notes or []))




def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split: per class round(n*fraction) test items (>=1 when n>=2)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(len(idx) * fraction))
        if len(idx) >= 2:
            n_test = min(max(n_test, 1), len(idx) - 1)
        else:
            n_test = 0
        test.extend(idx[:n_test])
        train.extend(idx[n_test:])
    return rng.permutation(np.asarray(train, dtype=np.int64)), rng.permutation(np.asarray(test, dtype=np.int64))
