"""Cost of checking the loss after every batch (divergence detection, like keras.callbacks.TerminateOnNaN).

Trains one spec in-process three ways, alternating, best of 3 each: a callback with epoch hooks only
(what cnnspec had before), the per-batch check cnnspec uses (synchronous: Keras then pythonifies the
logs after each step), and the same check marked ``async_safe`` (dispatched on Keras's thread pool).
Prints seconds per variant and the ratios to "epoch hooks only". A small model is the worst case
(per-step overhead is largest relative to compute).

    python benchmarks/bench_nan_check.py tests/specs/train_tiny.yaml
"""
import json
import sys
import time

import keras
import numpy as np

from cnnspec.data import load_dataset
from cnnspec.keras.build import build_model
from cnnspec.spec.loader import load_spec


class EpochOnly(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        pass


class BatchSync(EpochOnly):
    def on_train_batch_end(self, batch, logs=None):
        v = (logs or {}).get("loss")
        if v is not None and not np.isfinite(float(v)):
            self.model.stop_training = True


class BatchAsync(BatchSync):
    async_safe = True


def main(spec_path: str) -> None:
    ds = load_dataset("sample", limit=2000)
    x, y = ds.x_train.astype("float32") / 255.0, ds.y_train
    spec = load_spec(spec_path)
    res = {k: [] for k in ("epoch_only", "batch_sync", "batch_async")}
    for _ in range(3):
        for name, cb in (("epoch_only", EpochOnly), ("batch_sync", BatchSync), ("batch_async", BatchAsync)):
            keras.utils.set_random_seed(0)
            m = build_model(spec)
            m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
            m.fit(x[:256], y[:256], batch_size=32, epochs=1, verbose=0)  # tracing, not timed
            t = time.perf_counter()
            m.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[cb()])
            res[name].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in res.items()}
    print(json.dumps({"seconds": {k: sorted(round(s, 3) for s in v) for k, v in res.items()},
                      "ratio_to_epoch_only": {k: round(v / best["epoch_only"], 3) for k, v in best.items()}}))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/specs/train_tiny.yaml")
