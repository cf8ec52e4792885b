"""Where trials run. Both executors start each trial as its own process
(``python -m cnnspec.experiments.worker TASK``), so a crash or an out-of-memory kill ends one trial
only, and TensorFlow's thread pools are set per trial before any op.

- :class:`LocalExecutor` (default): a pool of at most ``max_concurrent`` worker processes on this
  machine; no server.
- :class:`RayExecutor` (``--executor ray``): each trial is a Ray task (``num_cpus`` = the trial's
  threads) that runs the same worker process on whichever node Ray picks. Ray is imported only here.
  Run directories are written by the workers straight into the sweep directory, so on a
  multi-node cluster the sweep directory must be on storage every node mounts at the same path.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from cnnspec.errors import CnnspecError

POLL = 0.3


def cpu_count() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_concurrency(n_trials: int) -> int:
    """One trial per core (each with one TensorFlow thread): on the 2-core test machine two concurrent
    trials finished a 4-trial sweep faster than one trial with two threads (docs/results.md)."""
    return max(1, min(n_trials, cpu_count()))


def python_exe() -> str:
    """The Python to start workers with (inside R, reticulate's sys.executable may be R itself)."""
    exe = Path(sys.executable or "")
    if exe.name.startswith("python") and exe.exists():
        return str(exe)
    for cand in (Path(sys.prefix) / "bin" / "python3", Path(sys.prefix) / "bin" / "python"):
        if cand.exists():
            return str(cand)
    raise CnnspecError(f"cannot find the Python executable to start trials with (sys.executable is {exe})")


def worker_env() -> dict:
    """The environment of a worker process: this cnnspec first on the path, TF's logs quiet."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _tail(path: Path, n: int = 3) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])[-400:]


def exit_reason(code: int, log: Path) -> str:
    """A worker's exit code in words."""
    if code < 0:
        sig = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"worker process killed by {sig}{hint}"
    tail = _tail(log)
    return f"worker process exited with code {code}" + (f": {tail}" if tail else "")


class LocalExecutor:
    """At most ``max_concurrent`` trial processes at once on this machine."""

    name = "local"

    def __init__(self, max_concurrent: int, threads: int) -> None:
        self.max_concurrent = max(1, max_concurrent)
        self.threads = threads
        self.startup_seconds = 0.0

    def run(self, tasks: list[dict], done: Callable[[dict, int], None], stop: Callable[[], bool],
            started: Callable[[dict], None] = lambda t: None, tick: Callable[[], None] = lambda: None) -> None:
        """Run ``tasks``; ``done(task, exit_code)`` after each; when ``stop()`` turns true the running
        trials get SIGTERM (they record `interrupted` at once and resume later)."""
        queue = list(tasks)
        running: dict[int, tuple[subprocess.Popen, dict]] = {}
        env = worker_env()
        stopping = False
        try:
            while queue or running:
                while queue and len(running) < self.max_concurrent and not stop():
                    task = queue.pop(0)
                    log = open(task["log"], "ab")
                    p = subprocess.Popen([python_exe(), "-m", "cnnspec.experiments.worker", json.dumps(task)],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         preexec_fn=_die_with_parent)
                    log.close()
                    running[p.pid] = (p, task)
                    started(task)
                if stop() and not stopping:
                    stopping = True
                    queue.clear()
                    for p, _ in running.values():
                        p.send_signal(signal.SIGTERM)
                for pid, (p, task) in list(running.items()):
                    code = p.poll()
                    if code is not None:
                        del running[pid]
                        done(task, code)
                tick()
                time.sleep(POLL)
        finally:
            for p, task in running.values():  # an exception in the loop: do not leave orphans
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()

    def close(self) -> None:
        """Nothing to release."""


def _ray_trial(task_json: str, env: dict) -> int:
    """Body of a Ray task: the worker process, as locally. Uses only the standard library, so the
    function travels to any node by value."""
    import ctypes as _c
    import signal as _s
    import subprocess as _sp
    import sys as _sys

    def pdeath():
        try:
            _c.CDLL("libc.so.6").prctl(1, _s.SIGTERM)
        except OSError:
            pass

    task = __import__("json").loads(task_json)
    with open(task["log"], "ab") as log:
        p = _sp.Popen([_sys.executable, "-m", "cnnspec.experiments.worker", task_json], stdin=_sp.DEVNULL,
                      stdout=log, stderr=_sp.STDOUT, env={**__import__("os").environ, **env}, preexec_fn=pdeath)
        try:
            return p.wait()
        except BaseException:
            p.send_signal(_s.SIGTERM)
            p.wait()
            raise


def _has_ray_token() -> bool:
    """A Ray auth token is configured (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    return Path(path).is_file()


class RayExecutor:
    """Trials as Ray tasks: a local Ray started for the sweep, or a cluster (``address``/RAY_ADDRESS)."""

    name = "ray"

    def __init__(self, max_concurrent: int, threads: int, address: str | None = None) -> None:
        address = address or os.environ.get("RAY_ADDRESS") or None
        if address and "RAY_AUTH_MODE" not in os.environ and _has_ray_token():
            # Ray 2.60 clusters started with `ray start` use token auth when a token exists, but a driver
            # joining an explicit address sends it only in token mode (read when ray is imported)
            os.environ["RAY_AUTH_MODE"] = "token"
        try:
            import ray
        except ImportError as exc:
            raise CnnspecError("--executor ray needs Ray: pip install 'cnnspec[ray]'") from exc
        self.ray = ray
        self.threads = threads
        self.max_concurrent = max(1, max_concurrent)
        t0 = time.perf_counter()
        kw = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        try:
            if address:
                ray.init(address=address, **kw)
            else:
                ray.init(num_cpus=cpu_count(), _node_ip_address="127.0.0.1", **kw)
        except Exception as exc:  # noqa: BLE001 - Ray's own errors are long; one line
            raise CnnspecError(f"cannot start or join Ray{' at ' + address if address else ''}: "
                               f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from exc
        self.startup_seconds = time.perf_counter() - t0
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # nodes need not import cnnspec here
        self.remote = ray.remote(num_cpus=threads, max_retries=0)(_ray_trial)
        self.env = {"PYTHONPATH": worker_env()["PYTHONPATH"], "TF_CPP_MIN_LOG_LEVEL": "3"}

    def run(self, tasks: list[dict], done: Callable[[dict, int], None], stop: Callable[[], bool],
            started: Callable[[dict], None] = lambda t: None, tick: Callable[[], None] = lambda: None) -> None:
        """As :meth:`LocalExecutor.run`; a stop cancels the running Ray tasks (their worker processes
        get SIGTERM and record `interrupted`)."""
        ray = self.ray
        queue = list(tasks)
        running: dict = {}
        stopping = False
        while queue or running:
            while queue and len(running) < self.max_concurrent and not stop():
                task = queue.pop(0)
                running[self.remote.remote(json.dumps(task), self.env)] = task
                started(task)
            if stop() and not stopping:
                stopping = True
                queue.clear()
                for ref in running:
                    ray.cancel(ref, force=True)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL)
            for ref in ready:
                task = running.pop(ref)
                try:
                    code = int(ray.get(ref))
                except Exception:  # noqa: BLE001 - a cancelled or lost task
                    code = -int(signal.SIGTERM)
                done(task, code)
            tick()

    def close(self) -> None:
        """Disconnect (and stop the local Ray this executor started)."""
        self.ray.shutdown()


def make_executor(kind: str, max_concurrent: int, threads: int, address: str | None = None):
    """``local`` or ``ray``."""
    if kind == "local":
        if address:
            raise CnnspecError("--address is for --executor ray")
        return LocalExecutor(max_concurrent, threads)
    if kind == "ray":
        return RayExecutor(max_concurrent, threads, address)
    raise CnnspecError(f"unknown executor {kind!r}: choose local or ray")
