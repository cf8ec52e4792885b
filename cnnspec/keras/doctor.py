"""``cnnspec doctor``: seed 004's sanity checks before a long run, measured on the built model.

Checks (thresholds in docs/training.md): the data (:mod:`cnnspec.data.checks`), the final
activation against the loss, the initial loss against ln(K), dead ReLUs and saturation at
initialisation, the initialiser of ReLU layers, gradient and update-to-weight ratios per layer over
the first optimizer steps, and whether the model overfits ~20 training images. TensorFlow is
imported inside the functions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnnspec.check.doctor import Check, fmt
from cnnspec.errors import DataError

UPDATE_RATIO_BAND = (1e-5, 0.3)    # median below / any single step above (seed 004: ~1e-3 typical)
INIT_LOSS_TOLERANCE = 0.25        # |loss / ln K - 1| allowed at initialisation
DEAD_WARN, DEAD_FAIL = 0.5, 0.95  # fraction of a ReLU layer's units never active on a batch
SATURATED_WARN = 0.2              # fraction of sigmoid/tanh outputs within 2% of their limits
CONFIDENT_WARN = 0.9              # mean top softmax probability at initialisation
OVERFIT_IMAGES, OVERFIT_STEPS, OVERFIT_TARGET = 20, 300, 0.95
OVERFIT_SECONDS = 45.0            # wall-time budget of the overfitting check (big models on a slow CPU)
RATIO_STEPS = 10
BATCH = 256


@dataclass
class Setup:
    """Everything the model checks share: the spec, train config, data and scaled batches."""

    spec: object
    cfg: object
    ds: object
    units: int
    scale: float
    offset: float
    x: np.ndarray        # a scaled batch of training images (float32)
    y: np.ndarray        # its labels


def _output_units(spec) -> int:
    from cnnspec.check.infer import infer
    from cnnspec.errors import SpecError

    if spec.multi_io:
        raise SpecError(f"doctor and lr-find diagnose models with one input and one output; this spec has "
                        f"{len(spec.inputs)} input(s) ({', '.join(spec.input_names)}) and {len(spec.outputs)} "
                        f"output(s) ({', '.join(spec.outputs)})", file=spec.file, line=spec.rows[-1].line)
    out = infer(spec)[-1].output
    if len(out) != 1 or out[0] is None:
        raise SpecError(f"doctor needs a classifier whose last layer outputs (None, K); this one outputs "
                        f"{tuple(out)}", file=spec.file, line=spec.rows[-1].line)
    return int(out[0])


def load_setup(spec_path: str, data: str | None, data_path: str | None, limit: int | None = None) -> Setup:
    """Spec, train config (with --data), dataset and a scaled batch of training images; refuses what
    ``cnnspec train`` refuses about the spec and image shape. TensorFlow is not imported."""
    from cnnspec.data import load_dataset
    from cnnspec.spec.loader import load_spec
    from cnnspec.spec.trainconfig import for_spec, with_flags

    spec = load_spec(spec_path)
    cfg = with_flags(for_spec(spec), {"dataset": data, "data_path": data_path, "limit": limit})
    units = _output_units(spec)
    ds = load_dataset(cfg.dataset, path=cfg.data_path, limit=cfg.limit, seed=cfg.seed)
    want = tuple(spec.input_shape)
    if len(want) != len(ds.input_shape) or any(w is not None and w != s for w, s in zip(want, ds.input_shape)):
        raise DataError(f"dataset {ds.name} images are {'x'.join(map(str, ds.input_shape))} but spec "
                        f"{spec.label} takes input {'x'.join(map(str, want))} ({spec.file})")
    if len(ds.x_train) == 0:
        raise DataError(f"dataset {ds.name} has no training images")
    scale = cfg.scale if cfg.scale is not None else 1.0 / float(ds.value_range)
    rng = np.random.default_rng(cfg.seed)
    idx = np.sort(rng.permutation(len(ds.x_train))[:BATCH])
    x = (ds.x_train[idx].astype(np.float32) * np.float32(scale) + np.float32(cfg.offset))
    return Setup(spec, cfg, ds, units, scale, float(cfg.offset), x, ds.y_train[idx].astype(np.int64))


def prepare(spec_path: str, data: str | None, data_path: str | None, limit: int | None = None):
    """The setup and the data checks (pure numpy)."""
    from cnnspec.data import checks as dc

    setup = load_setup(spec_path, data, data_path, limit)
    spec, cfg, ds = setup.spec, setup.cfg, setup.ds
    rs, ro, rnames = dc.leading_rescaling(spec)
    where = f"train.scale {fmt(setup.scale)}, offset {fmt(cfg.offset)}" + (
        f", then {', '.join(rnames)}" if rnames else "")
    checks = [dc.input_scaling(ds.x_train[: 4 * BATCH], setup.scale * rs, cfg.offset * rs + ro, where),
              dc.label_range(ds.y_train, ds.y_test, setup.units, cfg.loss, ds.num_classes),
              dc.class_balance(ds.y_train, setup.units),
              dc.duplicates(ds.x_train, ds.x_test)]
    return setup, checks


class Report(list):
    """The checks in report order (a list), and ``dataset``: the data they looked at, as a phrase."""

    dataset: str = ""


def diagnose(spec_path: str, data: str | None = None, data_path: str | None = None,
             limit: int | None = None) -> Report:
    """Run every check; returns them in report order (``.dataset`` names the data used)."""
    setup, checks = prepare(spec_path, data, data_path, limit)
    labels_ok = checks[1].status != "fail"
    from cnnspec.keras.util import import_keras_quietly

    import_keras_quietly()
    import keras

    keras.utils.set_random_seed(setup.cfg.seed)
    model = build_fresh(setup)
    probs = np.asarray(model(setup.x, training=False))
    checks.append(final_activation(model, probs, setup.cfg.loss))
    checks.append(initial_loss(probs, setup.y, setup.units, labels_ok, _final_initialiser(model)))
    checks.extend(activations_at_init(model, setup.x))
    checks.append(initialisation(model))
    if labels_ok:
        from cnnspec.keras.probe import first_steps, overfit_small

        checks.extend(first_steps(setup))
        checks.append(overfit_small(setup))
    report = Report(checks)
    report.dataset = f"{setup.ds.name} ({len(setup.ds.x_train)} train, {len(setup.ds.x_test)} test images)"
    return report


def build_fresh(setup: Setup):
    """The spec's model with the train section's overrides, initialised from the config's seed."""
    import keras

    from cnnspec.keras.build import build_model

    keras.utils.set_random_seed(setup.cfg.seed)
    return build_model(setup.spec, overrides=setup.cfg.overrides())


# ----------------------------------------------------------------------------------------------
def final_activation(model, probs: np.ndarray, loss: str) -> Check:
    """The losses cnnspec trains with take probabilities (from_logits=False): the outputs must be
    non-negative and sum to 1 (a softmax head)."""
    act = _activation_name(model.layers[-1]) or "none"
    sums = probs.sum(axis=-1)
    is_dist = bool(np.isfinite(probs).all() and probs.min() >= -1e-6 and np.abs(sums - 1).max() < 1e-3)
    value = (f"last layer {model.layers[-1].name} activation {act}; outputs in [{fmt(float(probs.min()))}, "
             f"{fmt(float(probs.max()))}], row sums {fmt(float(sums.min()))}..{fmt(float(sums.max()))}")
    if is_dist:
        return Check("final_activation", "pass", value, f"probabilities, as {loss} expects")
    return Check("final_activation", "fail", value,
                 f"{loss} expects probabilities (from_logits=False) but the outputs are not a distribution: "
                 "end the network with activation: softmax")


def _activation_name(layer) -> str | None:
    name = type(layer).__name__
    if name == "Softmax":
        return "softmax"
    if name == "ReLU":
        return "relu"
    act = getattr(layer, "activation", None)
    if act is None:
        return None
    return getattr(act, "__name__", str(act))


def _final_initialiser(model) -> str | None:
    for layer in reversed(model.layers):
        if hasattr(layer, "kernel_initializer"):
            return type(layer.kernel_initializer).__name__
    return None


def initial_loss(probs: np.ndarray, y: np.ndarray, units: int, labels_ok: bool, final_init: str | None = None) -> Check:
    """Cross-entropy at initialisation against ln(K) (uniform predictions over K classes)."""
    want = math.log(units) if units > 1 else 0.0
    if not labels_ok:
        return Check("initial_loss", "warn", f"expected ln({units}) = {want:.3f}",
                     "not measured: the labels do not fit the output units (see label_range)")
    p = np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0)
    loss = float(-np.log(p).mean()) if np.isfinite(probs).all() else float("nan")
    value = f"{fmt(loss)} vs ln({units}) = {want:.3f}"
    if not math.isfinite(loss):
        return Check("initial_loss", "fail", value, "the loss is not finite at initialisation")
    if abs(loss / want - 1) > INIT_LOSS_TOLERANCE:
        why = "input scale, initialiser or final activation"
        if final_init and final_init.startswith("He") and loss > want:
            why = (f"the softmax layer is initialised with {final_init}, meant for ReLU layers: give it "
                   "kernel_initializer: glorot_uniform and He to the ReLU layers only")
        return Check("initial_loss", "warn", value,
                     f"off by more than {INIT_LOSS_TOLERANCE:.0%}: predictions are not near uniform at "
                     f"initialisation ({why})")
    return Check("initial_loss", "pass", value, "predictions start near uniform, as they should")


def _relu_like(layer) -> bool:
    return _activation_name(layer) == "relu"


def _saturating(layer) -> str | None:
    act = _activation_name(layer)
    return act if act in ("sigmoid", "tanh", "hard_sigmoid", "softsign") else None


def activations_at_init(model, x: np.ndarray) -> list[Check]:
    """Dead-ReLU fraction (units never positive on the batch) and saturation of sigmoid/tanh layers,
    per layer, plus the softmax's confidence at initialisation."""
    import keras

    relu = [l for l in model.layers if _relu_like(l)]
    sat = [l for l in model.layers if _saturating(l)]
    layers = relu + sat
    outs = keras.Model(model.input, [l.output for l in layers])(x, training=False) if layers else []
    if len(layers) == 1:
        outs = [outs]
    outs = [np.asarray(o) for o in outs]
    dead = {}
    for layer, o in zip(relu, outs[:len(relu)]):
        active = (o.reshape(-1, o.shape[-1]) > 0).any(axis=0)
        dead[layer.name] = float(1 - active.mean())
    saturated = {}
    for layer, o in zip(sat, outs[len(relu):]):
        lo, hi = (-1.0, 1.0) if _saturating(layer) in ("tanh", "softsign") else (0.0, 1.0)
        band = 0.02 * (hi - lo)
        saturated[layer.name] = float(((o <= lo + band) | (o >= hi - band)).mean())
    return [_dead_check(dead), _saturation_check(saturated, np.asarray(model(x, training=False)))]


def _dead_check(dead: dict) -> Check:
    if not dead:
        return Check("dead_relu", "pass", "no ReLU layers", "nothing to check")
    worst_name = max(dead, key=dead.get)
    value = ", ".join(f"{k} {v:.0%}" for k, v in dead.items())
    w = dead[worst_name]
    if w >= DEAD_FAIL:
        return Check("dead_relu", "fail", value,
                     f"{worst_name}: {w:.0%} of units never fire on {BATCH} images: no signal passes (inputs all "
                     "zero, or large negative biases)", {"dead_fraction": dead})
    if w >= DEAD_WARN:
        return Check("dead_relu", "warn", value,
                     f"{worst_name}: {w:.0%} of units never fire at initialisation: check input scaling and "
                     "biases, or use LeakyReLU", {"dead_fraction": dead})
    return Check("dead_relu", "pass", value, "units fire on the batch", {"dead_fraction": dead})


def _saturation_check(saturated: dict, probs: np.ndarray) -> Check:
    conf = float(probs.max(axis=-1).mean()) if np.isfinite(probs).all() else float("nan")
    parts = [f"{k} {v:.0%} saturated" for k, v in saturated.items()]
    value = ", ".join(parts + [f"mean top probability {fmt(conf)}"])
    detail = {"saturated_fraction": saturated, "mean_top_probability": conf}
    bad = {k: v for k, v in saturated.items() if v >= SATURATED_WARN}
    if bad:
        k = max(bad, key=bad.get)
        return Check("saturation", "warn", value,
                     f"{k}: {bad[k]:.0%} of outputs at the flat ends of its activation, where gradients vanish: "
                     "scale the inputs or use ReLU", detail)
    if not conf < CONFIDENT_WARN:
        return Check("saturation", "warn", value,
                     "the softmax is already confident at initialisation (large logits): scale the inputs "
                     "or use smaller initial weights", detail)
    return Check("saturation", "pass", value, "no saturated activations", detail)


# ----------------------------------------------------------------------------------------------
def _variance_gain(layer) -> tuple[str, float | None]:
    """(initialiser name, forward second-moment gain through a ReLU at init: fan_in * Var(w) / 2;
    1 for He, fan_in / (fan_in + fan_out) for Glorot; None when not a variance-scaling initialiser)."""
    init = getattr(layer, "kernel_initializer", None)
    name = type(init).__name__
    kernel = getattr(layer, "kernel", None)
    if init is None or kernel is None:
        return name, None
    shape = [int(d) for d in kernel.shape]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    cfg = init.get_config() if hasattr(init, "get_config") else {}
    if "mode" in cfg and "scale" in cfg:
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[cfg["mode"]]
        return name, fan_in * cfg["scale"] / n / 2
    w = np.asarray(kernel)
    return name, fan_in * float(w.var() + w.mean() ** 2) / 2


INIT_SHRINK_WARN = 1e-2  # compound std factor vs He at the deepest ReLU layer


def initialisation(model) -> Check:
    """Initialisers of the layers feeding ReLUs (seed 004: w ~ N(0, 2/n), He). The forward signal's
    std at the deepest ReLU layer, relative to He, is the product of the per-layer variance gains
    (square-rooted); a normalisation layer restarts the product."""
    rows, factor, worst_factor = [], 1.0, 1.0
    for layer in model.layers:
        if type(layer).__name__ in ("BatchNormalization", "LayerNormalization"):
            factor = 1.0
            continue
        if not (_relu_like(layer) and hasattr(layer, "kernel")):
            continue
        name, gain = _variance_gain(layer)
        w = np.asarray(layer.kernel)
        if w.size > 1 and float(w.std()) == 0.0:
            return Check("initialisation", "fail", f"{layer.name}: {name}, every weight {fmt(float(w.flat[0]))}",
                         "identical initial weights keep every unit identical (symmetry is never broken): use "
                         "he_normal for ReLU layers")
        rows.append(f"{layer.name} {name}")
        factor *= math.sqrt(gain) if gain else 1.0
        worst_factor = min(worst_factor, factor)
    if not rows:
        return Check("initialisation", "pass", "no ReLU layers with weights", "nothing to check")
    he = all(r.endswith(("HeNormal", "HeUniform")) for r in rows)
    value = ", ".join(rows) + f"; deepest ReLU signal x{fmt(worst_factor)} of He's"
    detail = {"std_factor_vs_he": worst_factor}
    if he:
        return Check("initialisation", "pass", value, "He initialisation for ReLU (seed 004)", detail)
    if worst_factor < INIT_SHRINK_WARN:
        return Check("initialisation", "warn", value,
                     f"the signal shrinks {fmt(1 / worst_factor)}x more than with He through the ReLU stack: set "
                     "train.kernel_initializer: he_normal (seed 004: w = randn(n) * sqrt(2/n))", detail)
    return Check("initialisation", "pass", value,
                 "not He (seed 004 advises he_normal for ReLU), but the shrink stays within 100x at this depth",
                 detail)
