"""The run directory contract, in one place (pure Python; see docs/training.md and docs/guarantees.md).

A run directory is recognised by its marker file :data:`MARKER`; it owns the files in
:data:`OWN_FILES` and nothing else (``--force`` removes only those, and only in a marked
directory). While a process trains, resumes or evaluates into it, it holds an exclusive
``fcntl.flock`` on :data:`LOCK_FILE`, which names the holder's pid. ``run.json`` records the
run's status, one of :data:`STATUSES`; every exit path writes its real status.
"""
from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cnnspec import __version__
from cnnspec.errors import CnnspecError
from cnnspec.runs.files import atomic_bytes, atomic_json, atomic_text, history_text, read_history

MARKER = ".cnnspec-run"
LOCK_FILE = ".cnnspec-lock"
RUN_JSON, STATE_JSON, CONFIG_JSON, SPEC_YAML = "run.json", "state.json", "config.json", "spec.yaml"
HISTORY_CSV, METRICS_JSON = "history.csv", "metrics.json"
MODEL, LAST_MODEL, SIDECAR = "model.keras", "last.keras", "model.cnnspec.json"
PLOTS = ("learning_curves.png", "confusion_matrix.png")
#: The files a run owns: --force removes these, and only these, before starting over.
OWN_FILES = (SPEC_YAML, CONFIG_JSON, HISTORY_CSV, METRICS_JSON, MODEL, SIDECAR, *PLOTS, RUN_JSON,
             LAST_MODEL, STATE_JSON)
#: Folders a run owns (TensorBoard logs, written by cnnspec.keras.tboard): --force removes them too.
TENSORBOARD_DIR = "tensorboard"
OWN_DIRS = (TENSORBOARD_DIR,)
#: With spec.yaml, files by which a directory written before the marker existed is still a run.
LEGACY_MARKERS = (RUN_JSON, STATE_JSON, CONFIG_JSON)
STATUSES = ("running", "finished", "interrupted", "failed", "diverged")


def _entries(n: int) -> str:
    return f"{n} entry" if n == 1 else f"{n} entries"


def prepare_output_dir(path: str | Path, force: bool, own: tuple[str, ...]) -> str | None:
    """The rule for every directory cnnspec fills (a baseline's run, an ensemble): it must be new, empty,
    or a directory cnnspec marked; a marked one is replaced only with ``force``, and then only its own
    files ``own`` are removed. Ordinary folders are never written into. Returns what was replaced."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise CnnspecError("--out must be a directory", file=str(out))
    if not out.exists():
        return None
    entries = [p.name for p in out.iterdir() if p.name != LOCK_FILE]
    if not entries:
        return None
    if not (out / MARKER).is_file():
        raise CnnspecError(f"is not empty and not a cnnspec output directory ({_entries(len(entries))}); "
                           "cnnspec never writes into other folders: choose another --out", file=str(out))
    if not force:
        raise CnnspecError("already holds cnnspec output: choose another --out or replace it with --force",
                           file=str(out))
    gone = [name for name in own if (out / name).is_file()]
    for name in gone:
        (out / name).unlink()
    return ", ".join(gone) or "nothing"


def now() -> str:
    """UTC time stamp as recorded in run.json."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunLocked(CnnspecError):
    """Another process holds the run directory's lock (exit 2, at once)."""


class RunInterrupted(CnnspecError):
    """Ctrl-C or SIGTERM stopped the run; it was recorded as interrupted (exit 130)."""

    exit_code = 130


class RunDiverged(CnnspecError):
    """The loss became NaN or infinite; the run was stopped and recorded as diverged (exit 1)."""

    exit_code = 1


class RunFailed(CnnspecError):
    """TensorFlow/Keras failed during a run (not bad input): recorded as failed, exit 3."""

    exit_code = 3


class RunLock:
    """An exclusive, non-blocking ``fcntl.flock`` on ``RUN_DIR/.cnnspec-lock`` holding our pid.

    The lock dies with the process (a SIGKILLed run leaves no stale lock behind)."""

    def __init__(self, folder: Path, name: str = LOCK_FILE):
        self.path = Path(folder) / name
        self.fd: int | None = None

    def acquire(self) -> "RunLock":
        """Take the lock (a no-op when held already) or raise :class:`RunLocked` naming the holder's pid."""
        import fcntl

        if self.fd is not None:
            return self

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise CnnspecError(f"cannot create the lock file: {exc.strerror or exc}",
                               file=str(self.path)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = self._holder(fd)
            os.close(fd)
            raise RunLocked(f"is in use by another cnnspec process (pid {holder}); wait for it to end",
                            file=str(self.path.parent)) from exc
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    @staticmethod
    def _holder(fd: int) -> str:
        for _ in range(20):  # the holder writes its pid right after taking the lock
            os.lseek(fd, 0, os.SEEK_SET)
            text = os.read(fd, 64).decode(errors="replace").strip()
            if text:
                return text
            time.sleep(0.01)
        return "unknown"

    def release(self) -> None:
        """Release the lock, emptying the pid (the file stays: removing it would race with a new holder)."""
        if self.fd is not None:
            import fcntl

            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


class RunDir:
    """One run directory: recognition, refusal rules, the lock and reading/writing its records."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock = RunLock(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # -- recognition ------------------------------------------------------------------------
    def is_marked(self) -> bool:
        """True when the directory carries cnnspec's marker file."""
        return (self.path / MARKER).is_file()

    def looks_like_run(self) -> bool:
        """Marked, or holding the records of a run made before the marker existed."""
        has = [(self.path / m).is_file() for m in (SPEC_YAML, *LEGACY_MARKERS)]
        return self.is_marked() or (has[0] and any(has[1:]))

    def describe(self) -> str:
        """A short description of the run held here, for messages (never raises)."""
        try:
            info = self.read_run()
        except CnnspecError:
            info = {}
        epochs = info.get("epochs_finished")
        parts = [f"status {info.get('status', '?')}"]
        if epochs is not None:
            parts.append(f"{epochs} epoch(s)")
        return f"run of {info.get('spec', '?')} ({', '.join(parts)})"

    def check_new(self, force: bool) -> str | None:
        """Refuse a directory a new run may not use; nothing is written.

        Returns a description of the run that ``force`` will replace (None when nothing is)."""
        out = self.path
        if out.exists() and not out.is_dir():
            raise CnnspecError("the run directory is a file", file=str(out))
        if not out.exists():
            return None
        entries = sorted(p.name for p in out.iterdir() if p.name != LOCK_FILE)
        if not entries:
            return None
        if not self.looks_like_run():
            raise CnnspecError(f"is not empty and not a cnnspec run directory ({_entries(len(entries))}); "
                               "cnnspec never writes into other folders: choose another --out",
                               file=str(out))
        if not force:
            raise CnnspecError(f"already holds a {self.describe()}: continue it with "
                               f"`cnnspec train --resume {out}` or replace it with --force", file=str(out))
        if not self.is_marked():
            raise CnnspecError(f"holds run files but no {MARKER} marker (made by an older cnnspec?); "
                               f"--force replaces only marked run directories: continue it with "
                               f"`cnnspec train --resume {out}` or remove it yourself", file=str(out))
        return self.describe()

    def check_resumable(self) -> None:
        """Refuse a directory that holds nothing to resume (one line; nothing written)."""
        if not self.path.is_dir():
            raise CnnspecError("no such run directory", file=str(self.path))
        if not (self.path / CONFIG_JSON).is_file() or not (self.path / SPEC_YAML).is_file():
            raise CnnspecError(f"is not a run directory (no {CONFIG_JSON}/{SPEC_YAML}): nothing to resume",
                               file=str(self.path))

    # -- reading ----------------------------------------------------------------------------
    def _read_object(self, name: str, missing: Any = None) -> dict:
        p = self.path / name
        if not p.exists():
            if missing is not None:
                return missing
            raise CnnspecError(f"{name} is missing", file=str(p))
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise CnnspecError(f"corrupt run record ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})",
                               file=str(p)) from exc
        if not isinstance(data, dict):
            raise CnnspecError("corrupt run record (not a JSON object)", file=str(p))
        return data

    def read_run(self) -> dict:
        """run.json ({} when absent); one-line CnnspecError when corrupt."""
        return self._read_object(RUN_JSON, missing={})

    def read_config(self) -> dict:
        """config.json (required); one-line CnnspecError when missing or corrupt."""
        conf = self._read_object(CONFIG_JSON)
        if not isinstance(conf.get("train"), dict):
            raise CnnspecError("corrupt run record (no 'train' mapping)", file=str(self.path / CONFIG_JSON))
        return conf

    def read_state(self) -> dict | None:
        """state.json, or None when the run never finished an epoch."""
        if not (self.path / STATE_JSON).exists():
            return None
        return self._read_object(STATE_JSON)

    def read_history(self, up_to: int) -> list[dict]:
        """history.csv rows of epochs 1..up_to (rows of an unfinished epoch are dropped)."""
        try:
            rows = read_history(self.path / HISTORY_CSV)
        except (OSError, ValueError, TypeError) as exc:
            raise CnnspecError(f"corrupt run record ({type(exc).__name__})",
                               file=str(self.path / HISTORY_CSV)) from exc
        return [r for r in rows if isinstance(r.get("epoch"), int) and r["epoch"] <= up_to]

    # -- writing (only while holding the lock) ------------------------------------------------
    def create(self) -> None:
        """mkdir -p the run directory (one-line error when impossible)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CnnspecError(f"cannot create the run directory: {exc.strerror or exc}",
                               file=str(self.path)) from exc

    def mark(self) -> None:
        """Write the marker that makes this a cnnspec run directory."""
        atomic_json(self.path / MARKER, {"cnnspec_run": 1, "cnnspec_version": __version__, "marked": now()})

    def clear_own_files(self) -> list[str]:
        """Remove the run's own files and folders (``--force``); other files are left alone. Returns the names."""
        import shutil

        gone = []
        for name in OWN_FILES:
            p = self.path / name
            if p.is_file() or p.is_symlink():
                p.unlink()
                gone.append(name)
        for name in OWN_DIRS:
            p = self.path / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
                gone.append(name + "/")
        return gone

    def clean_temporaries(self) -> None:
        """Remove temporary files a killed atomic write left behind."""
        for junk in self.path.glob(".*.tmp*"):
            junk.unlink(missing_ok=True)

    def write_json(self, name: str, obj: Any) -> None:
        """Atomically write one of the run's JSON records."""
        atomic_json(self.path / name, obj)

    def write_bytes(self, name: str, data: bytes) -> None:
        """Atomically write one of the run's files."""
        atomic_bytes(self.path / name, data)

    def write_history(self, rows: list[dict]) -> None:
        """Atomically write history.csv."""
        atomic_text(self.path / HISTORY_CSV, history_text(rows))

    def record(self, info: dict, status: str, **fields: Any) -> dict:
        """Set run.json's status (and end time unless still running) and write it."""
        if status not in STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        info.update(status=status, **fields)
        if status != "running":
            info["end_time"] = now()
        self.write_json(RUN_JSON, info)
        return info
