"""Load test for `cnnspec serve` over loopback (127.0.0.1 only): dynamic batching vs none.

Reproduce (from the repository root):

    python benchmarks/load_serve.py --model vgg.onnx                  # batched vs unbatched, 1/16/64 clients
    python benchmarks/load_serve.py --kind json --json                # JSON {"inputs": ...} bodies, JSON report

Without --model it first builds and exports the table6 model (random weights, like
benchmarks/bench_onnx.py). For each server mode (the defaults: `--max-batch 16 --max-wait-ms 2 --batch-workers 2`, and
`--max-batch 1`, no batching) the server runs as a separate process (`python -m cnnspec serve MODEL
--host 127.0.0.1 --port <free port>`) and is loaded by 1, 16 and 64 concurrent clients (--levels).
The client is a minimal asyncio HTTP/1.1 client with one keep-alive connection per client, each
sending its share of the requests back to back (httpx.AsyncClient alone tops out around 50-120
requests/s on 2 cores, so it would measure itself). While the load runs, a separate connection asks
GET /health every 100 ms: its worst answer time is reported. Reports errors (non-200 or transport),
p50/p99/max latency and requests/s per level, and the batched/unbatched ratio. Exit status 1 if any
request failed.
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
sys.path.insert(0, {str(ROOT)!r})
from cnnspec.keras.export import _quiet_tf, export_model
_quiet_tf()
import keras
from keras import layers
keras.utils.set_random_seed(0)
m = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
                      layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
                      layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
run = __import__('pathlib').Path({str(out_dir)!r}) / 'run'; run.mkdir()
m.save(run / 'model.keras')
(run / 'model.cnnspec.json').write_text(json.dumps({{"class_names": [str(i) for i in range(10)],
    "input_shape": [28, 28, 1], "scale": 1 / 255, "offset": 0.0, "spec_name": "table6",
    "spec_fingerprint": None, "cnnspec_version": "0.1.0"}}))
export_model(run, {str(out_dir / 'table6.onnx')!r})
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
    """``concurrency`` keep-alive HTTP/1.1 connections share ``total`` POST /predict requests;
    meanwhile GET /health every 100 ms on its own connection."""
    latencies: list[float] = []
    health: list[float] = []
    errors: list[str] = []
    counter = iter(range(total))
    done = asyncio.Event()

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

    async def health_probe():
        reader, writer = await asyncio.open_connection(HOST, port)
        while not done.is_set():
            t0 = time.perf_counter()
            writer.write(f"GET /health HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            await writer.drain()
            status, _ = await read_response(reader)
            health.append(time.perf_counter() - t0 if status == 200 else float("inf"))
            await asyncio.sleep(0.1)
        writer.close()

    probe = asyncio.ensure_future(health_probe())
    t0 = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    done.set()
    await probe
    lat = np.array(latencies) * 1e3
    return {"requests": total, "concurrency": concurrency, "errors": len(errors),
            "error_samples": errors[:5], "wall_s": wall, "requests_per_s": total / wall,
            "latency_ms_p50": float(np.percentile(lat, 50)), "latency_ms_p99": float(np.percentile(lat, 99)),
            "latency_ms_max": float(lat.max()), "health_checks": len(health),
            "health_ms_max": float(max(health) * 1e3) if health else None}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads so far (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(model: Path, port: int, extra: list[str]) -> subprocess.Popen:
    """`cnnspec serve` in its own process; returns once it has printed its "serving" line."""
    cmd = [sys.executable, "-m", "cnnspec", "serve", str(model), "--host", HOST, "--port", str(port),
           "--device", "cpu", *extra]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    server = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    for line in server.stderr:
        if line.startswith("serving "):
            return server
    raise RuntimeError(f"server exited: {server.wait()}")


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


MODES = {"batched": [], "unbatched": ["--max-batch", "1"]}  # batched: the server's defaults


def main() -> int:
    ap = argparse.ArgumentParser(description="Load test cnnspec serve over loopback: batched vs unbatched")
    ap.add_argument("--model", type=Path, help="an exported .onnx (default: export table6 first)")
    ap.add_argument("--requests", type=int, default=400, help="requests per concurrency level")
    ap.add_argument("--levels", default="1,16,64", help="concurrent clients, comma-separated")
    ap.add_argument("--kind", choices=("png", "json", "mix"), default="png")
    ap.add_argument("--engine", default="onnxruntime", help="server --engine")
    ap.add_argument("--modes", default="batched,unbatched")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per level; best round each")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    levels = [int(v) for v in args.levels.split(",")]
    if not 1 <= args.requests <= 10000 or not all(1 <= c <= 1000 for c in levels):
        ap.error("keep the load bounded: 1..10000 requests, 1..1000 concurrent")
    payloads = make_payloads(args.kind)
    modes = args.modes.split(",")
    rounds: dict[str, list] = {mode: [[] for _ in levels] for mode in modes}
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or export_table6(Path(tmp))
        ports = {mode: free_port() for mode in modes}
        servers = {}
        try:
            for mode in modes:  # both servers up at once; the idle one costs nothing
                servers[mode] = start_server(model, ports[mode], ["--engine", args.engine, *MODES[mode]])
                asyncio.run(run_load(ports[mode], 40, 4, payloads))  # warm-up, not counted
            # Modes alternate within each level for --rounds rounds: on a shared machine the load drifts,
            # and interleaving keeps the drift out of the ratio; each mode's best round is reported.
            for i, c in enumerate(levels):
                n = args.requests if c > 1 else max(50, args.requests // 4)
                for _ in range(args.rounds):
                    for mode in modes:
                        time.sleep(0.5)
                        cpu0 = cpu_seconds(servers[mode].pid)
                        r = asyncio.run(run_load(ports[mode], n, c, payloads))
                        # CPU time the server spent per request: unlike req/s, it does not depend on how
                        # much of the shared machine the server's threads won from other processes.
                        r["server_cpu_ms_per_request"] = (cpu_seconds(servers[mode].pid) - cpu0) * 1e3 / n
                        rounds[mode][i].append(r)
        finally:
            for server in servers.values():
                stop_server(server)
    results = {mode: [max(rs, key=lambda r: r["requests_per_s"]) for rs in per] for mode, per in rounds.items()}
    out = {"model": str(args.model or "table6 (random weights)"), "kind": args.kind, "engine": args.engine,
           "cpu_count": os.cpu_count(), "levels": levels, "rounds": args.rounds, "results": results,
           "all_rounds": rounds}
    if "batched" in results and "unbatched" in results:
        out["batched_over_unbatched"] = {str(c): b["requests_per_s"] / u["requests_per_s"]
                                         for c, b, u in zip(levels, results["batched"], results["unbatched"])}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{out['model']} ({args.kind}, engine {args.engine}, {os.cpu_count()} cores)")
        print(f"{'mode':10s} {'clients':>7s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s} "
              f"{'errors':>6s} {'/health max ms':>15s} {'server CPU ms/req':>18s}")
        for mode, rows in results.items():
            for r in rows:
                print(f"{mode:10s} {r['concurrency']:7d} {r['requests_per_s']:8.0f} {r['latency_ms_p50']:8.1f} "
                      f"{r['latency_ms_p99']:8.1f} {r['latency_ms_max']:8.1f} {r['errors']:6d} "
                      f"{r['health_ms_max'] or 0:15.1f} {r['server_cpu_ms_per_request']:18.2f}")
        for c, ratio in out.get("batched_over_unbatched", {}).items():
            print(f"batched / unbatched at {c} clients: {ratio:.2f}x")
    return 1 if any(r["errors"] for rows in results.values() for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
