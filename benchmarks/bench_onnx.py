"""ONNX runtime vs Keras on the project's table6 model (2-core CPU).

Reproduce (from the repository root):

    python benchmarks/bench_onnx.py            # add --json for machine-readable output

Builds the table6 CNN with plain Keras (Conv2D 32 3x3 relu on 28x28x1 -> Conv2D 64 3x3 relu
-> MaxPooling2D 2 -> Dropout .25 -> Flatten -> Dense 128 relu -> Dropout .5 -> Dense 10
softmax), fits it for one quick epoch on 2,048 random images (the weights do not change the
cost of inference), saves it with a sidecar, exports it with cnnspec's exporter (parity
checked), then times batch-1 latency (p50/p95 over --runs calls) and batch-256 throughput
(batch / median call time) for onnxruntime (CPU, graph optimisation ALL, intra-op threads =
cores) and for Keras's compiled call (tf.function(model(x, training=False)), not
model.predict) in the same process, alternating the engines for --rounds rounds and keeping
each engine's best round (all rounds are in --json).
Goals: ORT latency <= 0.3x Keras's, ORT throughput >= 1.5x Keras's.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def table6():
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ], name="table6")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300, help="batch-1 calls timed")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds; best round per engine")
    ap.add_argument("--threads", type=int, default=None, help="ORT intra-op threads (default: all cores)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from cnnspec.keras.export import _quiet_tf

    _quiet_tf()
    import keras

    from cnnspec.keras.bench import compare
    from cnnspec.keras.export import export_model
    from cnnspec.deploy.runtime import OnnxModel

    keras.utils.set_random_seed(0)
    model = table6()
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.integers(0, 256, (2048, 28, 28, 1)).astype("float32") / 255.0,
              rng.integers(0, 10, 2048), epochs=1, batch_size=128, verbose=0)
    meta = {"class_names": [str(i) for i in range(10)], "input_shape": [28, 28, 1],
            "scale": 1 / 255, "offset": 0.0, "spec_name": "table6", "spec_fingerprint": None,
            "cnnspec_version": "0.1.0"}
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        run.mkdir()
        model.save(run / "model.keras")
        (run / "model.cnnspec.json").write_text(json.dumps(meta))
        onnx_path = Path(tmp) / "table6.onnx"
        rep = export_model(run, onnx_path)
        if not rep["parity"]["ok"]:
            print("parity failed:", rep["parity"], file=sys.stderr)
            return 1
        ort_model = OnnxModel(onnx_path, device="cpu", threads=args.threads)
        # Let TensorFlow's worker threads (fit, export, parity) go idle before timing anything;
        # compare() alternates the engines for --rounds rounds and keeps each one's best round.
        time.sleep(2.0)
        cmp = compare(ort_model, model, meta, rounds=args.rounds, batch=args.batch,
                      latency_runs=args.runs)
    ort_res, keras_res, rat = cmp["onnxruntime"], cmp["keras"], cmp["ratios"]
    out = {"model": "table6", "cpu_count": os.cpu_count(), "onnxruntime": ort_res, "keras": keras_res,
           "ratios": rat, "parity": rep["parity"], "all_rounds": cmp["all_rounds"],
           "goals_met": {"latency_p50_ratio<=0.3": rat["latency_p50_ratio"] <= 0.3,
                         "throughput_ratio>=1.5": rat["throughput_ratio"] >= 1.5}}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"table6 on {os.cpu_count()} CPU cores; parity max abs diff {rep['parity']['max_abs_diff']:.1e}")
        print(f"{'engine':32s} {'p50 ms':>8s} {'p95 ms':>8s} {'images/s':>10s}")
        for r in (ort_res, keras_res):
            print(f"{r['engine']:32s} {r['latency_ms_p50']:8.3f} {r['latency_ms_p95']:8.3f} {r['throughput_ips']:10.0f}")
        print(f"{'ORT / Keras':32s} {rat['latency_p50_ratio']:7.2f}x {rat['latency_p95_ratio']:7.2f}x "
              f"{rat['throughput_ratio']:9.2f}x")
        print("goals:", out["goals_met"])
    return 0 if all(out["goals_met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
