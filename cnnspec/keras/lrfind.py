"""``cnnspec lr-find``: the exponential learning-rate range test (Smith 2015, "cyclical learning rates").

The spec's model, freshly initialised, is trained with the train section's optimizer, loss and batch
size for ``steps`` steps while the learning rate grows geometrically from ``min_lr`` to ``max_lr``;
the loss of every step is recorded and smoothed (exponential moving average, beta 0.98, bias
corrected). The test stops early once the smoothed loss exceeds 4x its minimum (diverged).

Two readings of the curve are reported (docs/training.md):

* ``min_loss / 10``: the learning rate at the smoothed loss's minimum, divided by 10 — past the
  minimum the loss is about to blow up, one decade lower is still fast and stable. This is the
  **suggested** value.
* ``steepest``: where the smoothed loss falls fastest per decade of learning rate (most negative
  slope against log lr), searched before the minimum.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from cnnspec.errors import CnnspecError

BETA = 0.98
DIVERGED = 4.0


def smooth(losses: list[float], beta: float = BETA) -> list[float]:
    """Bias-corrected exponential moving average of ``losses``."""
    out, avg = [], 0.0
    for i, v in enumerate(losses, 1):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta ** i))
    return out


def suggest(lrs: list[float], smoothed: list[float]) -> dict:
    """``{"min_loss": lr, "min_loss/10": lr, "steepest": lr}`` from a range test's curve (the first
    tenth of the steps, where the average is still settling, is skipped for the steepest slope)."""
    finite = [i for i, v in enumerate(smoothed) if math.isfinite(v)]
    if len(finite) < 5:
        raise CnnspecError("the range test produced fewer than 5 finite losses: lower --max-lr or raise --steps")
    i_min = min(finite, key=lambda i: smoothed[i])
    start = max(1, len(lrs) // 10)
    logs = np.log10(np.asarray(lrs, dtype=np.float64))
    vals = np.asarray(smoothed, dtype=np.float64)
    slope = np.gradient(vals, logs)
    window = [i for i in range(start, i_min + 1) if math.isfinite(slope[i])]
    i_steep = min(window, key=lambda i: slope[i]) if window else i_min
    return {"min_loss": float(lrs[i_min]), "min_loss/10": float(lrs[i_min]) / 10, "steepest": float(lrs[i_steep]),
            "min_smoothed_loss": float(vals[i_min])}


def range_test(spec_path: str, data: str | None = None, data_path: str | None = None, *,
               limit: int | None = None, steps: int = 200, min_lr: float = 1e-7, max_lr: float = 10.0) -> dict:
    """Run the range test; returns lrs, losses, smoothed losses, the suggestions and context."""
    if not (0 < min_lr < max_lr) or not math.isfinite(max_lr):
        raise CnnspecError(f"need 0 < --min-lr < --max-lr (got {min_lr} and {max_lr})")
    if steps < 10:
        raise CnnspecError(f"--steps must be at least 10 (got {steps})")
    from cnnspec.keras.doctor import build_fresh, load_setup
    from cnnspec.keras.probe import loss_fn, train_step
    from cnnspec.keras.training import make_optimizer
    from cnnspec.keras.util import import_keras_quietly

    setup = load_setup(spec_path, data, data_path, limit)
    ds, cfg = setup.ds, setup.cfg
    top = int(ds.y_train.max()) if ds.y_train.size else -1
    if top >= setup.units or int(ds.y_train.min()) < 0:
        raise CnnspecError(f"dataset {ds.name} has labels up to {top} but the last layer has {setup.units} units")
    import_keras_quietly()
    model = build_fresh(setup)
    opt = make_optimizer(cfg)
    step = train_step(model, opt, loss_fn(setup))
    bs = min(cfg.batch_size, len(ds.x_train))
    order = np.random.default_rng(cfg.seed).permutation(len(ds.x_train))
    lrs = list(np.geomspace(min_lr, max_lr, steps))
    losses: list[float] = []
    best = math.inf
    for i, lr in enumerate(lrs):
        idx = order[np.arange(i * bs, (i + 1) * bs) % len(order)]
        x = ds.x_train[idx].astype(np.float32) * np.float32(setup.scale) + np.float32(setup.offset)
        opt.learning_rate.assign(lr)
        loss = float(step(x, ds.y_train[idx].astype(np.int64))[0])
        losses.append(loss if math.isfinite(loss) else math.inf)
        sm = smooth(losses)[-1]
        best = min(best, sm)
        if not math.isfinite(sm) or (i > steps // 10 and sm > DIVERGED * best):
            break
    lrs = [float(v) for v in lrs[: len(losses)]]
    sm = smooth(losses)
    sugg = suggest(lrs, sm)
    return {"spec": setup.spec.label, "dataset": ds.name, "optimizer": cfg.optimizer_config().name,
            "batch_size": bs, "steps_run": len(losses), "steps": steps, "min_lr": min_lr, "max_lr": max_lr,
            "stopped_early": len(losses) < steps, "suggested_lr": sugg["min_loss/10"], "suggestions": sugg,
            "lrs": lrs, "losses": losses, "smoothed": sm}


def write_plot(result: dict, path: str | Path) -> None:
    """The loss-vs-learning-rate PNG with the suggestions marked."""
    from cnnspec.runs.figures import plot_lr_find

    s = result["suggestions"]
    plot_lr_find(result["lrs"], result["losses"], result["smoothed"], path,
                 {"suggested (min loss / 10)": s["min_loss/10"], "steepest": s["steepest"]},
                 f"{result['spec']} on {result['dataset']}: {result['optimizer']}, batch {result['batch_size']}")
