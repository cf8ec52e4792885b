"""The compile() / fit() part of generated Keras code, from a spec's ``train:`` section. Pure Python.

The section is read through :mod:`cnnspec.spec.trainconfig` (the one definition training uses):
optimizer with its learning rate, loss, metrics, seed, epochs, batch size, validation, shuffle,
early stopping and learning-rate schedules. Data: for the Keras datasets (mnist, fashion_mnist,
cifar10, cifar100) whose images fit the spec's input, the code loads them, scales them as the
section says (1/255 unless ``scale``) and fits; for other datasets it defines ``train_model(x_train,
y_train)`` for the caller's arrays; a ``fine_tune`` phase 2 follows the first fit in it (the base
unfrozen from the layer, compiled again at the lower rate, fit on from ``initial_epoch``). Left to
``cnnspec train``, and said so in a comment:
augmentation, the best-epoch checkpoint, ``limit``, and the ``kernel_initializer`` / ``l2`` layer
overrides.
"""
from __future__ import annotations

from typing import Callable

from cnnspec.spec.trainconfig import KERAS_OPTIMIZERS, TrainConfig, for_spec

#: Keras datasets the generated code can load, with their image shape.
KERAS_DATASETS = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3),
                  "cifar100": (32, 32, 3)}
_NOT_EMITTED = ("augmentation", "checkpoint", "limit", "kernel_initializer", "l2")


def train_config(spec) -> TrainConfig | None:
    """The spec's validated train section, or None when it has none."""
    return None if spec.train is None else for_spec(spec)


def _dataset(spec, cfg: TrainConfig) -> str | None:
    """The Keras dataset the code can load for this spec, or None."""
    shape = KERAS_DATASETS.get(cfg.dataset.lower().replace("-", "_"))
    if shape is None or cfg.data_path:
        return None
    want = tuple(spec.input_shape)
    return cfg.dataset.lower().replace("-", "_") if want in (shape, shape[:2]) else None


def _units(spec) -> int:
    from cnnspec.check.infer import infer

    out = infer(spec)[-1].output
    return int(out[-1]) if out and out[-1] is not None else 0


def _notes(spec, cfg: TrainConfig) -> list[str]:
    left = [k for k in _NOT_EMITTED if getattr(cfg, k) not in (None, False)]
    out = []
    if left:
        out.append(f"not written here, applied by `cnnspec train`: {', '.join(left)}")
    if cfg.validation not in (None, "test"):
        out.append(f"validation on dataset {cfg.validation!r} is applied by `cnnspec train`")
    return out


def _fine_tune_base(spec, ft) -> str:
    """The name of the frozen base row holding the layer phase 2 trains from (``check`` made sure)."""
    from cnnspec.check.infer import infer

    for r in infer(spec):
        layer = r.row.layer
        if hasattr(type(layer), "keras_summary_type") and not layer.trainable and \
                ft.from_layer in [i.name for i in layer.expand(r.input_shapes[0])]:
            return r.row.name
    return ""


def _scale_text(cfg: TrainConfig) -> str:
    text = "/ 255" if cfg.scale is None else f"* {cfg.scale!r}"
    return text + (f" + {cfg.offset!r}" if cfg.offset else "")


from cnnspec.interop.codegen_heads import py_compile_args, py_targets, r_compile_args, r_targets, several  # noqa: E402


# ---------------------------------------------------------------------------------------------- R
def r_train(spec, value: Callable, pipe: str, target: str) -> list[str]:
    """R lines: compile(), callbacks, and fit() (with data for a Keras dataset)."""
    cfg = train_config(spec)
    if cfg is None:
        return []
    opt = cfg.optimizer_config()
    opt_args = ", ".join(f"{k} = {value(v)}" for k, v in opt.keras_kwargs().items())
    metrics = [_r_metric(m, cfg) for m in cfg.metrics]
    lines = ["", f"# Training, as the spec's train section says ({spec.file})"]
    lines += [f"# {n}" for n in _notes(spec, cfg)]
    if "seed" in cfg.model_fields_set:
        lines.append(f"set_random_seed({cfg.seed})" if target == "keras3" else
                     f"tensorflow::set_random_seed({cfg.seed})")
    lines += [f"model {pipe} compile(", f"  optimizer = optimizer_{opt.name}({opt_args}),"]
    if several(spec):  # a loss, weight and metrics per output
        lines += r_compile_args(spec, cfg, value, lambda m, loss: _r_metric(m, cfg.model_copy(update={"loss": loss})))
    else:
        lines += [f"  loss = {value(cfg.loss)},", f"  metrics = {_r_list(metrics)}"]
    lines.append(")")
    cbs = _r_callbacks(cfg, value)
    fit_args = [f"epochs = {cfg.epochs}", f"batch_size = {cfg.batch_size}"]
    if cfg.validation_split is not None:
        fit_args.append(f"validation_split = {value(cfg.validation_split)}")
    if not cfg.shuffle:
        fit_args.append("shuffle = FALSE")
    if cbs:
        fit_args.append("callbacks = " + (cbs[0] if len(cbs) == 1 else "list(\n    " + ",\n    ".join(cbs) + ")"))
    ds = _dataset(spec, cfg)
    categorical = cfg.loss == "categorical_crossentropy"
    k = _units(spec)
    labels = f" (one-hot, {k} columns)" if categorical else f" (class ids 0..{k - 1})"
    shape = ", ".join(str(d) for d in spec.input_shape)
    lines += ["", f"# x_train: N x {' x '.join(str(d) for d in spec.input_shape)} inputs scaled as the section says "
              f"(x {_scale_text(cfg)}); y_train: labels{labels}"]
    val = f"validation_data = list(x_val, {r_targets(spec, 'y_val')}), " if cfg.validation == "test" else ""
    fit = f"model {pipe} fit(x_train, {r_targets(spec, 'y_train')}, {val}" + ", ".join(fit_args) + ")"
    lines += [f"train_model <- function(x_train, y_train{', x_val, y_val' if val else ''}) {{", f"  {fit}"]
    if cfg.fine_tune is not None:
        lines += _r_phase2(spec, cfg, value, pipe, lines, fit)
    lines.append("}")
    if ds is None:
        return lines
    y = (lambda s: f"to_categorical({s}, {k})") if categorical else (lambda s: s)
    x = (lambda s: f"array_reshape({s}, c(-1, {shape})) {_scale_text(cfg)}")
    lines += [f"{ds} <- dataset_{ds}()",
              f"history <- train_model({x(f'{ds}$train$x')}, {y(f'{ds}$train$y')}"
              + (f",\n                       {x(f'{ds}$test$x')}, {y(f'{ds}$test$y')})" if val else ")"),
              "plot(history)"]
    return lines


def _r_phase2(spec, cfg: TrainConfig, value: Callable, pipe: str, lines: list[str], fit: str) -> list[str]:
    """train_model's fine_tune phase 2 after the first fit (the first compile's loss and metrics again)."""
    ft, opt = cfg.fine_tune, cfg.optimizer_config()
    opt2 = ", ".join(f"{k} = {value(v)}" for k, v in opt.keras_kwargs().items() if k != "learning_rate")
    opt2 = f"learning_rate = {value(ft.learning_rate)}" + (f", {opt2}" if opt2 else "")
    start = lines.index(f"model {pipe} compile(") + 2
    comp = lines[start:lines.index(")", start)]  # the loss and metrics lines, as in the first compile
    out = [f"  # phase 2 (fine_tune): the base trains from {value(ft.from_layer)}, at a lower learning rate",
           f"  base <- get_layer(model, {value(_fine_tune_base(spec, ft))})",
           f"  unfreeze_weights(base, from = {value(ft.from_layer)})",
           f"  model {pipe} compile(", f"    optimizer = optimizer_{opt.name}({opt2}),"]
    out += ["  " + ln for ln in comp] + ["  )"]
    return out + ["  " + fit.replace(f"epochs = {cfg.epochs}",
                                     f"epochs = {cfg.epochs + ft.epochs}, initial_epoch = {cfg.epochs}")]


def _r_metric(m: str, cfg: TrainConfig) -> str:
    if m == "top_5_accuracy":
        fn = "sparse_top_k" if cfg.loss.startswith("sparse") else "top_k"
        return f'metric_{fn}_categorical_accuracy(k = 5, name = "top_5_accuracy")'
    return f'"{m}"'


def _r_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ("c(" if all(i.startswith('"') for i in items) else "list(") + \
        ", ".join(items) + ")"


def _r_callbacks(cfg: TrainConfig, value: Callable) -> list[str]:
    out = []
    es = cfg.early_stopping
    if es is not None:
        out.append(f"callback_early_stopping(monitor = {value(es.monitor)}, patience = {es.patience}, "
                   f"min_delta = {value(es.min_delta)}, mode = {value(es.mode)}, "
                   f"restore_best_weights = {value(es.restore_best_weights)})")
    s = cfg.lr_schedule
    base = cfg.optimizer_config().keras_kwargs()["learning_rate"]
    if s is not None and s.type == "reduce_on_plateau":
        out.append(f"callback_reduce_lr_on_plateau(monitor = {value(s.monitor)}, factor = {value(s.factor)}, "
                   f"patience = {s.patience}, min_delta = {value(s.min_delta)}, min_lr = {value(s.min_lr)}, "
                   f"mode = {value(s.mode)})")
    elif s is not None and s.type == "step":
        out.append(f"callback_learning_rate_scheduler(function(epoch, lr) {value(base)} * "
                   f"{value(s.factor)}^(epoch %/% {s.every}))")
    elif s is not None and s.type == "cosine":
        out.append(f"callback_learning_rate_scheduler(function(epoch, lr) {value(s.min_lr)} + "
                   f"({value(base)} - {value(s.min_lr)}) * 0.5 * (1 + cos(pi * epoch / {cfg.epochs})))")
    return out


# ---------------------------------------------------------------------------------------------- Python
def py_train(spec, value: Callable) -> list[str]:
    """Python lines: compile(), callbacks, train_model() and, for a Keras dataset, a __main__ block."""
    cfg = train_config(spec)
    if cfg is None:
        return []
    opt = cfg.optimizer_config()
    opt_args = ", ".join(f"{k}={value(v)}" for k, v in opt.keras_kwargs().items())
    sparse = cfg.loss.startswith("sparse")
    metrics = [f'"{m}"' if m != "top_5_accuracy" else
               f'keras.metrics.{"Sparse" if sparse else ""}TopKCategoricalAccuracy(k=5, name="top_5_accuracy")'
               for m in cfg.metrics]
    lines = ["", f"# Training, as the spec's train section says ({spec.file})"]
    lines += [f"# {n}" for n in _notes(spec, cfg)]
    if cfg.lr_schedule is not None and cfg.lr_schedule.type == "cosine":
        lines.append("import math")
    if "seed" in cfg.model_fields_set:
        lines.append(f"keras.utils.set_random_seed({cfg.seed})")
    compile_args = (py_compile_args(spec, cfg, value) if several(spec) else
                    f"loss={value(cfg.loss)}, metrics=[{', '.join(metrics)}]")
    lines += [f"model.compile(optimizer=keras.optimizers.{KERAS_OPTIMIZERS[opt.name]}({opt_args}), {compile_args})"]
    fit_args = [f"batch_size={cfg.batch_size}", f"epochs={cfg.epochs}"]
    if cfg.validation_split is not None:
        fit_args.append(f"validation_split={cfg.validation_split!r}")
    if not cfg.shuffle:
        fit_args.append("shuffle=False")
    cbs = _py_callbacks(cfg, value)
    if cbs:
        fit_args.append(f"callbacks=[{', '.join(cbs)}]")
    val = cfg.validation == "test"
    val_arg = f"validation_data=(x_val, {py_targets(spec, 'y_val')}), " if val else ""
    k = _units(spec)
    fit = f"model.fit(x_train, {py_targets(spec, 'y_train')}, {val_arg}" + ", ".join(fit_args) + ")"
    lines += ["", "", f"def train_model(x_train, y_train{', x_val, y_val' if val else ''}):",
              f'    """Fit on inputs of shape (N, {", ".join(map(str, spec.input_shape))}) scaled as the section says '
              f'(x {_scale_text(cfg)}) and labels {"one-hot" if not sparse else f"0..{k - 1}"}."""']
    lines += [f"    return {fit}"] if cfg.fine_tune is None else _py_phase2(spec, cfg, value, compile_args, fit)
    ds = _dataset(spec, cfg)
    if ds is None:
        return lines
    shape = ", ".join(str(d) for d in spec.input_shape)
    y = (lambda s: s) if sparse else (lambda s: f"keras.utils.to_categorical({s}, {k})")
    scale = _scale_text(cfg).replace("/ 255", "/ 255.0")
    lines += ["", "", 'if __name__ == "__main__":',
              f"    (x_train, y_train), (x_test, y_test) = keras.datasets.{ds}.load_data()",
              f"    x_train = x_train.reshape((-1, {shape})) {scale}",
              f"    x_test = x_test.reshape((-1, {shape})) {scale}",
              f"    history = train_model(x_train, {y('y_train.reshape(-1)')}"
              + (f", x_test, {y('y_test.reshape(-1)')})" if val else ")"),
              f"    print(model.evaluate(x_test, {py_targets(spec, y('y_test.reshape(-1)'))}, verbose=0))"]
    return lines


def _py_phase2(spec, cfg: TrainConfig, value: Callable, compile_args: str, fit: str) -> list[str]:
    """The body of train_model with a fine_tune phase 2 after the first fit (as `cnnspec train` runs it)."""
    ft, opt = cfg.fine_tune, cfg.optimizer_config()
    opt2 = ", ".join(f"{k}={value(v)}" for k, v in opt.keras_kwargs().items() if k != "learning_rate")
    opt2 = f"learning_rate={value(ft.learning_rate)}" + (f", {opt2}" if opt2 else "")
    total = cfg.epochs + ft.epochs
    return [f"    {fit}", f"    # phase 2 (fine_tune): the base trains from {ft.from_layer!r}, at a lower learning rate",
            f"    base = model.get_layer({value(_fine_tune_base(spec, ft))})",
            "    base.trainable = True", "    names = [layer.name for layer in base.layers]",
            f"    for layer in base.layers[:names.index({value(ft.from_layer)})]:",
            "        layer.trainable = False",
            f"    model.compile(optimizer=keras.optimizers.{KERAS_OPTIMIZERS[opt.name]}({opt2}), {compile_args})",
            "    return " + fit.replace(f"epochs={cfg.epochs}", f"epochs={total}, initial_epoch={cfg.epochs}")]


def _py_callbacks(cfg: TrainConfig, value: Callable) -> list[str]:
    out = []
    es = cfg.early_stopping
    if es is not None:
        out.append(f"keras.callbacks.EarlyStopping(monitor={value(es.monitor)}, patience={es.patience}, "
                   f"min_delta={es.min_delta!r}, mode={value(es.mode)}, restore_best_weights={es.restore_best_weights})")
    s = cfg.lr_schedule
    base = cfg.optimizer_config().keras_kwargs()["learning_rate"]
    if s is not None and s.type == "reduce_on_plateau":
        out.append(f"keras.callbacks.ReduceLROnPlateau(monitor={value(s.monitor)}, factor={s.factor!r}, "
                   f"patience={s.patience}, min_delta={s.min_delta!r}, min_lr={s.min_lr!r}, mode={value(s.mode)})")
    elif s is not None and s.type == "step":
        out.append(f"keras.callbacks.LearningRateScheduler(lambda epoch, lr: {base!r} * {s.factor!r} ** "
                   f"(epoch // {s.every}))")
    elif s is not None and s.type == "cosine":
        out.append(f"keras.callbacks.LearningRateScheduler(lambda epoch, lr: {s.min_lr!r} + ({base!r} - "
                   f"{s.min_lr!r}) * 0.5 * (1 + math.cos(math.pi * epoch / {cfg.epochs})))")
    return out
