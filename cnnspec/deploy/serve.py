"""HTTP inference server for exported ONNX models (FastAPI + uvicorn; no TensorFlow).

    app = create_app(OnnxModel("model.onnx"), limits=ServerLimits(max_body=10 * 1024 * 1024))

Endpoints (all answers are JSON; errors are ``{"error": "<one line>"}`` with a 4xx status):

* ``GET /health``   -> ``{"status": "ok", "model": "model.onnx", "device": "cpu", "engine": ...}``
* ``GET /metadata`` -> the embedded cnnspec metadata plus engine/device/providers and the limits
* ``POST /predict[?top=K]`` with one of (see :mod:`cnnspec.deploy.bodies`)
    - ``application/x-npy``: one ``.npy`` array (``numpy.save``), an example or a batch of raw
      pixel values -- the lean format;
    - ``multipart/form-data``: one or more image files (PNG/JPEG/...; any field name);
    - ``application/json``: ``{"inputs": X}``, X one example of the model's input shape (e.g.
      28x28x1, or 28x28 for one-channel models) or a batch of them, raw pixel values;
    - a raw ``image/*`` body.
  -> ``{"predictions": [{"top": [{"class": "7", "probability": 0.98}, ...],
                         "probabilities": [...]}, ...]}``

``POST /predict`` is served by a lean ASGI handler in front of the FastAPI application (no
middleware, routing or parameter validation layers: they cost more CPU than the model on small
networks); every other path goes to FastAPI. The event loop only reads bodies (against
``max_body``, every content type) and writes answers: decoding the body, the engine call and
encoding the JSON answer run together on ``batch_workers`` worker threads -- one thread hop per
batch of requests (``max_batch`` > 1, :class:`cnnspec.deploy.batching.Batcher`) or per request
(``max_batch`` = 1). At most ``max_concurrent`` requests are in progress at once (others wait
unread, so their bodies stay in the kernel). Images are checked against ``max_pixels`` from their
header before decoding. ``/health`` never waits for any of it.

Status codes: 400 malformed body (JSON, .npy, multipart, not an image, empty); 405 /predict
without POST; 413 body above ``max_body`` or image above ``max_pixels``; 415 unsupported content
type; 422 wrong shape or dtype, ``top`` outside 1..100.
"""
# No `from __future__ import annotations`: FastAPI must resolve the endpoint annotations.

import asyncio
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Callable, Optional
from urllib.parse import parse_qs

from cnnspec.errors import CnnspecError
from cnnspec.deploy import bodies
from cnnspec.deploy.batching import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_MS, Batcher, Job, process
from cnnspec.deploy.bodies import MAX_JSON_DEPTH, HTTPError, json_depth, parse_json_inputs  # noqa: F401
from cnnspec.deploy.images import DEFAULT_MAX_PIXELS, InputError
from cnnspec.deploy.runtime import OnnxModel

DEFAULT_MAX_BODY = 10 * 1024 * 1024
MAX_TOP = 100
_HTTPError = HTTPError  # the name used before bodies.py existed
_JSON_HEADERS = [(b"content-type", b"application/json")]


@dataclass
class ServerLimits:
    """What one server accepts and how much work it does at once (documented in docs/guarantees.md)."""

    max_body: int = DEFAULT_MAX_BODY
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_concurrent: int = 64
    max_batch: int = DEFAULT_MAX_BATCH
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    batch_workers: int = 2

    def check(self) -> None:
        """Raise CnnspecError for a limit that cannot work."""
        for key in ("max_body", "max_pixels", "max_concurrent", "max_batch", "batch_workers"):
            if getattr(self, key) < 1:
                raise CnnspecError(f"{key} must be >= 1, got {getattr(self, key)}")
        if not 0 <= self.max_wait_ms <= 10_000:
            raise CnnspecError(f"max_wait_ms must be between 0 and 10000, got {self.max_wait_ms}")


class _Work:
    """The per-process machinery behind /predict: concurrency gate, worker threads, batcher."""

    def __init__(self, model: OnnxModel, limits: ServerLimits) -> None:
        self.model = model
        self.limits = limits
        self.pool: Optional[ThreadPoolExecutor] = None
        self.gate: Optional[asyncio.Semaphore] = None
        self._loop = None
        self.reading = 0  # requests whose body is being received (the batcher waits for them)
        self.batcher = Batcher(model.run_scaled, max_batch=limits.max_batch, max_wait_ms=limits.max_wait_ms,
                               coming=lambda: self.reading, parallel=limits.batch_workers) \
            if limits.max_batch > 1 else None

    def semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self.gate is None or self._loop is not loop:  # one gate per event loop
            self.gate, self._loop = asyncio.Semaphore(self.limits.max_concurrent), loop
        return self.gate

    def prepare(self, kind: str, content_type: str, body: bytes, names: list):
        """Body -> scaled float32 inputs (on a worker thread); file names go to ``names``."""
        raw, files = bodies.decode_body(self.model, kind, content_type, body)
        names.append(files)
        return (raw * self.model.scale + self.model.offset).astype("float32", copy=False)

    def finish(self, top: int, names: list, probs) -> bytes:
        """Output rows -> the JSON answer (on a worker thread)."""
        return bodies.encode_answer(self.model.class_names, probs, top, names[0])

    async def answer(self, kind: str, content_type: str, body: bytes, top: int) -> bytes:
        """One request's JSON answer: decoded, run (batched or alone) and encoded off the loop."""
        names: list = []
        job = Job(prepare=partial(self.prepare, kind, content_type, body, names),
                  finish=partial(self.finish, top, names))
        if self.batcher is not None:
            return await self.batcher.submit_job(job)
        if self.pool is None:
            self.pool = ThreadPoolExecutor(max_workers=self.limits.batch_workers, thread_name_prefix="cnnspec-run")
        await asyncio.get_running_loop().run_in_executor(self.pool, process, [job], self.model.run_scaled, 1)
        if job.error is not None:
            raise job.error
        return job.result

    async def close(self) -> None:
        if self.batcher is not None:
            await self.batcher.stop()
        if self.pool is not None:
            self.pool.shutdown(wait=False)
            self.pool = None


class _ClientGone(Exception):
    """The client disconnected before its body arrived."""


async def receive_body(receive, declared: Optional[bytes], max_body: int) -> bytes:
    """The request body from ASGI ``receive``, refused with 413 as soon as it exceeds ``max_body``."""
    if declared is not None:
        try:
            n = int(declared)
        except ValueError as exc:
            raise HTTPError(400, "bad Content-Length header") from exc
        if n > max_body:
            raise HTTPError(413, f"request body of {n} bytes exceeds the limit of {max_body} bytes")
    chunks, total = [], 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise _ClientGone()
        chunk = msg.get("body", b"")
        total += len(chunk)
        if total > max_body:
            raise HTTPError(413, f"request body exceeds the limit of {max_body} bytes")
        chunks.append(chunk)
        if not msg.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _top(query: bytes) -> int:
    values = parse_qs(query.decode("latin-1")).get("top") if query else None
    if not values:
        return 5
    try:
        top = int(values[-1])
    except ValueError as exc:
        raise HTTPError(422, f"top must be an integer between 1 and {MAX_TOP}") from exc
    if not 1 <= top <= MAX_TOP:
        raise HTTPError(422, f"top must be between 1 and {MAX_TOP}")
    return top


async def _predict(work: _Work, scope, receive) -> bytes:
    """POST /predict: the JSON answer, or HTTPError."""
    if scope["method"] != "POST":
        raise HTTPError(405, "method not allowed: use POST /predict")
    top = _top(scope.get("query_string", b""))
    ctype, length = "", None
    for key, value in scope["headers"]:
        if key == b"content-type":
            ctype = value.decode("latin-1")
        elif key == b"content-length":
            length = value
    if length is not None and length.strip() == b"0":
        raise HTTPError(400, bodies.EMPTY_BODY)  # empty whatever its type says (or does not say)
    kind = bodies.body_kind(ctype) if ctype else None  # no type at all: empty (400) or unsupported (415)
    async with work.semaphore():
        work.reading += 1
        try:
            body = await receive_body(receive, length, work.limits.max_body)
        finally:
            work.reading -= 1
        if not body:
            raise HTTPError(400, bodies.EMPTY_BODY)
        kind = kind or bodies.body_kind(ctype)
        try:
            return await work.answer(kind, ctype, body, top)
        except InputError as exc:
            raise HTTPError(bodies.input_status(exc), exc.message) from exc


class ServingApp:
    """The ASGI application: ``POST /predict`` and ``GET /health`` on the lean path, everything else
    to FastAPI (``.api``). ``.state`` is FastAPI's (``model``, ``limits``, ``work``)."""

    def __init__(self, api, work: _Work) -> None:
        self.api = api
        self.work = work
        m = work.model
        self.health = bodies.dumps({"status": "ok", "model": m.path.name, "device": m.device, "engine": m.engine})

    @property
    def state(self):
        """The FastAPI application's state."""
        return self.api.state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] not in ("/predict", "/health"):
            return await self.api(scope, receive, send)
        try:
            if scope["path"] == "/health":
                if scope["method"] not in ("GET", "HEAD"):
                    raise HTTPError(405, "method not allowed: use GET /health")
                status, payload = 200, self.health
            else:
                status, payload = 200, await _predict(self.work, scope, receive)
        except _ClientGone:
            return
        except HTTPError as exc:
            status, payload = exc.status, bodies.error_body(exc.message)
        except Exception as exc:  # noqa: BLE001 - keep serving, never a traceback page
            status, payload = 500, bodies.error_body(f"internal error: {type(exc).__name__}")
        headers = _JSON_HEADERS + [(b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload if scope["method"] != "HEAD" else b""})


def create_app(model: OnnxModel, max_body: Optional[int] = None, *, limits: Optional[ServerLimits] = None):
    """The ASGI application serving ``model`` within ``limits`` (a :class:`ServingApp`)."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI

    limits = limits or ServerLimits()
    if max_body is not None:
        limits = replace(limits, max_body=max_body)
    limits.check()
    model.max_pixels = limits.max_pixels
    work = _Work(model, limits)

    @asynccontextmanager
    async def lifespan(app):
        yield
        await work.close()

    api = FastAPI(title="cnnspec model server", version=str(model.meta.get("cnnspec_version") or ""),
                  description=f"Serving {model.path.name}; POST /predict (see docs/deploy.md)", lifespan=lifespan)
    api.state.model, api.state.limits, api.state.work = model, limits, work
    _error_handlers(api)

    @api.get("/metadata")
    async def metadata() -> dict:
        info = model.info()
        info["path"] = model.path.name  # not the server's directory layout
        info.update(asdict(limits))
        return info

    return ServingApp(api, work)


def _error_handlers(app) -> None:
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)

    @app.exception_handler(_HTTPError)
    async def _http_error(request, exc: _HTTPError):
        return error(exc.status, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _starlette_error(request, exc: StarletteHTTPException):
        return error(exc.status_code, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error(422, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(Exception)
    async def _internal_error(request, exc: Exception):  # keep serving, never a traceback page
        return error(500, f"internal error: {type(exc).__name__}")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; CnnspecError (one line) when it cannot be bound."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they are TCP;
        # without it every response waits ~40 ms for the client's delayed ACK (Nagle).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except OSError as exc:
        raise CnnspecError(f"cannot bind {host}:{port} ({exc.strerror or exc})") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise CnnspecError(f"cannot bind {host}:{port} ({exc.strerror or exc})") from exc
    sock.setblocking(False)
    return sock


def run(model: OnnxModel, host: str = "127.0.0.1", port: int = 8000, max_body: Optional[int] = None, *,
        limits: Optional[ServerLimits] = None, log_level: str = "warning",
        on_serving: Optional[Callable[[str], None]] = None, sock: Optional[socket.socket] = None) -> None:
    """Serve ``model`` with uvicorn (blocking). ``on_serving(url)`` is called once the port is bound
    and the server accepts connections (``port=0`` picks a free port; the URL has the real one).
    ``sock``: a socket already bound with :func:`bind` (the CLI binds before loading the model, so
    that a port in use is said at once); its host and port are then the ones used."""
    import uvicorn

    app = create_app(model, max_body, limits=limits)
    sock = sock if sock is not None else bind(host, port)
    real_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{real_port}"

    class _Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            if self.started and on_serving:
                on_serving(url)

    # No proxy-header rewriting (nothing here uses the client's address) and no Server header: less
    # work per request.
    config = uvicorn.Config(app, interface="asgi3", log_level=log_level, access_log=False, proxy_headers=False,
                            server_header=False, timeout_graceful_shutdown=5)
    try:
        _Server(config).run(sockets=[sock])
    finally:
        sock.close()
        sys.stderr.flush()
