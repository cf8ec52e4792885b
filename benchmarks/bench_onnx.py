"""Every engine x precision x batch (1, 256) against Keras, with accuracy, on this machine's CPU.

Reproduce (from the repository root):

    python benchmarks/bench_onnx.py                       # table6 and seed 002's VGG network
    python benchmarks/bench_onnx.py --json > bench.json   # every round as JSON

For each model (``specs/table6.yaml`` and ``specs/seed002_vgg.yaml#bn_fashion``):

1. a run directory under ``--runs-dir`` (default ``runs/bench``); missing ones are trained briefly
   with ``cnnspec train SPEC --data fashion_mnist --limit 10000 --epochs 3`` (the machine is shared:
   a few epochs on 8,000 training images, enough for real weights and a meaningful accuracy);
2. ``cnnspec export`` to fp32 ONNX (parity on the Fashion-MNIST test split) and to INT8
   (``--quantize int8 --calibrate fashion_mnist``, 256 calibration images, gated); for the VGG
   network also both without the export-time graph rewrites (``--no-rewrite``) to show what they buy;
3. one run of :func:`cnnspec.deploy.bench.compare_variants`: Keras (``tf.function`` call) and every
   installed engine x precision take turns for ``--rounds`` rounds; batch-1 latency p50/p95 over
   ``--runs`` calls and batch-256 throughput (256 / median call time); each variant's best round;
4. every variant predicts the whole Fashion-MNIST test split: accuracy and top-1 agreement with
   onnxruntime fp32.

Writes ``docs/figures/bench_<model>.png`` (ratios vs Keras) and prints a markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

MODELS = {"table6": "specs/table6.yaml", "seed002_vgg": "specs/seed002_vgg.yaml#bn_fashion"}
DATA = "fashion_mnist"


def ensure_run(name: str, spec: str, runs_dir: Path, epochs: int, limit: int) -> Path:
    """The run directory, trained briefly first if it does not exist yet."""
    run = runs_dir / name
    if not (run / "model.keras").is_file():
        cmd = [sys.executable, "-m", "cnnspec", "train", spec, "--data", DATA, "--limit", str(limit),
               "--epochs", str(epochs), "--out", str(run), "-q"]
        print("+", " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True, cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return run


def exports(name: str, run: Path, out_dir: Path, with_plain: bool) -> dict:
    """fp32 / int8 (and without rewrites) exports; returns {tag: (path, report)}."""
    from cnnspec.keras.export import export_model

    jobs = {"fp32": dict(data=DATA), "int8": dict(quantize="int8", calibrate=DATA)}
    if with_plain:
        jobs.update({"fp32 no-rewrite": dict(data=DATA, rewrite=False),
                     "int8 no-rewrite": dict(quantize="int8", calibrate=DATA, rewrite=False)})
    out = {}
    for tag, opts in jobs.items():
        path = out_dir / f"{name}.{tag.replace(' ', '-')}.onnx"
        out[tag] = (path, export_model(run, path, **opts))
    return out


def bench_model(name: str, run: Path, files: dict, args) -> dict:
    """One compare_variants run: Keras + every engine x precision (+ no-rewrite ORT variants)."""
    from cnnspec.deploy import bench as B
    from cnnspec.deploy.quantize import load_split
    from cnnspec.deploy.runtime import OnnxModel
    from cnnspec.keras.bench import keras_label, keras_runner
    from cnnspec.keras.export import load_keras

    models = B.engine_variants(files["fp32"][0], files["int8"][0], on_notice=None)
    for tag in ("fp32 no-rewrite", "int8 no-rewrite"):
        if tag in files:
            models[f"onnxruntime {tag}"] = OnnxModel(files[tag][0], device="cpu", engine="onnxruntime",
                                                     on_notice=None)
    km, meta, _ = load_keras(run)
    base = keras_label()
    runs = {base: keras_runner(km), **{label: m.run_scaled for label, m in models.items()}}
    ref = models["onnxruntime fp32"]
    x1, xb = B.inputs(ref.input_shape, ref.scale, ref.offset, args.batch)
    time.sleep(2.0)  # let TensorFlow's threads (training, export) go idle
    res = B.compare_variants(runs, x1, xb, rounds=args.rounds, baseline=base, latency_runs=args.runs,
                             throughput_runs=args.throughput_runs)
    x, y = load_split(DATA, "test", ref.input_shape)
    xs = (x.astype(np.float32) * ref.scale + ref.offset).astype(np.float32)
    ordered = {label: runs[label] for label in models}
    ordered[base] = runs[base]
    res["accuracy"] = B.accuracy(ordered, xs, y)
    res["exports"] = {tag: {"file": str(p), "size_bytes": p.stat().st_size, "rewrites": rep.get("rewrites"),
                            "parity": rep["parity"], "quantization": rep.get("quantization")}
                      for tag, (p, rep) in files.items()}
    return res


def markdown(name: str, res: dict) -> str:
    """The results.md table for one model."""
    lines = [f"| {name}: variant | batch-1 p50 | p95 | batch-256 images/s | latency vs Keras | "
             "throughput vs Keras | test accuracy | top-1 agreement |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, r in res["variants"].items():
        a = res["accuracy"].get(label, {})
        lines.append(f"| {label} | {r['latency_ms_p50']:.3f} ms | {r['latency_ms_p95']:.3f} ms | "
                     f"{r['throughput_ips']:,.0f} | {r['latency_p50_ratio']:.2f}x | {r['throughput_ratio']:.2f}x | "
                     f"{a.get('accuracy', float('nan')) * 100:.2f}% | {a.get('agreement', float('nan')) * 100:.2f}% |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    ap.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "bench")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--limit", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=200, help="batch-1 calls timed per round")
    ap.add_argument("--throughput-runs", type=int, default=10, help="batch calls timed per round")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--figures", type=Path, default=ROOT / "docs" / "figures")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from cnnspec.keras.export import _quiet_tf

    _quiet_tf()
    from cnnspec.deploy import bench as B
    from cnnspec.deploy.engines import cores, cpu_family, cpu_name

    args.runs_dir.mkdir(parents=True, exist_ok=True)
    args.figures.mkdir(parents=True, exist_ok=True)
    out = {"cpu": cpu_name(), "cpu_family": cpu_family(), "cores": cores(), "models": {}}
    for name in args.models.split(","):
        run = ensure_run(name, MODELS[name], args.runs_dir, args.epochs, args.limit)
        files = exports(name, run, args.runs_dir, with_plain=name != "table6")
        res = bench_model(name, run, files, args)
        B.write_png(args.figures / f"bench_{name}.png", res,
                    f"{name} on {out['cpu']} ({out['cpu_family']}, {out['cores']} cores): vs Keras")
        out["models"][name] = res
        print(markdown(name, res) + "\n", file=sys.stderr if args.json else sys.stdout, flush=True)
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
