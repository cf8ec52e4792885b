"""The ``train:`` section of a spec: a strict pydantic schema, pure Python (no TensorFlow).

Every error becomes one line naming the spec file, the YAML line and the field
(``specs/x.yaml:14: train.optimizer.momentum: ...``). Command-line flags override the section;
:func:`resolve` merges section, flags and defaults into the config a run records in config.json.
See docs/training.md for every key.
"""
from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic_core import PydanticCustomError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cnnspec.errors import SpecError
from cnnspec.spec.finetune import FineTune, check_fine_tune
from cnnspec.util import suggest


class Strict(BaseModel):
    """Base of the train-section models: unknown keys are refused (with did-you-mean), assignments validated."""
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


#: Optimizer name in a spec -> its Keras class in ``keras.optimizers`` (the one list of optimizers).
KERAS_OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adadelta": "Adadelta",
                    "adagrad": "Adagrad", "adamax": "Adamax", "nadam": "Nadam"}
OPTIMIZERS = tuple(KERAS_OPTIMIZERS)
# Keras 3 default learning rates (Keras 2.0 used 1.0 for adadelta and 0.01 for adagrad).
DEFAULT_LR = {"sgd": 0.01, "adam": 0.001, "adamw": 0.001, "rmsprop": 0.001, "adadelta": 0.001,
              "adagrad": 0.001, "adamax": 0.001, "nadam": 0.001}
_COMMON = {"name", "learning_rate", "epsilon", "weight_decay", "clipnorm", "clipvalue"}
_ALLOWED = {
    "sgd": {"name", "learning_rate", "momentum", "nesterov", "weight_decay", "clipnorm", "clipvalue"},
    "adam": _COMMON | {"beta_1", "beta_2", "amsgrad"},
    "adamw": _COMMON | {"beta_1", "beta_2", "amsgrad"},
    "adamax": _COMMON | {"beta_1", "beta_2"},
    "nadam": _COMMON | {"beta_1", "beta_2"},
    "rmsprop": _COMMON | {"rho", "momentum", "centered"},
    "adadelta": _COMMON | {"rho"},
    "adagrad": _COMMON | {"initial_accumulator_value"},
}
PosFloat = float
#: the losses and metrics a section (or each head of a model with several outputs) may use
LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy")
METRICS = ("accuracy", "top_5_accuracy")


class Optimizer(Strict):
    """``optimizer: adam`` or ``optimizer: {name: sgd, learning_rate: 0.01, momentum: 0.9}``."""

    name: Literal[OPTIMIZERS]
    learning_rate: Optional[float] = Field(None, gt=0)
    momentum: Optional[float] = Field(None, ge=0, lt=1)
    nesterov: Optional[bool] = None
    rho: Optional[float] = Field(None, gt=0, lt=1)
    centered: Optional[bool] = None
    epsilon: Optional[float] = Field(None, gt=0)
    beta_1: Optional[float] = Field(None, gt=0, lt=1)
    beta_2: Optional[float] = Field(None, gt=0, lt=1)
    amsgrad: Optional[bool] = None
    weight_decay: Optional[float] = Field(None, ge=0)
    clipnorm: Optional[float] = Field(None, gt=0)
    clipvalue: Optional[float] = Field(None, gt=0)
    initial_accumulator_value: Optional[float] = Field(None, ge=0)

    @model_validator(mode="after")
    def _keys_fit_name(self):
        bad = sorted(k for k in self.model_fields_set if k not in _ALLOWED[self.name] and getattr(self, k) is not None)
        if bad:
            raise ValueError(f"{self.name} takes no {', '.join(bad)} (it takes "
                             f"{', '.join(sorted(_ALLOWED[self.name] - {'name'}))})")
        return self

    def keras_kwargs(self) -> dict[str, Any]:
        kw = self.model_dump(exclude_none=True, exclude={"name"})
        kw.setdefault("learning_rate", DEFAULT_LR[self.name])
        return kw


class WithWarmup(Strict):
    """Linear warm-up over the first ``warmup_epochs`` epochs, from ``warmup_start`` times the rate to
    the full rate; the schedule proper starts after it."""

    warmup_epochs: int = Field(0, ge=0)
    warmup_start: float = Field(0.1, gt=0, le=1)


class StepDecay(WithWarmup):
    """Multiply the learning rate by ``factor`` every ``every`` epochs."""

    type: Literal["step"]
    every: int = Field(..., ge=1)
    factor: float = Field(0.1, gt=0, le=1)


class ReduceOnPlateau(Strict):
    """Multiply by ``factor`` when ``monitor`` has not improved for ``patience`` epochs."""

    type: Literal["reduce_on_plateau"]
    monitor: str = "val_loss"
    factor: float = Field(0.1, gt=0, lt=1)
    patience: int = Field(10, ge=0)
    min_lr: float = Field(0.0, ge=0)
    min_delta: float = Field(1e-4, ge=0)
    mode: Literal["auto", "min", "max"] = "auto"


class Cosine(WithWarmup):
    """Cosine decay from the initial learning rate to ``min_lr`` over the epochs after warm-up (per epoch)."""

    type: Literal["cosine"]
    min_lr: float = Field(0.0, ge=0)


class Exponential(WithWarmup):
    """Multiply the learning rate by ``rate`` every epoch (``lr = base * rate ** epoch``)."""

    type: Literal["exponential"]
    rate: float = Field(..., gt=0, le=1)


class Warmup(WithWarmup):
    """Warm-up only: ``warmup_epochs`` linear epochs, then the constant initial rate."""

    type: Literal["warmup"]
    warmup_epochs: int = Field(..., ge=1)


Schedule = Union[StepDecay, ReduceOnPlateau, Cosine, Exponential, Warmup]
SCHEDULE_TYPES = ("step", "reduce_on_plateau", "cosine", "exponential", "warmup")


class EarlyStopping(Strict):
    """``train.early_stopping``: stop when the monitored value stops improving (Keras's EarlyStopping)."""
    monitor: str = "val_loss"
    patience: int = Field(10, ge=0)
    min_delta: float = Field(0.0, ge=0)
    mode: Literal["auto", "min", "max"] = "auto"
    restore_best_weights: bool = False


class Checkpoint(Strict):
    """Which epoch's model becomes ``model.keras``: the best by ``monitor``."""

    monitor: str = "val_loss"
    mode: Literal["auto", "min", "max"] = "auto"


class Augmentation(Strict):
    """Random augmentation in the training input pipeline only (ImageDataGenerator-like ranges)."""

    horizontal_flip: bool = False
    vertical_flip: bool = False
    width_shift: float = Field(0.0, ge=0, lt=1)    # fraction of the width, as width_shift_range
    height_shift: float = Field(0.0, ge=0, lt=1)   # fraction of the height
    rotation: float = Field(0.0, ge=0, le=180)     # degrees, as rotation_range
    zoom: float = Field(0.0, ge=0, lt=1)           # +-fraction, as zoom_range
    fill_mode: Literal["reflect", "wrap", "constant", "nearest"] = "nearest"

    def active(self) -> bool:
        return bool(self.horizontal_flip or self.vertical_flip or self.width_shift or self.height_shift
                    or self.rotation or self.zoom)


class TrainConfig(Strict):
    """The ``train:`` section: data, optimizer, loss, epochs, validation, schedules, callbacks and
    augmentation (one definition for the CLI, Python and R)."""
    dataset: str = "sample"
    data_path: Optional[str] = None
    limit: Optional[int] = Field(None, ge=1)
    validation_split: Optional[float] = Field(None, gt=0, lt=1)
    validation: Optional[str] = None
    batch_size: int = Field(32, ge=1, le=1_000_000)
    epochs: int = Field(10, ge=1, le=1_000_000)
    optimizer: Union[Literal[OPTIMIZERS],
                     Optimizer] = "adam"
    learning_rate: Optional[float] = Field(None, gt=0)
    lr_schedule: Optional[Schedule] = Field(None, discriminator="type")
    loss: Union[Literal[LOSSES], dict[str, Literal[LOSSES]]] = "sparse_categorical_crossentropy"
    metrics: Union[list[Literal[METRICS]], dict[str, list[Literal[METRICS]]]] = \
        Field(default_factory=lambda: ["accuracy"])
    #: several outputs (cnnspec.spec.heads): each head's weight in the total loss; per-head losses and
    #: metrics (``loss``/``metrics`` given as mappings keyed by output name are moved here)
    loss_weights: Optional[dict[str, float]] = None
    head_losses: Optional[dict[str, Literal[LOSSES]]] = None
    head_metrics: Optional[dict[str, list[Literal[METRICS]]]] = None
    kernel_initializer: Optional[str] = None
    l2: Optional[float] = Field(None, ge=0)
    early_stopping: Optional[EarlyStopping] = None
    checkpoint: Optional[Checkpoint] = None
    augmentation: Optional[Augmentation] = None
    seed: int = Field(0, ge=0, lt=2**31)
    scale: Optional[float] = Field(None, gt=0)
    offset: float = 0.0
    shuffle: bool = True
    fine_tune: Optional[FineTune] = None

    @model_validator(mode="after")
    def _consistent(self):
        from cnnspec.spec.heads import head_names, split_mappings

        split_mappings(self)
        for k, w in (self.loss_weights or {}).items():
            if not (w >= 0 and w < float("inf")):
                raise _blame(f"loss_weights.{k}", f"loss weight {w!r} of '{k}' must be a number >= 0")
        if self.validation_split is not None and self.validation is not None:
            raise _blame("validation", "give either validation_split or validation, not both")
        if isinstance(self.optimizer, Optimizer) and self.optimizer.learning_rate is not None \
                and self.learning_rate is not None and "learning_rate" in self.model_fields_set:
            raise _blame("learning_rate", "learning_rate is given twice (top level and in optimizer)")
        if "accuracy" not in self.metrics:
            self.__dict__["metrics"] = ["accuracy", *self.metrics]
        has_val = self.validation_split is not None or self.validation is not None
        for what, obj in (("checkpoint", self.checkpoint), ("early_stopping", self.early_stopping),
                          ("lr_schedule", self.lr_schedule)):
            mon = getattr(obj, "monitor", None)
            per_head = {f"{h}_{m}" for h in head_names(self) for m in ("loss", *self.metrics)}
            if mon and mon.removeprefix("val_") not in ("loss", *self.metrics, *per_head):
                raise _blame(f"{what}.monitor", f"{what} monitors {mon!r}: choose loss, val_loss or a metric "
                                 f"({', '.join(self.metrics)}, with or without val_)")
            if mon and mon.startswith("val_") and not has_val:
                raise _blame(f"{what}.monitor", f"{what} monitors {mon} but there is no validation data: set "
                                 f"validation_split or validation, or monitor '{mon[4:]}'")
        return self

    # -- resolved views -------------------------------------------------------------------------
    @property
    def has_validation(self) -> bool:
        return self.validation_split is not None or self.validation is not None

    def optimizer_config(self) -> Optimizer:
        opt = self.optimizer if isinstance(self.optimizer, Optimizer) else Optimizer(name=self.optimizer)
        if self.learning_rate is not None and opt.learning_rate is None:
            opt = opt.model_copy(update={"learning_rate": self.learning_rate})
            opt.__pydantic_fields_set__.add("learning_rate")
        return opt

    def checkpoint_config(self) -> Checkpoint | None:
        """The checkpoint rule in force: the given one, val_loss when there is validation, else none
        (model.keras is then the last epoch's model)."""
        if self.checkpoint is not None:
            return self.checkpoint
        return Checkpoint() if self.has_validation else None

    def overrides(self) -> dict[str, dict[str, Any]]:
        star: dict[str, Any] = {}
        if self.kernel_initializer:
            star["kernel_initializer"] = self.kernel_initializer
        if self.l2:
            star["kernel_regularizer"] = {"l2": self.l2}
        return {"*": star} if star else {}

    def resolved(self) -> dict[str, Any]:
        """The full config as recorded in config.json (defaults filled in)."""
        d = self.model_dump(mode="json")
        d["optimizer"] = self.optimizer_config().model_dump(mode="json", exclude_none=True)
        d["optimizer"]["learning_rate"] = self.optimizer_config().keras_kwargs()["learning_rate"]
        ck = self.checkpoint_config()
        d["checkpoint"] = ck.model_dump(mode="json") if ck else None
        return d


def parse_train(section: Any, file: str | None = None, line: int | None = None) -> TrainConfig:
    """Validate a spec's ``train:`` mapping (None -> defaults). Raises a one-line SpecError."""
    if section is None:
        return TrainConfig()
    if not isinstance(section, dict):
        raise SpecError("`train` must be a mapping", file=file, line=line, field="train")
    opt = section.get("optimizer")
    name = opt.get("name") if isinstance(opt, dict) else opt
    if name is not None and (not isinstance(name, str) or name not in OPTIMIZERS):
        where = opt.line_of("name") if isinstance(opt, dict) and hasattr(opt, "line_of") else (
            section.line_of("optimizer") if hasattr(section, "line_of") else line)
        hint = suggest(str(name).lower(), OPTIMIZERS)
        _raise(f"unknown optimizer {name!r}{hint}; choose one of {', '.join(OPTIMIZERS)}", file, where,
               "train.optimizer" + (".name" if isinstance(opt, dict) else ""))
    try:
        return TrainConfig.model_validate(dict(section))
    except ValidationError as exc:
        from cnnspec.spec.train_errors import train_error

        raise train_error(exc, section, file, line) from exc

BLAME = "cross_field"


def _blame(field: str, text: str) -> PydanticCustomError:
    """A cross-field rule's error that names the key to blame (``field``, dotted) for file:line reporting."""
    return PydanticCustomError(BLAME, "{text}", {"field": field, "text": text})


def _raise(msg: str, file, line, field):
    raise SpecError(" ".join(str(msg).split()), file=file, line=line, field=field)


def for_spec(spec) -> TrainConfig:
    """The spec's validated train section. A pretrained base that preprocesses its input itself
    (keras.applications' preprocess_input) takes pixels in 0..255: the default scale is then 1."""
    cfg = parse_train(spec.train, spec.file, getattr(spec.train, "line", None))
    if cfg.scale is None and any(getattr(r.layer, "takes_pixels", False) for r in spec.rows):
        cfg = TrainConfig.model_validate({**cfg.model_dump(exclude_unset=True, by_alias=True), "scale": 1.0})
    if cfg.fine_tune is not None:
        check_fine_tune(spec, cfg.fine_tune)
    from cnnspec.spec.heads import check_heads

    check_heads(spec, cfg)
    return cfg


def with_flags(cfg: TrainConfig, flags: dict[str, Any], file: str | None = None) -> TrainConfig:
    """Apply command-line flags (None = not given) over a validated section."""
    upd = {k: v for k, v in flags.items() if v is not None}
    if not upd:
        return cfg
    data = cfg.model_dump(exclude_unset=True)
    if "validation_split" in upd:
        data.pop("validation", None)
    if "validation" in upd:
        data.pop("validation_split", None)
    if "learning_rate" in upd and isinstance(cfg.optimizer, Optimizer) and "optimizer" not in upd:
        opt = dict(data.get("optimizer") or {})
        opt["learning_rate"] = upd.pop("learning_rate")
        data["optimizer"] = opt
    if "dataset" in upd and "data_path" not in upd:
        data.pop("data_path", None)
    data.update(upd)
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        from cnnspec.spec.train_errors import flags_error

        raise flags_error(exc) from exc
