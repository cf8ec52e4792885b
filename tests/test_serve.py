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

    with TestClient(create_app(onnx_model, max_body=200 * 1024)) as c:
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
    assert meta["device"] == "cpu" and meta["max_body"] == 200 * 1024
    assert meta["max_pixels"] > 0 and meta["max_batch"] >= 1


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
    ("oversized", dict(content=b"0" * (200 * 1024 + 1), headers={"content-type": "application/json"}), 413, "exceeds"),
    ("unsupported type", dict(content=b"hello", headers={"content-type": "text/plain"}), 415, "unsupported content type"),
    ("deep json", dict(content=b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                       headers={"content-type": "application/json"}), 400, "nested deeper"),
    ("deep json under the byte limit", dict(content=b"[" * 30_000, headers={"content-type": "application/json"}),
     400, "nested deeper"),
    ("oversized image", dict(content=b"\x89PNG" + b"0" * (200 * 1024), headers={"content-type": "image/png"}),
     413, "exceeds"),
    ("oversized multipart", dict(files={"f": ("x.png", b"0" * (200 * 1024), "image/png")}), 413, "exceeds"),
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


# ---- limits and the event loop (issue 9), batching (issue 14) ------------------------------

def test_image_above_pixel_limit_gets_413_before_decoding(onnx_model, monkeypatch):
    from fastapi.testclient import TestClient
    from PIL import Image

    from cnnspec.deploy.serve import ServerLimits, create_app

    buf = io.BytesIO()
    Image.new("L", (4000, 3000), 0).save(buf, format="PNG", optimize=True)  # ~10 KB, 12 MP
    assert len(buf.getvalue()) < 100_000
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(1) or None)
    app = create_app(onnx_model, limits=ServerLimits(max_pixels=1_000_000))
    with TestClient(app) as c:
        r = c.post("/predict", content=buf.getvalue(), headers={"content-type": "image/png"})
        assert r.status_code == 413 and "4000x3000" in r.json()["error"]
        r = c.post("/predict", files={"f": ("big.png", buf.getvalue(), "image/png")})
        assert r.status_code == 413
        assert c.get("/health").status_code == 200
    assert decoded == []  # refused from the header alone


class _LiveServer:
    """A real uvicorn server on 127.0.0.1 (free port) in a thread."""

    def __init__(self, app):
        import uvicorn

        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        _wait_health(self.base)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.mark.parametrize("kind, max_batch", [("image", 16), ("json", 16), ("image", 1)])
def test_health_answers_while_decoding_is_blocked(onnx_model, art, kind, max_batch):
    """Decoding runs off the event loop: with every worker thread stuck decoding, /health still answers."""
    import httpx

    from cnnspec.deploy import bodies
    from cnnspec.deploy.serve import ServerLimits, create_app

    app = create_app(onnx_model, limits=ServerLimits(batch_workers=2, max_concurrent=8, max_batch=max_batch))
    entered, release = threading.Semaphore(0), threading.Event()
    real_load, real_parse = bodies.load_images, bodies.parse_json_inputs

    def blocked(fn):
        def wrapper(*a):
            entered.release()
            release.wait(30)
            return fn(*a)
        return wrapper

    saved = real_load, real_parse
    bodies.load_images, bodies.parse_json_inputs = blocked(real_load), blocked(real_parse)
    results = []
    try:
        with _LiveServer(app) as live:
            def client():
                with httpx.Client(base_url=live.base, timeout=60) as c:
                    if kind == "image":
                        r = c.post("/predict", content=art.images[0].read_bytes(), headers={"content-type": "image/png"})
                    else:
                        r = c.post("/predict", json={"inputs": art.x_test[0].tolist()})
                    results.append(r.status_code)

            threads = [threading.Thread(target=client) for _ in range(4)]
            for t in threads:
                t.start()
            assert entered.acquire(timeout=30)  # a worker thread is stuck decoding
            for _ in range(3):
                r = httpx.get(live.base + "/health", timeout=30)
                assert r.status_code == 200 and r.json()["status"] == "ok"
            assert results == []  # nothing has been answered yet: /health did not wait for the decodes
            release.set()
            for t in threads:
                t.join(60)
    finally:
        release.set()
        bodies.load_images, bodies.parse_json_inputs = saved
    assert results == [200] * 4


def test_batching_returns_each_client_its_own_result(onnx_model, art):
    import httpx

    from cnnspec.deploy.serve import ServerLimits, create_app

    n = 24
    app = create_app(onnx_model, limits=ServerLimits(max_batch=8, max_wait_ms=50, max_concurrent=64))
    ref = onnx_model.predict(art.x_test[:n])
    got: dict[int, np.ndarray] = {}
    with _LiveServer(app) as live:
        def client(i):
            with httpx.Client(base_url=live.base, timeout=60) as c:
                r = c.post("/predict?top=1", json={"inputs": art.x_test[i].tolist()})
                assert r.status_code == 200, r.text
                got[i] = np.array(r.json()["predictions"][0]["probabilities"])

        threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert sorted(got) == list(range(n))
    for i in range(n):
        np.testing.assert_allclose(got[i], ref[i], atol=1e-5)
    batcher = app.state.work.batcher
    assert batcher.examples == n and 1 <= batcher.batches <= n


def test_batcher_splits_and_orders_rows():
    import asyncio

    from cnnspec.deploy.batching import Batcher

    sizes = []

    def run(x):
        sizes.append(len(x))
        return x * 2

    async def main():
        b = Batcher(run, max_batch=4, max_wait_ms=20)
        xs = [np.full((1 + i % 2, 3), i, np.float32) for i in range(7)]  # 1 or 2 rows each
        outs = await asyncio.gather(*(b.submit(x) for x in xs))
        await b.stop()
        return xs, outs

    xs, outs = asyncio.run(main())
    for x, out in zip(xs, outs):
        np.testing.assert_array_equal(out, x * 2)
    assert sum(sizes) == sum(len(x) for x in xs) and max(sizes) <= 4 and len(sizes) < len(xs)


def test_cli_serve_prints_serving_only_once_bound(art):
    """With --port 0 the line names the real port, and the very first request to it succeeds."""
    import httpx

    code = TF_BLOCKER + (f"\nfrom cnnspec.cli import main\n"
                         f"main(['serve', {str(art.onnx)!r}, '--port', '0', '--device', 'cpu', "
                         f"'--engine', 'onnxruntime'])\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=str(ROOT), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert line.startswith("serving model.onnx on http://127.0.0.1:"), line
        port = int(line.split("http://127.0.0.1:")[1].split()[0])
        assert port > 0
        r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)  # no retry: it is already up
        assert r.status_code == 200
        # a second server on the same port: one line, exit 2
        res = subprocess.run([sys.executable, "-m", "cnnspec", "serve", str(art.onnx), "--port", str(port),
                              "--device", "cpu", "--engine", "onnxruntime"], capture_output=True, text=True,
                             cwd=str(ROOT), env=env, timeout=60)
        assert res.returncode == 2 and "cannot bind" in res.stderr and "serving" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
        # the port is tried first: no engine probe (and its notice) before the refusal
        res = subprocess.run([sys.executable, "-m", "cnnspec", "serve", str(art.onnx), "--port", str(port),
                              "--engine", "auto"], capture_output=True, text=True, cwd=str(ROOT), env=env, timeout=60)
        assert res.returncode == 2 and res.stderr.startswith("error: cannot bind"), res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_bound_socket_is_tcp_so_responses_are_not_delayed():
    """asyncio sets TCP_NODELAY only on sockets created as IPPROTO_TCP; without it each response
    waits for the client's delayed ACK (~40 ms)."""
    import socket as so

    from cnnspec.deploy.serve import bind

    s = bind("127.0.0.1", 0)
    try:
        assert s.proto == so.IPPROTO_TCP and s.getsockname()[1] > 0
    finally:
        s.close()
