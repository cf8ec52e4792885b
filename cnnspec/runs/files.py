"""Every file cnnspec writes goes through here: atomic writes (a temporary file in the same
folder, fsync, rename) and :func:`check_output`, which refuses an output path that resolves to an
input. Also the history.csv format. Pure Python."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from cnnspec.errors import CnnspecError

_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def _replacing(path: Path, tmp: str | Path):
    """Move ``tmp`` over ``path`` when the block succeeds; remove ``tmp`` when it fails."""
    try:
        yield
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (best effort: not every file system lets a folder be fsynced)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _target(path: str | Path) -> Path:
    """The file a write to ``path`` replaces: a symlink's target (the link stays a link)."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)


def atomic_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: readers see the old file or the whole new one.

    A symlink at ``path`` is followed (its target is replaced), so a link stays a link."""
    path = _target(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with _replacing(path, tmp):
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def atomic_text(path: str | Path, text: str) -> None:
    """:func:`atomic_bytes` of UTF-8 text."""
    atomic_bytes(path, text.encode("utf-8"))


def atomic_json(path: str | Path, obj: Any) -> None:
    """:func:`atomic_bytes` of indented JSON (numpy scalars and arrays converted)."""
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
    """history.csv text: the fixed columns first, then any other metric in order of appearance."""
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
    """history.csv rows (``epoch`` int, numbers float, empty cells None); [] if there is no file."""
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
    """``model.save`` to a temporary ``.keras`` file beside ``path``, fsync, then os.replace."""
    path = _target(path)
    tmp = path.parent / f".{path.stem}.tmp-{os.getpid()}.keras"
    with _replacing(path, tmp):
        model.save(str(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())


def read_json(path: str | Path) -> Any:
    """Parse a JSON file (raises OSError / ValueError; callers turn them into one-line errors)."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` name one file: equal after resolving links, or (both existing)
    the same inode, which also catches hard links and case-insensitive file systems."""
    a, b = Path(a), Path(b)
    try:
        if a.resolve() == b.resolve():
            return True
    except (OSError, RuntimeError):  # a symlink loop: compare what exists below
        pass
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output(out: str | Path, inputs: Iterable[str | Path] = (), *, what: str = "output") -> Path:
    """Refuse an output path cnnspec must not write: one that resolves to one of ``inputs``
    (through symlinks or hard links), an existing directory, or a path in a missing folder.
    Returns ``out`` as a Path. Nothing is written."""
    out = Path(out)
    for src in inputs:
        if src is not None and same_file(out, src):
            raise CnnspecError(f"the {what} is the input file {src} (writing it would destroy it): "
                               "choose another path",
                               file=str(out))
    if out.is_dir():
        raise CnnspecError(f"the {what} is a directory: give a file path", file=str(out))
    parent = out.resolve().parent if out.is_symlink() else out.parent
    if not parent.is_dir():
        raise CnnspecError(f"the {what}'s folder does not exist", file=str(out))
    return out
