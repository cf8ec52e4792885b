"""Ctrl-C and SIGTERM as a clean, recorded stop of one run (no module-global state).

A :class:`StopSignals` object is installed for the whole of a run (from before its first record
is written until its last): a signal raises KeyboardInterrupt at once, except inside
:meth:`StopSignals.deferred` blocks (writing the resume point), where it is held and raised
right after the block. The request is also remembered, so that a KeyboardInterrupt swallowed
somewhere inside TensorFlow still stops the run at the next check (:meth:`StopSignals.check`).
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """SIGINT/SIGTERM handlers for one run; ``enabled=False`` leaves the host's handlers alone
    (the Python API: Ctrl-C still raises KeyboardInterrupt through Python's default handler)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.requested = False
        self.signum: int | None = None
        self._old: dict = {}
        self._deferring = 0
        self._held = False

    # -- installation -------------------------------------------------------------------------
    def install(self) -> "StopSignals":
        """Install the handlers (main thread only; a handler set outside Python is left alone)."""
        if not self.enabled or threading.current_thread() is not threading.main_thread():
            return self
        for sig in _SIGNALS:
            old = signal.getsignal(sig)
            if old is None:  # installed outside Python (an embedding host)
                continue
            self._old[sig] = old
            signal.signal(sig, self._handler)
        return self

    def restore(self) -> None:
        """Put the previous handlers back."""
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}

    def __enter__(self) -> "StopSignals":
        return self.install()

    def __exit__(self, *exc) -> None:
        self.restore()

    # -- behaviour ----------------------------------------------------------------------------
    def _handler(self, signum, frame) -> None:
        self.requested = True
        self.signum = signum
        if self._deferring:
            self._held = True
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold a stop while the block runs (a resume point is written whole); raise it after."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        if not self._deferring and self._held:
            self._held = False
            raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt if a stop was requested (one TensorFlow may have swallowed)."""
        if self.requested:
            raise KeyboardInterrupt

    @property
    def name(self) -> str:
        """``SIGTERM`` / ``SIGINT`` (Ctrl-C), for the record."""
        return signal.Signals(self.signum).name if self.signum else "KeyboardInterrupt"
