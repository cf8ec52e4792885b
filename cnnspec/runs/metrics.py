"""Classification metrics (numpy) and the run's plots (matplotlib, Agg backend)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnspec.util import printable


def classification_metrics(y_true, probs, class_names: list[str]) -> dict:
    """Loss (cross-entropy), accuracy, confusion matrix and per-class precision/recall/F1."""
    y_true = np.asarray(y_true).astype(np.int64).reshape(-1)
    probs = np.asarray(probs, dtype=np.float64)
    k = max(len(class_names), probs.shape[-1])
    names = list(class_names) + [str(i) for i in range(len(class_names), k)]
    y_pred = probs.argmax(axis=-1)
    n = int(y_true.size)
    p_true = np.clip(probs[np.arange(n), y_true], 1e-7, 1.0) if n else np.zeros(0)
    loss = float(-np.log(p_true).mean()) if n else float("nan")
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    tp = np.diag(cm).astype(np.float64)
    pred_tot = cm.sum(axis=0).astype(np.float64)
    true_tot = cm.sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = np.where(pred_tot > 0, tp / pred_tot, 0.0)
        rec = np.where(true_tot > 0, tp / true_tot, 0.0)
        f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
    per_class = {names[i]: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
                            "support": int(true_tot[i])} for i in range(k)}
    present = true_tot > 0
    macro = {"precision": float(prec[present].mean()) if present.any() else 0.0,
             "recall": float(rec[present].mean()) if present.any() else 0.0,
             "f1": float(f1[present].mean()) if present.any() else 0.0}
    return {"n": n, "loss": loss, "accuracy": float(tp.sum() / n) if n else 0.0,
            "class_names": names, "confusion_matrix": cm.tolist(), "per_class": per_class,
            "macro_avg": macro}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(history: list[dict], path: str | Path, title: str = "") -> None:
    """Loss and accuracy per epoch (train and validation) as a PNG, written atomically."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    ep = [r["epoch"] for r in history]
    for ax, key in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-o"), ("val_", "-s")):
            vals = [r.get(prefix + key) for r in history]
            if any(v is not None for v in vals):
                ax.plot(ep, [np.nan if v is None else v for v in vals], style, ms=3,
                        label=("validation " if prefix else "train ") + key)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(printable(title))
    fig.tight_layout()
    _save(fig, path)


def plot_confusion(cm, class_names: list[str], path: str | Path, title: str = "") -> None:
    """The confusion matrix as a PNG (counts in the cells up to 20 classes), written atomically."""
    plt = _plt()
    cm = np.asarray(cm)
    k = cm.shape[0]
    size = max(5.0, min(16.0, 0.5 * k + 3))
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    if k <= 20:
        names = [printable(c) for c in class_names]  # user text: no control bytes into the font
        ax.set_xticks(range(k), names, rotation=45, ha="right")
        ax.set_yticks(range(k), names)
        thresh = cm.max() / 2 if cm.size else 0
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > thresh else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(printable(title) if title else "confusion matrix")
    fig.tight_layout()
    _save(fig, path)


def _save(fig, path) -> None:
    import io

    from cnnspec.runs.files import atomic_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    _plt().close(fig)
    atomic_bytes(path, buf.getvalue())
