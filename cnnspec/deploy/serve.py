"""HTTP inference server for exported ONNX models (FastAPI; no TensorFlow).

    app = create_app(OnnxModel("model.onnx"), max_body=10 * 1024 * 1024)

Endpoints (all answers are JSON; errors are ``{"error": "<one line>"}`` with a 4xx status):

* ``GET /health``   -> ``{"status": "ok", "model": "model.onnx", "device": "cpu"}``
* ``GET /metadata`` -> the embedded cnnspec metadata plus device/providers
* ``POST /predict[?top=K]`` with one of
    - ``multipart/form-data``: one or more image files (PNG/JPEG/...; any field name);
    - ``application/json``: ``{"inputs": X}`` where X is one example of the model's input
      shape (e.g. 28x28x1, or 28x28 for one-channel models) or a batch of them, raw
      pixel values (the server applies the scale/offset);
    - a raw ``image/*`` body.
  -> ``{"predictions": [{"top": [{"class": "7", "probability": 0.98}, ...],
                         "probabilities": [...]}, ...]}``

Status codes: 400 malformed JSON / not an image / empty body, 413 body larger than
``max_body``, 415 unsupported content type, 422 wrong shape or dtype.
"""
# No `from __future__ import annotations`: FastAPI must resolve the endpoint annotations
# (Request is imported inside create_app).

import json
from typing import Any

import numpy as np

from cnnspec.errors import CnnspecError
from cnnspec.deploy.runtime import InputError, OnnxModel

DEFAULT_MAX_BODY = 10 * 1024 * 1024
MAX_TOP = 100


class _HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def create_app(model: OnnxModel, max_body: int = DEFAULT_MAX_BODY):
    """The FastAPI application serving ``model``."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException

    if max_body < 1:
        raise CnnspecError(f"max_body must be positive, got {max_body}")
    app = FastAPI(title="cnnspec model server", version=str(model.meta.get("cnnspec_version") or ""),
                  description=f"Serving {model.path.name}")
    app.state.model = model
    app.state.max_body = max_body

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

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "model": model.path.name, "device": model.device}

    @app.get("/metadata")
    async def metadata() -> dict:
        info = model.info()
        info["path"] = model.path.name  # not the server's directory layout
        info["max_body"] = max_body
        return info

    async def read_body(request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                raise _HTTPError(400, "bad Content-Length header") from None
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

    def answer(probs: np.ndarray, top: int, names: list[str | None] | None = None) -> dict:
        tops = model.top_k(probs, top)
        preds = []
        for i, (row, best) in enumerate(zip(probs, tops)):
            item: dict[str, Any] = {
                "top": [{"class": c, "probability": p} for c, p in best],
                "probabilities": [float(v) for v in row],
            }
            if names is not None:
                item["filename"] = names[i]
            preds.append(item)
        return {"predictions": preds}

    @app.post("/predict")
    async def predict(request: Request, top: int = 5):
        if not 1 <= top <= MAX_TOP:
            raise _HTTPError(422, f"top must be between 1 and {MAX_TOP}")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await read_body(request)
        if not body:
            raise _HTTPError(400, "empty request body: send an image (multipart or image/*) or "
                                  "JSON {\"inputs\": [...]}")
        try:
            if ctype == "application/json" or ctype.endswith("+json"):
                try:
                    doc = json.loads(body)
                except (ValueError, UnicodeDecodeError) as exc:
                    raise _HTTPError(400, f"malformed JSON ({type(exc).__name__})") from None
                if not isinstance(doc, dict) or "inputs" not in doc:
                    raise _HTTPError(400, 'JSON body must be an object {"inputs": [...]}')
                try:
                    arr = np.asarray(doc["inputs"])
                except (ValueError, TypeError):
                    raise _HTTPError(422, "inputs must be a rectangular array of numbers") from None
                if arr.dtype.kind not in "iuf":
                    raise _HTTPError(422, f"inputs must be numbers (got {_kind(arr)})")
                batch = model.as_batch(arr)
                probs = await run_in_threadpool(model.predict, batch)
                return answer(probs, top)
            if ctype == "multipart/form-data":
                form = await request.form(max_files=256, max_fields=256, max_part_size=max_body)
                files = [(k, v) for k, v in form.multi_items() if hasattr(v, "read")]
                if not files:
                    raise _HTTPError(400, "multipart body has no file part")
                blobs, names = [], []
                for _, up in files:
                    blobs.append(await up.read())
                    names.append(up.filename)
                images = [model.load_image(b) for b in blobs]
                probs = await run_in_threadpool(model.predict, np.stack(images))
                return answer(probs, top, names)
            if ctype.startswith("image/") or ctype == "application/octet-stream":
                image = model.load_image(body)
                probs = await run_in_threadpool(model.predict, image[None])
                return answer(probs, top)
        except InputError as exc:
            status = 400 if ("image" in exc.message or "empty" in exc.message) else 422
            raise _HTTPError(status, exc.message) from None
        raise _HTTPError(415, f"unsupported content type {ctype or '(none)'!r}: use multipart/form-data, "
                              "image/png, image/jpeg or application/json")

    return app


def _kind(arr: np.ndarray) -> str:
    return {"b": "booleans", "U": "strings", "S": "bytes", "O": "mixed values"}.get(arr.dtype.kind,
                                                                                   str(arr.dtype))


def run(model: OnnxModel, host: str = "127.0.0.1", port: int = 8000,
        max_body: int = DEFAULT_MAX_BODY, log_level: str = "warning") -> None:
    """Serve ``model`` with uvicorn (blocking)."""
    import uvicorn

    app = create_app(model, max_body=max_body)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
