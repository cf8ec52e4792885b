"""Per-head training settings of a model with several outputs (the spec's ``outputs:``).

In ``train:``, ``loss`` and ``metrics`` may be mappings keyed by output row name, and
``loss_weights`` weighs each head's loss in the total, as Keras's ``compile(loss={...},
loss_weights={...}, metrics={...})``. A head not listed uses the section's first loss and every
metric. Each head's target is the dataset's label. Pure Python (no TensorFlow).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnnspec.errors import SpecError


@dataclass
class Head:
    """One output's training settings: its row name, loss, metrics and weight in the total loss."""
    name: str
    loss: str
    metrics: list[str]
    weight: float = 1.0


def split_mappings(cfg: Any) -> None:
    """After validation: a ``loss`` mapping moves to ``head_losses`` (``loss`` becomes the first head's,
    which every single-output code path reads); a ``metrics`` mapping to ``head_metrics`` (``metrics``
    becomes every metric named, in order)."""
    if isinstance(cfg.loss, dict):
        cfg.__dict__["head_losses"] = dict(cfg.loss)
        cfg.__dict__["loss"] = next(iter(cfg.loss.values()), "sparse_categorical_crossentropy")
        cfg.__pydantic_fields_set__.add("head_losses")
    if isinstance(cfg.metrics, dict):
        cfg.__dict__["head_metrics"] = {k: list(v) for k, v in cfg.metrics.items()}
        union: list[str] = []
        for v in cfg.metrics.values():
            union += [m for m in v if m not in union]
        cfg.__dict__["metrics"] = union
        cfg.__pydantic_fields_set__.add("head_metrics")


def head_names(cfg: Any) -> set[str]:
    """The output names the section's mappings mention."""
    return set(cfg.head_losses or {}) | set(cfg.head_metrics or {}) | set(cfg.loss_weights or {})


def heads(outputs: list[str], cfg) -> list[Head]:
    """Every output's settings, in the model's output order (``outputs``: the output row names)."""
    out = []
    for name in outputs:
        metrics = (cfg.head_metrics or {}).get(name, list(cfg.metrics))
        if "accuracy" not in metrics:
            metrics = ["accuracy", *metrics]
        out.append(Head(name, (cfg.head_losses or {}).get(name, cfg.loss), metrics,
                        float((cfg.loss_weights or {}).get(name, 1.0))))
    return out


def check_heads(spec, cfg) -> None:
    """The mappings name outputs of the spec: a one-line error at the key's line otherwise."""
    section = spec.train
    for key, mapping in (("loss", cfg.head_losses), ("metrics", cfg.head_metrics),
                         ("loss_weights", cfg.loss_weights)):
        for name in mapping or {}:
            if name not in spec.outputs:
                raw = section.get(key) if hasattr(section, "get") else None
                line = raw.line_of(name) if hasattr(raw, "line_of") else (
                    section.line_of(key) if hasattr(section, "line_of") else None)
                from cnnspec.util import suggest

                raise SpecError(f"train.{key} names '{name}', which is not an output of the model (outputs: "
                                f"{', '.join(spec.outputs)}){suggest(name, spec.outputs)}", file=spec.file,
                                line=line, field=f"train.{key}.{name}")
    if cfg.loss_weights and all(w == 0 for w in cfg.loss_weights.values()) and \
            set(cfg.loss_weights) == set(spec.outputs):
        raise SpecError("train.loss_weights are all 0: nothing would be trained", file=spec.file,
                        line=getattr(section, "line_of", lambda k: None)("loss_weights"), field="train.loss_weights")
