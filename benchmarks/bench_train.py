"""Training throughput: `cnnspec train` vs a plain hand-written Keras script, same model and settings.

Both train Table 6 (seed 000: Conv2D 32, Conv2D 64, MaxPool, Dropout, Dense 128, Dropout,
Dense 10) on the same Fashion-MNIST subset with Adadelta(learning_rate=1.0), batch 128,
validation split 0.2, for the same number of epochs, each in a fresh process. Throughput is
training images x epochs / wall time inside ``model.fit`` (validation, callbacks and
cnnspec's per-epoch saves included), best of ``--repeat`` alternating runs; "steady" is the
fastest epoch after the first (no graph tracing) per tool. Goal: cnnspec / plain >= 0.95.

    python benchmarks/bench_train.py --images 20000 --epochs 2 [--repeat 2] [--data fashion_mnist]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "tests" / "specs" / "train_table6.yaml"

PLAIN = r'''
import json, sys, time
import numpy as np
import keras
from cnnspec.data import load_dataset

data, images, epochs, batch, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), 0
ds = load_dataset(data, limit=images)
keras.utils.set_random_seed(seed)
x = ds.x_train.astype("float32") / 255.0
y = ds.y_train
perm = np.random.default_rng(seed).permutation(len(x))
n_val = int(round(0.2 * len(x)))
xtr, ytr, xva, yva = x[perm[n_val:]], y[perm[n_val:]], x[perm[:n_val]], y[perm[:n_val]]
model = keras.Sequential([
    keras.Input((28, 28, 1)),
    keras.layers.Conv2D(32, (3, 3), activation="relu"),
    keras.layers.Conv2D(64, (3, 3), activation="relu"),
    keras.layers.MaxPooling2D((2, 2)),
    keras.layers.Dropout(0.25),
    keras.layers.Flatten(),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dropout(0.5),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.Adadelta(learning_rate=1.0),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
class EpochTimes(keras.callbacks.Callback):  # as cheap as a callback gets: two clock reads per epoch
    def on_epoch_begin(self, epoch, logs=None):
        self.t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        times.append(time.perf_counter() - self.t)


times = []
t0 = time.perf_counter()
h = model.fit(xtr, ytr, batch_size=batch, epochs=epochs, validation_data=(xva, yva), verbose=0,
              callbacks=[EpochTimes()])
secs = time.perf_counter() - t0
print(json.dumps({"fit_seconds": secs, "train_images": len(xtr), "epoch_seconds": times,
                  "images_per_second": len(xtr) * epochs / secs,
                  "val_accuracy": h.history["val_accuracy"][-1]}))
'''


def run_plain(data: str, images: int, epochs: int, batch: int) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", PLAIN, data, str(images), str(epochs), str(batch)], cwd=ROOT,
                       env=env, capture_output=True, text=True, check=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_cnnspec(data: str, images: int, epochs: int, batch: int) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        subprocess.run([sys.executable, "-m", "cnnspec", "train", str(SPEC), "--out", str(out), "--data", data,
                        "--limit", str(images), "--epochs", str(epochs), "--batch-size", str(batch), "-q",
                        "--json"], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        m = json.loads((out / "metrics.json").read_text())
        h = (out / "history.csv").read_text().strip().splitlines()
    val_acc = float(h[-1].split(",")[4])
    return {"fit_seconds": m["fit_seconds"], "train_images": m["train_images"],
            "epoch_seconds": [float(r.split(",")[6]) for r in h[1:]],
            "images_per_second": m["train_images"] * epochs / m["fit_seconds"], "val_accuracy": val_acc}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="fashion_mnist")
    ap.add_argument("--images", type=int, default=20000, help="first N training images (20%% validation)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=1, help="alternate plain/cnnspec this many times")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    results = {"plain": [], "cnnspec": []}
    t0 = time.time()
    for i in range(a.repeat):
        order = ("plain", "cnnspec") if i % 2 == 0 else ("cnnspec", "plain")
        for kind in order:
            fn = run_plain if kind == "plain" else run_cnnspec
            r = fn(a.data, a.images, a.epochs, a.batch_size)
            results[kind].append(r)
            print(f"{kind:8s} {r['images_per_second']:8.1f} images/s  fit {r['fit_seconds']:.1f}s  "
                  f"val_accuracy {r['val_accuracy']:.4f}", file=sys.stderr, flush=True)
    best = {k: max(r["images_per_second"] for r in v) for k, v in results.items()}
    ratio = best["cnnspec"] / best["plain"]
    # steady state: the fastest epoch after the first (no tracing), least disturbed by other load
    steady = {k: max(r["train_images"] / min(r["epoch_seconds"][1:] or r["epoch_seconds"]) for r in v)
              for k, v in results.items()}
    summary = {"data": a.data, "images": a.images, "epochs": a.epochs, "batch_size": a.batch_size,
               "repeat": a.repeat, "plain_images_per_second": round(best["plain"], 1),
               "cnnspec_images_per_second": round(best["cnnspec"], 1), "ratio": round(ratio, 3),
               "plain_steady_images_per_second": round(steady["plain"], 1),
               "cnnspec_steady_images_per_second": round(steady["cnnspec"], 1),
               "steady_ratio": round(steady["cnnspec"] / steady["plain"], 3),
               "goal": 0.95, "ok": ratio >= 0.95, "wall_seconds": round(time.time() - t0, 1), "runs": results}
    if a.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"plain Keras {best['plain']:.1f} images/s, cnnspec train {best['cnnspec']:.1f} images/s, "
              f"ratio {ratio:.3f} (goal >= 0.95: {'ok' if ratio >= 0.95 else 'MISSED'}); steady-state epochs "
              f"{steady['plain']:.1f} vs {steady['cnnspec']:.1f}, ratio {steady['cnnspec'] / steady['plain']:.3f}")


if __name__ == "__main__":
    main()
