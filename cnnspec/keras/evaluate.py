"""Test-split metrics of a trained model: the end of a run, and ``cnnspec evaluate``."""
from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np

from cnnspec.errors import CnnspecError, DataError, ModelFileError
from cnnspec.runs import rundir as rd
from cnnspec.runs.files import atomic_json, check_output


def test_split_metrics(model, data, cfg) -> tuple[dict, float]:
    """(classification metrics of ``model`` on the run's test split, seconds spent predicting)."""
    from cnnspec.keras.pipeline import make_dataset

    test_ds = make_dataset(data.ds.x_test, data.ds.y_test,
                           cfg.model_copy(update={"loss": "sparse_categorical_crossentropy"}), data.scale,
                           units=data.num_outputs, training=False)
    t0 = time.perf_counter()
    probs = model.predict(test_ds, verbose=0)
    secs = time.perf_counter() - t0
    return head_metrics(model, data.ds.y_test, probs, data.ds.class_names), secs


def head_metrics(model, y, probs, class_names) -> dict:
    """Classification metrics of the predictions; a model with several outputs: those of its first
    output (the main head) plus ``heads``, each head's own metrics by output name (every head learns the labels)."""
    from cnnspec.runs.metrics import classification_metrics

    if not isinstance(probs, (list, tuple, dict)):
        return classification_metrics(y, probs, class_names)
    names = list(model.output_names)
    outs = [probs[n] for n in names] if isinstance(probs, dict) else list(probs)
    per = {n: classification_metrics(y, p, class_names) for n, p in zip(names, outs)}
    main = dict(per[names[0]])
    main["heads"] = {n: {"loss": m["loss"], "accuracy": m["accuracy"], "macro_avg": m["macro_avg"]}
                     for n, m in per.items()}
    return main


def _fmt(shape) -> str:
    return "x".join("?" if d is None else str(d) for d in shape)


def _target(target: str) -> tuple[Path, Path, list[Path]]:
    """(model path, default output folder, files that are inputs and must not be overwritten)."""
    from cnnspec.runs.modelmeta import resolve_keras_path, sidecar_path

    p = Path(target)
    model_path = resolve_keras_path(p)
    folder = p if p.is_dir() else model_path.parent
    protected = [model_path, sidecar_path(model_path)]
    if rd.RunDir(folder).looks_like_run():
        protected += [folder / f for f in (*rd.OWN_FILES, rd.MARKER, rd.LOCK_FILE)]
    return model_path, folder, protected


def _run_dataset(target: Path, data_name, data_path):
    """The run's own dataset when evaluating a run directory without --data."""
    if data_name is None and target.is_dir() and (target / rd.CONFIG_JSON).exists():
        conf = rd.RunDir(target).read_config()["train"]
        return conf.get("dataset"), data_path or conf.get("data_path")
    return data_name, data_path


def _load(model_path: Path, ds):
    from cnnspec.keras.util import import_keras_quietly

    import_keras_quietly()
    import keras

    try:
        model = keras.saving.load_model(str(model_path))
    except Exception as exc:  # noqa: BLE001 - any failure is "not a loadable model"
        raise ModelFileError(f"cannot load the Keras model: {type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:200]}", file=str(model_path)) from exc
    if len(model.inputs) > 1:
        raise DataError(f"this model has {len(model.inputs)} inputs: evaluation feeds one image array per example",
                        file=str(model_path))
    inshape = tuple(model.input_shape[1:])
    if len(inshape) != len(ds.input_shape) or any(a is not None and a != b for a, b in zip(inshape, ds.input_shape)):
        raise DataError(f"dataset {ds.name} images are {_fmt(ds.input_shape)} but the model "
                        f"takes input {_fmt(inshape)}")
    units = min(int(t.shape[-1]) for t in model.outputs)  # several outputs: every head learns the labels
    top = int(ds.y_test.max()) if ds.y_test.size else -1
    if top >= units:
        raise DataError(f"dataset {ds.name} has labels up to {top} but the model has {units} outputs")
    return model, units


def evaluate(target: str, data_name: str | None, data_path: str | None, limit: int | None,
             arrays: dict | None = None) -> tuple[dict, Path]:
    """Metrics of a run's model.keras (or a bare .keras) on a dataset's test split; the inputs
    are scaled as its sidecar says (cnnspec.runs.modelmeta). Returns (metrics, default folder)."""
    from cnnspec.data import load_dataset
    from cnnspec.runs.modelmeta import load_model_meta

    model_path, folder, _ = _target(target)
    _, meta = load_model_meta(model_path)
    data_name, data_path = _run_dataset(Path(target), data_name, data_path)
    if len(meta.get("inputs") or []) > 1:
        return _evaluate_inputs(model_path, folder, meta, data_name, data_path, limit), folder
    ds = load_dataset(data_name or "sample", path=data_path, limit=limit)
    want = meta.get("input_shape")
    if want and tuple(ds.input_shape) != tuple(want):
        raise DataError(f"dataset {ds.name} images are {_fmt(ds.input_shape)} but the model "
                        f"takes input {_fmt(want)}")
    model, units = _load(model_path, ds)
    scale, offset = meta["scale"], meta["offset"]
    t0 = time.perf_counter()
    probs = model.predict((ds.x_test.astype(np.float32) * scale + offset), batch_size=256, verbose=0)
    secs = time.perf_counter() - t0
    names = meta.get("class_names") or ds.class_names
    if len(names) != units and len(ds.class_names) == units:
        names = ds.class_names
    m = head_metrics(model, ds.y_test, probs, list(names))
    if isinstance(probs, (list, tuple)):  # several outputs: the grid shows the main (first) head
        probs = probs[0]
    if arrays is not None:  # for the worst-classified images grid
        arrays.update(x=ds.x_test, y=ds.y_test, probs=probs, names=list(m["class_names"]))
    m = {"model": str(model_path), "dataset": ds.name, "data_source": str(ds.source),
         "data_fingerprint": ds.fingerprint(), "split": "test",
         "scale": scale, "offset": offset, **m, "images_per_second": round(m["n"] / secs, 1) if secs else None}
    if meta.get("warning"):
        m["warning"] = meta["warning"]
    return m, folder


def _evaluate_inputs(model_path: Path, folder: Path, meta: dict, data_name, data_path, limit) -> dict:
    """:func:`evaluate` of a model with several inputs, on an npz holding ``x_test_<input>`` per input."""
    from cnnspec.data.inputs import load_inputs_npz, npz_of
    from cnnspec.keras.util import import_keras_quietly

    names = [i["name"] for i in meta["inputs"]]
    path = npz_of(data_name or "", data_path)
    if path is None:
        raise DataError(f"this model has inputs {', '.join(names)}: evaluate it on an npz holding "
                        f"{', '.join(f'x_test_{n}' for n in names)} and y_test (--data npz:FILE)", file=str(model_path))
    ds = load_inputs_npz(path, names, limit)
    import_keras_quietly()
    import keras

    model = keras.saving.load_model(str(model_path))
    scale, offset = meta["scale"], meta["offset"]
    x = {k: v.astype(np.float32) * scale + offset if v.dtype == np.uint8 else v for k, v in ds.x_test.items()}
    t0 = time.perf_counter()
    probs = model.predict(x, batch_size=256, verbose=0)
    secs = time.perf_counter() - t0
    m = head_metrics(model, ds.y_test, probs, list(meta.get("class_names") or ds.class_names))
    return {"model": str(model_path), "dataset": ds.name, "data_source": str(ds.source),
            "data_fingerprint": ds.fingerprint(), "split": "test", "scale": scale, "offset": offset, **m,
            "images_per_second": round(m["n"] / secs, 1) if secs else None}


def evaluate_to_file(target: str, data_name: str | None, data_path: str | None, limit: int | None,
                     output: str | Path | None) -> tuple[dict, Path]:
    """:func:`evaluate` and write the metrics JSON atomically (default ``FOLDER/eval_DATASET.json``).

    The output may not resolve to an input (the model, its sidecar, a run's own records, the
    dataset file) nor be a directory; a run directory written into is locked meanwhile."""
    t = Path(target)
    out_dir = Path(output).parent if output is not None else (t if t.is_dir() else t.parent)
    run = rd.RunDir(out_dir)
    lock = run.lock if run.looks_like_run() else None
    if lock is not None:  # first: a run in use is refused at once, whatever else is wrong
        lock.acquire()
    try:
        model_path, folder, protected = _target(target)
        if output is not None:  # the dataset's file too, when --data/--data-path name one
            named = [str(d).split(":", 1)[-1] for d in (data_name, data_path) if d]
            check_output(output, [*protected, *(d for d in named if Path(d).exists())], what="metrics output")
        arrays: dict = {}
        m, _ = evaluate(target, data_name, data_path, limit, arrays)
        path = Path(output) if output is not None else folder / f"eval_{re.sub(r'[^A-Za-z0-9_.-]+', '_', m['dataset'])}.json"
        data_files = [f for f in (m["data_source"], data_path) if f]
        check_output(path, [*protected, *data_files], what="metrics output")
        worst = path.with_name(f"{path.stem}_worst.png")
        check_output(worst, [*protected, *data_files], what="worst-images output")
        from cnnspec.keras.inspect import write_worst_grid

        m["worst_images"] = write_worst_grid(arrays, worst, f"{m['model']} on {m['dataset']}")
        try:
            atomic_json(path, m)
        except OSError as exc:
            raise CnnspecError(f"cannot write: {exc.strerror or exc}", file=str(path)) from exc
    finally:
        if lock is not None:
            lock.release()
    return m, path
