"""The dataset registry: one :class:`Source` subclass per named dataset, and :func:`load_dataset`.

Adding a dataset is one class here (or in a module imported here): its ``name``, ``aliases``,
``how_to_get`` (printed when it is missing), the system folders searched, and ``load(path, seed)``.
``npz:PATH`` and ``folder:PATH`` (or a bare existing path) load files without a registered name.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import numpy as np

from cnnspec.data.dataset import Dataset, build, data_error, stratified_split
from cnnspec.data.formats import CIFAR, cifar_source, idx_files, load_cifar_from, load_idx_dir, load_npz
from cnnspec.data.images import TEST_FRACTION, load_folder
from cnnspec.errors import DataError
from cnnspec.util import did_you_mean

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

REGISTRY: dict[str, "Source"] = {}


class Source:
    """A named dataset: how to find it, how to load it, and what to tell a user who lacks it."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    how_to_get: ClassVar[str] = ""
    takes_path: ClassVar[bool] = True  # False: built in, a --data-path would be ignored (refused instead)

    def load(self, path: str | None, seed: int) -> Dataset:
        """Load the dataset; ``path`` (when given) is the only place looked at."""
        raise NotImplementedError

    def missing(self, looked: list[str]) -> DataError:
        """The one-line error for a dataset found nowhere."""
        if not os.environ.get("CNNSPEC_DATA_DIR"):
            looked = ["$CNNSPEC_DATA_DIR (not set)", *looked]
        where = "; ".join(dict.fromkeys(looked)) or "nowhere"
        return data_error(f"dataset {self.name!r} not found; looked in: {where}; to get it: {self.how_to_get}")


def register(cls: type[Source]) -> type[Source]:
    """Class decorator: make ``cls`` loadable by its name and aliases."""
    REGISTRY[cls.name] = cls()
    return cls


def _keras_datasets_dir() -> Path:
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / "datasets"


def _env_dirs(*subdirs: str) -> list[Path]:
    root = os.environ.get("CNNSPEC_DATA_DIR")
    if not root:
        return []
    return [Path(root) / s for s in subdirs]


@register
class Sample(Source):
    """The real Fashion-MNIST sample shipped inside the package (3000 train, 1000 test images)."""

    name = "sample"
    aliases = ("default", "fashion_mnist_sample")
    takes_path = False
    how_to_get = "reinstall cnnspec, or regenerate it with `python benchmarks/make_sample.py`"

    def load(self, path, seed):
        if not SAMPLE_PATH.is_file():
            raise data_error("the embedded sample is missing from the installed package; regenerate it with "
                             "`python benchmarks/make_sample.py`", SAMPLE_PATH)
        ds = load_npz(SAMPLE_PATH, "fashion_mnist_sample", FASHION_MNIST_CLASSES)
        ds.source = "embedded sample"
        return ds


@register
class FashionMNIST(Source):
    """Fashion-MNIST from its 4 IDX files (Debian's dataset-fashion-mnist, or a folder given)."""

    name = "fashion_mnist"
    aliases = ("fashionmnist",)
    how_to_get = ("install Debian's package with `apt-get install dataset-fashion-mnist`, or put the "
                  "4 IDX files from https://github.com/zalandoresearch/fashion-mnist (data/fashion) "
                  "into $CNNSPEC_DATA_DIR/fashion_mnist/")

    def load(self, path, seed):
        name = self.name
        if path is not None:
            p = Path(path)
            if not p.is_dir():
                raise data_error("not a directory holding the 4 Fashion-MNIST IDX files", p)
            return load_idx_dir(name, p, FASHION_MNIST_CLASSES)
        candidates = (_env_dirs("fashion_mnist", "fashion-mnist") + SYSTEM_DIRS.get(name, [])
                      + [_keras_datasets_dir() / "fashion-mnist"])
        looked = []
        for folder in candidates:
            looked.append(str(folder))
            if folder.is_dir() and not idx_files(folder)[1]:
                return load_idx_dir(name, folder, FASHION_MNIST_CLASSES)
        raise self.missing(looked)


@register
class MNIST(Source):
    """MNIST from mnist.npz (Keras's layout) or its 4 IDX files."""

    name = "mnist"
    how_to_get = ("put mnist.npz from https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz "
                  "(or the 4 IDX .gz files) into $CNNSPEC_DATA_DIR/mnist/ or ~/.keras/datasets/, "
                  "or set CNNSPEC_DOWNLOAD=1 on a machine with internet")

    def load(self, path, seed):
        name = self.name

        def from_root(root: Path) -> Dataset | None:
            if root.is_file():
                return load_npz(root, name, MNIST_CLASSES)
            if root.is_dir():
                if (root / "mnist.npz").is_file():
                    return load_npz(root / "mnist.npz", name, MNIST_CLASSES)
                if not idx_files(root)[1]:
                    return load_idx_dir(name, root, MNIST_CLASSES)
            return None

        if path is not None:
            p = Path(path)
            ds = from_root(p)
            if ds is None:
                raise data_error("neither mnist.npz nor a folder holding mnist.npz or the 4 MNIST IDX files", p)
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
            try:  # last resort: Keras's downloader (imports TensorFlow)
                from cnnspec.keras.datasets import download_mnist

                (xtr, ytr), (xte, yte) = download_mnist()
                return build(name, xtr, ytr, xte, yte, MNIST_CLASSES, "keras.datasets.mnist", None)
            except DataError:
                raise
            except BaseException as e:  # noqa: BLE001 - download failures of every kind
                if isinstance(e, KeyboardInterrupt):
                    raise
                looked[-1] += f" failed: {type(e).__name__}"
        raise self.missing(looked)


class _Cifar(Source):
    """CIFAR python pickles: the tar.gz archive or its extracted folder."""

    def load(self, path, seed):
        name = self.name
        cfg = CIFAR[name]
        if path is not None:
            src = cifar_source(cfg, Path(path))
            if src is None:
                raise data_error(f"no {cfg['folder']}/ folder or {cfg['archives'][0]} archive here", path)
            return load_cifar_from(name, src)
        looked = []
        for root in (_env_dirs(name, "") + SYSTEM_DIRS.get(name, []) + [_keras_datasets_dir()]):
            looked.extend(str(root / n) for n in [cfg["folder"], *cfg["archives"]])
            src = cifar_source(cfg, root)
            if src is not None:
                return load_cifar_from(name, src)
        raise self.missing(looked)


@register
class Cifar10(_Cifar):
    """CIFAR-10 (python version)."""

    name = "cifar10"
    aliases = ("cifar_10",)
    how_to_get = ("download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and put it "
                  "(or its extracted cifar-10-batches-py/) into $CNNSPEC_DATA_DIR/cifar10/")


@register
class Cifar100(_Cifar):
    """CIFAR-100 (python version, fine labels)."""

    name = "cifar100"
    aliases = ("cifar_100",)
    how_to_get = ("download https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz and put it "
                  "(or its extracted cifar-100-python/) into $CNNSPEC_DATA_DIR/cifar100/")


@register
class Digits(Source):
    """scikit-learn's bundled 8x8 digits (values 0..16), split 80/20 stratified by ``seed``."""

    name = "digits"
    how_to_get = "pip install scikit-learn"
    takes_path = False

    def load(self, path, seed):
        try:
            from sklearn.datasets import load_digits  # lazy: scikit-learn is optional
        except ImportError as exc:
            raise data_error("dataset 'digits' needs scikit-learn: pip install scikit-learn") from exc
        d = load_digits()
        x = np.asarray(d.images).round().astype(np.uint8)[..., np.newaxis]  # values 0..16
        y = np.asarray(d.target, dtype=np.int64)
        tr, te = stratified_split(y, TEST_FRACTION, seed)
        return build("digits", x[tr], y[tr], x[te], y[te], MNIST_CLASSES,
                      "sklearn.datasets.load_digits", None, value_range=16.0)


# --------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------

def _aliases() -> dict[str, str]:
    return {a: s.name for s in REGISTRY.values() for a in (s.name, *s.aliases)}


def dataset_names() -> list[str]:
    """Names ``load_dataset`` accepts (plus ``npz:PATH``, ``folder:PATH`` or a folder path)."""
    return [*REGISTRY, "npz:PATH", "folder:PATH"]


def _apply_limit(ds: Dataset, limit: int | None) -> Dataset:
    if limit is None:
        return ds
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise data_error(f"limit must be a positive integer, got {limit!r}")
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
    except MemoryError as e:
        raise data_error(f"out of memory loading dataset {name!r}") from e
    except Exception as e:  # never a traceback: anything unforeseen becomes one line
        raise data_error(f"cannot load dataset {name!r}: {type(e).__name__}: {e}", path) from e


def _dispatch(name: str | None, path: str | None, seed: int) -> Dataset:
    raw = "sample" if name is None else str(name).strip()
    if path is not None and raw.startswith(("npz:", "folder:")):
        raise data_error(f"--data {raw} already names its files: drop --data-path, or give --data "
                         f"{raw.split(':', 1)[0]} --data-path PATH")
    if raw.startswith("npz:"):
        return load_npz(Path(os.path.expanduser(raw[4:])))
    if raw.startswith("folder:"):
        return load_folder(Path(os.path.expanduser(raw[7:])), seed)
    key = raw.lower().replace("-", "_")
    key = _aliases().get(key, key)
    if key == "npz" and path is not None:
        return load_npz(Path(path))
    if key == "folder" and path is not None:
        return load_folder(Path(path), seed)
    if key in REGISTRY:
        if path is not None and not REGISTRY[key].takes_path:
            raise data_error(f"dataset {key!r} is built in and reads no files, so --data-path {path} would be "
                             "ignored: drop it, or load your files with --data npz:PATH or --data folder:PATH")
        return REGISTRY[key].load(path, seed)
    p = Path(os.path.expanduser(raw))
    if p.is_dir():
        return load_folder(p, seed)
    if p.is_file() and p.suffix == ".npz":
        return load_npz(p)
    hint = did_you_mean(key, list(REGISTRY))
    raise data_error(f"unknown dataset {raw!r}: {hint}choose one of {', '.join(dataset_names())}, "
                     f"or give an existing image folder or .npz path")
