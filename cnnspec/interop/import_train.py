"""The ``train:`` section from a script's ``compile()`` / ``fit()`` calls and the dataset it loads
(R and Python alike). Each setting is kept only if the spec's train schema accepts it; the rest
becomes a comment naming what ``cnnspec train`` cannot reproduce. Pure Python."""
from __future__ import annotations

import re
from typing import Any

from cnnspec.errors import SpecError

_METRIC_NAMES = {"acc": "accuracy", "accuracy": "accuracy", "categorical_accuracy": "accuracy",
                 "sparse_categorical_accuracy": "accuracy", "top_k_categorical_accuracy": "top_5_accuracy",
                 "sparse_top_k_categorical_accuracy": "top_5_accuracy"}
_OPTIMIZER_KEYS = {"lr": "learning_rate"}
#: Datasets a script loads (keras.datasets.X / R dataset_X) that cnnspec's data sources provide.
_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")


def snake(name: str) -> str:
    """CategoricalCrossentropy -> categorical_crossentropy; RMSprop -> rmsprop."""
    s = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def optimizer_value(kind: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``optimizer_rmsprop(lr = 1e-4)`` / ``keras.optimizers.RMSprop(1e-4)`` as data."""
    out: dict[str, Any] = {"name": snake(kind).replace("_", "")}
    for k, v in kwargs.items():
        out[_OPTIMIZER_KEYS.get(k, k)] = v
    return out


def loss_value(name: str) -> str:
    return snake(name).removeprefix("loss_")


def _unknown(value: Any) -> bool:
    from cnnspec.interop.import_common import Opaque

    if isinstance(value, (list, tuple)):
        return any(_unknown(v) for v in value)
    if isinstance(value, dict):
        return any(_unknown(v) for v in value.values())
    return isinstance(value, Opaque)


class TrainRecorder:
    """Collects what compile()/fit() and a dataset loader say, then writes a valid section."""

    def __init__(self) -> None:
        self.compile: dict[str, tuple[Any, int]] = {}
        self.fit: dict[str, tuple[Any, int]] = {}
        self.dataset: str | None = None

    def saw_dataset(self, name: str) -> None:
        name = name.removeprefix("dataset_")
        if name in _DATASETS:
            self.dataset = name

    def section(self) -> tuple[dict[str, Any], list[str]]:
        """(train mapping, notes on what was left out)."""
        from cnnspec.spec.trainconfig import parse_train

        train: dict[str, Any] = {}
        notes: list[str] = []
        for key, value, line in self._candidates(notes):
            if _unknown(value):
                notes.append(f"train: {key} (line {line}) is not a literal: left out")
                continue
            trial = {**train, key: value}
            try:
                parse_train(trial)
            except SpecError as exc:
                notes.append(f"train: {key} = {value!r} (line {line}) left out: {exc.message}")
                if isinstance(value, dict) and key == "optimizer" and "name" in value:
                    kept = {k: v for k, v in value.items() if k in ("name", "learning_rate")}
                    try:
                        parse_train({**train, key: kept})
                        train[key] = kept
                    except SpecError:
                        pass
                continue
            train[key] = value
        return train, notes

    def _candidates(self, notes: list[str]):
        if self.dataset:
            yield "dataset", self.dataset, 0
        for key in ("epochs", "batch_size", "validation_split"):
            if key in self.fit:
                yield key, *self.fit[key]
        if "optimizer" in self.compile:
            opt, line = self.compile["optimizer"]
            if isinstance(opt, str):
                opt = snake(opt).replace("_", "")
            yield "optimizer", opt, line
        if "loss" in self.compile:
            loss, line = self.compile["loss"]
            yield "loss", loss_value(loss) if isinstance(loss, str) else loss, line
        if "metrics" in self.compile:
            mets, line = self.compile["metrics"]
            mets = mets if isinstance(mets, list) else [mets]
            known = [_METRIC_NAMES.get(m, m) for m in mets if isinstance(m, str)]
            yield "metrics", list(dict.fromkeys(known)), line
