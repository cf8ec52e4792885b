"""Atomic file writes for run directories (tmp file in the same folder + os.replace), and the
metadata sidecar ``X.cnnspec.json`` shared with export/predict. Pure Python."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from cnnspec import __version__

_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def _replacing(path: Path, tmp: str | Path):
    """Move ``tmp`` over ``path`` when the block succeeds; remove ``tmp`` when it fails."""
    try:
        yield
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with _replacing(path, tmp):
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def atomic_text(path: str | Path, text: str) -> None:
    atomic_bytes(path, text.encode("utf-8"))


def atomic_json(path: str | Path, obj: Any) -> None:
    atomic_text(path, json.dumps(obj, indent=2, default=_default) + "\n")


def _default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(o)


HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"]


def history_text(rows: Iterable[dict]) -> str:
    rows = list(rows)
    cols = list(HISTORY_COLUMNS)
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _fmt(r.get(k)) for k in cols})
    return buf.getvalue()


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(round(v, 8)) if abs(v) >= 1e-6 or v == 0 else f"{v:.6g}"
    return v


def read_history(path: str | Path) -> list[dict]:
    p = Path(path)
    if not p.exists():
        return []
    out = []
    with open(p, newline="") as fh:
        for r in csv.DictReader(fh):
            row: dict[str, Any] = {}
            for k, v in r.items():
                if v in ("", None):
                    row[k] = None
                elif k == "epoch":
                    row[k] = int(v)
                else:
                    try:
                        row[k] = float(v)
                    except ValueError:
                        row[k] = v
            out.append(row)
    return out


def save_keras_atomic(model, path: str | Path) -> None:
    """``model.save`` to a temporary ``.keras`` file beside ``path``, then os.replace."""
    path = Path(path)
    tmp = path.parent / f".{path.stem}.tmp-{os.getpid()}.keras"
    with _replacing(path, tmp):
        model.save(str(tmp))


def sidecar(spec, class_names: list[str] | None, scale: float, offset: float = 0.0) -> dict:
    return {"class_names": class_names, "input_shape": list(spec.input_shape), "scale": scale,
            "offset": offset, "spec_name": spec.label, "spec_fingerprint": spec.fingerprint(),
            "cnnspec_version": __version__}


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
