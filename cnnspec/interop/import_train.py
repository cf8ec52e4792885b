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
#: Learning rates Keras 2 used by default where Keras 3 uses 0.001.
_KERAS2_LR = {"adadelta": 1.0, "adagrad": 0.01}
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
    """A loss name as the train section writes it."""
    return snake(name).removeprefix("loss_")


def _unknown(value: Any) -> bool:
    from cnnspec.interop.import_common import Opaque

    if isinstance(value, (list, tuple)):
        return any(_unknown(v) for v in value)
    if isinstance(value, dict):
        return any(_unknown(v) for v in value.values())
    return isinstance(value, Opaque)


def _metric_list(mets: Any) -> list:
    """The section's metric names of a compile() metrics value (a name or a list)."""
    mets = mets if isinstance(mets, list) else [mets]
    return list(dict.fromkeys(_METRIC_NAMES.get(m, m) for m in mets if isinstance(m, str)))


class TrainRecorder:
    """Collects what compile()/fit() and a dataset loader say, then writes a valid section."""

    def __init__(self) -> None:
        self.compile: dict[str, tuple[Any, int]] = {}
        self.fit: dict[str, tuple[Any, int]] = {}
        self.dataset: str | None = None
        self.from_logits = False

    def saw_dataset(self, name: str) -> None:
        """Note a dataset the script loads, if cnnspec provides it."""
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
                kept = self._plain_optimizer(train, key, value)
                if kept is not None:
                    train[key] = kept
                    extra = ", ".join(f"{k} = {v!r}" for k, v in value.items() if k not in kept)
                    notes.append(f"train: the optimizer's {extra} (line {line}) cannot be set in `train:` "
                                 f"({exc.message}); kept {', '.join(kept)}")
                else:
                    notes.append(f"train: {key} = {value!r} (line {line}) left out: {exc.message}")
                continue
            train[key] = value
        if self.from_logits and "loss" in train:
            notes.append("train: the script's loss takes logits (from_logits = TRUE) but `cnnspec train` gives "
                         "the loss probabilities: end the network with activation: softmax")
        opt = train.get("optimizer")
        name = opt.get("name") if isinstance(opt, dict) else opt
        if name in _KERAS2_LR and not (isinstance(opt, dict) and "learning_rate" in opt):
            notes.append(f"train: {name} without a learning rate: Keras 2 (R keras, older tf.keras) used "
                         f"{_KERAS2_LR[name]}, Keras 3 uses 0.001; set it if the script ran on Keras 2")
        return train, notes

    @staticmethod
    def _plain_optimizer(train: dict, key: str, value: Any) -> dict | None:
        """The optimizer's name and learning rate alone, when its other settings are refused."""
        from cnnspec.spec.trainconfig import parse_train

        if key != "optimizer" or not isinstance(value, dict) or "name" not in value:
            return None
        kept = {k: v for k, v in value.items() if k in ("name", "learning_rate")}
        try:
            parse_train({**train, key: kept})
        except SpecError:
            return None
        return kept

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
            if isinstance(loss, dict):  # several outputs: a loss per output name
                loss = {k: loss_value(v) if isinstance(v, str) else v for k, v in loss.items()}
            yield "loss", loss_value(loss) if isinstance(loss, str) else loss, line
        if "loss_weights" in self.compile:
            yield "loss_weights", *self.compile["loss_weights"]
        if "metrics" in self.compile:
            mets, line = self.compile["metrics"]
            if isinstance(mets, dict):  # several outputs: metrics per output name
                yield "metrics", {k: _metric_list(v) for k, v in mets.items()}, line
            else:
                yield "metrics", _metric_list(mets), line
