"""How much does the runtime itself gain from a batch? The ceiling of any batching server.

Reproduce (from the repository root):

    python benchmarks/batch_gain.py runs/bench/table6.fp32.onnx runs/bench/seed002_vgg.fp32.onnx

For each model, engine (onnxruntime, openvino if installed) and intra-op thread count (1, 2), one
engine call is timed at batch 1, 16 and 64 on random pixels (best of 3 repetitions of ~300
images each). Reported per image: wall time and this process's CPU time (user + system, all
threads). On a machine shared with other jobs the CPU time is the steadier figure, and it is what
a server on a saturated machine pays: a batching server can serve at most
``cpu_ms(batch 1) / cpu_ms(batch 16)`` times the requests per second of an unbatched one, even
if everything around the engine call were free.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def per_image(run, x: np.ndarray, images: int = 300, repeat: int = 3) -> tuple[float, float]:
    """Best (wall ms, CPU ms) per image of ``run(x)`` over ``repeat`` loops of ~``images`` images."""
    for _ in range(3):
        run(x)
    calls = max(3, images // len(x))
    best_wall, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(calls):
            run(x)
        best_cpu = min(best_cpu, (time.process_time() - c0) * 1e3 / (calls * len(x)))
        best_wall = min(best_wall, (time.perf_counter() - w0) * 1e3 / (calls * len(x)))
    return best_wall, best_cpu


def main() -> int:
    ap = argparse.ArgumentParser(description="Runtime batch gain (CPU time per image, batch 1 vs 16/64)")
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--batches", default="1,16,64")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from cnnspec.deploy.engines import cpu_name, installed
    from cnnspec.deploy.runtime import OnnxModel

    batches = [int(b) for b in args.batches.split(",")]
    rows = []
    rng = np.random.default_rng(0)
    for path in args.models:
        for engine in installed():
            for threads in (int(t) for t in args.threads.split(",")):
                m = OnnxModel(path, device="cpu", engine=engine, threads=threads, spinning=False, on_notice=None)
                row = {"model": path.name, "engine": engine, "precision": m.precision, "threads": threads}
                for b in batches:
                    x = (rng.integers(0, 256, (b, *m.input_shape)) * m.scale + m.offset).astype(np.float32)
                    row[f"wall_ms_b{b}"], row[f"cpu_ms_b{b}"] = per_image(m.run_scaled, x)
                rows.append(row)
                if not args.json:
                    figs = "  ".join(f"b{b} {row[f'wall_ms_b{b}']:.3f}/{row[f'cpu_ms_b{b}']:.3f}" for b in batches)
                    gain = row[f"cpu_ms_b{batches[0]}"] / row[f"cpu_ms_b{batches[1]}"]
                    print(f"{path.name:28s} {engine:11s} {m.precision:4s} threads {threads}  "
                          f"wall/CPU ms per image: {figs}  CPU gain b{batches[1]}: {gain:.2f}x", flush=True)
    if args.json:
        print(json.dumps({"cpu": cpu_name(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
