"""Time the Keras model the same way as the ONNX runtime (see cnnspec.deploy.bench), alternately in one process."""
from __future__ import annotations

import time

import numpy as np

from cnnspec.deploy.bench import best_of, measure, bench_onnx, ratios


def bench_keras(model, meta: dict, *, batch: int = 256, seed: int = 0, **kw) -> dict:
    from cnnspec.keras.export import _quiet_tf

    _quiet_tf()
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    shape = tuple(meta["input_shape"])
    xb = (rng.integers(0, 256, size=(batch, *shape)).astype(np.float32) * np.float32(meta["scale"])
          + np.float32(meta["offset"]))
    tb, t1 = tf.constant(xb), tf.constant(xb[:1])
    fn = tf.function(lambda t: model(t, training=False), jit_compile=False)
    res = measure(lambda: fn(t1).numpy(), lambda: fn(tb).numpy(), batch, **kw)
    res.update({"engine": "keras " + _keras_version() + " (tf.function)"})
    return res


def compare(ort_model, keras_model, meta: dict, *, rounds: int = 3, pause: float = 1.0,
            batch: int = 256, **kw) -> dict:
    """ORT and Keras alternately, ``rounds`` times; best round of each, plus all rounds."""
    o_runs, k_runs = [], []
    for _ in range(rounds):
        time.sleep(pause)
        k_runs.append(bench_keras(keras_model, meta, batch=batch, **kw))
        time.sleep(pause)
        o_runs.append(bench_onnx(ort_model, batch=batch, **kw))
    o, k = best_of(o_runs), best_of(k_runs)
    return {"onnxruntime": o, "keras": k, "ratios": ratios(o, k),
            "all_rounds": {"onnxruntime": o_runs, "keras": k_runs}}


def _keras_version() -> str:
    import keras

    return keras.__version__
