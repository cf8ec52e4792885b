"""Generated training code for a model with several outputs: ``compile()`` with a loss, a weight and
metrics per output name (the train section's per-head settings, cnnspec.spec.heads) and ``fit()``
targets that give every head the labels. Pure Python."""
from __future__ import annotations

from typing import Callable

from cnnspec.spec.heads import heads


def several(spec) -> bool:
    """True when the model has several outputs."""
    return len(spec.outputs) > 1


def _py_metric(m: str, loss: str) -> str:
    if m != "top_5_accuracy":
        return f'"{m}"'
    sparse = "Sparse" if loss.startswith("sparse") else ""
    return f'keras.metrics.{sparse}TopKCategoricalAccuracy(k=5, name="top_5_accuracy")'


def py_compile_args(spec, cfg, value: Callable) -> str:
    """``loss={...}, loss_weights={...}, metrics={...}`` keyed by output name (Python)."""
    hs = heads(spec.outputs, cfg)
    loss = ", ".join(f"{value(h.name)}: {value(h.loss)}" for h in hs)
    weights = ", ".join(f"{value(h.name)}: {h.weight!r}" for h in hs)
    metrics = ", ".join(f"{value(h.name)}: [{', '.join(_py_metric(m, h.loss) for m in h.metrics)}]" for h in hs)
    return f"loss={{{loss}}}, loss_weights={{{weights}}}, metrics={{{metrics}}}"


def py_targets(spec, y: str) -> str:
    """The fit() targets: the labels for every head, as a mapping by output name (Python)."""
    if not several(spec):
        return y
    return "{" + ", ".join(f'"{n}": {y}' for n in spec.outputs) + "}"


def _r_name(name: str) -> str:
    import re

    return name if re.fullmatch(r"[A-Za-z.][A-Za-z0-9._]*", name) else f"`{name}`"


def r_compile_args(spec, cfg, value: Callable, metric: Callable) -> list[str]:
    """``loss = list(...)``, ``loss_weights = list(...)``, ``metrics = list(...)`` keyed by output name (R);
    ``metric(name, loss)`` writes one metric."""
    hs = heads(spec.outputs, cfg)
    loss = ", ".join(f"{_r_name(h.name)} = {value(h.loss)}" for h in hs)
    weights = ", ".join(f"{_r_name(h.name)} = {value(h.weight)}" for h in hs)
    mets = ", ".join(f"{_r_name(h.name)} = list({', '.join(metric(m, h.loss) for m in h.metrics)})" for h in hs)
    return [f"  loss = list({loss}),", f"  loss_weights = list({weights}),", f"  metrics = list({mets})"]


def r_targets(spec, y: str) -> str:
    """The fit() targets: the labels for every head, as a named list (R)."""
    if not several(spec):
        return y
    return "list(" + ", ".join(f"{_r_name(n)} = {y}" for n in spec.outputs) + ")"
