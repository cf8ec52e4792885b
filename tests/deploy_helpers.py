"""Shared, process-cached artefacts for the deployment tests (export/runtime/serve).

A small real CNN (with augmentation and dropout layers, which the exporter must strip) is
trained for one epoch on a few hundred real images (``cnnspec.data.load_dataset('sample')``
when that module exists, else scikit-learn's bundled 8x8 ``load_digits`` scaled to 0..255),
saved as a run directory with a sidecar and exported to ONNX once per test process.
"""
from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# `--engine auto` caches its probe: keep the tests' probes out of the user's ~/.cache.
os.environ.setdefault("CNNSPEC_CACHE_DIR", tempfile.mkdtemp(prefix="cnnspec-test-cache-"))
CLASS_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

# Installed first thing in a subprocess: importing TensorFlow, Keras or anything else that
# only the `train` extra installs fails, so `predict model.onnx` and `serve` provably run on a
# `cnnspec[runtime]` install.
TF_BLOCKER = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'keras', 'tf_keras', 'tf2onnx', 'sklearn', 'matplotlib'):
            raise ImportError('blocked in this test: ' + name)
        return None
sys.meta_path.insert(0, _Block())
"""


def load_images():
    """(x_train uint8 NHWC, y_train, x_test, y_test, class names, source)."""
    try:
        from cnnspec.data import load_dataset  # written in parallel; optional
    except ImportError:
        load_dataset = None
    if load_dataset is not None:
        try:
            ds = load_dataset("sample")
            return (np.asarray(ds.x_train)[:600], np.asarray(ds.y_train)[:600],
                    np.asarray(ds.x_test)[:200], np.asarray(ds.y_test)[:200],
                    [str(c) for c in ds.class_names], "sample")
        except Exception:  # noqa: BLE001 - fall back to the bundled digits
            pass
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    y = d.target.astype(np.int64)
    return x[:600], y[:600], x[1500:1700], y[1500:1700], CLASS_NAMES, "sklearn digits"


def build_model(input_shape, num_classes):
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input(tuple(input_shape)),
        layers.RandomTranslation(0.1, 0.1, seed=1),
        layers.RandomRotation(0.05, seed=2),
        layers.Conv2D(8, 3, activation="relu", padding="same"),
        layers.Conv2D(16, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(32, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ], name="tiny_table6")


@functools.lru_cache(maxsize=None)
def artefacts() -> SimpleNamespace:
    """Train, save (run dir + bare .keras), export once; everything under one temp dir."""
    from cnnspec.keras.export import _quiet_tf

    _quiet_tf()
    from cnnspec.keras.export import export_model

    tmp = Path(tempfile.mkdtemp(prefix="cnnspec-deploy-tests-"))
    atexit.register(shutil.rmtree, tmp, True)
    x_tr, y_tr, x_te, y_te, names, source = load_images()
    shape = list(x_tr.shape[1:])
    scale = 1.0 / 255.0
    model = build_model(shape, len(names))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_tr.astype("float32") * scale, y_tr, epochs=1, batch_size=32, verbose=0)
    meta = {"class_names": names, "input_shape": shape, "scale": scale, "offset": 0.0,
            "spec_name": "tiny_table6", "spec_fingerprint": "f00dfeed", "cnnspec_version": "0.1.0"}
    run = tmp / "run"
    run.mkdir()
    model.save(run / "model.keras")
    (run / "model.cnnspec.json").write_text(json.dumps(meta))
    onnx_path = tmp / "model.onnx"
    report = export_model(run, onnx_path)
    # a few real images as files
    from PIL import Image

    images = []
    for i in range(3):
        p = tmp / f"digit{i}.png"
        Image.fromarray(x_te[i, ..., 0] if shape[-1] == 1 else x_te[i]).save(p)
        images.append(p)
    return SimpleNamespace(tmp=tmp, run=run, keras_path=run / "model.keras", onnx=onnx_path,
                           report=report, meta=meta, model=model, x_test=x_te, y_test=y_te,
                           images=images, source=source)


def run_without_tf(code: str, *, timeout: float = 120, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where tensorflow/keras cannot be imported."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", TF_BLOCKER + "\n" + code], capture_output=True,
                          text=True, timeout=timeout, cwd=str(cwd or ROOT), env=env)
