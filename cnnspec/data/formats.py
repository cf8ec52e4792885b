"""File formats behind the datasets: IDX (MNIST/Fashion-MNIST), Keras-style .npz, CIFAR python pickles.

Every reader checks headers before it allocates: an array that cannot fit in the memory available
is refused with one line (see :func:`cnnspec.data.dataset.ensure_fits`); pickles go through a
restricted unpickler that only rebuilds numpy arrays and plain data.
"""
from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from cnnspec.errors import DataError
from cnnspec.data.dataset import Dataset, as_labels, build, data_error, ensure_fits, one_line


# IDX (MNIST / Fashion-MNIST) ------------------------------------------------------------

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _open_raw(path: Path):
    """A binary file object over ``path``'s content, gunzipping on the fly when it starts with the gzip magic."""
    try:
        f = open(path, "rb")
        magic = f.read(2)
        f.seek(0)
    except OSError as e:
        raise data_error(f"cannot read file: {e.strerror or e}", path) from e
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f, mode="rb")
    if path.suffix == ".gz":
        f.close()
        raise data_error("not a gzip file (bad gzip magic)", path)
    return f


def _read_exact(f, n: int, path: Path) -> bytes:
    """Up to ``n`` bytes (fewer at the end of the file), as one line of error on a corrupt stream."""
    try:
        return f.read(n)
    except (OSError, EOFError, zlib.error) as e:
        raise data_error(f"corrupt or truncated gzip file ({one_line(e)})", path) from e


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Read one IDX file (gzipped or not), checking the magic number and the size.

    The header is read first; the body is decompressed only up to the size the header declares,
    after checking that it fits in the memory available (a small .gz cannot inflate without bound).
    """
    path = Path(path)
    with _open_raw(path) as f:
        head = _read_exact(f, 4, path)
        if len(head) < 4:
            raise data_error(f"truncated IDX file: {len(head)} bytes, no header", path)
        magic = int.from_bytes(head, "big")
        zero, code, ndim = int.from_bytes(head[:2], "big"), head[2], head[3]
        if zero != 0 or code not in _IDX_DTYPES or ndim == 0:
            raise data_error(f"bad IDX magic number {magic} (0x{magic:08x})"
                             + (f", expected {expected_magic}" if expected_magic else ""), path)
        if expected_magic is not None and magic != expected_magic:
            raise data_error(f"bad IDX magic number {magic}, expected {expected_magic} "
                             f"({'images' if expected_magic == 2051 else 'labels'})", path)
        dims_raw = _read_exact(f, 4 * ndim, path)
        header = 4 + 4 * ndim
        if len(dims_raw) < 4 * ndim:
            raise data_error(f"truncated IDX header: {4 + len(dims_raw)} bytes, expected {header}", path)
        dims = tuple(int.from_bytes(dims_raw[4 * i: 4 * i + 4], "big") for i in range(ndim))
        dtype = np.dtype(_IDX_DTYPES[code])
        count = int(np.prod(dims, dtype=np.int64))
        body = count * dtype.itemsize
        ensure_fits(body, f"IDX array {dims}", path)
        data = _read_exact(f, body + 1, path)
    if len(data) < body:
        raise data_error(f"truncated IDX file: {header + len(data)} bytes, header {dims} needs {header + body}",
                         path)
    if len(data) > body:
        raise data_error(f"IDX file too long: header {dims} needs {header + body} bytes", path)
    arr = np.frombuffer(data, dtype=dtype, count=count)
    return arr.reshape(dims).astype(dtype.newbyteorder("="), copy=False)


_IDX_ROLES = {
    "x_train": ("train-images", "idx3", 2051),
    "y_train": ("train-labels", "idx1", 2049),
    "x_test": ("t10k-images", "idx3", 2051),
    "y_test": ("t10k-labels", "idx1", 2049),
}


def idx_files(folder: Path) -> tuple[dict[str, Path], list[str]]:
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


def load_idx_dir(name: str, folder: Path, class_names: list[str]) -> Dataset:
    """A dataset from the 4 IDX files (train/t10k images and labels) in ``folder``."""
    found, missing = idx_files(folder)
    if missing:
        raise data_error(f"incomplete {name} IDX files: missing {', '.join(missing)}", folder)
    arrays = {role: read_idx(p, _IDX_ROLES[role][2]) for role, p in found.items()}
    for role in ("x_train", "x_test"):
        if arrays[role].ndim != 3:
            raise data_error(f"images must be 3D (N, H, W), got {arrays[role].shape}", found[role])
    for role in ("y_train", "y_test"):
        if arrays[role].ndim != 1:
            raise data_error(f"labels must be 1D (N,), got {arrays[role].shape}", found[role])
    for xr, yr in (("x_train", "y_train"), ("x_test", "y_test")):
        if len(arrays[xr]) != len(arrays[yr]):
            raise data_error(f"{len(arrays[yr])} labels but {found[xr].name} has {len(arrays[xr])} images",
                       found[yr])
        if arrays[yr].size and arrays[yr].max() >= len(class_names):
            raise data_error(f"label {int(arrays[yr].max())} out of range 0..{len(class_names) - 1}",
                       found[yr])
    return build(name, arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
                  class_names, str(folder), folder)


# npz (Keras mnist.npz layout) ------------------------------------------------------------

def _check_npz_sizes(path: Path) -> None:
    """Read each member's .npy header (not its data) and refuse arrays that cannot fit in memory."""
    total = 0
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    shape, _, dtype = np.lib.format._read_array_header(f, version)
                total += int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error) as e:
        raise data_error(f"not a readable .npz file ({one_line(e)})", path) from e
    ensure_fits(total, "the arrays in this .npz", path)


_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_npz(path: Path, name: str | None = None, class_names: list[str] | None = None) -> Dataset:
    """A dataset from a Keras-style .npz (x_train, y_train, x_test, y_test, optional class_names);
    sizes are checked from the array headers first."""
    if not path.is_file():
        raise data_error("no such npz file", path)
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise data_error(f"cannot read file: {e.strerror or e}", path) from e
    if head not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise data_error("not a .npz file (no zip header); expected arrays x_train, y_train, x_test, y_test "
                   "as written by numpy.savez", path)
    _check_npz_sizes(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            missing = [k for k in _NPZ_KEYS if k not in keys]
            if missing:
                raise data_error(f"npz lacks array(s) {', '.join(missing)} (has: {', '.join(sorted(keys)) or 'none'}); "
                           f"expected keys x_train, y_train, x_test, y_test", path)
            arrays = {k: z[k] for k in _NPZ_KEYS}
            if "class_names" in keys:
                cn = z["class_names"]
                if cn.ndim != 1:
                    raise data_error(f"class_names has shape {cn.shape}, expected 1D", path)
                class_names = [c.decode() if isinstance(c, bytes) else str(c) for c in cn.tolist()]
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zlib.error, KeyError) as e:
        # np.load raises ValueError for non-npz files and for object arrays (pickles refused).
        raise data_error(f"not a readable .npz file ({one_line(e)})", path) from e
    except Exception as e:  # zipfile.BadZipFile and friends
        raise data_error(f"not a readable .npz file ({type(e).__name__}: {one_line(e)})", path) from e
    return build(name or path.stem, arrays["x_train"], arrays["y_train"], arrays["x_test"],
                  arrays["y_test"], class_names, str(path), path)


# CIFAR python pickles ------------------------------------------------------------

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
        raise data_error(f"not a CIFAR python pickle ({type(e).__name__}: {one_line(e)[:120]})", file) from e
    if not isinstance(obj, dict):
        raise data_error(f"not a CIFAR python pickle: holds a {type(obj).__name__}, expected a dict", file)
    return {(k.decode("latin-1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


CIFAR = {
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
            raise data_error(f"cannot read file: {e.strerror or e}", self.where(member)) from e


class _TarSource:
    def __init__(self, archive: Path):
        self.archive = archive
        try:
            self.tar = tarfile.open(archive, "r:*")
            self.members = {os.path.basename(m.name): m for m in self.tar.getmembers() if m.isfile()}
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            detail = "not a gzip/bzip2/xz/tar file" if "could not be opened" in str(e) else one_line(e)[:120]
            raise data_error(f"not a readable tar archive ({detail})", archive) from e

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
            raise data_error(f"corrupt or truncated archive ({one_line(e)})", self.where(member)) from e


def cifar_source(cfg: dict, root: Path):
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
        raise data_error(f"not a CIFAR batch: keys {sorted(d)}, expected 'data' and '{cfg['labels']}'", where)
    try:
        data = np.asarray(d["data"])
        labels = np.asarray(d[cfg["labels"]])
    except Exception as e:
        raise data_error(f"not a CIFAR batch: {one_line(e)}", where) from e
    if data.ndim != 2 or data.shape[1] != 3072:
        raise data_error(f"CIFAR data has shape {data.shape}, expected (N, 3072)", where)
    if data.dtype != np.uint8:
        if data.dtype.kind not in "iu" or (data.size and (data.min() < 0 or data.max() > 255)):
            raise data_error(f"CIFAR data has dtype {data.dtype}, expected uint8", where)
        data = data.astype(np.uint8)
    y = as_labels(labels, len(data), cfg["labels"], where)
    if y.size and y.max() >= cfg["k"]:
        raise data_error(f"label {int(y.max())} out of range 0..{cfg['k'] - 1}", where)
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), y


def load_cifar_from(name: str, src) -> Dataset:
    """CIFAR-10/100 from a source (folder or tar archive) holding the python pickles."""
    cfg = CIFAR[name]
    for member in [cfg["meta"], *cfg["train"], cfg["test"]]:
        if not src.has(member):
            raise data_error(f"incomplete {name}: missing {member}", src.where(member))
    meta_where = src.where(cfg["meta"])
    meta = _unpickle(src.read(cfg["meta"]), meta_where)
    names = meta.get(cfg["names"])
    if not isinstance(names, (list, tuple)) or len(names) != cfg["k"]:
        raise data_error(f"not CIFAR meta: expected '{cfg['names']}' with {cfg['k']} names", meta_where)
    class_names = [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names]
    parts = [_cifar_batch(src, m, cfg) for m in cfg["train"]]
    xte, yte = _cifar_batch(src, cfg["test"], cfg)
    xtr = np.concatenate([p[0] for p in parts])
    ytr = np.concatenate([p[1] for p in parts])
    source = str(getattr(src, "archive", None) or src.folder)
    return build(name, xtr, ytr, xte, yte, class_names, source, source)
