"""From a validated sweep to trials: grid, random and refine samplers, trial names, and each trial's
spec file (the sweep's spec with the trial's variant, variables and train values filled in, so it is
checkable and trainable as is). Pure Python (no TensorFlow)."""
from __future__ import annotations

import copy
import hashlib
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from cnnspec.experiments.sweepfile import Dim, Sweep


@dataclass
class Trial:
    """One training run of a sweep: a variant, swept values and a repeat index."""

    name: str
    variant: str | None
    values: dict[str, Any]
    repeat: int = 0
    stage: str = "grid"
    kind: str = "cnn"                   # cnn, or a baseline's model name
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        """What sweep.json records of the trial."""
        return {"name": self.name, "variant": self.variant, "values": self.values, "repeat": self.repeat,
                "stage": self.stage, "kind": self.kind}

    @property
    def config_key(self) -> str:
        """Identifies the configuration (repeats of one configuration share it)."""
        return re.sub(r"-r\d+$", "", self.name) if self.kind == "cnn" else self.name


# ----------------------------------------------------------------------------------------------
def fmt_value(v: Any) -> str:
    """Short, file-name friendly text of a swept value."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, dict):
        return "+".join(f"{k}{fmt_value(x)}" for k, x in v.items()) or "none"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "x".join(fmt_value(x) for x in v)
    return str(v)


def _short_keys(keys: list[str]) -> dict[str, str]:
    last = [k.split(".")[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k.replace("train.", "").replace("vars.", "")) for k, s in zip(keys, last)}


def trial_name(parts: list[str]) -> str:
    """Join name parts into a safe directory name (at most 100 characters; a hash keeps long names unique)."""
    raw = "-".join(p for p in parts if p)
    name = re.sub(r"[^A-Za-z0-9_.=+-]+", "_", raw).strip("._") or "trial"
    if len(name) > 100:
        name = name[:88] + "-" + hashlib.sha256(raw.encode()).hexdigest()[:10]
    return name


def _name(sweep: Sweep, variant, values: dict, repeat: int, prefix: str = "") -> str:
    short = _short_keys(sorted(values))
    parts = [prefix, variant or ""] + [f"{short[k]}={fmt_value(values[k])}" for k in sorted(values)]
    if sweep.model.repeats > 1:
        parts.append(f"r{repeat + 1}")
    return trial_name(parts)


def grid_points(sweep: Sweep) -> list[dict[str, Any]]:
    """Every combination of the grid's values (variant excluded: it is a separate axis)."""
    keys = [k for k in sweep.model.grid if k != "variant"]
    combos = itertools.product(*[sweep.model.grid[k] for k in keys])
    return [dict(zip(keys, c)) for c in combos] or [{}]


def sample(space: dict[str, Dim], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` points drawn from ``space`` with a seeded generator (same seed, same points)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        point = {}
        for key in sorted(space):
            d = space[key]
            if d.kind == "uniform":
                point[key] = float(rng.uniform(*d.uniform))
            elif d.kind == "loguniform":
                lo, hi = d.loguniform
                point[key] = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
            elif d.kind == "int":
                point[key] = int(rng.integers(d.int[0], d.int[1] + 1))
            else:
                point[key] = copy.deepcopy(d.choice[int(rng.integers(len(d.choice)))])
        out.append(point)
    return out


def refine_space(space: dict[str, Dim], top: list[dict[str, Any]]) -> dict[str, Dim]:
    """Coarse to fine: each numeric range narrowed to the span of the best trials' values; choices
    narrowed to the values the best trials used."""
    if not top:
        return space
    out = {}
    for key, d in space.items():
        vals = [t[key] for t in top if key in t]
        if not vals:
            out[key] = d
        elif d.kind == "choice":
            out[key] = Dim(choice=[c for c in d.choice if c in vals])
        else:
            out[key] = Dim(**{d.kind: (min(vals), max(vals))})
    return out


def plan_trials(sweep: Sweep, refine_top: list[dict[str, Any]] | None = None) -> list[Trial]:
    """All trials of the sweep. ``refine_top``: the values of the best first-stage trials (the
    refine stage is planned only once they are known)."""
    m = sweep.model
    trials: list[Trial] = []
    stages: list[tuple[str, list[dict]]] = []
    if m.random is None:
        stages.append(("grid", grid_points(sweep)))
    else:
        pts = sample(m.random.space, m.random.trials, m.random.seed)
        stages.append(("random", [{**g, **p} for p in pts for g in grid_points(sweep)]))
        if m.random.refine is not None and refine_top is not None:
            fine = refine_space(m.random.space, refine_top)
            pts = sample(fine, m.random.refine.trials, m.random.seed + 1)
            stages.append(("refine", [{**g, **p} for p in pts for g in grid_points(sweep)]))
    for stage, points in stages:
        for i, values in enumerate(points):
            for variant in sweep.variants:
                for r in range(m.repeats):
                    prefix = "" if stage == "grid" else f"{stage}{i + 1:03d}"
                    trials.append(Trial(_name(sweep, variant, values, r, prefix), variant, values, r, stage))
    for b in m.baselines:
        trials.append(Trial(f"baseline-{b}", None, {}, 0, "baseline", kind=b))
    seen: dict[str, int] = {}
    for t in trials:  # names made equal by rounding get a counter
        if t.name in seen:
            seen[t.name] += 1
            t.name = f"{t.name}-{seen[t.name]}"
        else:
            seen[t.name] = 1
    return trials


# ----------------------------------------------------------------------------------------------
def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    return x


def _set_train(train: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    if parts == ["learning_rate"] and isinstance(train.get("optimizer"), dict):
        train["optimizer"]["learning_rate"] = value  # as `cnnspec train --learning-rate` does
        return
    node = train
    for p in parts[:-1]:
        if p == "optimizer" and isinstance(node.get(p), str):
            node[p] = {"name": node[p]}
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[parts[-1]] = copy.deepcopy(value)


def data_path(sweep: Sweep) -> str | None:
    """``data.path`` made absolute (relative paths are taken from the sweep file's folder)."""
    d = sweep.model.data_settings()
    if not d.path:
        return None
    p = Path(d.path).expanduser()
    return str(p if p.is_absolute() else (Path(sweep.file).parent / p).resolve())


def trial_spec(sweep: Sweep, trial: Trial) -> str:
    """The trial's spec file text: the sweep's spec with its variant, variables and train values filled in."""
    doc = _plain(yaml.safe_load(sweep.spec_path.read_text(encoding="utf-8-sig")))
    m = sweep.model
    sv = {k[5:]: v for k, v in trial.values.items() if k.startswith("vars.")}
    if trial.variant is not None:
        doc["variants"] = {trial.variant: {**(doc["variants"][trial.variant] or {}), **sv}}
    elif sv:
        doc["vars"] = {**(doc.get("vars") or {}), **sv}
    train = copy.deepcopy(doc.get("train") or {})
    for k, v in m.train.items():
        _set_train(train, k, _plain(v))
    d = m.data_settings()
    train["dataset"] = d.name
    train.pop("data_path", None)
    train.pop("limit", None)
    if d.path:
        train["data_path"] = data_path(sweep)
    if d.limit:
        train["limit"] = d.limit
    for k, v in trial.values.items():
        if k.startswith("train."):
            _set_train(train, k[6:], v)
    if trial.repeat:
        train["seed"] = int(train.get("seed", 0) or 0) + trial.repeat
    doc["train"] = train
    what = ", ".join([f"variant {trial.variant}"] * bool(trial.variant) +
                     [f"{k}={fmt_value(v)}" for k, v in sorted(trial.values.items())] +
                     [f"repeat {trial.repeat + 1}"] * (m.repeats > 1))
    head = (f"# Written by `cnnspec sweep` from {sweep.spec_path} for trial {trial.name} of {sweep.file}"
            f"{': ' + what if what else ''}.\n# Check it with `cnnspec check`, train it with `cnnspec train`.\n")
    return head + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=120, allow_unicode=True)
