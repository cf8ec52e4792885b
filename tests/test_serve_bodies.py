"""The server's lean request path: .npy bodies, bad bodies, per-request errors inside a batch."""
from __future__ import annotations

import io
import threading

import numpy as np
import pytest

from tests.deploy_helpers import artefacts
from tests.test_serve import _LiveServer

pytestmark = pytest.mark.filterwarnings("ignore:Using .httpx. with .starlette.testclient.")
NPY = {"content-type": "application/x-npy"}


@pytest.fixture(scope="module")
def art():
    return artefacts()


@pytest.fixture(scope="module")
def onnx_model(art):
    from cnnspec.deploy.runtime import OnnxModel

    return OnnxModel(art.onnx, device="cpu", engine="onnxruntime")


@pytest.fixture(scope="module", params=[16, 1], ids=["batched", "unbatched"])
def client(onnx_model, request):
    from fastapi.testclient import TestClient

    from cnnspec.deploy.serve import ServerLimits, create_app

    with TestClient(create_app(onnx_model, limits=ServerLimits(max_body=64 * 1024, max_batch=request.param))) as c:
        yield c


def npy(arr, **kw) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("dtype", ["uint8", "float32", "int64", ">f8"])
def test_npy_example_and_batch_match_the_runtime(client, onnx_model, art, dtype):
    x = art.x_test[:4]
    ref = onnx_model.predict(x)
    r = client.post("/predict?top=2", content=npy(x[0].astype(dtype)), headers=NPY)
    assert r.status_code == 200, r.text
    pred = r.json()["predictions"]
    assert len(pred) == 1 and len(pred[0]["top"]) == 2
    np.testing.assert_allclose(pred[0]["probabilities"], ref[0], atol=1e-6)
    r = client.post("/predict", content=npy(x.astype(dtype)), headers={"content-type": "application/npy"})
    got = np.array([p["probabilities"] for p in r.json()["predictions"]])
    np.testing.assert_allclose(got, ref, atol=1e-6)


def test_npy_fortran_order_and_one_channel_without_channel_axis(client, onnx_model, art):
    x = art.x_test[:3]
    ref = onnx_model.predict(x)
    r = client.post("/predict", content=npy(np.asfortranarray(x[..., 0])), headers=NPY)
    assert r.status_code == 200, r.text
    got = np.array([p["probabilities"] for p in r.json()["predictions"]])
    np.testing.assert_allclose(got, ref, atol=1e-6)


def _npy_v3() -> bytes:
    body = bytearray(npy(np.zeros((28, 28, 1), np.uint8)))
    body[6] = 3
    return bytes(body)


BAD_NPY = [
    ("not npy", b"just some bytes", 400, "not a .npy"),
    ("npz archive", b"PK\x03\x04" + b"0" * 64, 400, "not a .npy"),
    ("truncated data", npy(np.zeros((28, 28, 1), np.uint8))[:-5], 400, "needs"),
    ("extra data", npy(np.zeros((28, 28, 1), np.uint8)) + b"xx", 400, "needs"),
    ("header garbage", b"\x93NUMPY\x01\x00\x10\x00{'descr': nope}\n", 400, "malformed .npy header"),
    ("header only magic", b"\x93NUMPY", 400, "malformed .npy header"),
    ("version 3", _npy_v3(), 400, "version"),
    ("object array (pickle)", npy(np.array([{"a": 1}], dtype=object), allow_pickle=True), 422, "numbers"),
    ("booleans", npy(np.ones((28, 28, 1), bool)), 422, "numbers"),
    ("strings", npy(np.array(["a", "b"])), 422, "numbers"),
    ("structured", npy(np.zeros(3, dtype=[("a", "i4"), ("b", "f4")])), 422, "numbers"),
    ("wrong shape", npy(np.zeros((2, 3), np.uint8)), 422, "shape"),
    ("empty batch", npy(np.zeros((0, 28, 28, 1), np.uint8)), 400, "empty"),
    ("nan", npy(np.full((28, 28, 1), np.nan, np.float32)), 422, "nan"),
    ("too large", npy(np.zeros((30, 28, 28, 1), np.float32)), 413, "exceeds"),
]


@pytest.mark.parametrize("name, body, status, msg", BAD_NPY, ids=[b[0] for b in BAD_NPY])
def test_bad_npy_bodies_get_a_one_line_4xx(client, name, body, status, msg):
    r = client.post("/predict", content=body, headers=NPY)
    assert r.status_code == status, r.text
    err = r.json()
    assert set(err) == {"error"} and msg.lower() in err["error"].lower(), err
    assert "\n" not in err["error"] and "Traceback" not in err["error"]
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize("headers", [{}, NPY, {"content-type": "text/plain"}])
def test_an_empty_body_is_400_whatever_its_content_type(client, headers):
    r = client.post("/predict", content=b"", headers=headers)
    assert r.status_code == 400 and "empty" in r.json()["error"], r.text
    r = client.post("/predict", content=iter([]), headers=headers)  # streamed: no Content-Length at all
    supported = headers.get("content-type") != "text/plain"  # a declared unsupported type is refused first
    assert (r.status_code, "empty" in r.json()["error"]) == ((400, True) if supported else (415, False)), r.text


def test_a_body_without_content_type_is_415(client):
    r = client.post("/predict", content=iter([b"\x89PNG..."]))
    assert r.status_code == 415 and "unsupported content type '(none)'" in r.json()["error"], r.text


@pytest.mark.parametrize("method", ["get", "put"])
def test_predict_needs_post(client, method):
    r = getattr(client, method)("/predict")
    assert r.status_code == 405 and "POST" in r.json()["error"]


def test_malformed_multipart_is_400(client):
    r = client.post("/predict", content=b"--xyz\r\nno headers end", headers={"content-type": "multipart/form-data"})
    assert r.status_code == 400 and "boundary" in r.json()["error"]
    r = client.post("/predict", content=b"garbage", headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 400 and "error" in r.json()


def test_batch_with_bad_and_good_bodies_fails_only_the_bad_ones(onnx_model, art):
    """Bodies are decoded inside the batch: a bad one gets its own 4xx, its batch-mates their own 200."""
    import httpx

    from cnnspec.deploy.serve import ServerLimits, create_app

    app = create_app(onnx_model, limits=ServerLimits(max_batch=16, max_wait_ms=200, batch_workers=1))
    n = 24
    ref = onnx_model.predict(art.x_test[:n])
    got: dict[int, tuple] = {}
    kinds = ["npy", "json", "png", "bad-npy", "bad-png", "bad-shape"]

    def body(i):
        kind = kinds[i % len(kinds)]
        x = art.x_test[i]
        if kind == "npy":
            return npy(x), NPY
        if kind == "json":
            return None, {"json": {"inputs": x.tolist()}}
        if kind == "png":
            from PIL import Image

            buf = io.BytesIO()
            Image.fromarray(x[..., 0]).save(buf, format="PNG")
            return buf.getvalue(), {"content-type": "image/png"}
        if kind == "bad-npy":
            return b"\x93NUMPY garbage", NPY
        if kind == "bad-png":
            return b"\x89PNG not really", {"content-type": "image/png"}
        return npy(np.zeros((3, 3), np.uint8)), NPY

    with _LiveServer(app) as live:
        def client(i):
            content, extra = body(i)
            with httpx.Client(base_url=live.base, timeout=60) as c:
                if content is None:
                    r = c.post("/predict", **extra)
                else:
                    r = c.post("/predict", content=content, headers=extra)
                got[i] = (r.status_code, r.json())

        threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert sorted(got) == list(range(n))
    for i, (status, doc) in got.items():
        kind = kinds[i % len(kinds)]
        if kind.startswith("bad"):
            assert status in (400, 422) and set(doc) == {"error"}, (kind, status, doc)
        else:
            assert status == 200, (kind, doc)
            np.testing.assert_allclose(doc["predictions"][0]["probabilities"], ref[i], atol=1e-5)
    assert app.state.work.batcher.batches < n  # requests did share engine calls


def test_health_is_get_only(client):
    assert client.get("/health").json()["status"] == "ok"
    r = client.head("/health")
    assert r.status_code == 200 and r.content == b""
    r = client.post("/health")
    assert r.status_code == 405 and "GET" in r.json()["error"]


def test_openvino_engine_serves_two_worker_threads_from_the_start(art):
    """The first concurrent calls of an OpenVINO engine (a server's first requests) once deadlocked in
    the binding's first use of tensor.data; the engine now warms up alone. Run in a subprocess with a
    timeout, so a hang fails the test instead of the suite."""
    import subprocess
    import sys

    pytest.importorskip("openvino")
    from tests.deploy_helpers import ROOT

    code = f"""
import sys, threading, numpy as np
sys.path.insert(0, {str(ROOT)!r})
from cnnspec.deploy.openvino_engine import OpenVinoEngine
eng = OpenVinoEngine({str(art.onnx)!r}, threads=1)
shape = {list(art.meta["input_shape"])!r}
go = threading.Barrier(4)
def worker(k):
    go.wait()
    for i in range(20):
        out = eng.run(np.zeros((1 + (3 * i + k) % 9, *shape), np.float32))
        assert out.shape[0] == 1 + (3 * i + k) % 9
threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-500:]
