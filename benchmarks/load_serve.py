"""Load test for `cnnspec serve` over loopback (127.0.0.1 only): dynamic batching vs none.

Reproduce (from the repository root; figures in docs/results.md):

    python benchmarks/load_serve.py --model runs/bench/table6.fp32.onnx --engine openvino --kind npy \
        --batched-args "--threads 1 --batch-workers 2" --unbatched-args "--threads 1 --batch-workers 4"
    python benchmarks/load_serve.py --kind json --json                # table6 (random weights), JSON bodies

Without --model it first builds and exports the table6 model (random weights, like
benchmarks/bench_onnx.py). Two servers run as separate processes (`python -m cnnspec serve MODEL
--host 127.0.0.1 --port <free port>`): "batched" with the batching defaults and "unbatched" with
`--max-batch 1`, each plus its own --batched-args / --unbatched-args (give each its best settings).
They are loaded in turn by 1, 16 and 64 concurrent clients (--levels), the modes alternating within
each level for --rounds rounds (the load of a shared machine drifts; interleaving keeps the drift out
of the ratio); the best round and the median of the rounds are reported, with the load average.

The client is cheap on purpose (it shares the cores with the server): one keep-alive connection per
client, prebuilt request bytes, asyncio protocols on uvloop, answers checked by status and prefix
only; --client-procs spreads the connections over several processes. Its CPU time per request is
reported next to the server's (server CPU/req: the server process's CPU time per request, which does
not depend on how much of the machine it won). Bodies (--kind): npy (application/x-npy uint8
arrays), png (multipart uploads), rawpng (image/png), json, mix. While the load runs, a separate
connection asks GET /health every 100 ms: its worst answer time is reported. Exit status 1 if any
request failed.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
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
    """(content type, body) pairs of 28x28 one-channel images, ``n_distinct`` different ones.

    ``png``: multipart/form-data PNG uploads (what a browser form sends); ``rawpng``: a raw
    ``image/png`` body; ``json``: ``{"inputs": ...}``; ``npy``: an ``application/x-npy`` uint8 array
    (the lean tensor body); ``mix``: PNG uploads and JSON alternating."""
    from PIL import Image

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (n_distinct, 28, 28), dtype=np.uint8)
    out = []
    for i, img in enumerate(imgs):
        k = kind if kind != "mix" else ("png" if i % 2 == 0 else "json")
        if k in ("png", "rawpng"):
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="PNG")
            if k == "rawpng":
                out.append(("image/png", buf.getvalue()))
                continue
            boundary = f"cnnspecload{i:04d}"
            body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"img{i}.png\"\r\n"
                    f"Content-Type: image/png\r\n\r\n").encode() + buf.getvalue() + f"\r\n--{boundary}--\r\n".encode()
            out.append((f"multipart/form-data; boundary={boundary}", body))
        elif k == "npy":
            buf = io.BytesIO()
            np.save(buf, img[..., None], allow_pickle=False)
            out.append(("application/x-npy", buf.getvalue()))
        else:
            out.append(("application/json", json.dumps({"inputs": img[..., None].tolist()}).encode()))
    return out


def request_bytes(payloads, path: str = "/predict?top=1") -> list[bytes]:
    """Each payload as one complete prebuilt HTTP/1.1 request (headers + body)."""
    return [(f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: {ctype}\r\n"
             f"Content-Length: {len(body)}\r\n\r\n").encode() + body for ctype, body in payloads]


class _Conn(asyncio.Protocol):
    """One keep-alive connection sending prebuilt requests back to back (cheap: no header objects,
    no JSON parsing of answers except a marker check; a failed answer is recorded as an error)."""

    def __init__(self, reqs: list[bytes], jobs, latencies: list, errors: list, done: asyncio.Future) -> None:
        self.reqs, self.jobs, self.latencies, self.errors, self.done = reqs, jobs, latencies, errors, done
        self.buf = b""
        self.t0 = 0.0

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._send()

    def _send(self) -> None:
        i = next(self.jobs, None)
        if i is None:
            self.transport.close()
            if not self.done.done():
                self.done.set_result(None)
            return
        self.t0 = time.perf_counter()
        self.transport.write(self.reqs[i % len(self.reqs)])

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buf[:end].lower()
        k = head.find(b"content-length:")
        length = int(head[k + 15:head.find(b"\r\n", k) if head.find(b"\r\n", k) > 0 else None]) if k >= 0 else 0
        if len(self.buf) < end + 4 + length:
            return
        body = self.buf[end + 4:end + 4 + length]
        self.buf = self.buf[end + 4 + length:]
        self.latencies.append(time.perf_counter() - self.t0)
        if not head.startswith(b"http/1.1 200") or not body.startswith(b'{"predictions":'):
            self.errors.append(f"{head[:12].decode('latin-1')}: {body[:80]!r}")
        self._send()

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            if exc is not None or next(self.jobs, None) is not None:
                self.errors.append(f"connection lost: {exc}")
            self.done.set_result(None)


async def _client_share(port: int, jobs, concurrency: int, reqs: list[bytes]) -> tuple[list, list]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors: list[str] = []
    dones = []
    for _ in range(concurrency):
        done = loop.create_future()
        await loop.create_connection(lambda d=done: _Conn(reqs, jobs, latencies, errors, d), HOST, port)
        dones.append(done)
    await asyncio.gather(*dones)
    return latencies, errors


async def _health_probe(port: int, stop: asyncio.Event, health: list) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    while not stop.is_set():
        t0 = time.perf_counter()
        writer.write(f"GET /health HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        health.append(time.perf_counter() - t0 if head.startswith(b"HTTP/1.1 200") else float("inf"))
        await asyncio.sleep(0.1)
    writer.close()


def _cpu() -> float:
    return time.process_time()  # this process, all threads, high resolution (os.times ticks at 10 ms)


def _child(port: int, total: int, concurrency: int, reqs: list[bytes], start, out) -> None:
    """A client process: ``concurrency`` connections sharing ``total`` requests, after ``start`` is set."""
    _new_loop()
    start.wait()
    cpu0 = _cpu()
    latencies, errors = asyncio.run(_client_share(port, iter(range(total)), concurrency, reqs))
    out.put((latencies, errors, _cpu() - cpu0))


def _new_loop() -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass


def run_load(port: int, total: int, concurrency: int, reqs: list[bytes], procs: int = 1) -> dict:
    """``concurrency`` keep-alive connections (spread over ``procs`` client processes) share ``total``
    POST /predict requests; meanwhile GET /health every 100 ms on its own connection."""
    import multiprocessing as mp

    procs = max(1, min(procs, concurrency))
    ctx = mp.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    shares = [(total * (i + 1) // procs - total * i // procs, concurrency * (i + 1) // procs - concurrency * i // procs)
              for i in range(procs)]
    children = [ctx.Process(target=_child, args=(port, n, c, reqs, start, out)) for n, c in shares[1:]]
    for ch in children:
        ch.start()
    health: list[float] = []

    async def main():
        stop = asyncio.Event()
        probe = asyncio.ensure_future(_health_probe(port, stop, health))
        start.set()
        t0, cpu0 = time.perf_counter(), _cpu()
        lat, err = await _client_share(port, iter(range(shares[0][0])), shares[0][1], reqs)
        cpu = _cpu() - cpu0
        results = [(lat, err, cpu)] + [await asyncio.get_running_loop().run_in_executor(None, out.get)
                                       for _ in children]
        wall = time.perf_counter() - t0
        stop.set()
        await probe
        return results, wall

    _new_loop()
    results, wall = asyncio.run(main())
    for ch in children:
        ch.join()
    lat = np.array([x for r in results for x in r[0]]) * 1e3
    errors = [e for r in results for e in r[1]]
    return {"requests": total, "concurrency": concurrency, "client_procs": procs, "errors": len(errors),
            "error_samples": errors[:5], "wall_s": wall, "requests_per_s": total / wall,
            "latency_ms_p50": float(np.percentile(lat, 50)), "latency_ms_p99": float(np.percentile(lat, 99)),
            "latency_ms_max": float(lat.max()), "client_cpu_ms_per_request": sum(r[2] for r in results) * 1e3 / total,
            "health_checks": len(health), "health_ms_max": float(max(health) * 1e3) if health else None}


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


def _summary(rs: list[dict]) -> dict:
    """Best round (highest requests/s) plus the median requests/s of all rounds."""
    best = dict(max(rs, key=lambda r: r["requests_per_s"]))
    best["requests_per_s_median"] = float(np.median([r["requests_per_s"] for r in rs]))
    best["load_avg"] = [r["load_avg"] for r in rs]
    return best


def _measure(args, model: Path, levels: list[int], reqs: list[bytes], modes: list[str]) -> dict:
    """Both servers up at once, modes alternating within each level and round; all rounds."""
    rounds: dict[str, list] = {mode: [[] for _ in levels] for mode in modes}
    extra = {"batched": args.batched_args.split(), "unbatched": args.unbatched_args.split()}
    ports = {mode: free_port() for mode in modes}
    servers = {}
    try:
        for mode in modes:  # the idle one costs nothing
            servers[mode] = start_server(model, ports[mode], ["--engine", args.engine, *MODES[mode], *extra[mode]])
            run_load(ports[mode], 200, 8, reqs)  # warm-up, not counted
        # Interleaved: on a shared machine the load drifts, and alternating keeps the drift out of the ratio.
        for i, c in enumerate(levels):
            n = args.requests if c > 1 else max(50, args.requests // 4)
            for _ in range(args.rounds):
                for mode in modes:
                    time.sleep(0.5)
                    cpu0 = cpu_seconds(servers[mode].pid)
                    r = run_load(ports[mode], n, c, reqs, procs=args.client_procs if c > 1 else 1)
                    # CPU time the server spent per request: unlike req/s, it does not depend on how
                    # much of the shared machine the server's threads won from other processes.
                    r["server_cpu_ms_per_request"] = (cpu_seconds(servers[mode].pid) - cpu0) * 1e3 / n
                    r["load_avg"] = round(os.getloadavg()[0], 2)
                    rounds[mode][i].append(r)
    finally:
        for server in servers.values():
            stop_server(server)
    return rounds


def _print(out: dict) -> None:
    print(f"{out['model']} ({out['kind']}, engine {out['engine']}, {out['cpu_count']} cores, {out['cpu']}; "
          f"load average before/after {out['load_before']} / {out['load_after']})")
    print(f"{'mode':10s} {'clients':>7s} {'best req/s':>10s} {'median':>7s} {'p50 ms':>7s} {'p99 ms':>7s} "
          f"{'errors':>6s} {'/health max':>11s} {'server CPU/req':>14s} {'client CPU/req':>14s}")
    for mode, rows in out["results"].items():
        for r in rows:
            print(f"{mode:10s} {r['concurrency']:7d} {r['requests_per_s']:10.0f} {r['requests_per_s_median']:7.0f} "
                  f"{r['latency_ms_p50']:7.1f} {r['latency_ms_p99']:7.1f} {r['errors']:6d} "
                  f"{r['health_ms_max'] or 0:9.1f}ms {r['server_cpu_ms_per_request']:12.2f}ms "
                  f"{r['client_cpu_ms_per_request']:12.2f}ms")
    for c, ratio in out.get("batched_over_unbatched", {}).items():
        print(f"batched / unbatched at {c} clients: best {ratio['best']:.2f}x, median {ratio['median']:.2f}x")


def main() -> int:
    ap = argparse.ArgumentParser(description="Load test cnnspec serve over loopback: batched vs unbatched")
    ap.add_argument("--model", type=Path, help="an exported .onnx (default: export table6 first)")
    ap.add_argument("--requests", type=int, default=400, help="requests per concurrency level")
    ap.add_argument("--levels", default="1,16,64", help="concurrent clients, comma-separated")
    ap.add_argument("--kind", choices=("png", "rawpng", "json", "npy", "mix"), default="png")
    ap.add_argument("--engine", default="onnxruntime", help="server --engine")
    ap.add_argument("--modes", default="batched,unbatched")
    ap.add_argument("--batched-args", default="", help="extra `cnnspec serve` options of the batched server")
    ap.add_argument("--unbatched-args", default="", help="extra `cnnspec serve` options of the unbatched server")
    ap.add_argument("--client-procs", type=int, default=1, help="client processes sharing the connections")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per level; best and median reported")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    # SIGTERM (e.g. from `timeout`) unwinds like an exception, so the servers are stopped, not orphaned.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    levels = [int(v) for v in args.levels.split(",")]
    if not 1 <= args.requests <= 100000 or not all(1 <= c <= 1000 for c in levels):
        ap.error("keep the load bounded: 1..100000 requests, 1..1000 concurrent")
    from cnnspec.deploy.engines import cpu_name

    reqs = request_bytes(make_payloads(args.kind))
    modes = args.modes.split(",")
    load_before = [round(v, 2) for v in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or export_table6(Path(tmp))
        rounds = _measure(args, model, levels, reqs, modes)
    results = {mode: [_summary(rs) for rs in per] for mode, per in rounds.items()}
    out = {"model": str(args.model or "table6 (random weights)"), "kind": args.kind, "engine": args.engine,
           "batched_args": args.batched_args, "unbatched_args": args.unbatched_args, "cpu": cpu_name(),
           "cpu_count": os.cpu_count(), "levels": levels, "rounds": args.rounds, "client_procs": args.client_procs,
           "load_before": load_before, "load_after": [round(v, 2) for v in os.getloadavg()],
           "results": results, "all_rounds": rounds}
    if "batched" in results and "unbatched" in results:
        out["batched_over_unbatched"] = {
            str(c): {"best": b["requests_per_s"] / u["requests_per_s"],
                     "median": b["requests_per_s_median"] / u["requests_per_s_median"]}
            for c, b, u in zip(levels, results["batched"], results["unbatched"])}
    print(json.dumps(out, indent=2)) if args.json else _print(out)
    return 1 if any(r["errors"] for rows in results.values() for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
