"""The HTTP server: in-process (TestClient) and end to end over loopback."""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tests.deploy_helpers import ROOT, TF_BLOCKER, artefacts

pytestmark = pytest.mark.filterwarnings("ignore:Using .httpx. with .starlette.testclient.")


@pytest.fixture(scope="module")
def art():
    return artefacts()


@pytest.fixture(scope="module")
def onnx_model(art):
    from cnnspec.deploy.runtime import OnnxModel

    return OnnxModel(art.onnx, device="cpu")


@pytest.fixture(scope="module")
def client(onnx_model):
    from fastapi.testclient import TestClient

    from cnnspec.deploy.serve import create_app

    with TestClient(create_app(onnx_model, max_body=64 * 1024)) as c:
        yield c


def _png(arr) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(arr, dtype=np.uint8).squeeze()).save(buf, format="PNG")
    return buf.getvalue()


def test_health_and_metadata(client, art):
    r = client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    meta = client.get("/metadata").json()
    assert meta["class_names"] == art.meta["class_names"]
    assert meta["input_shape"] == art.meta["input_shape"]
    assert meta["input_name"] == "input" and meta["output_name"] == "probabilities"
    assert meta["device"] == "cpu" and meta["max_body"] == 64 * 1024


def test_predict_png_upload_matches_runtime(client, onnx_model, art):
    png = art.images[0].read_bytes()
    r = client.post("/predict?top=3", files={"file": ("digit.png", png, "image/png")})
    assert r.status_code == 200, r.text
    pred = r.json()["predictions"]
    assert len(pred) == 1 and pred[0]["filename"] == "digit.png" and len(pred[0]["top"]) == 3
    ref = onnx_model.predict_images([art.images[0]], top=1)[0][0]
    assert pred[0]["top"][0]["class"] == ref[0]
    assert pred[0]["top"][0]["probability"] == pytest.approx(ref[1], abs=1e-6)


def test_predict_several_files_and_raw_image_body(client, art):
    files = [("files", (p.name, p.read_bytes(), "image/png")) for p in art.images]
    r = client.post("/predict", files=files)
    assert r.status_code == 200 and len(r.json()["predictions"]) == len(art.images)
    r = client.post("/predict", content=art.images[1].read_bytes(), headers={"content-type": "image/png"})
    assert r.status_code == 200 and len(r.json()["predictions"]) == 1


def test_predict_json_single_and_batch(client, onnx_model, art):
    one = art.x_test[0].tolist()
    r = client.post("/predict", json={"inputs": one})
    assert r.status_code == 200, r.text
    p = r.json()["predictions"]
    assert len(p) == 1 and len(p[0]["probabilities"]) == len(art.meta["class_names"])
    ref = onnx_model.predict(art.x_test[:5])
    r = client.post("/predict", json={"inputs": art.x_test[:5].tolist()})
    got = np.array([q["probabilities"] for q in r.json()["predictions"]])
    np.testing.assert_allclose(got, ref, atol=1e-6)


BAD_REQUESTS = [
    ("malformed json", dict(content=b'{"inputs": [1, 2', headers={"content-type": "application/json"}), 400, "malformed JSON"),
    ("json not object", dict(json=[1, 2, 3]), 400, "inputs"),
    ("wrong shape", dict(json={"inputs": [[1, 2], [3, 4]]}), 422, "shape"),
    ("ragged", dict(json={"inputs": [[1, 2], [3]]}), 422, "rectangular"),
    ("strings", dict(json={"inputs": [["a", "b"]]}), 422, "numbers"),
    ("booleans", dict(json={"inputs": [[True]]}), 422, "numbers"),
    ("non-image bytes", dict(files={"file": ("x.png", b"definitely not a png", "image/png")}), 400, "image"),
    ("raw non-image", dict(content=b"GIF89a-nope", headers={"content-type": "image/gif"}), 400, "image"),
    ("empty body", dict(content=b"", headers={"content-type": "application/json"}), 400, "empty"),
    ("multipart without file", dict(files={"field": (None, "value")}), 400, "no file"),
    ("oversized", dict(content=b"0" * (64 * 1024 + 1), headers={"content-type": "application/json"}), 413, "exceeds"),
    ("unsupported type", dict(content=b"hello", headers={"content-type": "text/plain"}), 415, "unsupported content type"),
]


@pytest.mark.parametrize("name, kwargs, status, msg", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests_get_4xx_json_and_server_survives(client, name, kwargs, status, msg):
    r = client.post("/predict", **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and msg.lower() in body["error"].lower() and "\n" not in body["error"]
    assert client.get("/health").status_code == 200


def test_top_out_of_range_and_unknown_route(client, art):
    r = client.post("/predict?top=0", json={"inputs": art.x_test[0].tolist()})
    assert r.status_code == 422 and "top" in r.json()["error"]
    r = client.post("/predict?top=abc", json={"inputs": art.x_test[0].tolist()})
    assert r.status_code == 422 and "error" in r.json()
    r = client.get("/nope")
    assert r.status_code == 404 and "error" in r.json()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_health(base: str, timeout: float = 60.0, proc=None):
    import httpx

    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read()}")
        try:
            r = httpx.get(base + "/health", timeout=2)
            if r.status_code == 200:
                return r
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not come up")


def test_uvicorn_over_loopback(onnx_model, art):
    import httpx
    import uvicorn

    from cnnspec.deploy.serve import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(onnx_model, max_body=32 * 1024), host="127.0.0.1",
                                           port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_health(base)
        with httpx.Client(base_url=base, timeout=10) as c:
            r = c.post("/predict", files={"file": ("d.png", art.images[0].read_bytes(), "image/png")})
            assert r.status_code == 200 and r.json()["predictions"][0]["top"]
            r = c.post("/predict", json={"inputs": art.x_test[:3].tolist()})
            assert r.status_code == 200 and len(r.json()["predictions"]) == 3
            assert c.post("/predict", content=b"{oops", headers={"content-type": "application/json"}).status_code == 400
            assert c.post("/predict", content=b"x" * 40000, headers={"content-type": "image/png"}).status_code == 413
            assert c.post("/predict", json={"inputs": [1.0, 2.0]}).status_code == 422
            assert c.get("/health").json()["status"] == "ok"
            assert c.get("/metadata").json()["spec_name"] == "tiny_table6"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_cli_serve_subprocess_without_tensorflow(art):
    import httpx

    port = _free_port()
    code = TF_BLOCKER + (f"\nfrom cnnspec.cli import main\n"
                         f"main(['serve', {str(art.onnx)!r}, '--port', '{port}', '--device', 'cpu', '--max-body', '5000'])\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=str(ROOT), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_health(base, proc=proc)
        r = httpx.post(base + "/predict", files={"file": ("d.png", art.images[0].read_bytes(), "image/png")})
        assert r.status_code == 200
        r = httpx.post(base + "/predict", content=b"0" * 6000, headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert httpx.get(base + "/health").status_code == 200
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "blocked" not in (proc.stderr.read() or "")
