"""Request bodies -> validated model inputs, and model outputs -> JSON answers, for the server.

Pure functions of bytes (no asyncio, no HTTP framework), so the server runs them on its worker
threads next to the engine call: one thread hop per request (or per batch) instead of one for
decoding and another for the model. TensorFlow-free.

Body kinds (:func:`body_kind` maps a Content-Type to one):

* ``npy``: ``application/x-npy`` -- one ``.npy`` array (``numpy.save``): one example of the input
  shape or a batch, any integer or float dtype, raw pixel values. The lean format: no image
  decoding, no JSON, a few microseconds to parse;
* ``json``: ``application/json`` ``{"inputs": X}``;
* ``image``: a raw ``image/*`` (or ``application/octet-stream``) body;
* ``multipart``: ``multipart/form-data`` with one or more image files, parsed in memory.

Every failure is an :class:`HTTPError` (status, one-line message) or an
:class:`~cnnspec.deploy.images.InputError` (mapped by :func:`input_status`).
"""
from __future__ import annotations

import functools
import io
import json
from typing import Any, Optional

import numpy as np

from cnnspec.deploy.images import ImageTooLarge, InputError

#: Deepest JSON nesting accepted (a batch of 3-D examples inside {"inputs": ...} needs 5).
MAX_JSON_DEPTH = 32
#: Most parts accepted in one multipart body.
MAX_PARTS = 256
NPY_TYPES = ("application/x-npy", "application/npy")
JSON_TYPES = ("application/json",)
IMAGE_TYPES = ("application/octet-stream",)
NPY_MAGIC = b"\x93NUMPY"
EMPTY_BODY = 'empty request body: send an image (multipart or image/*), JSON {"inputs": [...]} or a .npy array'


class HTTPError(Exception):
    """A request the server refuses: HTTP ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def body_kind(content_type: str) -> str:
    """``npy``, ``json``, ``image`` or ``multipart`` for a Content-Type header; 415 otherwise."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype in NPY_TYPES:
        return "npy"
    if ctype in JSON_TYPES or ctype.endswith("+json"):
        return "json"
    if ctype.startswith("image/") or ctype in IMAGE_TYPES:
        return "image"
    if ctype == "multipart/form-data":
        return "multipart"
    raise HTTPError(415, f"unsupported content type {ctype or '(none)'!r}: use multipart/form-data, "
                         "image/png, image/jpeg, application/json or application/x-npy")


def input_status(exc: InputError) -> int:
    """The HTTP status of an input error: 413 too large, 400 not an image / empty, else 422."""
    if isinstance(exc, ImageTooLarge):
        return 413
    return 400 if ("image" in exc.message or "empty" in exc.message) else 422


def json_depth(body: bytes) -> int:
    """Deepest bracket nesting of a JSON text (brackets inside strings counted too: an upper bound)."""
    b = np.frombuffer(body, dtype=np.uint8)
    step = ((b == 91) | (b == 123)).astype(np.int32) - ((b == 93) | (b == 125)).astype(np.int32)
    return int(np.cumsum(step).max(initial=0))


def _kind(arr: np.ndarray) -> str:
    return {"b": "booleans", "U": "strings", "S": "bytes", "O": "mixed values"}.get(arr.dtype.kind,
                                                                                   str(arr.dtype))


def parse_json_inputs(model, body: bytes) -> np.ndarray:
    """A JSON body -> a validated raw (N, ...) batch; raises HTTPError (400/422)."""
    if json_depth(body) > MAX_JSON_DEPTH:
        raise HTTPError(400, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise HTTPError(400, f"malformed JSON ({type(exc).__name__})") from exc
    if not isinstance(doc, dict) or "inputs" not in doc:
        raise HTTPError(400, 'JSON body must be an object {"inputs": [...]}')
    try:
        arr = np.asarray(doc["inputs"])
    except (ValueError, TypeError, RecursionError) as exc:
        raise HTTPError(422, "inputs must be a rectangular array of numbers") from exc
    if arr.dtype.kind not in "iuf":
        raise HTTPError(422, f"inputs must be numbers (got {_kind(arr)})")
    return model.as_batch(arr)


def parse_npy(model, body: bytes) -> np.ndarray:
    """An ``.npy`` body -> a validated raw (N, ...) batch; 400 for a malformed file, 422 for the
    wrong dtype or shape. Never unpickles (object arrays are refused)."""
    if not body.startswith(NPY_MAGIC):
        raise HTTPError(400, "not a .npy array (no magic bytes of numpy.save at its start)")
    end = 10 if body[6:8] == b"\x01\x00" else 12
    header = bytes(body[:end + int.from_bytes(body[8:end], "little")])
    shape, fortran, dtype = _npy_header(header)
    if dtype.hasobject or dtype.kind not in "iuf" or dtype.fields is not None or dtype.subdtype is not None:
        raise HTTPError(422, f"inputs must be numbers (got .npy dtype {dtype.str})")
    count = int(np.prod(shape, dtype=np.int64))
    if len(body) - len(header) != count * dtype.itemsize:
        raise HTTPError(400, f".npy data is {len(body) - len(header)} bytes; its header {list(shape)} "
                             f"{dtype.str} needs {count * dtype.itemsize}")
    arr = np.frombuffer(body, dtype=dtype, count=count, offset=len(header))
    arr = arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)
    return model.as_batch(arr)


@functools.lru_cache(maxsize=256)
def _npy_header(header: bytes) -> tuple:
    """(shape, fortran_order, dtype) of a .npy header (magic, version, length, dict); cached, since
    a client sends the same header again and again and parsing it is most of a small body's cost."""
    fh = io.BytesIO(header)
    try:
        version = np.lib.format.read_magic(fh)
        read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in read:
            raise HTTPError(400, f"unsupported .npy format version {version[0]}.{version[1]} (1.0 and 2.0 are)")
        out = read[version](fh, max_header_size=10000)
    except (ValueError, TypeError, SyntaxError, EOFError) as exc:
        raise HTTPError(400, f"malformed .npy header ({' '.join(str(exc).split())[:100]})") from exc
    if fh.tell() != len(header):
        raise HTTPError(400, "malformed .npy header (its length field does not match)")
    return out


def _part_options(value: bytes) -> dict:
    from python_multipart.multipart import parse_options_header

    return parse_options_header(value)[1]


def parse_multipart(content_type: str, body: bytes) -> list[tuple[Optional[str], bytes]]:
    """The (filename, bytes) of each file part of a multipart/form-data body held in memory."""
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import MultipartParser, parse_options_header

    boundary = parse_options_header(content_type)[1].get(b"boundary")
    if not boundary:
        raise HTTPError(400, "multipart body without a boundary in its Content-Type")
    parts: list[dict] = []
    state: dict[str, Any] = {}

    def on_part_begin():
        if len(parts) >= MAX_PARTS:
            raise HTTPError(400, f"multipart body with more than {MAX_PARTS} parts")
        parts.append({"headers": {}, "data": []})

    def on_header_field(data, start, end):
        state["field"] = state.get("field", b"") + data[start:end]

    def on_header_value(data, start, end):
        state["value"] = state.get("value", b"") + data[start:end]

    def on_header_end():
        parts[-1]["headers"][state.pop("field", b"").lower()] = state.pop("value", b"")

    def on_part_data(data, start, end):
        parts[-1]["data"].append(data[start:end])

    callbacks = {"on_part_begin": on_part_begin, "on_header_field": on_header_field,
                 "on_header_value": on_header_value, "on_header_end": on_header_end,
                 "on_part_data": on_part_data}
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except (FormParserError, ValueError) as exc:
        raise HTTPError(400, f"malformed multipart body ({type(exc).__name__})") from exc
    files = []
    for part in parts:
        opts = _part_options(part["headers"].get(b"content-disposition", b""))
        if b"filename" in opts:
            files.append((opts[b"filename"].decode("utf-8", "replace"), b"".join(part["data"])))
    if not files:
        raise HTTPError(400, "multipart body has no file part")
    return files


def load_images(model, blobs: list) -> np.ndarray:
    """Encoded images -> a raw (N, H, W, C) batch at the model's input size."""
    return np.stack([model.load_image(b) for b in blobs])


def decode_body(model, kind: str, content_type: str, body: bytes) -> tuple[np.ndarray, Optional[list]]:
    """A request body -> (raw (N, ...) inputs, file names for multipart else None)."""
    if not body:
        raise HTTPError(400, EMPTY_BODY)
    if kind == "npy":
        return parse_npy(model, body), None
    if kind == "json":
        return parse_json_inputs(model, body), None
    if kind == "image":
        return load_images(model, [body]), None
    files = parse_multipart(content_type, body)
    return load_images(model, [blob for _, blob in files]), [name for name, _ in files]


def encode_answer(class_names: list, probs: np.ndarray, top: int, names: Optional[list] = None) -> bytes:
    """``{"predictions": [{"top": [...], "probabilities": [...]}, ...]}`` as compact UTF-8 JSON."""
    k = max(1, min(int(top), probs.shape[-1]))
    best = np.argsort(-probs, axis=-1, kind="stable")[:, :k].tolist()
    preds = []
    for i, (row, idx) in enumerate(zip(probs.tolist(), best)):
        item: dict[str, Any] = {"top": [{"class": class_names[j], "probability": row[j]} for j in idx],
                                "probabilities": row}
        if names is not None:
            item["filename"] = names[i]
        preds.append(item)
    return dumps({"predictions": preds})


def dumps(doc) -> bytes:
    """Compact JSON bytes, as Starlette's JSONResponse writes them (NaN refused)."""
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def error_body(message: str) -> bytes:
    """``{"error": "<one line>"}``."""
    return dumps({"error": " ".join(str(message).split())})
