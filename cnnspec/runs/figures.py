"""Diagnostic figures (matplotlib, Agg backend; written atomically): the learning-rate range test's
loss curve and image grids (feature maps, filters, saliency, worst-classified images). Pure numpy +
matplotlib, no TensorFlow."""
from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cnnspec.runs.files import atomic_bytes


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path, dpi: int = 90) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    _plt().close(fig)
    atomic_bytes(path, buf.getvalue())


def plot_lr_find(lrs: Sequence[float], losses: Sequence[float], smooth: Sequence[float], path: str | Path,
                 marks: dict[str, float], title: str = "") -> None:
    """Loss (raw and smoothed) against the learning rate on a log axis, with vertical marks."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(lrs, losses, color="0.75", lw=1, label="loss per step")
    ax.plot(lrs, smooth, color="C0", lw=2, label="smoothed loss")
    for i, (name, lr) in enumerate(marks.items()):
        ax.axvline(lr, color=f"C{i + 1}", ls="--", label=f"{name}: {lr:.2g}")
    ax.set_xscale("log")
    finite = [v for v in smooth if math.isfinite(v)]
    if finite:
        lo, hi = min(finite), max(finite[: max(1, len(finite) // 5)] + [min(finite)])
        ax.set_ylim(lo - 0.1 * abs(lo), max(hi * 1.5, lo + 1e-3))
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title or "learning-rate range test")
    fig.tight_layout()
    _save(fig, path)


def _normalise(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img, dtype=np.float64)
    lo, hi = float(np.nanmin(img)), float(np.nanmax(img))
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def image_grid(images: Sequence[np.ndarray], path: str | Path, *, titles: Sequence[str] | None = None,
               title: str = "", cols: int | None = None, cmap: str | Sequence[str] = "viridis", each_normalised: bool = True,
               cell: float = 1.4) -> None:
    """A grid of 2-D (or H x W x 3) images, each scaled to its own range unless ``each_normalised`` is
    False (then all share the overall range), with optional per-image titles; ``cmap`` may be one
    colour map per image."""
    n = len(images)
    if n == 0:
        raise ValueError("no images to draw")
    cols = cols or min(n, max(1, int(math.ceil(math.sqrt(n)))))
    rows = int(math.ceil(n / cols))
    plt = _plt()
    fig, axes = plt.subplots(rows, cols, figsize=(cell * cols + 0.4, cell * rows + (0.6 if title else 0.2)),
                             squeeze=False)
    if not each_normalised:
        lo = min(float(np.min(i)) for i in images)
        hi = max(float(np.max(i)) for i in images)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        img = np.asarray(images[k])
        cm = cmap if isinstance(cmap, str) else cmap[k]
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        if img.ndim == 3:  # colour: always shown in its own range
            ax.imshow(_normalise(img), interpolation="nearest")
        elif each_normalised:
            ax.imshow(_normalise(img), cmap=cm, vmin=0, vmax=1, interpolation="nearest")
        else:
            ax.imshow(img, cmap=cm, vmin=lo, vmax=hi, interpolation="nearest")
        if titles:
            ax.set_title(titles[k], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def worst_classified(x_raw: np.ndarray, y: np.ndarray, probs: np.ndarray, class_names: Sequence[str],
                     path: str | Path, n: int = 16, title: str = "") -> list[dict]:
    """Grid of the ``n`` test images with the lowest probability for their true class (the most
    confidently wrong first), titled "true / predicted (confidence)". Returns the images' records."""
    y = np.asarray(y).astype(np.int64).reshape(-1)
    probs = np.asarray(probs, dtype=np.float64)
    p_true = probs[np.arange(len(y)), y]
    order = np.argsort(p_true, kind="stable")[:n]
    names = list(class_names)
    recs, imgs, titles = [], [], []
    for i in order:
        pred = int(probs[i].argmax())
        recs.append({"index": int(i), "true": names[y[i]], "predicted": names[pred],
                     "confidence": float(probs[i, pred]), "p_true": float(p_true[i])})
        img = np.asarray(x_raw[i])
        imgs.append(img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img)
        titles.append(f"#{i} true {names[y[i]][:12]}\npred {names[pred][:12]} ({probs[i, pred]:.2f})")
    if imgs:
        image_grid(imgs, path, titles=titles, cols=min(4, len(imgs)), cmap="gray", cell=1.9,
                   title=title or f"{len(imgs)} worst-classified test images (lowest p(true class))")
    return recs
