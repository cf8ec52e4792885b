"""Load test for `cnnspec serve` over loopback (127.0.0.1 only).

Reproduce (from the repository root):

    python benchmarks/load_serve.py                       # 600 requests, 256 concurrent, PNG uploads
    python benchmarks/load_serve.py --kind json --json    # JSON {"inputs": ...} bodies, JSON report

Without --model it first builds and exports the table6 model (random weights, like
benchmarks/bench_onnx.py). The server runs as a separate process (`python -m cnnspec serve
MODEL --host 127.0.0.1 --port <free port>`); the client is a minimal asyncio HTTP/1.1 client
with --concurrency keep-alive connections, each sending its share of the requests back to back
(httpx.AsyncClient alone tops out around 50-120 requests/s on 2 cores at this concurrency, so it
would measure itself; httpx is used for the health checks). Reports errors (non-200 or transport), p50/p95/max latency
and requests/s over the whole run. Exit status 1 if any request failed.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HOST = "127.0.0.1"  # loopback only, never another address

import numpy as np  # noqa: E402


def export_table6(out_dir: Path) -> Path:
    """table6 with random weights -> out_dir/table6.onnx (TensorFlow needed only here)."""
    code = f"""
import json, sys
sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'benchmarks')!r})
from cnnspec.keras.export import _quiet_tf, export_model
_quiet_tf()
import keras
from bench_onnx import table6
keras.utils.set_random_seed(0)
m = table6()
run = __import__('pathlib').Path({str(out_dir)!r}) / 'run'; run.mkdir()
m.save(run / 'model.keras')
(run / 'model.cnnspec.json').write_text(json.dumps({{"class_names": [str(i) for i in range(10)],
    "input_shape": [28, 28, 1], "scale": 1 / 255, "offset": 0.0, "spec_name": "table6",
    "spec_fingerprint": None, "cnnspec_version": "0.1.0"}}))
rep = export_model(run, {str(out_dir / 'table6.onnx')!r})
assert rep["parity"]["ok"], rep["parity"]
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    return out_dir / "table6.onnx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def make_payloads(kind: str, n_distinct: int = 32) -> list[tuple[str, bytes]]:
    """(content type, body) pairs: PNG uploads (multipart) and/or JSON {"inputs": ...}."""
    from PIL import Image

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (n_distinct, 28, 28), dtype=np.uint8)
    out = []
    for i, img in enumerate(imgs):
        if kind == "png" or (kind == "mix" and i % 2 == 0):
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="PNG")
            boundary = f"cnnspecload{i:04d}"
            body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"img{i}.png\"\r\n"
                    f"Content-Type: image/png\r\n\r\n").encode() + buf.getvalue() + f"\r\n--{boundary}--\r\n".encode()
            out.append((f"multipart/form-data; boundary={boundary}", body))
        else:
            out.append(("application/json", json.dumps({"inputs": img[..., None].tolist()}).encode()))
    return out


async def run_load(port: int, total: int, concurrency: int, payloads) -> dict:
    """``concurrency`` keep-alive HTTP/1.1 connections share ``total`` POST /predict requests.

    A minimal asyncio client (httpx.AsyncClient itself saturates a 2-core machine at
    ~50-120 requests/s with hundreds of connections, so it would measure the client).
    """
    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(total))

    async def read_response(reader) -> tuple[int, bytes]:
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("connection closed")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            key, _, value = line.decode("latin-1").partition(":")
            if key.strip().lower() == "content-length":
                length = int(value)
        return status, await reader.readexactly(length)

    async def connection():
        reader = writer = None
        for i in counter:
            ctype, body = payloads[i % len(payloads)]
            head = (f"POST /predict HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode()
            t0 = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(HOST, port)
                writer.write(head + body)
                await writer.drain()
                status, payload = await read_response(reader)
                if status != 200:
                    errors.append(f"HTTP {status}: {payload[:80]!r}")
                else:
                    json.loads(payload)["predictions"][0]["top"]
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{type(exc).__name__}: {exc}"[:120])
                if writer is not None:
                    writer.close()
                reader = writer = None
            latencies.append(time.perf_counter() - t0)
        if writer is not None:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1e3
    return {"requests": total, "concurrency": concurrency, "errors": len(errors),
            "error_samples": errors[:5], "wall_s": wall, "requests_per_s": total / wall,
            "latency_ms_p50": float(np.percentile(lat, 50)), "latency_ms_p95": float(np.percentile(lat, 95)),
            "latency_ms_max": float(lat.max())}


def main() -> int:
    ap = argparse.ArgumentParser(description="Load test cnnspec serve over loopback")
    ap.add_argument("--model", type=Path, help="an exported .onnx (default: export table6 first)")
    ap.add_argument("--requests", type=int, default=600)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--kind", choices=("png", "json", "mix"), default="png")
    ap.add_argument("--threads", type=int, default=None, help="server's onnxruntime intra-op threads")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not 1 <= args.requests <= 10000 or not 1 <= args.concurrency <= 1000:
        ap.error("keep the load bounded: 1..10000 requests, 1..1000 concurrent")

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or export_table6(Path(tmp))
        port = free_port()
        cmd = [sys.executable, "-m", "cnnspec", "serve", str(model), "--host", HOST, "--port", str(port),
               "--device", "cpu"]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        server = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True)
        base = f"http://{HOST}:{port}"
        try:
            import httpx

            for _ in range(300):
                if server.poll() is not None:
                    print("server exited:", server.stderr.read(), file=sys.stderr)
                    return 1
                try:
                    if httpx.get(base + "/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            payloads = make_payloads(args.kind)
            asyncio.run(run_load(port, 20, 4, payloads))  # warm-up, not counted
            res = asyncio.run(run_load(port, args.requests, args.concurrency, payloads))
            res["health_after"] = httpx.get(base + "/health", timeout=5).json()["status"]
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    res.update({"kind": args.kind, "server_threads": args.threads, "cpu_count": os.cpu_count()})
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"{res['requests']} requests ({args.kind}), {res['concurrency']} concurrent, {os.cpu_count()} cores: "
              f"errors {res['errors']}, p50 {res['latency_ms_p50']:.0f} ms, p95 {res['latency_ms_p95']:.0f} ms, "
              f"max {res['latency_ms_max']:.0f} ms, {res['requests_per_s']:.0f} req/s; health after: "
              f"{res['health_after']}")
        for e in res["error_samples"]:
            print("  error:", e)
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
