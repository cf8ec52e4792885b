"""A run's data for a model with several inputs: one array per input from an npz keyed by the Input
rows' names (cnnspec.data.inputs), checked against the spec before TensorFlow is imported."""
from __future__ import annotations

from cnnspec.errors import DataError, SpecError
from cnnspec.spec.trainconfig import TrainConfig


def _keys(names: list[str]) -> str:
    return ", ".join([f"x_train_{n}" for n in names] + [f"x_test_{n}" for n in names] + ["y_train", "y_test"])


def _refuse(spec, cfg: TrainConfig) -> None:
    """What a run with several inputs cannot do: a dataset other than an npz, augmentation, another dataset
    for validation (one-line errors naming what is needed)."""
    from cnnspec.data.inputs import npz_of

    names = spec.input_names
    where = {"file": spec.file, "line": spec.inputs[1].line, "field": "inputs"}
    if npz_of(cfg.dataset, cfg.data_path) is None:
        raise SpecError(f"this spec has {len(names)} inputs ({', '.join(names)}): training reads one array per input "
                        f"from an npz holding {_keys(names)} (give --data npz:FILE); dataset {cfg.dataset!r} gives "
                        "one image array per example", **where)
    if cfg.augmentation is not None and cfg.augmentation.active():
        raise SpecError("augmentation is for one image input: a model with several inputs trains without it",
                        **where)
    if cfg.validation not in (None, "test"):
        raise SpecError(f"validation on another dataset ({cfg.validation!r}) needs one image input: use "
                        "validation_split or validation: test with several inputs", **where)


def _check_shapes(spec, ds) -> None:
    for inp in spec.inputs:
        got = tuple(ds.x_train[inp.name].shape[1:])
        want = tuple(inp.shape)
        if len(got) != len(want) or any(w is not None and w != g for w, g in zip(want, got)):
            fmt = lambda s: "x".join("?" if d is None else str(d) for d in s)  # noqa: E731
            raise DataError(f"x_train_{inp.name} is {fmt(got)} per example but input '{inp.name}' of spec "
                            f"{spec.label} takes {fmt(want)} ({spec.file})", file=ds.source)


def prepare_inputs(spec, cfg: TrainConfig):
    """The Prepared data of a run whose spec has several inputs (x arrays are dicts by input name)."""
    from cnnspec.data.inputs import load_inputs_npz, npz_of
    from cnnspec.keras.pipeline import Prepared, output_units, split_validation
    from cnnspec.runs.modelmeta import input_scale

    _refuse(spec, cfg)
    units = output_units(spec)
    ds = load_inputs_npz(npz_of(cfg.dataset, cfg.data_path), spec.input_names, cfg.limit)
    _check_shapes(spec, ds)
    top = int(max(ds.y_train.max(initial=0), ds.y_test.max(initial=0)))
    if top >= units or ds.num_classes > units:
        raise DataError(f"dataset {ds.name} has {max(top + 1, ds.num_classes)} classes but the smallest output of "
                        f"{spec.label} has {units} units", file=ds.source)
    x, y, x_val, y_val, val_source = ds.x_train, ds.y_train, None, None, None
    if cfg.validation_split is not None:
        tr, va = split_validation(len(y), cfg.validation_split, cfg.seed)
        x, y, x_val, y_val = {k: v[tr] for k, v in x.items()}, y[tr], {k: v[va] for k, v in x.items()}, y[va]
        val_source = f"validation_split {cfg.validation_split} of {ds.name} train (seed {cfg.seed})"
    elif cfg.validation == "test":
        x_val, y_val, val_source = ds.x_test, ds.y_test, f"{ds.name} test split"
    if len(ds.y_test) == 0:
        raise DataError(f"dataset {ds.name} has no test examples to evaluate on", file=ds.source)
    return Prepared(ds, x, y, x_val, y_val, val_source, units, input_scale(cfg.scale, 255.0))
