"""``cnnspec inspect``: looking inside a trained model for one image (seed 001's feature maps, seed 004's
"monitor the first-layer weights"), and the worst-classified test images ``cnnspec evaluate`` draws.

* feature maps: for every layer whose output is an image-like (H, W, C) tensor, up to ``max_maps``
  channels as a grid, one PNG per layer (``maps_NN_<layer>.png``);
* first-layer filters: the first convolution's kernels, one cell per filter (RGB when it reads 3
  channels, else the mean over input channels) (``filters.png``);
* saliency (Simonyan et al. 2013): |d score_c / d input|, maximum over channels, for the predicted (or
  a chosen) class; the score is the pre-softmax logit when the last layer is a softmax Dense/Conv
  (recomputed from its kernel and bias), the log-probability otherwise (``saliency.png``).

TensorFlow is imported inside the functions; the drawing is :mod:`cnnspec.runs.figures`.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from cnnspec.errors import CnnspecError

MAX_MAPS = 32


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60]


def load_image(path: str | Path, meta: dict) -> np.ndarray:
    """The image as the model's raw (H, W, C) pixels, as ``cnnspec predict`` reads it."""
    from cnnspec.deploy.images import preprocess_image

    return preprocess_image(str(path), meta["input_shape"])


def feature_maps(model, x: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(layer name, (H, W, C) output) for every layer with a rank-3 per-image output."""
    import keras

    layers = [l for l in model.layers if type(l).__name__ != "InputLayer"
              and len(getattr(l.output, "shape", ())) == 4]
    if not layers:
        return []
    outs = keras.Model(model.input, [l.output for l in layers])(x[None], training=False)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    return [(l.name, np.asarray(o)[0]) for l, o in zip(layers, outs)]


def first_filters(model) -> tuple[str, list[np.ndarray]] | None:
    """The first convolution's kernels as images (kh, kw[, 3])."""
    for layer in model.layers:
        k = getattr(layer, "kernel", None)
        if k is not None and len(k.shape) == 4:
            w = np.asarray(k)
            cells = [w[..., f] if w.shape[2] == 3 else w[..., f].mean(axis=-1) for f in range(w.shape[-1])]
            return layer.name, cells
    return None


def _logits_model(model):
    """A model giving the pre-softmax scores when the last layer is a softmax Dense/Conv, else None."""
    import keras

    last = model.layers[-1]
    act = getattr(getattr(last, "activation", None), "__name__", None)
    if act != "softmax" or getattr(last, "kernel", None) is None or type(last).__name__ != "Dense":
        return None
    feats = keras.Model(model.input, last.input)
    return feats, last


def saliency(model, x: np.ndarray, cls: int | None = None) -> tuple[np.ndarray, int, float, str]:
    """(|gradient| max over channels (H, W), class, its probability, what was differentiated)."""
    import tensorflow as tf

    probs = np.asarray(model(x[None], training=False))[0]
    c = int(probs.argmax()) if cls is None else int(cls)
    if not 0 <= c < len(probs):
        raise CnnspecError(f"--class {c} is outside 0..{len(probs) - 1}")
    t = tf.constant(x[None])
    lm = _logits_model(model)
    with tf.GradientTape() as tape:
        tape.watch(t)
        if lm is not None:
            feats, last = lm
            h = feats(t, training=False)
            score = tf.linalg.matvec(h, last.kernel[:, c]) + (last.bias[c] if last.use_bias else 0.0)
            what = "logit"
        else:
            score = tf.math.log(model(t, training=False)[:, c] + 1e-12)
            what = "log-probability"
    g = np.asarray(tape.gradient(score, t))[0]
    return np.abs(g).max(axis=-1), c, float(probs[c]), what


def inspect_model(target: str, image: str, out: str | Path | None = None, *, cls: int | None = None,
                  max_maps: int = MAX_MAPS) -> dict:
    """Write the feature-map grids, the filters grid and the saliency figure; returns a summary."""
    from cnnspec.keras.export import load_keras
    from cnnspec.runs.figures import image_grid

    model, meta, keras_path = load_keras(target)
    raw = load_image(image, meta)
    out = Path(out) if out is not None else keras_path.parent / "inspect" / _safe(Path(image).stem)
    _check_out(out, [keras_path, Path(image)])
    out.mkdir(parents=True, exist_ok=True)
    x = raw * np.float32(meta["scale"]) + np.float32(meta["offset"])
    names = meta["class_names"]
    files = []
    for i, (name, fmap) in enumerate(feature_maps(model, x)):
        n = min(max_maps, fmap.shape[-1])
        path = out / f"maps_{i:02d}_{_safe(name)}.png"
        image_grid([fmap[..., k] for k in range(n)], path, titles=[str(k) for k in range(n)],
                   title=f"{name}: {n} of {fmap.shape[-1]} channels, {fmap.shape[0]}x{fmap.shape[1]}",
                   cmap="viridis")
        files.append(str(path))
    filt = first_filters(model)
    if filt is not None:
        path = out / "filters.png"
        image_grid(filt[1], path, title=f"{filt[0]}: {len(filt[1])} filters", cmap="gray", cell=0.9)
        files.append(str(path))
    sal, c, p, what = saliency(model, x, cls)
    path = out / "saliency.png"
    img = raw[..., 0] if raw.shape[-1] == 1 else raw
    image_grid([img, sal], path, titles=["input", f"saliency ({what})"], cols=2, cmap=["gray", "hot"], cell=2.6,
               title=f"class {names[c]} (p = {p:.3f})")
    files.append(str(path))
    probs = np.asarray(model(x[None], training=False))[0]
    top = int(probs.argmax())
    return {"model": str(keras_path), "image": str(image), "out": str(out), "predicted": names[top],
            "confidence": float(probs[top]), "saliency_class": names[c], "saliency_of": what, "files": files}


_OUTPUT_NAME = re.compile(r"^(maps_\d+_.*|filters|saliency)\.png$")


def _check_out(out: Path, inputs: list[Path]) -> None:
    """Refuse an --out that is a file, is an input, or would hold an input under an output's name."""
    if out.exists() and not out.is_dir():
        raise CnnspecError("--out must be a directory", file=str(out))
    for p in inputs:
        if not p.exists():
            continue
        if p.resolve() == out.resolve() or (p.resolve().parent == out.resolve() and _OUTPUT_NAME.match(p.name)):
            raise CnnspecError("--out would overwrite an input", file=str(p))


WORST_N = 16


def write_worst_grid(arrays: dict, path: str | Path, what: str = "", n: int = WORST_N) -> dict | None:
    """The worst-classified test images (lowest probability of the true class) as a PNG grid titled
    with true class, predicted class and confidence; ``arrays`` holds ``x`` (raw), ``y``, ``probs``,
    ``names``. Returns ``{"png", "images"}`` (None when there are no test images)."""
    from cnnspec.runs.figures import worst_classified

    if not arrays or len(arrays.get("y", ())) == 0:
        return None
    x = np.asarray(arrays["x"])
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        return None  # not images
    recs = worst_classified(x, arrays["y"], arrays["probs"], arrays["names"], path, n=n,
                            title=f"worst-classified test images: {what}" if what else "")
    return {"png": str(path), "images": recs}
