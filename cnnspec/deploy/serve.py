"""HTTP inference server for exported ONNX models (FastAPI; no TensorFlow).

    app = create_app(OnnxModel("model.onnx"), limits=ServerLimits(max_body=10 * 1024 * 1024))

Endpoints (all answers are JSON; errors are ``{"error": "<one line>"}`` with a 4xx status):

* ``GET /health``   -> ``{"status": "ok", "model": "model.onnx", "device": "cpu", "engine": ...}``
* ``GET /metadata`` -> the embedded cnnspec metadata plus engine/device/providers and the limits
* ``POST /predict[?top=K]`` with one of
    - ``multipart/form-data``: one or more image files (PNG/JPEG/...; any field name);
    - ``application/json``: ``{"inputs": X}`` where X is one example of the model's input
      shape (e.g. 28x28x1, or 28x28 for one-channel models) or a batch of them, raw
      pixel values (the server applies the scale/offset);
    - a raw ``image/*`` body.
  -> ``{"predictions": [{"top": [{"class": "7", "probability": 0.98}, ...],
                         "probabilities": [...]}, ...]}``

The event loop only routes: bodies are read against ``max_body`` (every content type), and
JSON parsing and image decoding run on a pool of ``decode_workers`` threads; at most
``max_concurrent`` requests are read/decoded at once (others wait unread, so their bodies stay
in the kernel). Images are checked against ``max_pixels`` from their header before decoding.
Model calls go through :class:`cnnspec.deploy.batching.Batcher` (``max_batch`` > 1) or run
directly on a thread (``max_batch`` = 1). ``/health`` never waits for any of it.

Status codes: 400 malformed JSON, JSON nested deeper than :data:`MAX_JSON_DEPTH`, not an image,
empty body; 413 body above ``max_body`` or image above ``max_pixels``; 415 unsupported content
type; 422 wrong shape or dtype.
"""
# No `from __future__ import annotations`: FastAPI must resolve the endpoint annotations
# (Request is imported inside create_app).

import asyncio
import json
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Optional

import numpy as np

from cnnspec.errors import CnnspecError
from cnnspec.deploy.batching import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_MS, Batcher
from cnnspec.deploy.images import DEFAULT_MAX_PIXELS, ImageTooLarge, InputError
from cnnspec.deploy.runtime import OnnxModel

DEFAULT_MAX_BODY = 10 * 1024 * 1024
MAX_TOP = 100
#: Deepest JSON nesting accepted (a batch of 3-D examples inside {"inputs": ...} needs 5).
MAX_JSON_DEPTH = 32
JSON_TYPES = ("application/json",)
IMAGE_TYPES = ("application/octet-stream",)


@dataclass
class ServerLimits:
    """What one server accepts and how much work it does at once (documented in docs/guarantees.md)."""

    max_body: int = DEFAULT_MAX_BODY
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_concurrent: int = 64
    decode_workers: int = 2
    max_batch: int = DEFAULT_MAX_BATCH
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    batch_workers: int = 2

    def check(self) -> None:
        """Raise CnnspecError for a limit that cannot work."""
        for key in ("max_body", "max_pixels", "max_concurrent", "decode_workers", "max_batch", "batch_workers"):
            if getattr(self, key) < 1:
                raise CnnspecError(f"{key} must be >= 1, got {getattr(self, key)}")
        if not 0 <= self.max_wait_ms <= 10_000:
            raise CnnspecError(f"max_wait_ms must be between 0 and 10000, got {self.max_wait_ms}")


class _HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_depth(body: bytes) -> int:
    """Deepest bracket nesting of a JSON text (brackets inside strings counted too: an upper bound)."""
    b = np.frombuffer(body, dtype=np.uint8)
    step = ((b == 91) | (b == 123)).astype(np.int32) - ((b == 93) | (b == 125)).astype(np.int32)
    return int(np.cumsum(step).max(initial=0))


def _kind(arr: np.ndarray) -> str:
    return {"b": "booleans", "U": "strings", "S": "bytes", "O": "mixed values"}.get(arr.dtype.kind,
                                                                                   str(arr.dtype))


def parse_json_inputs(model: OnnxModel, body: bytes) -> np.ndarray:
    """A JSON body -> a validated raw (N, ...) batch; raises _HTTPError (400/422)."""
    if json_depth(body) > MAX_JSON_DEPTH:
        raise _HTTPError(400, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise _HTTPError(400, f"malformed JSON ({type(exc).__name__})") from exc
    if not isinstance(doc, dict) or "inputs" not in doc:
        raise _HTTPError(400, 'JSON body must be an object {"inputs": [...]}')
    try:
        arr = np.asarray(doc["inputs"])
    except (ValueError, TypeError, RecursionError) as exc:
        raise _HTTPError(422, "inputs must be a rectangular array of numbers") from exc
    if arr.dtype.kind not in "iuf":
        raise _HTTPError(422, f"inputs must be numbers (got {_kind(arr)})")
    return model.as_batch(arr)


class _Work:
    """The per-process machinery behind the routes: decode pool, concurrency gate, batcher."""

    def __init__(self, model: OnnxModel, limits: ServerLimits) -> None:
        self.model = model
        self.limits = limits
        self.pool: Optional[ThreadPoolExecutor] = None
        self.gate: Optional[asyncio.Semaphore] = None
        self._loop = None
        self.decoding = 0  # requests between "body accepted" and "submitted to the batcher"
        self.batcher = Batcher(model.run_scaled, max_batch=limits.max_batch, max_wait_ms=limits.max_wait_ms,
                               coming=lambda: self.decoding, parallel=limits.batch_workers) \
            if limits.max_batch > 1 else None

    def semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self.gate is None or self._loop is not loop:  # one gate per event loop
            self.gate, self._loop = asyncio.Semaphore(self.limits.max_concurrent), loop
        return self.gate

    async def decode(self, fn: Callable, *args):
        if self.pool is None:
            self.pool = ThreadPoolExecutor(max_workers=self.limits.decode_workers,
                                           thread_name_prefix="cnnspec-decode")
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def scale(self, raw: np.ndarray) -> np.ndarray:
        return (raw * self.model.scale + self.model.offset).astype(np.float32, copy=False)

    async def infer(self, raw: np.ndarray) -> np.ndarray:
        x = self.scale(raw)
        if self.batcher is not None:
            return await self.batcher.submit(x)
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(self.model.run_scaled, x)

    def load_images(self, blobs: list) -> np.ndarray:
        return np.stack([self.model.load_image(b) for b in blobs])

    async def close(self) -> None:
        if self.batcher is not None:
            await self.batcher.stop()
        if self.pool is not None:
            self.pool.shutdown(wait=False)
            self.pool = None


async def read_body(request, max_body: int) -> bytes:
    """The request body, refused with 413 as soon as it exceeds ``max_body`` (any content type)."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            n = int(length)
        except ValueError as exc:
            raise _HTTPError(400, "bad Content-Length header") from exc
        if n > max_body:
            raise _HTTPError(413, f"request body of {n} bytes exceeds the limit of {max_body} bytes")
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > max_body:
            raise _HTTPError(413, f"request body exceeds the limit of {max_body} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # lets request.form() re-read the already-received body
    return body


def _answer(model: OnnxModel, probs: np.ndarray, top: int, names: Optional[list] = None) -> dict:
    preds = []
    for i, (row, best) in enumerate(zip(probs, model.top_k(probs, top))):
        item: dict[str, Any] = {"top": [{"class": c, "probability": p} for c, p in best],
                                "probabilities": [float(v) for v in row]}
        if names is not None:
            item["filename"] = names[i]
        preds.append(item)
    return {"predictions": preds}


def _input_status(exc: InputError) -> int:
    if isinstance(exc, ImageTooLarge):
        return 413
    return 400 if ("image" in exc.message or "empty" in exc.message) else 422


def create_app(model: OnnxModel, max_body: Optional[int] = None, *, limits: Optional[ServerLimits] = None):
    """The FastAPI application serving ``model`` within ``limits``."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

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

    app = FastAPI(title="cnnspec model server", version=str(model.meta.get("cnnspec_version") or ""),
                  description=f"Serving {model.path.name}", lifespan=lifespan)
    app.state.model, app.state.limits, app.state.work = model, limits, work
    _error_handlers(app)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "model": model.path.name, "device": model.device, "engine": model.engine}

    @app.get("/metadata")
    async def metadata() -> dict:
        info = model.info()
        info["path"] = model.path.name  # not the server's directory layout
        info.update(asdict(limits))
        return info

    @app.post("/predict")
    async def predict(request: Request, top: int = 5):
        if not 1 <= top <= MAX_TOP:
            raise _HTTPError(422, f"top must be between 1 and {MAX_TOP}")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        is_json = ctype in JSON_TYPES or ctype.endswith("+json")
        is_image = ctype.startswith("image/") or ctype in IMAGE_TYPES
        if not (is_json or is_image or ctype == "multipart/form-data"):
            raise _HTTPError(415, f"unsupported content type {ctype or '(none)'!r}: use multipart/form-data, "
                                  "image/png, image/jpeg or application/json")
        raw, names = await _read_inputs(request, work, is_json, is_image)
        probs = await work.infer(raw)
        # A JSONResponse directly: FastAPI's jsonable_encoder costs ~0.3 ms per answer here.
        return JSONResponse(_answer(model, probs, top, names))

    return app


async def _read_inputs(request, work: _Work, is_json: bool, is_image: bool):
    """Body -> validated raw inputs (and file names for multipart), within the concurrency gate."""
    async with work.semaphore():
        work.decoding += 1
        try:
            body = await read_body(request, work.limits.max_body)
            if not body:
                raise _HTTPError(400, "empty request body: send an image (multipart or image/*) or "
                                      "JSON {\"inputs\": [...]}")
            if is_json:
                return await work.decode(parse_json_inputs, work.model, body), None
            if is_image:
                return await work.decode(work.load_images, [body]), None
            return await _multipart(request, work)
        except InputError as exc:
            raise _HTTPError(_input_status(exc), exc.message) from exc
        finally:
            work.decoding -= 1


async def _multipart(request, work: _Work):
    form = await request.form(max_files=256, max_fields=256, max_part_size=work.limits.max_body)
    files = [v for _, v in form.multi_items() if hasattr(v, "read")]
    if not files:
        raise _HTTPError(400, "multipart body has no file part")
    blobs = [await up.read() for up in files]
    return await work.decode(work.load_images, blobs), [up.filename for up in files]


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
        on_serving: Optional[Callable[[str], None]] = None) -> None:
    """Serve ``model`` with uvicorn (blocking). ``on_serving(url)`` is called once the port is bound
    and the server accepts connections (``port=0`` picks a free port; the URL has the real one)."""
    import uvicorn

    app = create_app(model, max_body, limits=limits)
    sock = bind(host, port)
    real_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{real_port}"

    class _Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            if self.started and on_serving:
                on_serving(url)

    config = uvicorn.Config(app, log_level=log_level, access_log=False, timeout_graceful_shutdown=5)
    try:
        _Server(config).run(sockets=[sock])
    finally:
        sock.close()
        sys.stderr.flush()
