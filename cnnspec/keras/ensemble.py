"""``cnnspec ensemble``: average the class probabilities of several trained models (seed 004: "create
model ensembles for extra performance") and export the average as one ONNX model.

The ensemble is a Keras functional model: one input (raw pixels scaled with the first member's
``scale``/``offset``); each member, nested whole, gets a ``Rescaling`` that converts to its own
scaling when it differs; its softmax output is multiplied by its weight (a ``Rescaling`` with
``scale=w``) and the weighted outputs are added. Weights are equal, or with ``weighted`` proportional to
each member's validation accuracy at its best epoch (read from its run directory). Only standard
layers are used, so the model saves as ``OUT/model.keras`` (with the usual sidecar) and goes through
``cnnspec.keras.export.export_model`` like any single model: same parity check, same metadata, and
``cnnspec predict``/``serve``/``evaluate`` take it unchanged.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from cnnspec.errors import CnnspecError, DataError

ENSEMBLE_FILES = ("model.keras", "model.cnnspec.json", "model.onnx", "ensemble.json")


def validation_accuracy(run: Path) -> float:
    """The validation accuracy of a run's best epoch (the one ``model.keras`` holds), from its
    ``history.csv`` and ``run.json`` (read through :class:`cnnspec.runs.rundir.RunDir`)."""
    from cnnspec.runs.rundir import RunDir

    if not run.is_dir():
        raise CnnspecError("--weighted needs run directories (their validation accuracy), not model files",
                           file=str(run))
    rd = RunDir(run)
    info = rd.read_run()
    rows = [r for r in rd.read_history(10**9) if r.get("val_accuracy") is not None]
    if not rows:
        raise CnnspecError("--weighted needs each member's validation accuracy, but this run recorded none "
                           "(train it with validation_split or validation)", file=str(run))
    best = info.get("best_epoch")
    row = next((r for r in rows if r["epoch"] == best), rows[-1])
    return float(row["val_accuracy"])


def default_dataset(run: str | Path) -> tuple[str | None, str | None]:
    """The dataset (name, path) a run directory was trained on (None, None otherwise)."""
    from cnnspec.runs.rundir import RunDir

    p = Path(run)
    if not (p.is_dir() and (p / "config.json").is_file()):
        return None, None
    conf = RunDir(p).read_config()["train"]
    return conf.get("dataset"), conf.get("data_path")


def sweep_members(sweep: str | Path, top: int) -> tuple[list[str], dict]:
    """The ``top`` finished trials of a sweep directory by the sweep's own metric (a validation metric
    unless the sweep file says otherwise), best first; and how they were chosen."""
    from cnnspec.experiments.results import LOWER_IS_BETTER, collect

    p = Path(sweep)
    if not (p / "sweep.json").is_file():
        raise CnnspecError("is not a sweep directory (no sweep.json)", file=str(p))
    rows = [r for r in collect([p]) if r.get("status") == "finished" and r.get("kind") == "cnn"
            and r.get("best_metric") is not None and (Path(r["run_dir"]) / "model.keras").is_file()]
    if not rows:
        raise CnnspecError("the sweep has no finished CNN trial with a model.keras", file=str(p))
    metric = rows[0].get("metric") or "val_accuracy"
    sign = 1 if metric in LOWER_IS_BETTER else -1
    rows.sort(key=lambda r: (sign * r["best_metric"], r.get("test_error") or 1.0))
    chosen = rows[:top]
    return [r["run_dir"] for r in chosen], {"sweep": str(p), "metric": metric, "top": top,
                                            "trials": [r["trial"] for r in chosen],
                                            "values": [r["best_metric"] for r in chosen]}


def load_members(runs: list[str]):
    """Load every member (model, metadata, path); they must agree on input shape and classes."""
    from cnnspec.keras.export import load_keras

    if len(runs) < 2:
        raise CnnspecError("an ensemble needs at least two runs")
    if len({str(Path(r).resolve()) for r in runs}) != len(runs):
        raise CnnspecError("the same run is given twice")
    members = [load_keras(r) for r in runs]
    _, m0, p0 = members[0]
    for _, meta, path in members[1:]:
        if list(meta["input_shape"]) != list(m0["input_shape"]):
            raise CnnspecError(f"input shape {meta['input_shape']} differs from {p0}'s {m0['input_shape']}",
                               file=str(path))
        if len(meta["class_names"]) != len(m0["class_names"]):
            raise CnnspecError(f"{len(meta['class_names'])} classes, but {p0} has {len(m0['class_names'])}",
                               file=str(path))
        if list(meta["class_names"]) != list(m0["class_names"]):
            raise CnnspecError(f"class names differ from {p0}'s (same classes in the same order are needed)",
                               file=str(path))
    return members


def build_ensemble(members, weights: list[float], name: str = "ensemble"):
    """The averaging model (see the module docstring); ``weights`` sum to 1."""
    import keras

    meta0 = members[0][1]
    inp = keras.Input(shape=tuple(meta0["input_shape"]), name="input")
    outs = []
    for i, ((model, meta, _), w) in enumerate(zip(members, weights)):
        model.name = f"member_{i}"  # nested models need distinct names
        x = inp
        s = meta["scale"] / meta0["scale"] if meta0["scale"] else None
        if s is None:
            raise CnnspecError("the first member's scale is 0")
        if not (math.isclose(s, 1.0) and math.isclose(meta["offset"], meta0["offset"])):
            # member input = raw * scale_i + offset_i = (raw * scale_0 + offset_0) * s + (offset_i - offset_0 * s)
            x = keras.layers.Rescaling(s, meta["offset"] - meta0["offset"] * s, name=f"member_{i}_scaling")(x)
        outs.append(keras.layers.Rescaling(float(w), name=f"member_{i}_weight")(model(x)))
    out = keras.layers.Add(name="average")(outs)
    return keras.Model(inp, out, name=name)


def _test_data(data: str | None, data_path: str | None, limit: int | None, meta0: dict):
    from cnnspec.data import load_dataset

    ds = load_dataset(data or "sample", path=data_path, limit=limit)
    if list(ds.input_shape) != list(meta0["input_shape"]):
        raise DataError(f"dataset {ds.name} images are {'x'.join(map(str, ds.input_shape))} but the members take "
                        f"{'x'.join(map(str, meta0['input_shape']))}")
    if ds.y_test.size == 0:
        raise DataError(f"dataset {ds.name} has no test images")
    if int(ds.y_test.max()) >= len(meta0["class_names"]):
        raise DataError(f"dataset {ds.name} has labels up to {int(ds.y_test.max())} but the members have "
                        f"{len(meta0['class_names'])} outputs")
    return ds


def _accuracy(model, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    probs = np.asarray(model.predict(x, batch_size=256, verbose=0))
    return float((probs.argmax(-1) == y).mean()), probs


def make_ensemble(runs: list[str], out: str | Path, *, data: str | None = None, data_path: str | None = None,
                  limit: int | None = None, weighted: bool = False, force: bool = False,
                  selection: dict | None = None) -> dict:
    """Build, evaluate on the test split, save and export the ensemble of ``runs`` into ``out``."""
    from cnnspec.keras.export import export_model
    from cnnspec.runs.files import atomic_json, save_keras_atomic

    out = Path(out)
    _check_out(out, runs, force)
    weights = [validation_accuracy(Path(r)) for r in runs] if weighted else [1.0] * len(runs)
    if sum(weights) <= 0:
        raise CnnspecError("every member's validation accuracy is 0: cannot weight by it")
    weights = [w / sum(weights) for w in weights]
    members = load_members(runs)
    meta0 = members[0][1]
    if data is None:
        data, data_path = default_dataset(runs[0])[0], data_path or default_dataset(runs[0])[1]
    ds = _test_data(data, data_path, limit, meta0)
    x_raw = ds.x_test.astype(np.float32)
    y = ds.y_test.astype(np.int64)
    rows = []
    for r, (model, meta, path), w in zip(runs, members, weights):
        acc, _ = _accuracy(model, x_raw * np.float32(meta["scale"]) + np.float32(meta["offset"]), y)
        rows.append({"run": str(r), "model": str(path), "weight": w, "test_accuracy": acc})
    ens = build_ensemble(members, weights)
    acc, probs = _accuracy(ens, x_raw * np.float32(meta0["scale"]) + np.float32(meta0["offset"]), y)
    from cnnspec.runs.rundir import RunDir, prepare_output_dir

    prepare_output_dir(out, force, ENSEMBLE_FILES)
    out.mkdir(parents=True, exist_ok=True)
    RunDir(out).mark()
    save_keras_atomic(ens, out / "model.keras")
    names = [Path(r).resolve().name for r in runs]
    sidecar = {k: meta0.get(k) for k in ("class_names", "input_shape", "scale", "offset", "cnnspec_version")}
    sidecar.update(spec_name=f"ensemble of {len(runs)}: {', '.join(names)}"[:200], spec_fingerprint=None)
    atomic_json(out / "model.cnnspec.json", sidecar)
    rep = export_model(out, out / "model.onnx", data=data if data_path is None else None)
    from cnnspec.runs.metrics import classification_metrics

    m = classification_metrics(y, probs, list(meta0["class_names"]))
    summary = {"members": rows, "weighted": weighted, "selection": selection, "dataset": ds.name,
               "test_images": int(len(y)),
               "ensemble_test_accuracy": acc, "ensemble_test_loss": m["loss"],
               "best_member_test_accuracy": max(r["test_accuracy"] for r in rows),
               "onnx": str(out / "model.onnx"), "parity": rep["parity"], "metadata": rep["metadata"]}
    atomic_json(out / "ensemble.json", summary)
    return summary


def _check_out(out: Path, runs: list[str], force: bool) -> None:
    """Refuse an --out that is a file, a member's run directory or the folder of a member's .keras file,
    an ordinary non-empty folder, or cnnspec output without --force."""
    if out.exists() and not out.is_dir():
        raise CnnspecError("--out must be a directory", file=str(out))
    real = out.resolve()
    for r in runs:
        rp = Path(r).resolve()
        if real == rp or (rp.is_file() and real == rp.parent):
            raise CnnspecError("--out is one of the member runs: choose a new directory", file=str(out))
    from cnnspec.runs.rundir import prepare_output_dir

    prepare_output_dir(out, force, ())  # new, empty or cnnspec's own (removes nothing yet)
    if not out.parent.resolve().is_dir():
        raise CnnspecError("the parent folder of --out does not exist", file=str(out))
