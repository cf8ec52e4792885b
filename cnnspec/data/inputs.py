"""Data for a model with several inputs: one array per model input, keyed by the Input row's name.

An ``.npz`` holds ``x_train_<name>`` and ``x_test_<name>`` for every input ``<name>`` of the spec
(``x_train_image``, ``x_train_meta`` ...), ``y_train``, ``y_test`` and optionally ``class_names``,
as ``numpy.savez(path, x_train_image=..., x_train_meta=..., ...)`` writes it. uint8 arrays are
pixels (scaled as the train section says); other arrays are fed as stored (float32). Pure numpy.
"""
from __future__ import annotations

import hashlib
import os
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from cnnspec.data.dataset import as_labels, balanced_indices, data_error, one_line
from cnnspec.data.formats import _check_npz_sizes
from cnnspec.errors import DataError


@dataclass
class InputsDataset:
    """Train and test arrays per model input (dicts keyed by input name), labels and class names."""

    name: str
    x_train: dict[str, np.ndarray]
    y_train: np.ndarray
    x_test: dict[str, np.ndarray]
    y_test: np.ndarray
    class_names: list[str]
    source: str
    value_range: float = 255.0
    notes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The first input's shape (what a one-input record shows)."""
        return tuple(int(d) for d in next(iter(self.x_train.values())).shape[1:])

    def fingerprint(self) -> str:
        """sha256 (16 hex chars) over every array (names, dtypes, shapes, bytes) and the class names."""
        h = hashlib.sha256()
        parts = [(f"x_train_{k}", v) for k, v in self.x_train.items()] + [("y_train", self.y_train)]
        parts += [(f"x_test_{k}", v) for k, v in self.x_test.items()] + [("y_test", self.y_test)]
        for label, arr in parts:
            arr = np.ascontiguousarray(arr)
            h.update(f"{label}:{arr.dtype.str}:{arr.shape};".encode())
            h.update(arr.tobytes())
        h.update(("\x00".join(self.class_names)).encode("utf-8"))
        return h.hexdigest()[:16]

    def subset(self, train: int | None = None, test: int | None = None, seed: int = 0) -> "InputsDataset":
        """A deterministic, class-balanced subset (as :meth:`cnnspec.data.Dataset.subset`)."""
        tr = balanced_indices(self.y_train, train, seed, "train")
        te = balanced_indices(self.y_test, test, seed + 1, "test")
        return replace(self, x_train={k: v[tr] for k, v in self.x_train.items()}, y_train=self.y_train[tr],
                       x_test={k: v[te] for k, v in self.x_test.items()}, y_test=self.y_test[te])


def npz_of(dataset: str, data_path: str | None) -> Path | None:
    """The npz file a train section names (``npz:FILE``, ``npz`` with a data path, or a path ending .npz)."""
    raw = str(dataset).strip()
    if raw.startswith("npz:"):
        return Path(os.path.expanduser(raw[4:]))
    if raw == "npz" and data_path:
        return Path(data_path)
    if raw.lower().endswith(".npz"):
        return Path(os.path.expanduser(raw))
    return None


def _array(x, key: str, n: int | None, path: Path) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == object or x.dtype.kind not in "uifb" or x.ndim < 2:
        raise data_error(f"{key} has dtype {x.dtype} and shape {x.shape}: expected a numeric (N, ...) array", path)
    if x.dtype.kind == "f" and x.size and not np.isfinite(x).all():
        raise data_error(f"{key} contains NaN or infinite values", path)
    if n is not None and len(x) != n:
        raise data_error(f"{key} has {len(x)} examples but y_{key.split('_')[1]} has {n} labels", path)
    return x if x.dtype == np.uint8 else x.astype(np.float32)


def load_inputs_npz(path: Path, names: list[str], limit: int | None = None) -> InputsDataset:
    """The arrays of ``names`` (the spec's inputs) from an npz; one-line DataError for what is missing or wrong."""
    if not path.is_file():
        raise data_error("no such npz file", path)
    _check_npz_sizes(path)
    want = [f"x_{s}_{n}" for s in ("train", "test") for n in names] + ["y_train", "y_test"]
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in want if k not in z.files]
            if missing:
                raise data_error(f"npz lacks {', '.join(missing)} (has: {', '.join(sorted(z.files)) or 'none'}); a "
                                 f"model with inputs {', '.join(names)} needs {', '.join(want)}", path)
            ytr = as_labels(z["y_train"], len(z["y_train"]), "y_train", path)
            yte = as_labels(z["y_test"], len(z["y_test"]), "y_test", path)
            xtr = {n: _array(z[f"x_train_{n}"], f"x_train_{n}", len(ytr), path) for n in names}
            xte = {n: _array(z[f"x_test_{n}"], f"x_test_{n}", len(yte), path) for n in names}
            names_arr = z["class_names"].tolist() if "class_names" in z.files else None
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zlib.error, KeyError) as e:
        raise data_error(f"not a readable .npz file ({one_line(e)})", path) from e
    if len(ytr) == 0:
        raise data_error("the training split is empty", path)
    for n in names:
        if xtr[n].shape[1:] != xte[n].shape[1:]:
            raise data_error(f"x_train_{n} is {xtr[n].shape[1:]} per example but x_test_{n} is {xte[n].shape[1:]}",
                             path)
    top = int(max(ytr.max(initial=0), yte.max(initial=0)))
    classes = [c.decode() if isinstance(c, bytes) else str(c) for c in names_arr] if names_arr else \
        [str(i) for i in range(top + 1)]
    if top >= len(classes):
        raise data_error(f"labels go up to {top} but there are {len(classes)} class names", path)
    if limit is not None:  # the first ``limit`` examples of each split, as load_dataset's limit
        xtr, ytr = {k: v[:limit] for k, v in xtr.items()}, ytr[:limit]
        xte, yte = {k: v[:limit] for k, v in xte.items()}, yte[:limit]
    return InputsDataset(path.stem, xtr, ytr, xte, yte, classes, str(path))
