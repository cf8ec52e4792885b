"""Short training probes of ``cnnspec doctor`` (and the training step ``cnnspec lr-find`` shares):
per-layer gradient and update-to-weight ratios over the first optimizer steps, and overfitting ~20
training images. TensorFlow is imported inside the functions."""
from __future__ import annotations

import math
import time

import numpy as np

from cnnspec.check.doctor import Check, fmt
from cnnspec.keras.doctor import (
    OVERFIT_IMAGES,
    OVERFIT_SECONDS,
    OVERFIT_STEPS,
    OVERFIT_TARGET,
    RATIO_STEPS,
    UPDATE_RATIO_BAND,
    Setup,
    build_fresh,
)


def _kernels(model) -> list:
    """(layer name, variable) of every trainable kernel (weights of rank >= 2)."""
    out = []
    for layer in model.layers:
        for v in layer.trainable_weights:
            if len(v.shape) >= 2:
                out.append((layer.name, v))
    return out


def loss_fn(setup: Setup):
    """The train section's loss on integer labels (one-hot encoded for categorical_crossentropy)."""
    import keras

    if setup.cfg.loss == "categorical_crossentropy":
        cce = keras.losses.CategoricalCrossentropy()
        return lambda y, p: cce(keras.ops.one_hot(y, setup.units), p)
    return keras.losses.SparseCategoricalCrossentropy()


def train_step(model, opt, lossf):
    """A compiled step: forward in training mode, loss + regularisation, apply; returns (loss, grads)."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = lossf(y, model(x, training=True)) + sum(model.losses)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss, grads
    return step


def first_steps(setup: Setup) -> list[Check]:
    """Per-layer gradient-to-weight and update-to-weight norms over the first optimizer steps (the
    train section's optimizer, learning rate and batch size), median over the steps."""
    from cnnspec.keras.training import make_optimizer

    model = build_fresh(setup)
    opt = make_optimizer(setup.cfg)
    step = train_step(model, opt, loss_fn(setup))
    kernels = _kernels(model)
    index = {id(v): i for i, v in enumerate(model.trainable_variables)}
    bs = min(setup.cfg.batch_size, len(setup.x))
    grad_r = {n: [] for n, _ in kernels}
    upd_r = {n: [] for n, _ in kernels}
    losses = []
    for s in range(RATIO_STEPS):
        lo = (s * bs) % max(1, len(setup.x) - bs + 1)
        before = [np.asarray(v).copy() for _, v in kernels]
        loss, grads = step(setup.x[lo:lo + bs], setup.y[lo:lo + bs])
        losses.append(float(loss))
        for (name, v), w0 in zip(kernels, before):
            wn = float(np.linalg.norm(w0)) or 1e-12
            g = grads[index[id(v)]]
            grad_r[name].append(float(np.linalg.norm(np.asarray(g))) / wn if g is not None else 0.0)
            upd_r[name].append(float(np.linalg.norm(np.asarray(v) - w0)) / wn)
    med = lambda d: {k: float(np.median(v)) for k, v in d.items()}
    top = lambda d: {k: float(np.max(v)) if all(map(math.isfinite, v)) else math.inf for k, v in d.items()}  # noqa: E731
    return [_grad_check(med(grad_r), losses), _update_check(med(upd_r), top(upd_r), setup)]


def _grad_check(ratios: dict, losses: list[float]) -> Check:
    value = ", ".join(f"{k} {fmt(v)}" for k, v in ratios.items())
    detail = {"gradient_to_weight": ratios, "losses": losses}
    if not all(math.isfinite(v) for v in [*ratios.values(), *losses]):
        return Check("gradients", "fail", value, "gradients or loss not finite in the first steps", detail)
    top = max(ratios.values(), default=0.0)
    dead = [k for k, v in ratios.items() if v <= top * 1e-4]
    if top == 0.0 or dead:
        return Check("gradients", "warn", value,
                     f"no gradient reaches {', '.join(dead) or 'any layer'} (vanishing): check dead ReLUs, input "
                     "scaling and initialisation", detail)
    return Check("gradients", "pass", value, "every layer gets a gradient (|g|/|w|, median of the first "
                 f"{RATIO_STEPS} steps)", detail)


def _update_check(ratios: dict, largest: dict, setup: Setup) -> Check:
    """Median |dw|/|w| per layer (seed 004: ~1e-3) for the too-low side; the largest single step for
    the too-high side (a diverging or dying network's median can look tame after its first steps)."""
    lo, hi = UPDATE_RATIO_BAND
    lr = setup.cfg.optimizer_config().keras_kwargs()["learning_rate"]
    value = ", ".join(f"{k} {fmt(v)} (max {fmt(largest[k])})" for k, v in ratios.items())
    detail = {"update_to_weight": ratios, "largest_update_to_weight": largest, "band": [lo, hi],
              "learning_rate": lr}
    big = {k: v for k, v in largest.items() if not v <= hi}
    if big:
        k = max(big, key=lambda n: big[n])
        return Check("update_ratio", "warn", value,
                     f"{k}: one step changed its weights by {fmt(big[k])} of their size (seed 004: ~1e-3 per step, "
                     f"flagged above {fmt(hi)}): the learning rate {fmt(lr)} is too high; try cnnspec lr-find",
                     detail)
    if ratios and all(v < lo for v in ratios.values()):
        return Check("update_ratio", "warn", value,
                     f"updates are below {fmt(lo)} of the weights per step in every layer (seed 004: ~1e-3): the "
                     f"learning rate {fmt(lr)} is too low; try cnnspec lr-find", detail)
    return Check("update_ratio", "pass", value, f"median update/weight per step at least {fmt(lo)} somewhere, no "
                 f"step above {fmt(hi)} (seed 004: ~1e-3)", detail)


def overfit_small(setup: Setup) -> Check:
    """Train a fresh model on ~20 training images (one per class first) with the train section's
    optimizer, full batch, until they are all classified right or the step budget runs out."""
    from cnnspec.keras.training import make_optimizer

    sub = setup.ds.subset(train=OVERFIT_IMAGES, test=0, seed=setup.cfg.seed)
    x = sub.x_train.astype(np.float32) * np.float32(setup.scale) + np.float32(setup.offset)
    y = sub.y_train.astype(np.int64)
    model = build_fresh(setup)
    step = train_step(model, make_optimizer(setup.cfg), loss_fn(setup))
    acc, steps, loss = 0.0, 0, float("nan")
    t0 = time.perf_counter()
    out_of_time = False
    while steps < OVERFIT_STEPS:
        for _ in range(5):
            loss = float(step(x, y)[0])
        steps += 5
        acc = float((np.asarray(model(x, training=False)).argmax(-1) == y).mean())
        if acc >= 1.0 or not math.isfinite(loss):
            break
        if time.perf_counter() - t0 > OVERFIT_SECONDS:
            out_of_time = True
            break
    value = f"train accuracy {acc:.0%} on {len(y)} images after {steps} steps (loss {fmt(loss)})"
    detail = {"accuracy": acc, "steps": steps, "loss": loss, "images": len(y), "out_of_time": out_of_time}
    if acc >= OVERFIT_TARGET:
        return Check("overfit_small", "pass", value, "the model can learn (seed 004's tiny-subset check)", detail)
    if out_of_time:
        return Check("overfit_small", "warn", value,
                     f"inconclusive: stopped by the {OVERFIT_SECONDS:.0f} s time budget before {OVERFIT_STEPS} steps "
                     "(a big model on this machine); train a few epochs on a small --limit to see it learn", detail)
    return Check("overfit_small", "warn", value,
                 f"cannot fit {len(y)} images within {OVERFIT_STEPS} steps: the learning rate (too high or too "
                 "low), the loss/activation pairing or a bug stops learning", detail)
