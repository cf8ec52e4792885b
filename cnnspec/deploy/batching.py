"""Dynamic batching for the server: concurrent requests share one engine call.

:class:`Batcher` collects the (already validated, scaled) arrays of concurrent requests and
runs them as one batch when ``max_batch`` examples are waiting or the oldest has waited
``max_wait_ms``, whichever comes first. The wait is adaptive: it only happens while other requests
are known to be on their way (``coming()`` > 0: bodies being read or decoded), so a lone request
runs at once, with no added latency. At most ``parallel`` batches run at once, each on its own
thread (default 2: while one batch runs, the next can start instead of waiting for the slowest
response of the first; the engine's intra-op threads use every core), and requests that arrive
meanwhile form the next batch. Each request gets back exactly its own rows; a request larger than
``max_batch`` runs alone. TensorFlow-free, asyncio only.
"""
from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

DEFAULT_MAX_BATCH = 16
DEFAULT_MAX_WAIT_MS = 2.0


class Batcher:
    """Queue of pending requests served by one background task (start it inside the event loop)."""

    def __init__(self, run: Callable[[np.ndarray], np.ndarray], *, max_batch: int = DEFAULT_MAX_BATCH,
                 max_wait_ms: float = DEFAULT_MAX_WAIT_MS, coming: Callable[[], int] | None = None,
                 parallel: int = 2) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if not 0 <= max_wait_ms <= 10_000:
            raise ValueError(f"max_wait_ms must be between 0 and 10000, got {max_wait_ms}")
        self.run = run
        self.parallel = max(1, int(parallel))
        self.coming = coming or (lambda: 1)
        self.max_batch = int(max_batch)
        self.max_wait = float(max_wait_ms) / 1e3
        self._queue: list[tuple[np.ndarray, asyncio.Future, float]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.batches = 0
        self.examples = 0

    def start(self) -> None:
        """Start the background task on the running loop (idempotent per loop)."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._loop is not loop or self._task.done():
            self._loop, self._wake = loop, asyncio.Event()
            self._queue = [item for item in self._queue if item[1].get_loop() is loop]
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="cnnspec-batch")
            self._task = loop.create_task(self._serve())

    async def stop(self) -> None:
        """Cancel the background task and fail whatever is still queued."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for _, fut, _ in self._queue:
            if not fut.done():
                fut.set_exception(RuntimeError("server stopping"))
        self._queue.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    async def submit(self, x: np.ndarray) -> np.ndarray:
        """Run ``x`` (N, ...) as part of a batch; returns its N output rows."""
        self.start()
        fut = asyncio.get_running_loop().create_future()
        self._queue.append((x, fut, time.perf_counter()))
        self._wake.set()
        return await fut

    def _pending(self) -> int:
        return sum(len(x) for x, _, _ in self._queue)

    def _take(self) -> list[tuple[np.ndarray, asyncio.Future, float]]:
        taken, n = [], 0
        while self._queue and (not taken or n + len(self._queue[0][0]) <= self.max_batch):
            item = self._queue.pop(0)
            n += len(item[0])
            taken.append(item)
        return taken

    async def _serve(self) -> None:
        slots = asyncio.Semaphore(self.parallel)
        running: set[asyncio.Task] = set()
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queue:
                    await slots.acquire()  # at most `parallel` batches run at once
                    await self._fill()
                    batch = [item for item in self._take() if not item[1].cancelled()]
                    if not batch:
                        slots.release()
                        continue
                    task = asyncio.get_running_loop().create_task(self._run(batch))
                    running.add(task)
                    task.add_done_callback(lambda t: (running.discard(t), slots.release()))
        finally:
            for task in running:
                task.cancel()

    async def _fill(self) -> None:
        """Wait (at most until the oldest request has waited max_wait) for a full batch, while
        other requests are on their way."""
        deadline = self._queue[0][2] + self.max_wait
        while self._pending() < self.max_batch and time.perf_counter() < deadline and self.coming() > 0:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), max(0.0, deadline - time.perf_counter()))
            except asyncio.TimeoutError:
                break

    async def _run(self, batch: list) -> None:
        x = batch[0][0] if len(batch) == 1 else np.concatenate([b[0] for b in batch])
        try:
            out = await asyncio.get_running_loop().run_in_executor(self._pool, self.run, x)
        except Exception as exc:  # noqa: BLE001 - hand the error to every waiting request
            for _, fut, _ in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        self.batches += 1
        self.examples += len(x)
        start = 0
        for xb, fut, _ in batch:
            if not fut.done():
                fut.set_result(out[start:start + len(xb)])
            start += len(xb)
