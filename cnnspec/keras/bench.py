"""The Keras side of ``cnnspec bench``: the compiled ``model(x, training=False)`` call, timed the same
way as the TensorFlow-free engines (see :mod:`cnnspec.deploy.bench`)."""
from __future__ import annotations

import numpy as np

from cnnspec.deploy.bench import compare_variants, inputs


def keras_runner(model):
    """``run(x_scaled) -> probabilities`` through ``tf.function(lambda x: model(x, training=False))``.

    Inputs are converted to tensors once per distinct array (the benchmark reuses its arrays), so
    the timing is the call, not the host-to-tensor copy; ``model.predict`` is not used (it adds
    per-call data-adapter overhead).
    """
    from cnnspec.keras.export import _quiet_tf

    _quiet_tf()
    import tensorflow as tf

    fn = tf.function(lambda t: model(t, training=False), jit_compile=False, reduce_retracing=True)
    cache: dict[int, tuple] = {}

    def run(x: np.ndarray) -> np.ndarray:
        hit = cache.get(id(x))
        if hit is None or hit[0] is not x:
            hit = cache[id(x)] = (x, tf.constant(x))
            if len(cache) > 8:
                cache.pop(next(iter(cache)))
        return fn(hit[1]).numpy()

    return run


def keras_label() -> str:
    """``keras 3.x (tf.function)``."""
    import keras

    return f"keras {keras.__version__} (tf.function)"


def compare(ort_model, keras_model, meta: dict, *, rounds: int = 3, pause: float = 1.0,
            batch: int = 256, **kw) -> dict:
    """One ONNX model against Keras, alternately, ``rounds`` times (best round each)."""
    x1, xb = inputs(meta["input_shape"], meta["scale"], meta["offset"], batch)
    label = keras_label()
    res = compare_variants({label: keras_runner(keras_model), ort_model.engine: ort_model.run_scaled}, x1, xb,
                           rounds=rounds, pause=pause, baseline=label, **kw)
    o, k = res["variants"][ort_model.engine], res["variants"][label]
    k["engine"], o["engine"], o["device"] = label, ort_model.engine, ort_model.device
    return {"onnxruntime": o, "keras": k,
            "ratios": {key: o[key] for key in ("latency_p50_ratio", "latency_p95_ratio", "throughput_ratio")},
            "all_rounds": res["all_rounds"]}
