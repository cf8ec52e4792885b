"""One-line errors for a spec's ``train:`` section: pydantic's error locations turned into the YAML
key, its line and a message naming what is allowed (used by :func:`cnnspec.spec.trainconfig.parse_train`)."""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from cnnspec.errors import SpecError
from cnnspec.spec.trainconfig import (
    BLAME, SCHEDULE_TYPES, Augmentation, Checkpoint, Cosine, EarlyStopping, Exponential, Optimizer, ReduceOnPlateau,
    StepDecay, TrainConfig, Warmup)
from cnnspec.util import suggest


def train_error(exc: ValidationError, section: Any, file: str | None, line: int | None) -> SpecError:
    """The one-line SpecError for a ``train:`` mapping pydantic refused (file, line, dotted field)."""
    errs = exc.errors()
    # a union (optimizer: name | mapping) reports one error per member: prefer the mapping's
    errs.sort(key=lambda e: (e["type"] in ("list_type", "dict_type") and len(e["loc"]) == 2,
                             any(isinstance(k, str) and k.startswith("literal[") for k in e["loc"]),
                             e["type"] == "model_type"))
    err = errs[0]
    raw_loc = err.get("loc", ())
    loc = _clean_loc(raw_loc)
    if err.get("type") == BLAME:  # a cross-field rule naming the key to blame
        ln, fld = _line_for(section, tuple(err["ctx"]["field"].split(".")))
        return _error(err["ctx"]["text"], file, ln or line, f"train.{fld}")
    ln, fld = _line_for(section, loc)
    msg = _message({**err, "loc": raw_loc if err.get("type") == "extra_forbidden" else loc})
    if err.get("type") == "extra_forbidden":
        msg = _message({**err, "loc": (*[k for k in raw_loc[:-1]], raw_loc[-1])})
    return _error(msg, file, ln or line, "train" + (f".{fld}" if fld else ""))


def flags_error(exc: ValidationError) -> SpecError:
    """The one-line SpecError for command-line options that made a valid section invalid."""
    err = exc.errors()[0]
    loc = ".".join(str(k) for k in _clean_loc(err.get("loc", ())))
    text = _message(err)
    if err.get("type") == BLAME:
        text, loc = err["ctx"]["text"], err["ctx"]["field"]
    return SpecError(f"{text} (after applying command-line options)", field=f"train.{loc}" if loc else "train")


def _error(msg: str, file, line, field) -> SpecError:
    return SpecError(" ".join(str(msg).split()), file=file, line=line, field=field)


def _line_for(section: Any, loc: tuple) -> tuple[int | None, str]:
    """Deepest YAML line known for a pydantic error location, and the dotted field name."""
    line = getattr(section, "line", None) or None
    node = section
    parts: list[str] = []
    for key in loc:
        if isinstance(key, int):
            parts[-1:] = [f"{parts[-1]}[{key}]"] if parts else [f"[{key}]"]
            node = node[key] if isinstance(node, list) and key < len(node) else None
            continue
        parts.append(str(key))
        if isinstance(node, dict):
            if hasattr(node, "line_of") and key in node:
                line = node.line_of(key) or line
            node = node.get(key)
        else:
            node = None
    return line, ".".join(parts)


def _message(err: dict) -> str:
    typ = err.get("type", "")
    loc = err.get("loc", ())
    if typ == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        parent = _FIELDS_BY_PARENT.get(_parent_name(loc[:-1]), ())
        hint = suggest(key, parent)
        return f"unknown key '{key}'{hint}; allowed: {', '.join(parent)}" if parent else f"unknown key '{key}'"
    msg = err.get("msg", "invalid")
    msg = msg.removeprefix("Value error, ")
    if typ == "union_tag_invalid":
        msg = f"lr_schedule.type must be one of {', '.join(SCHEDULE_TYPES)}"
    return msg


def _parent_name(loc: tuple) -> str:
    names = [str(k) for k in loc if not isinstance(k, int)]
    # union members show up as their class name or tag in pydantic locations
    for n in reversed(names):
        if n in _FIELDS_BY_PARENT:
            return n
    return "train" if not names else names[-1]


_FIELDS_BY_PARENT = {
    "train": tuple(TrainConfig.model_fields),
    "optimizer": tuple(Optimizer.model_fields),
    "Optimizer": tuple(Optimizer.model_fields),
    "step": tuple(StepDecay.model_fields),
    "reduce_on_plateau": tuple(ReduceOnPlateau.model_fields),
    "cosine": tuple(Cosine.model_fields),
    "exponential": tuple(Exponential.model_fields),
    "warmup": tuple(Warmup.model_fields),
    "early_stopping": tuple(EarlyStopping.model_fields),
    "checkpoint": tuple(Checkpoint.model_fields),
    "augmentation": tuple(Augmentation.model_fields),
}

# pydantic puts union member names into locations; they are not YAML keys
_NOT_KEYS = {"Optimizer", "step", "reduce_on_plateau", "cosine", "exponential", "warmup", "literal['sgd','adam','adamw','rmsprop',"
             "'adadelta','adagrad','adamax','nadam']"}


def _clean_loc(loc: tuple) -> tuple:
    out = []
    for k in loc:
        if isinstance(k, str) and (k in _NOT_KEYS or k.startswith(("literal[", "function-", "dict[", "list["))):
            continue
        out.append(k)
    return tuple(out)


