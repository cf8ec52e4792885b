"""Dynamic batching for the server: concurrent requests share one engine call.

:class:`Batcher` collects the (already validated, scaled) arrays of concurrent requests and
runs them as one batch when ``max_batch`` examples are waiting or the oldest has waited
``max_wait_ms``, whichever comes first. The wait is adaptive: it only happens while other requests
are known to be on their way (``coming()`` > 0: bodies being read or decoded), so a lone request
runs at once, with no added latency. At most ``parallel`` batches run at once, each on its own
thread (default 2: while one batch runs, the next can start instead of waiting for the slowest
response of the first; the engine's intra-op threads use every core), and requests that arrive
meanwhile form the next batch. Each request gets back exactly its own rows; a request larger than
``max_batch`` runs alone.

A request is a :class:`Job`: an array, or a ``prepare()`` that makes one (decoding the request body)
and a ``finish(rows)`` that turns its output rows into the answer (JSON bytes). :func:`process` runs
a list of jobs on a worker thread -- prepare each, one engine call for all, finish each -- so a batch
costs one thread hop, not one per request, and a job whose body is bad fails alone. The engine call
releases the GIL; the event loop keeps serving meanwhile. TensorFlow-free, asyncio only.
"""
from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

import numpy as np

DEFAULT_MAX_BATCH = 16
DEFAULT_MAX_WAIT_MS = 2.0


class Job:
    """One request's share of an engine call: ``x`` (N, ...) scaled float32, or ``prepare()`` returning
    it (run on the worker thread); ``finish(rows)`` makes the result from its output rows (default:
    the rows). ``n`` is the number of examples counted towards ``max_batch`` before preparing."""

    __slots__ = ("x", "prepare", "finish", "n", "future", "t", "result", "error")

    def __init__(self, x: Optional[np.ndarray] = None, *, prepare: Optional[Callable[[], np.ndarray]] = None,
                 finish: Optional[Callable[[np.ndarray], Any]] = None, n: Optional[int] = None) -> None:
        if (x is None) == (prepare is None):
            raise ValueError("a Job needs exactly one of x and prepare")
        self.x, self.prepare, self.finish = x, prepare, finish
        self.n = int(n if n is not None else (len(x) if x is not None else 1))
        self.future: Optional[asyncio.Future] = None
        self.t = 0.0
        self.result: Any = None
        self.error: Optional[BaseException] = None


def process(jobs: list[Job], run: Callable[[np.ndarray], np.ndarray], max_batch: int) -> list[Job]:
    """Prepare every job, run all their rows (in calls of at most ``max_batch`` rows, a larger job
    alone), finish every job; errors are stored on the job they belong to. Runs on a worker thread."""
    ready = []
    for job in jobs:
        try:
            if job.prepare is not None:
                job.x = job.prepare()
            ready.append(job)
        except Exception as exc:  # noqa: BLE001 - this request's bad body, not the others'
            job.error = exc
    try:
        outs = _run_chunks(run, ready, max_batch)
    except Exception as exc:  # noqa: BLE001 - the engine failed: every job of the call gets the error
        for job in ready:
            job.error = exc
        return jobs
    for job, rows in zip(ready, outs):
        try:
            job.result = job.finish(rows) if job.finish is not None else rows
        except Exception as exc:  # noqa: BLE001
            job.error = exc
    return jobs


def _run_chunks(run: Callable, jobs: list[Job], max_batch: int) -> list[np.ndarray]:
    """Each job's output rows; consecutive jobs share a call while they fit in ``max_batch`` rows."""
    outs: list[np.ndarray] = []
    group: list[Job] = []
    for job in jobs + [None]:
        if group and (job is None or sum(len(g.x) for g in group) + len(job.x) > max_batch):
            x = group[0].x if len(group) == 1 else np.concatenate([g.x for g in group])
            y = run(x)
            start = 0
            for g in group:
                outs.append(y[start:start + len(g.x)])
                start += len(g.x)
            group = []
        if job is not None:
            group.append(job)
    return outs


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
        self._queue: list[Job] = []
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
            self._queue = [job for job in self._queue if job.future.get_loop() is loop]
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
        for job in self._queue:
            if not job.future.done():
                job.future.set_exception(RuntimeError("server stopping"))
        self._queue.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    async def submit(self, x: np.ndarray) -> np.ndarray:
        """Run ``x`` (N, ...) as part of a batch; returns its N output rows."""
        return await self.submit_job(Job(x))

    async def submit_job(self, job: Job) -> Any:
        """Run ``job`` as part of a batch; returns its result (or raises its error)."""
        self.start()
        job.future = asyncio.get_running_loop().create_future()
        job.t = time.perf_counter()
        self._queue.append(job)
        self._wake.set()
        return await job.future

    def _pending(self) -> int:
        return sum(job.n for job in self._queue)

    def _take(self) -> list[Job]:
        taken, n = [], 0
        while self._queue and (not taken or n + self._queue[0].n <= self.max_batch):
            job = self._queue.pop(0)
            n += job.n
            taken.append(job)
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
                    batch = [job for job in self._take() if not job.future.cancelled()]
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
        deadline = self._queue[0].t + self.max_wait
        while self._pending() < self.max_batch and time.perf_counter() < deadline and self.coming() > 0:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), max(0.0, deadline - time.perf_counter()))
            except asyncio.TimeoutError:
                break

    async def _run(self, batch: list[Job]) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(self._pool, process, batch, self.run, self.max_batch)
        except Exception as exc:  # noqa: BLE001 - the pool itself failed: hand the error to every request
            for job in batch:
                job.error = job.error or exc
        self.batches += 1
        self.examples += sum(len(job.x) for job in batch if job.x is not None and job.error is None)
        settle(batch)


def settle(jobs: list[Job]) -> None:
    """Hand each job's result or error to its future (on the event loop's thread)."""
    for job in jobs:
        if job.future is not None and not job.future.done():
            if job.error is not None:
                job.future.set_exception(job.error)
            else:
                job.future.set_result(job.result)
