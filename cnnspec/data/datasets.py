"""Real dataset loaders: pure numpy, no TensorFlow or Keras at import time.

``load_dataset(name)`` returns a :class:`Dataset` holding four arrays (images channels-last,
always 4D; labels int64 in ``0..K-1``) plus class names, where it came from and the value range
training divides by. Every bad input raises :class:`~cnnspec.errors.DataError` with a one-line
message naming the file and what is wrong; see ``docs/data.md``.
"""
from __future__ import annotations

import difflib
import gzip
import hashlib
import io
import os
import pickle
import tarfile
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from cnnspec.errors import DataError

__all__ = ["Dataset", "load_dataset", "dataset_names", "SAMPLE_PATH", "FASHION_MNIST_CLASSES"]

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MNIST_CLASSES = [str(i) for i in range(10)]

#: The embedded real sample (3000 train + 1000 test Fashion-MNIST images, balanced).
SAMPLE_PATH = Path(__file__).with_name("fashion_mnist_sample.npz")

#: System-wide places, per dataset (Debian's ``dataset-fashion-mnist`` package).
SYSTEM_DIRS: dict[str, list[Path]] = {
    "fashion_mnist": [Path("/usr/share/datasets/fashion-mnist")],
    "mnist": [],
    "cifar10": [],
    "cifar100": [],
}

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg"}
TEST_FRACTION = 0.2

_HOW_TO_GET = {
    "fashion_mnist": "install Debian's package with `apt-get install dataset-fashion-mnist`, or put the "
                     "4 IDX files from https://github.com/zalandoresearch/fashion-mnist (data/fashion) "
                     "into $CNNSPEC_DATA_DIR/fashion_mnist/",
    "mnist": "put mnist.npz from https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz "
             "(or the 4 IDX .gz files) into $CNNSPEC_DATA_DIR/mnist/ or ~/.keras/datasets/, "
             "or set CNNSPEC_DOWNLOAD=1 on a machine with internet",
    "cifar10": "download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and put it "
               "(or its extracted cifar-10-batches-py/) into $CNNSPEC_DATA_DIR/cifar10/",
    "cifar100": "download https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz and put it "
                "(or its extracted cifar-100-python/) into $CNNSPEC_DATA_DIR/cifar100/",
}


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _err(message: str, file: object = None) -> DataError:
    return DataError(_one_line(message), file=str(file) if file is not None else None)


# --------------------------------------------------------------------------------------------
# The dataset object
# --------------------------------------------------------------------------------------------

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
        idx_tr = _balanced_indices(self.y_train, train, seed, "train")
        idx_te = _balanced_indices(self.y_test, test, seed + 1, "test")
        return replace(self, x_train=self.x_train[idx_tr], y_train=self.y_train[idx_tr],
                       x_test=self.x_test[idx_te], y_test=self.y_test[idx_te],
                       notes=list(self.notes))

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={self.x_train.shape}, test={self.x_test.shape}, "
                f"classes={self.num_classes}, source={self.source!r})")


def _balanced_indices(y: np.ndarray, n: int | None, seed: int, what: str) -> np.ndarray:
    if n is None:
        return np.arange(len(y))
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise _err(f"subset size for {what} must be a non-negative integer, got {n!r}")
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


# --------------------------------------------------------------------------------------------
# Validation shared by every loader
# --------------------------------------------------------------------------------------------

def _as_images(x: object, what: str, file: object) -> np.ndarray:
    try:
        x = np.asarray(x)
    except Exception as e:  # ragged lists and the like
        raise _err(f"{what} is not an array: {e}", file) from None
    if x.dtype == object or x.dtype.kind not in "uifb":
        raise _err(f"{what} has dtype {x.dtype}, expected numeric image data", file)
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4:
        raise _err(f"{what} has shape {x.shape}, expected (N, H, W) or (N, H, W, C)", file)
    if x.dtype.kind == "f" and x.size and not np.isfinite(x).all():
        raise _err(f"{what} contains NaN or infinite values", file)
    return x


def _as_labels(y: object, n: int, what: str, file: object) -> np.ndarray:
    try:
        y = np.asarray(y)
    except Exception as e:
        raise _err(f"{what} is not an array: {e}", file) from None
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise _err(f"{what} has shape {y.shape}, expected (N,) integer class labels", file)
    if y.dtype.kind == "f":
        if y.size and (not np.isfinite(y).all() or not np.all(y == np.round(y))):
            raise _err(f"{what} holds non-integer labels (dtype {y.dtype})", file)
    elif y.dtype.kind not in "iub":
        raise _err(f"{what} holds non-integer labels (dtype {y.dtype})", file)
    if len(y) != n:
        raise _err(f"{what} has {len(y)} labels but there are {n} images", file)
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise _err(f"{what} has a negative label ({int(y.min())})", file)
    return y


def _build(name: str, x_train, y_train, x_test, y_test, class_names: list[str] | None,
           source: str, file: object, value_range: float | None = None,
           notes: list[str] | None = None) -> Dataset:
    """Validate four arrays and make a Dataset (images 4D, labels int64 in 0..K-1)."""
    xtr = _as_images(x_train, "x_train", file)
    xte = _as_images(x_test, "x_test", file)
    ytr = _as_labels(y_train, len(xtr), "y_train", file)
    yte = _as_labels(y_test, len(xte), "y_test", file)
    if xtr.shape[1:] != xte.shape[1:]:
        raise _err(f"x_train images are {xtr.shape[1:]} but x_test images are {xte.shape[1:]}", file)
    if len(xtr) == 0:
        raise _err("the training split is empty", file)
    top = int(max(ytr.max(initial=0), yte.max(initial=0)))
    if class_names is None:
        class_names = [str(i) for i in range(top + 1)]
    class_names = [str(c) for c in class_names]
    k = len(class_names)
    for y, what in ((ytr, "y_train"), (yte, "y_test")):
        if y.size and y.max() >= k:
            raise _err(f"{what} has label {int(y.max())} out of range 0..{k - 1} ({k} classes)", file)
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


# --------------------------------------------------------------------------------------------
# Search locations
# --------------------------------------------------------------------------------------------

def _keras_datasets_dir() -> Path:
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / "datasets"


def _env_dirs(*subdirs: str) -> list[Path]:
    root = os.environ.get("CNNSPEC_DATA_DIR")
    if not root:
        return []
    return [Path(root) / s for s in subdirs]


def _missing(name: str, looked: list[str]) -> DataError:
    if not os.environ.get("CNNSPEC_DATA_DIR"):
        looked = ["$CNNSPEC_DATA_DIR (not set)", *looked]
    where = "; ".join(dict.fromkeys(looked)) or "nowhere"
    return _err(f"dataset {name!r} not found; looked in: {where}; to get it: {_HOW_TO_GET[name]}")


# --------------------------------------------------------------------------------------------
# IDX (MNIST / Fashion-MNIST)
# --------------------------------------------------------------------------------------------

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise _err(f"cannot read file: {e.strerror or e}", path) from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise _err(f"corrupt or truncated gzip file ({_one_line(e)})", path) from None
    if path.suffix == ".gz":
        raise _err("not a gzip file (bad gzip magic)", path)
    return raw


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Read one IDX file (gzipped or not), checking the magic number and the size."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise _err(f"truncated IDX file: {len(data)} bytes, no header", path)
    magic = int.from_bytes(data[:4], "big")
    zero, code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise _err(f"bad IDX magic number {magic} (0x{magic:08x})"
                   + (f", expected {expected_magic}" if expected_magic else ""), path)
    if expected_magic is not None and magic != expected_magic:
        raise _err(f"bad IDX magic number {magic}, expected {expected_magic} "
                   f"({'images' if expected_magic == 2051 else 'labels'})", path)
    header = 4 + 4 * ndim
    if len(data) < header:
        raise _err(f"truncated IDX header: {len(data)} bytes, expected {header}", path)
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[code])
    need = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) < need:
        raise _err(f"truncated IDX file: {len(data)} bytes, header {dims} needs {need}", path)
    if len(data) > need:
        raise _err(f"IDX file too long: {len(data)} bytes, header {dims} needs {need}", path)
    arr = np.frombuffer(data, dtype=dtype, count=int(np.prod(dims, dtype=np.int64)), offset=header)
    return arr.reshape(dims).astype(dtype.newbyteorder("="), copy=False)


_IDX_ROLES = {
    "x_train": ("train-images", "idx3", 2051),
    "y_train": ("train-labels", "idx1", 2049),
    "x_test": ("t10k-images", "idx3", 2051),
    "y_test": ("t10k-labels", "idx1", 2049),
}


def _idx_files(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """The four IDX files in ``folder`` (gz or not, '-' or '.' before idx), and the missing names."""
    found, missing = {}, []
    for role, (stem, kind, _magic) in _IDX_ROLES.items():
        names = [f"{stem}-{kind}-ubyte.gz", f"{stem}-{kind}-ubyte",
                 f"{stem}.{kind}-ubyte.gz", f"{stem}.{kind}-ubyte"]
        hit = next((folder / n for n in names if (folder / n).is_file()), None)
        if hit is None:
            missing.append(names[0])
        else:
            found[role] = hit
    return found, missing


def _load_idx_dir(name: str, folder: Path, class_names: list[str]) -> Dataset:
    found, missing = _idx_files(folder)
    if missing:
        raise _err(f"incomplete {name} IDX files: missing {', '.join(missing)}", folder)
    arrays = {role: read_idx(p, _IDX_ROLES[role][2]) for role, p in found.items()}
    for role in ("x_train", "x_test"):
        if arrays[role].ndim != 3:
            raise _err(f"images must be 3D (N, H, W), got {arrays[role].shape}", found[role])
    for role in ("y_train", "y_test"):
        if arrays[role].ndim != 1:
            raise _err(f"labels must be 1D (N,), got {arrays[role].shape}", found[role])
    for xr, yr in (("x_train", "y_train"), ("x_test", "y_test")):
        if len(arrays[xr]) != len(arrays[yr]):
            raise _err(f"{len(arrays[yr])} labels but {found[xr].name} has {len(arrays[xr])} images",
                       found[yr])
        if arrays[yr].size and arrays[yr].max() >= len(class_names):
            raise _err(f"label {int(arrays[yr].max())} out of range 0..{len(class_names) - 1}",
                       found[yr])
    return _build(name, arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
                  class_names, str(folder), folder)


def _load_fashion_mnist(path: str | None) -> Dataset:
    name = "fashion_mnist"
    if path is not None:
        p = Path(path)
        if not p.is_dir():
            raise _err("not a directory holding the 4 Fashion-MNIST IDX files", p)
        return _load_idx_dir(name, p, FASHION_MNIST_CLASSES)
    candidates = (_env_dirs("fashion_mnist", "fashion-mnist") + SYSTEM_DIRS.get(name, [])
                  + [_keras_datasets_dir() / "fashion-mnist"])
    looked = []
    for folder in candidates:
        looked.append(str(folder))
        if folder.is_dir() and not _idx_files(folder)[1]:
            return _load_idx_dir(name, folder, FASHION_MNIST_CLASSES)
    raise _missing(name, looked)


# --------------------------------------------------------------------------------------------
# npz (Keras mnist.npz layout)
# --------------------------------------------------------------------------------------------

_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _load_npz(path: Path, name: str | None = None, class_names: list[str] | None = None) -> Dataset:
    if not path.is_file():
        raise _err("no such npz file", path)
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise _err(f"cannot read file: {e.strerror or e}", path) from None
    if head not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise _err("not a .npz file (no zip header); expected arrays x_train, y_train, x_test, y_test "
                   "as written by numpy.savez", path)
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            missing = [k for k in _NPZ_KEYS if k not in keys]
            if missing:
                raise _err(f"npz lacks array(s) {', '.join(missing)} (has: {', '.join(sorted(keys)) or 'none'}); "
                           f"expected keys x_train, y_train, x_test, y_test", path)
            arrays = {k: z[k] for k in _NPZ_KEYS}
            if "class_names" in keys:
                cn = z["class_names"]
                if cn.ndim != 1:
                    raise _err(f"class_names has shape {cn.shape}, expected 1D", path)
                class_names = [c.decode() if isinstance(c, bytes) else str(c) for c in cn.tolist()]
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zlib.error, KeyError) as e:
        # np.load raises ValueError for non-npz files and for object arrays (pickles refused).
        raise _err(f"not a readable .npz file ({_one_line(e)})", path) from None
    except Exception as e:  # zipfile.BadZipFile and friends
        raise _err(f"not a readable .npz file ({type(e).__name__}: {_one_line(e)})", path) from None
    return _build(name or path.stem, arrays["x_train"], arrays["y_train"], arrays["x_test"],
                  arrays["y_test"], class_names, str(path), path)


def _load_mnist(path: str | None) -> Dataset:
    name = "mnist"

    def from_root(root: Path) -> Dataset | None:
        if root.is_file():
            return _load_npz(root, name, MNIST_CLASSES)
        if root.is_dir():
            if (root / "mnist.npz").is_file():
                return _load_npz(root / "mnist.npz", name, MNIST_CLASSES)
            if not _idx_files(root)[1]:
                return _load_idx_dir(name, root, MNIST_CLASSES)
        return None

    if path is not None:
        p = Path(path)
        ds = from_root(p)
        if ds is None:
            raise _err("neither mnist.npz nor a folder holding mnist.npz or the 4 MNIST IDX files", p)
        return ds
    looked = []
    for root in (_env_dirs("mnist", "mnist.npz") + SYSTEM_DIRS.get(name, [])
                 + [_keras_datasets_dir() / "mnist.npz", _keras_datasets_dir() / "mnist"]):
        looked.append(str(root))
        ds = from_root(root)
        if ds is not None:
            return ds
    if os.environ.get("CNNSPEC_DOWNLOAD", "").strip() not in ("", "0", "false", "no"):
        looked.append("keras.datasets.mnist.load_data() (download)")
        try:  # last resort, lazily: the only place TensorFlow/Keras may be imported here
            from keras.datasets import mnist as keras_mnist  # noqa: PLC0415

            (xtr, ytr), (xte, yte) = keras_mnist.load_data()
            return _build(name, xtr, ytr, xte, yte, MNIST_CLASSES, "keras.datasets.mnist", None)
        except DataError:
            raise
        except BaseException as e:  # noqa: BLE001 - download failures of every kind
            if isinstance(e, KeyboardInterrupt):
                raise
            looked[-1] += f" failed: {type(e).__name__}"
    raise _missing(name, looked)


# --------------------------------------------------------------------------------------------
# CIFAR python pickles
# --------------------------------------------------------------------------------------------

class _RestrictedUnpickler(pickle.Unpickler):
    """Only lets through what CIFAR's pickles need: numpy array reconstruction and plain data."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("_codecs", "encode"), ("codecs", "encode"),
        ("builtins", "bytearray"), ("__builtin__", "bytearray"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (not CIFAR data)")


def _unpickle(raw: bytes, file: object) -> dict:
    try:
        obj = _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:  # UnpicklingError, EOFError, ValueError, TypeError, ...
        raise _err(f"not a CIFAR python pickle ({type(e).__name__}: {_one_line(e)[:120]})", file) from None
    if not isinstance(obj, dict):
        raise _err(f"not a CIFAR python pickle: holds a {type(obj).__name__}, expected a dict", file)
    return {(k.decode("latin-1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


_CIFAR = {
    "cifar10": dict(folder="cifar-10-batches-py",
                    archives=["cifar-10-python.tar.gz", "cifar-10-batches-py.tar.gz"],
                    train=[f"data_batch_{i}" for i in range(1, 6)], test="test_batch",
                    meta="batches.meta", labels="labels", names="label_names", k=10),
    "cifar100": dict(folder="cifar-100-python",
                     archives=["cifar-100-python.tar.gz"],
                     train=["train"], test="test", meta="meta",
                     labels="fine_labels", names="fine_label_names", k=100),
}


class _DirSource:
    def __init__(self, folder: Path):
        self.folder = folder

    def has(self, member: str) -> bool:
        return (self.folder / member).is_file()

    def where(self, member: str) -> str:
        return str(self.folder / member)

    def read(self, member: str) -> bytes:
        try:
            return (self.folder / member).read_bytes()
        except OSError as e:
            raise _err(f"cannot read file: {e.strerror or e}", self.where(member)) from None


class _TarSource:
    def __init__(self, archive: Path):
        self.archive = archive
        try:
            self.tar = tarfile.open(archive, "r:*")
            self.members = {os.path.basename(m.name): m for m in self.tar.getmembers() if m.isfile()}
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            detail = "not a gzip/bzip2/xz/tar file" if "could not be opened" in str(e) else _one_line(e)[:120]
            raise _err(f"not a readable tar archive ({detail})", archive) from None

    def has(self, member: str) -> bool:
        return member in self.members

    def where(self, member: str) -> str:
        m = self.members.get(member)
        return f"{self.archive}!{m.name if m else member}"

    def read(self, member: str) -> bytes:
        try:
            f = self.tar.extractfile(self.members[member])
            return f.read() if f else b""
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            raise _err(f"corrupt or truncated archive ({_one_line(e)})", self.where(member)) from None


def _cifar_source(cfg: dict, root: Path):
    """A source for ``root`` (archive, batches folder, or folder holding either), or None."""
    if root.is_file():
        return _TarSource(root)
    if not root.is_dir():
        return None
    if (root / cfg["meta"]).is_file() or (root / cfg["test"]).is_file():
        return _DirSource(root)
    if (root / cfg["folder"]).is_dir():
        return _DirSource(root / cfg["folder"])
    for a in cfg["archives"]:
        if (root / a).is_file():
            return _TarSource(root / a)
    return None


def _cifar_batch(src, member: str, cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    where = src.where(member)
    d = _unpickle(src.read(member), where)
    if "data" not in d or cfg["labels"] not in d:
        raise _err(f"not a CIFAR batch: keys {sorted(d)}, expected 'data' and '{cfg['labels']}'", where)
    try:
        data = np.asarray(d["data"])
        labels = np.asarray(d[cfg["labels"]])
    except Exception as e:
        raise _err(f"not a CIFAR batch: {_one_line(e)}", where) from None
    if data.ndim != 2 or data.shape[1] != 3072:
        raise _err(f"CIFAR data has shape {data.shape}, expected (N, 3072)", where)
    if data.dtype != np.uint8:
        if data.dtype.kind not in "iu" or (data.size and (data.min() < 0 or data.max() > 255)):
            raise _err(f"CIFAR data has dtype {data.dtype}, expected uint8", where)
        data = data.astype(np.uint8)
    y = _as_labels(labels, len(data), cfg["labels"], where)
    if y.size and y.max() >= cfg["k"]:
        raise _err(f"label {int(y.max())} out of range 0..{cfg['k'] - 1}", where)
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), y


def _load_cifar_from(name: str, src) -> Dataset:
    cfg = _CIFAR[name]
    for member in [cfg["meta"], *cfg["train"], cfg["test"]]:
        if not src.has(member):
            raise _err(f"incomplete {name}: missing {member}", src.where(member))
    meta_where = src.where(cfg["meta"])
    meta = _unpickle(src.read(cfg["meta"]), meta_where)
    names = meta.get(cfg["names"])
    if not isinstance(names, (list, tuple)) or len(names) != cfg["k"]:
        raise _err(f"not CIFAR meta: expected '{cfg['names']}' with {cfg['k']} names", meta_where)
    class_names = [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names]
    parts = [_cifar_batch(src, m, cfg) for m in cfg["train"]]
    xte, yte = _cifar_batch(src, cfg["test"], cfg)
    xtr = np.concatenate([p[0] for p in parts])
    ytr = np.concatenate([p[1] for p in parts])
    source = str(getattr(src, "archive", None) or src.folder)
    return _build(name, xtr, ytr, xte, yte, class_names, source, source)


def _load_cifar(name: str, path: str | None) -> Dataset:
    cfg = _CIFAR[name]
    if path is not None:
        src = _cifar_source(cfg, Path(path))
        if src is None:
            raise _err(f"no {cfg['folder']}/ folder or {cfg['archives'][0]} archive here", path)
        return _load_cifar_from(name, src)
    looked = []
    for root in (_env_dirs(name, "") + SYSTEM_DIRS.get(name, []) + [_keras_datasets_dir()]):
        looked.extend(str(root / n) for n in [cfg["folder"], *cfg["archives"]])
        src = _cifar_source(cfg, root)
        if src is not None:
            return _load_cifar_from(name, src)
    raise _missing(name, looked)


# --------------------------------------------------------------------------------------------
# scikit-learn digits, the embedded sample
# --------------------------------------------------------------------------------------------

def _stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
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


def _load_digits(seed: int) -> Dataset:
    try:
        from sklearn.datasets import load_digits  # lazy: scikit-learn is optional
    except ImportError:
        raise _err("dataset 'digits' needs scikit-learn: pip install scikit-learn") from None
    d = load_digits()
    x = np.asarray(d.images).round().astype(np.uint8)[..., np.newaxis]  # values 0..16
    y = np.asarray(d.target, dtype=np.int64)
    tr, te = _stratified_split(y, TEST_FRACTION, seed)
    return _build("digits", x[tr], y[tr], x[te], y[te], MNIST_CLASSES,
                  "sklearn.datasets.load_digits", None, value_range=16.0)


def _load_sample() -> Dataset:
    if not SAMPLE_PATH.is_file():
        raise _err("the embedded sample is missing from the installed package; regenerate it with "
                   "`python benchmarks/make_sample.py`", SAMPLE_PATH)
    ds = _load_npz(SAMPLE_PATH, "fashion_mnist_sample", FASHION_MNIST_CLASSES)
    ds.source = "embedded sample"
    return ds


# --------------------------------------------------------------------------------------------
# Image folders
# --------------------------------------------------------------------------------------------

_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


def _class_dirs(root: Path) -> list[Path]:
    try:
        return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                      key=lambda p: p.name)
    except OSError as e:
        raise _err(f"cannot list folder: {e.strerror or e}", root) from None


def _scan_split(root: Path, class_names: list[str] | None) -> tuple[list[tuple[Path, int]], list[str], int]:
    """(file, label) pairs in a folder of class folders, the class names, and skipped files."""
    dirs = _class_dirs(root)
    if not dirs:
        raise _err("empty image folder: expected one sub-folder per class holding PNG/JPEG files", root)
    names = [d.name for d in dirs]
    if class_names is None:
        class_names = names
    else:
        extra = [n for n in names if n not in class_names]
        if extra:
            raise _err(f"class folder(s) {', '.join(extra)} not in train/ ({', '.join(class_names)})", root)
    items, skipped = [], 0
    for d in dirs:
        label = class_names.index(d.name)
        files = sorted(p for p in d.iterdir() if p.is_file() and not p.name.startswith("."))
        imgs = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
        skipped += len(files) - len(imgs)
        if not imgs:
            raise _err("empty class folder: no .png/.jpg/.jpeg images", d)
        items.extend((p, label) for p in imgs)
    return items, class_names, skipped


def _load_folder(root: Path, seed: int) -> Dataset:
    try:
        from PIL import Image, UnidentifiedImageError  # lazy: pillow is optional
    except ImportError:
        raise _err("image folders need Pillow: pip install pillow") from None
    if not root.is_dir():
        raise _err("no such image folder", root)
    has_split = (root / "train").is_dir() and (root / "test").is_dir()
    if has_split:
        train_items, class_names, sk1 = _scan_split(root / "train", None)
        test_items, _, sk2 = _scan_split(root / "test", class_names)
        skipped = sk1 + sk2
        items = train_items + test_items
    else:
        items, class_names, skipped = _scan_split(root, None)

    # Pass 1: headers only, to pick the common size and mode.
    sizes, modes = Counter(), Counter()
    for p, _ in items:
        try:
            with Image.open(p) as im:
                sizes[im.size] += 1
                modes["L" if im.mode in _GRAY_MODES else "RGB"] += 1
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise _err(f"not a readable image ({_one_line(e)[:100]})", p) from None
    size = sizes.most_common(1)[0][0]  # ties: the size seen first (files are in sorted order)
    mode = "L" if modes["L"] > modes["RGB"] else "RGB"
    resized = sum(n for s, n in sizes.items() if s != size)

    # Pass 2: decode, convert to the majority mode, resize to the most common size.
    x = np.empty((len(items), size[1], size[0], 1 if mode == "L" else 3), dtype=np.uint8)
    for i, (p, _) in enumerate(items):
        try:
            with Image.open(p) as im:
                if im.mode in ("I", "I;16", "I;16B", "I;16L", "F") and mode == "L":
                    arr = np.asarray(im, dtype=np.float64)
                    hi = 65535.0 if im.mode.startswith("I") and arr.max(initial=0) > 255 else 255.0
                    im2 = Image.fromarray(np.clip(arr * (255.0 / hi), 0, 255).astype(np.uint8), "L")
                else:
                    im2 = im.convert(mode)
                if im2.size != size:
                    im2 = im2.resize(size, Image.Resampling.BILINEAR)
                a = np.asarray(im2, dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
            raise _err(f"corrupt image ({_one_line(e)[:100]})", p) from None
        x[i] = a.reshape(x.shape[1:])
    y = np.asarray([lab for _, lab in items], dtype=np.int64)

    notes = []
    if skipped:
        notes.append(f"skipped {skipped} non-image file(s)")
    if resized:
        notes.append(f"resized {resized} image(s) to {size[0]}x{size[1]}")
    if sum(modes.values()) != max(modes.values()):
        notes.append(f"converted all images to {mode}")
    if has_split:
        n = len(train_items)
        rng = np.random.default_rng(seed)
        tr, te = rng.permutation(n), n + rng.permutation(len(test_items))
    else:
        tr, te = _stratified_split(y, TEST_FRACTION, seed)
    return _build(root.name or str(root), x[tr], y[tr], x[te], y[te], class_names, str(root), root,
                  value_range=255.0, notes=notes)


# --------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------

_NAMES = ["sample", "fashion_mnist", "mnist", "cifar10", "cifar100", "digits"]
_ALIASES = {"default": "sample", "fashion_mnist_sample": "sample", "fashionmnist": "fashion_mnist",
            "cifar_10": "cifar10", "cifar_100": "cifar100"}


def dataset_names() -> list[str]:
    """Names ``load_dataset`` accepts (plus ``npz:PATH``, ``folder:PATH`` or a folder path)."""
    return [*_NAMES, "npz:PATH", "folder:PATH"]


def _apply_limit(ds: Dataset, limit: int | None) -> Dataset:
    if limit is None:
        return ds
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise _err(f"limit must be a positive integer, got {limit!r}")
    return replace(ds, x_train=ds.x_train[:limit], y_train=ds.y_train[:limit],
                   x_test=ds.x_test[:limit], y_test=ds.y_test[:limit], notes=list(ds.notes))


def load_dataset(name: str | None = "sample", *, path: str | None = None, limit: int | None = None,
                 seed: int = 0) -> Dataset:
    """Load a dataset by name; see ``dataset_names()`` and docs/data.md.

    ``path`` overrides the search for fashion_mnist, mnist, cifar10 and cifar100 (only that
    place is looked at) and gives the file/folder for ``npz`` and ``folder``. ``limit`` keeps
    the first ``limit`` train and at most ``limit`` test images. ``seed`` drives the
    deterministic train/test split of ``digits`` and image folders without train/test.
    """
    try:
        ds = _dispatch(name, path, seed)
        return _apply_limit(ds, limit)
    except DataError:
        raise
    except MemoryError:
        raise _err(f"out of memory loading dataset {name!r}") from None
    except Exception as e:  # never a traceback: anything unforeseen becomes one line
        raise _err(f"cannot load dataset {name!r}: {type(e).__name__}: {e}", path) from None


def _dispatch(name: str | None, path: str | None, seed: int) -> Dataset:
    raw = "sample" if name is None else str(name).strip()
    if raw.startswith("npz:"):
        return _load_npz(Path(os.path.expanduser(raw[4:])))
    if raw.startswith("folder:"):
        return _load_folder(Path(os.path.expanduser(raw[7:])), seed)
    key = raw.lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key == "npz" and path is not None:
        return _load_npz(Path(path))
    if key == "folder" and path is not None:
        return _load_folder(Path(path), seed)
    if key == "sample":
        return _load_sample()
    if key == "fashion_mnist":
        return _load_fashion_mnist(path)
    if key == "mnist":
        return _load_mnist(path)
    if key in _CIFAR:
        return _load_cifar(key, path)
    if key == "digits":
        return _load_digits(seed)
    p = Path(os.path.expanduser(raw))
    if p.is_dir():
        return _load_folder(p, seed)
    if p.is_file() and p.suffix == ".npz":
        return _load_npz(p)
    close = difflib.get_close_matches(key, _NAMES, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise _err(f"unknown dataset {raw!r}: {hint}choose one of {', '.join(dataset_names())}, "
               f"or give an existing image folder or .npz path")
