"""Non-CNN baselines as seed 000 ran them (Section 4.1.2, Figures 7 and 10): every pixel as a feature
plus each channel's mean and standard deviation, k-NN and XGBoost tuned by 2-fold cross-validation,
random forest's mtry by out-of-bag error; logistic regression (C by 2-fold CV) as a linear reference.

The run directory has the CNN run's metrics.json keys (accuracy, loss, per-class precision/recall/F1,
confusion matrix), confusion_matrix.png, run.json (``kind: baseline``, the chosen values, the CV/OOB
accuracy) and config.json, so ``cnnspec compare`` and the sweep table treat it like a CNN run. The
fitted model itself is not saved (a random forest on Fashion-MNIST takes hundreds of MB).
Needs scikit-learn (and xgboost for ``xgboost``), never TensorFlow.
"""
from __future__ import annotations

import math
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from cnnspec.errors import CnnspecError

MODELS = ("knn", "random_forest", "xgboost", "logistic")
# The grids searched (small on purpose; seed 000 does not print its grids).
KNN_K = (1, 3, 5, 7, 9, 15)
RF_TREES = 100
RF_MTRY_FACTORS = (0.5, 1.0, 2.0)      # x sqrt(number of features), R randomForest's default mtry
XGB_DEPTHS = (3, 6)
XGB_ROUNDS = 100
LOGISTIC_C = (0.01, 0.1, 1.0)


def features(x: np.ndarray, value_range: float) -> np.ndarray:
    """Seed 000's predictors: every pixel (scaled to [0, 1]) and each channel's mean and standard deviation."""
    xf = np.asarray(x, dtype=np.float32) / float(value_range)
    if xf.ndim == 3:
        xf = xf[..., None]
    n = xf.shape[0]
    return np.concatenate([xf.reshape(n, -1), xf.mean(axis=(1, 2)), xf.std(axis=(1, 2))], axis=1)


def _cv(y: np.ndarray, seed: int):
    from sklearn.model_selection import KFold, StratifiedKFold

    counts = np.bincount(y)
    counts = counts[counts > 0]
    if counts.min() >= 2:
        return StratifiedKFold(2, shuffle=True, random_state=seed)
    return KFold(2, shuffle=True, random_state=seed)


def _grid_search(est, grid: dict, x, y, seed: int, n_jobs: int):
    from sklearn.model_selection import GridSearchCV

    gs = GridSearchCV(est, grid, cv=_cv(y, seed), scoring="accuracy", n_jobs=1, refit=True)
    gs.fit(x, y)
    return gs.best_estimator_, {k: _py(v) for k, v in gs.best_params_.items()}, float(gs.best_score_)


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


def fit(model: str, x: np.ndarray, y: np.ndarray, seed: int = 0, n_jobs: int = 1) -> tuple[Any, dict, float, str]:
    """Tune and fit one baseline. Returns (fitted estimator, chosen values, CV/OOB accuracy, how tuned)."""
    # OpenMP threads that spin while waiting made XGBoost 15x slower on a loaded 2-core machine
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if model == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        ks = [k for k in KNN_K if k <= max(1, len(y) // 2 - 1)] or [1]
        est, best, score = _grid_search(KNeighborsClassifier(n_jobs=n_jobs), {"n_neighbors": ks}, x, y, seed, n_jobs)
        return est, best, score, "2-fold CV"
    if model == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        root = math.sqrt(x.shape[1])
        best = None
        for f in RF_MTRY_FACTORS:
            mtry = max(1, min(x.shape[1], int(round(f * root))))
            rf = RandomForestClassifier(RF_TREES, max_features=mtry, oob_score=True, n_jobs=n_jobs, random_state=seed)
            rf.fit(x, y)
            if best is None or rf.oob_score_ > best[2]:
                best = (rf, {"max_features": mtry, "n_estimators": RF_TREES}, float(rf.oob_score_))
        return (*best, "out-of-bag accuracy")
    if model == "xgboost":
        try:
            from xgboost import XGBClassifier
        except ImportError as exc:
            raise CnnspecError("the xgboost baseline needs xgboost: pip install 'cnnspec[experiments]'") from exc
        est = XGBClassifier(n_estimators=XGB_ROUNDS, tree_method="hist", n_jobs=n_jobs, random_state=seed,
                            verbosity=0)
        return (*_grid_search(est, {"max_depth": list(XGB_DEPTHS)}, x, y, seed, n_jobs), "2-fold CV")
    if model == "logistic":
        from sklearn.linear_model import LogisticRegression

        est = LogisticRegression(max_iter=300)
        return (*_grid_search(est, {"C": list(LOGISTIC_C)}, x, y, seed, n_jobs), "2-fold CV")
    raise CnnspecError(f"unknown baseline model {model!r}: choose one of {', '.join(MODELS)}")


def _probs(est, x: np.ndarray, k: int) -> np.ndarray:
    """Class probabilities over all ``k`` classes (classes missing from the training labels get 0)."""
    p = est.predict_proba(x)
    out = np.zeros((len(x), k), dtype=np.float64)
    out[:, np.asarray(est.classes_, dtype=np.int64)] = p
    return out


BASELINE_FILES = ("config.json", "metrics.json", "confusion_matrix.png", "run.json")


def run_baseline(model: str, data: str, data_path: str | None, limit: int | None, out: str | Path, *,
                 seed: int = 0, n_jobs: int = 1, force: bool = False) -> dict:
    """Fit a baseline on the dataset's train split, evaluate on its test split, write a run directory."""
    from cnnspec.data import load_dataset
    from cnnspec.runs.files import atomic_json
    from cnnspec.runs.metrics import classification_metrics, plot_confusion

    if model not in MODELS:
        raise CnnspecError(f"unknown baseline model {model!r}: choose one of {', '.join(MODELS)}")
    from cnnspec.runs.rundir import OWN_FILES, RunDir, prepare_output_dir

    out = Path(out)
    prepare_output_dir(out, force, ())  # refuse before the work (removes nothing); --force replaces after it
    try:
        import sklearn  # noqa: F401
    except ImportError as exc:
        raise CnnspecError("baselines need scikit-learn: pip install 'cnnspec[train]'") from exc
    ds = load_dataset(data, path=data_path, limit=limit, seed=seed)
    if len(ds.y_train) < 4 or len(ds.y_test) == 0:
        raise CnnspecError(f"dataset {ds.name} has {len(ds.y_train)} train and {len(ds.y_test)} test images: "
                           "a baseline needs at least 4 and 1")
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    xtr, xte = features(ds.x_train, ds.value_range), features(ds.x_test, ds.value_range)
    ytr = np.asarray(ds.y_train, dtype=np.int64).reshape(-1)
    est, chosen, score, how = fit(model, xtr, ytr, seed=seed, n_jobs=n_jobs)
    fit_secs = time.perf_counter() - t0
    probs = _probs(est, xte, max(ds.num_classes, int(ytr.max()) + 1))
    m = classification_metrics(ds.y_test, probs, ds.class_names)
    secs = time.perf_counter() - t0
    prepare_output_dir(out, force, tuple(dict.fromkeys(BASELINE_FILES + OWN_FILES)))
    out.mkdir(parents=True, exist_ok=True)
    RunDir(out).mark()
    metrics = {"dataset": ds.name, "split": "test", "model": model, "best_epoch": None,
               **{k: m[k] for k in ("n", "loss", "accuracy", "macro_avg", "class_names", "per_class",
                                    "confusion_matrix")},
               "epochs_finished": None, "run_seconds": round(secs, 3), "fit_seconds": round(fit_secs, 3),
               "train_images": int(len(ytr)), "features": int(xtr.shape[1])}
    atomic_json(out / "config.json", {"kind": "baseline", "model": model, "seed": seed, "n_jobs": n_jobs,
                                      "data": {"name": data, "path": data_path, "limit": limit},
                                      "features": "every pixel / value range + per-channel mean and sd"})
    atomic_json(out / "metrics.json", metrics)
    plot_confusion(m["confusion_matrix"], m["class_names"], out / "confusion_matrix.png",
                   f"{model}: test accuracy {m['accuracy']:.4f}")
    info = {"status": "finished", "kind": model, "spec": f"baseline {model}", "tuned": chosen, "tuning": how,
            "cv_accuracy": score, "seed": seed,
            "data": {"name": ds.name, "source": ds.source, "fingerprint": ds.fingerprint(),
                     "train_images": int(len(ytr)), "test_images": int(len(ds.y_test))},
            "start_time": started, "end_time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(secs, 3), "test_accuracy": m["accuracy"], "test_loss": m["loss"]}
    atomic_json(out / "run.json", info)
    return {"run_dir": str(out), "model": model, "tuned": chosen, "tuning": how, "cv_accuracy": score,
            "test_accuracy": m["accuracy"], "test_loss": m["loss"], "seconds": round(secs, 3)}
