"""The sweep file: a strict schema (pydantic, extra keys forbidden), read with line tracking so every
error names the file, the line and the field, with a did-you-mean. Pure Python (no TensorFlow).

See docs/experiments.md for every key. Dotted keys address what a trial changes:
``train.learning_rate`` (any ``train:`` key, nested ones as ``train.optimizer.momentum``),
``vars.NAME`` (a spec variable) and ``variant``.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator, model_validator

from cnnspec.errors import SpecError
from cnnspec.spec.loader import load_specs
from cnnspec.util import suggest
from cnnspec.spec.trainconfig import TrainConfig, parse_train
from cnnspec.spec.yamlio import LineDict, load

BASELINES = ("knn", "random_forest", "xgboost", "logistic")
METRICS = ("val_accuracy", "val_loss", "accuracy", "loss", "test_accuracy", "test_loss")
MAX_TRIALS = 10_000
_Int = int  # `Dim.int` shadows the builtin inside the class body


class Strict(BaseModel):
    """Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class Data(Strict):
    """Dataset every trial trains on (the same as ``cnnspec train --data/--data-path/--limit``)."""

    name: str = "sample"
    path: Optional[str] = None
    limit: Optional[StrictInt] = Field(None, ge=1)


class Dim(Strict):
    """One dimension of a random search space: exactly one of the four kinds."""

    uniform: Optional[tuple[float, float]] = None
    loguniform: Optional[tuple[float, float]] = None
    int: Optional[tuple[_Int, _Int]] = None
    choice: Optional[list[Any]] = None

    @model_validator(mode="after")
    def _one_kind(self):
        kinds = [k for k in ("uniform", "loguniform", "int", "choice") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of uniform: [low, high], loguniform: [low, high], "
                             "int: [low, high], choice: [values]")
        low_high = getattr(self, kinds[0])
        if kinds[0] == "choice":
            if not low_high:
                raise ValueError("choice needs at least one value")
        elif not low_high[0] <= low_high[1] or not all(math.isfinite(v) for v in low_high):
            raise ValueError(f"{kinds[0]}: low must be at most high, both finite (got {list(low_high)})")
        elif kinds[0] == "loguniform" and low_high[0] <= 0:
            raise ValueError(f"loguniform needs low > 0 (got {low_high[0]})")
        return self

    @property
    def kind(self) -> str:
        """uniform, loguniform, int or choice."""
        return next(k for k in ("uniform", "loguniform", "int", "choice") if getattr(self, k) is not None)


class Refine(Strict):
    """Second, finer stage: numeric ranges narrowed to the span of the ``top_k`` best trials."""

    top_k: StrictInt = Field(3, ge=1)
    trials: StrictInt = Field(..., ge=1, le=MAX_TRIALS)


class Random(Strict):
    """Random search: ``trials`` samples of ``space`` drawn with ``seed``."""

    trials: StrictInt = Field(..., ge=1, le=MAX_TRIALS)
    seed: StrictInt = Field(0, ge=0)
    space: dict[str, Dim]
    refine: Optional[Refine] = None


class Halving(Strict):
    """Successive halving: every trial trains ``min_epochs``, the best 1/``eta`` go on to eta times more
    epochs, until train.epochs."""

    min_epochs: StrictInt = Field(1, ge=1)
    eta: StrictInt = Field(2, ge=2)


class SweepFile(Strict):
    """What a sweep file holds (see docs/experiments.md)."""

    spec: str
    variants: Optional[list[str]] = None
    data: Union[str, Data] = Field(default_factory=Data)
    train: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    random: Optional[Random] = None
    repeats: StrictInt = Field(1, ge=1, le=100)
    metric: Literal["val_accuracy", "val_loss", "accuracy", "loss", "test_accuracy", "test_loss"] = "val_accuracy"
    halving: Optional[Halving] = None
    baselines: list[Literal["knn", "random_forest", "xgboost", "logistic"]] = Field(default_factory=list)
    name: Optional[str] = None
    description: Optional[str] = None

    @field_validator("grid")
    @classmethod
    def _nonempty(cls, grid):
        for k, v in grid.items():
            if not v:
                raise ValueError(f"grid.{k} lists no values")
        return grid

    def data_settings(self) -> Data:
        """The ``data:`` section as a mapping (``data: NAME`` is short for ``data: {name: NAME}``)."""
        return Data(name=self.data) if isinstance(self.data, str) else self.data


# ----------------------------------------------------------------------------------------------
class Sweep:
    """A validated sweep file with its spec: what the planner needs."""

    def __init__(self, file: str, model: SweepFile, doc: LineDict, spec_path: Path, variants: list[str | None],
                 spec_vars: set[str]) -> None:
        self.file = file
        self.model = model
        self.doc = doc
        self.spec_path = spec_path
        self.variants = variants
        self.spec_vars = spec_vars

    def fingerprint(self) -> str:
        """Hash of what defines the trials: the validated sweep and the spec file's bytes."""
        blob = json.dumps(self.model.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob + b"\0" + self.spec_path.read_bytes()).hexdigest()[:16]

    def line_of(self, *path: str) -> int:
        """Line of a (nested) key, or of the closest enclosing mapping."""
        node, line = self.doc, self.doc.line
        for key in path:
            if isinstance(node, LineDict) and key in node:
                line = node.line_of(key)
                node = node[key]
            else:
                break
        return line

    def err(self, msg: str, *path: str) -> SpecError:
        """A one-line error at the line of ``path``."""
        return SpecError(msg, file=self.file, line=self.line_of(*path), field=".".join(path) or None)


def _pydantic_error(exc: ValidationError, doc: LineDict, file: str) -> SpecError:
    errs = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    e = errs[0]
    loc = [k for k in e["loc"] if not (isinstance(k, str) and (k.startswith("function-") or k in ("str", "Data")
                                                                  or k.startswith("literal[")))]
    node, line, parts = doc, doc.line, []
    parent_model: type[BaseModel] | None = SweepFile
    for key in loc:
        parts.append(str(key))
        if isinstance(node, LineDict) and key in node:
            line = node.line_of(key)
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            line = (getattr(node, "item_lines", []) or [line] * (key + 1))[key]
            node = node[key]
        if e["type"] != "extra_forbidden" or key != loc[-1]:
            parent_model = _child_model(parent_model, key)
    fld = ".".join(parts) or None
    if e["type"] == "extra_forbidden":
        allowed = list(parent_model.model_fields) if parent_model else []
        key = str(loc[-1]) if loc else "?"
        msg = f"unknown key '{key}'{suggest(key, allowed)}; allowed: {', '.join(allowed)}"
    elif loc and loc[0] == "data" and len(loc) == 1:
        msg = "`data` is a dataset name (`data: fashion_mnist`) or a mapping {name, path, limit}"
    elif len(loc) >= 2 and loc[-2] in ("uniform", "loguniform", "int") and isinstance(loc[-1], int):
        fld = ".".join(parts[:-1])
        msg = f"{loc[-2]} takes two values [low, high]"
    else:
        msg = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "missing":
            msg = f"missing `{parts[-1]}`" if parts else msg
        elif e["type"].startswith("literal") and "input" in e:
            msg = f"{msg} (got {e['input']!r:.60})"
    return SpecError(" ".join(msg.split()), file=file, line=line, field=fld)


def _child_model(model, key) -> type[BaseModel] | None:
    """The pydantic model one key below ``model`` (None when it is not a model)."""
    if model is None or isinstance(key, int):
        return model
    nested = {(SweepFile, "data"): Data, (SweepFile, "random"): Random, (SweepFile, "halving"): Halving,
              (Random, "refine"): Refine, (Random, "space"): "space"}
    got = nested.get((model, key))
    if got == "space":
        return _SpaceMarker
    if model is _SpaceMarker:
        return Dim
    return got


class _SpaceMarker(BaseModel):
    """Stands for ``random.space`` (a mapping of dimension names) while walking an error location."""


# ----------------------------------------------------------------------------------------------
def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file; raises a one-line SpecError (file:line: field: message)."""
    file = str(path)
    doc = load(file)
    if not isinstance(doc, LineDict):
        raise SpecError("a sweep file is a mapping with at least `spec:`", file=file, line=getattr(doc, "line", 1))
    try:
        model = SweepFile.model_validate(dict(doc))
    except ValidationError as exc:
        raise _pydantic_error(exc, doc, file) from exc
    spec_path = Path(model.spec)
    if not spec_path.is_absolute():
        spec_path = (Path(file).parent / spec_path)
    spec_path = Path(str(spec_path).split("#")[0])
    line = doc.line_of("spec")
    if not spec_path.is_file():
        raise SpecError(f"spec file {model.spec!r} not found (looked at {spec_path}; relative paths are taken "
                        "from the sweep file's folder)", file=file, line=line, field="spec")
    try:
        specs = load_specs(spec_path)
    except SpecError as exc:
        raise SpecError(f"the spec does not load: {exc}", file=file, line=line, field="spec") from exc
    raw_spec = load(spec_path)
    spec_vars = set(raw_spec.get("vars") or {})
    for over in (raw_spec.get("variants") or {}).values():
        if isinstance(over, dict):
            spec_vars |= set(over)
    sweep = Sweep(file, model, doc, spec_path, [], spec_vars)
    sweep.variants = _variants(sweep, [s.variant for s in specs])
    _check_keys(sweep)
    _check_train(sweep)
    return sweep


def _variants(sweep: Sweep, available: list[str | None]) -> list[str | None]:
    m = sweep.model
    names = [v for v in available if v is not None]
    if m.variants is not None and "variant" in m.grid:
        raise sweep.err("give the variants either as `variants:` or as `grid.variant`, not both", "variants")
    chosen, where = (m.grid["variant"], ("grid", "variant")) if "variant" in m.grid else (m.variants, ("variants",))
    if chosen is None:
        return list(available)
    if not names:
        raise sweep.err(f"the spec {sweep.spec_path.name} has no variants to choose from", *where)
    if not chosen:
        raise sweep.err("lists no variants", *where)
    for v in chosen:
        if str(v) not in names:
            raise sweep.err(f"no variant '{v}' in {sweep.spec_path.name}{suggest(str(v), names)}; variants: "
                            f"{', '.join(names)}", *where)
    if len(set(map(str, chosen))) != len(chosen):
        raise sweep.err("lists a variant twice", *where)
    return [str(v) for v in chosen]


def _check_key(sweep: Sweep, key: str, where: tuple[str, ...]) -> None:
    head, _, rest = key.partition(".")
    if key == "variant":
        if where[0] != "grid":
            raise sweep.err("`variant` can be swept in `grid` only (or list them under `variants:`)", *where)
        return
    if head == "train" and rest:
        first = rest.split(".")[0]
        fields = list(TrainConfig.model_fields)
        if first not in fields:
            raise sweep.err(f"unknown train key '{first}'{suggest(first, fields)}", *where)
        return
    if head == "vars" and rest:
        if rest not in sweep.spec_vars:
            known = sorted(sweep.spec_vars)
            raise sweep.err(f"the spec has no variable '{rest}'{suggest(rest, known)}; its variables (`vars` and "
                            f"variant values): {', '.join(known) or 'none'}", *where)
        return
    raise sweep.err(f"unknown key '{key}'{suggest(key, ['variant', 'train.' + rest, 'vars.' + rest])}; sweep "
                    "`train.KEY`, `vars.NAME` or `variant`", *where)


def _check_keys(sweep: Sweep) -> None:
    m = sweep.model
    for key in m.grid:
        _check_key(sweep, key, ("grid", key))
    if m.random is not None:
        for key, dim in m.random.space.items():
            _check_key(sweep, key, ("random", "space", key))
            if key in m.grid:
                raise sweep.err(f"'{key}' is both in `grid` and in `random.space`", "random", "space", key)
    if m.random is None and not m.grid and not m.baselines and len(sweep.variants) < 2 and m.repeats < 2:
        raise sweep.err("nothing to sweep: give `grid`, `random`, `variants`, `repeats` or `baselines`")
    if m.halving is not None and m.random is None and not m.grid and len(sweep.variants) < 2:
        raise sweep.err("halving needs several trials to choose among", "halving")


def _check_train(sweep: Sweep) -> None:
    """The shared ``train:`` keys must be train-section keys (values are checked per trial)."""
    section = sweep.doc.get("train")
    if section is None:
        return
    if not isinstance(section, dict):
        raise sweep.err("`train` must be a mapping of train-section keys", "train")
    fields = list(TrainConfig.model_fields)
    for key in section:
        if key not in fields:
            raise sweep.err(f"unknown train key '{key}'{suggest(str(key), fields)}; allowed: {', '.join(fields)}",
                            "train", str(key))
        if key in ("dataset", "data_path", "limit"):
            raise sweep.err(f"set the dataset under `data:` (name, path, limit), not train.{key}", "train", str(key))
    try:
        parse_train(section, sweep.file, section.line)
    except SpecError as exc:
        # Only errors that no swept value can fix are final here: an unknown (nested) key.
        if "unknown key" in exc.message or "unknown optimizer" in exc.message:
            raise
