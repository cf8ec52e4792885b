"""build / train / evaluate: build equals check, the train section schema, real (small) runs with
every run file, resume after SIGKILL, Ctrl-C, evaluate, MirroredStrategy on 2 logical CPUs and
bad-data errors. Runs use the embedded Fashion-MNIST sample with a few hundred images."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cnnspec.errors import CnnspecError, SpecError
from cnnspec.spec.loader import load_spec
from cnnspec.spec.trainconfig import TrainConfig, for_spec, parse_train, with_flags

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "specs" / "train_tiny.yaml"
SPEC_FILES = sorted(ROOT.glob("specs/*.yaml")) + sorted((ROOT / "tests" / "specs").glob("train_*.yaml"))
RUN_FILES = ("spec.yaml", "config.json", "history.csv", "metrics.json", "model.keras", "model.cnnspec.json",
             "learning_curves.png", "confusion_matrix.png", "run.json", "last.keras", "state.json")


def assert_metrics_consistent(m: dict) -> None:
    """The reported accuracy, per-class precision/recall and the confusion matrix tell the same story."""
    cm = np.array(m["confusion_matrix"])
    assert cm.sum() == m["n"]
    assert m["accuracy"] == pytest.approx(np.trace(cm) / cm.sum(), abs=1e-6)
    for i, v in enumerate(m["per_class"].values()):
        if cm[:, i].sum():
            assert v["precision"] == pytest.approx(cm[i, i] / cm[:, i].sum(), abs=1e-6)
        if cm[i].sum():
            assert v["recall"] == pytest.approx(cm[i, i] / cm[i].sum(), abs=1e-6)


def cli(*args, env=None, timeout=300, check=False) -> subprocess.CompletedProcess:
    e = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    p = subprocess.run([sys.executable, "-m", "cnnspec", *map(str, args)], cwd=ROOT, env=e, capture_output=True,
                       text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def error_lines(p: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]


def history(run: Path) -> list[dict]:
    with open(run / "history.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def write_spec(tmp_path: Path, train: str, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(TINY.read_text().split("train:")[0] + "train:\n" + train)
    return p


# ----------------------------------------------------------------------------------------------
# build equals check
# ----------------------------------------------------------------------------------------------
def _variants(path: Path) -> list[str]:
    from cnnspec.spec.loader import load_specs

    specs = load_specs(path)
    return [str(path) + (f"#{s.variant}" if s.variant else "") for s in specs]


@pytest.mark.parametrize("spec_path", [v for f in SPEC_FILES for v in _variants(f)],
                         ids=lambda s: Path(s).name)
def test_build_equals_check(spec_path):
    from cnnspec.keras.build import build_model, keras_rows
    from cnnspec.check.infer import check
    from cnnspec.keras.build import compare_rows

    spec = load_spec(spec_path)
    rep = check(spec)
    rows = keras_rows(build_model(spec, pretrained=False))  # pretrained bases: same counts, no download
    assert compare_rows(rep, rows) == []
    assert [r["output_shape"] for r in rows] == [list(r.output) for r in rep.rows]
    assert sum(r["trainable"] for r in rows) == rep.trainable
    assert sum(r["non_trainable"] for r in rows) == rep.non_trainable


def test_build_cli_writes_model_and_sidecar(tmp_path):
    out = tmp_path / "m.keras"
    p = cli("build", TINY, "-o", out, "--json", check=True)
    doc = json.loads(p.stdout)
    assert doc["equals_check"] is True and doc["differences"] == []
    assert doc["trainable_params"] == 80 + 13530
    side = json.loads((tmp_path / "m.cnnspec.json").read_text())
    assert side["input_shape"] == [28, 28, 1] and side["class_names"] == [str(i) for i in range(10)]
    assert side["scale"] == pytest.approx(1 / 255) and side["offset"] == 0.0
    assert side["spec_fingerprint"] == load_spec(TINY).fingerprint()
    # evaluate a bare .keras (untrained) with its sidecar
    p = cli("evaluate", out, "--data", "sample", "--limit", "100", "--json", check=True)
    m = json.loads(p.stdout)
    assert m["n"] == 100
    assert_metrics_consistent(m)
    assert m["accuracy"] < 0.5  # an untrained model is near chance (0.1) on 10 classes
    assert (tmp_path / "eval_fashion_mnist_sample.json").exists()


# ----------------------------------------------------------------------------------------------
# the train section
# ----------------------------------------------------------------------------------------------
def test_example_sections_validate():
    t6 = for_spec(load_spec(ROOT / "tests/specs/train_table6.yaml"))
    assert t6.epochs == 12 and t6.batch_size == 128 and t6.validation_split == 0.2
    assert t6.optimizer_config().keras_kwargs() == {"learning_rate": 1.0}
    c = for_spec(load_spec(ROOT / "tests/specs/train_cifar_seed000.yaml"))
    assert c.overrides() == {"*": {"kernel_initializer": "he_uniform"}}
    assert c.early_stopping.patience == 20 and c.checkpoint_config().monitor == "val_loss"
    s2 = for_spec(load_spec(ROOT / "tests/specs/train_seed002.yaml"))
    assert s2.optimizer_config().keras_kwargs() == {"learning_rate": 0.01, "momentum": 0.9, "nesterov": False}
    assert s2.augmentation.width_shift == 0.1 and s2.augmentation.horizontal_flip
    assert s2.overrides() == {"*": {"kernel_regularizer": {"l2": 0.0005}}}


@pytest.mark.parametrize("train, line, field, words", [
    ("  epochs: 2\n  batchsize: 4\n", 11, "train.batchsize", "did you mean 'batch_size'"),
    ("  epochs: 0\n", 10, "train.epochs", "greater than or equal to 1"),
    ("  optimizer: {name: sgd, rho: 0.9}\n", 10, "train.optimizer", "sgd takes no rho"),
    ("  optimizer: adamm\n", 10, "train.optimizer", "did you mean 'adam'"),
    ("  optimizer:\n    name: rmsprop\n    centred: true\n", 12, "train.optimizer.centred", "unknown key"),
    ("  lr_schedule: {type: steps, every: 2}\n", 10, "train.lr_schedule", "step, reduce_on_plateau, cosine"),
    ("  lr_schedule:\n    type: step\n    every: 0\n", 12, "train.lr_schedule.every", "greater than"),
    ("  early_stopping:\n    monitor: val_loss\n    patiense: 3\n", 12, "train.early_stopping.patiense",
     "did you mean 'patience'"),
    ("  early_stopping: {monitor: val_loss}\n", 10, "train.early_stopping.monitor", "no validation data"),
    ("  early_stopping:\n    patience: 3\n    monitor: val_acc\n", 12, "train.early_stopping.monitor",
     "choose loss, val_loss or a metric"),
    ("  validation_split: 0.2\n  validation: test\n", 11, "train.validation", "not both"),
    ("  augmentation:\n    width_shift: 1.5\n", 11, "train.augmentation.width_shift", "less than 1"),
    ("  loss: mse\n", 10, "train.loss", "sparse_categorical_crossentropy"),
])
def test_bad_train_section_one_line(tmp_path, train, line, field, words):
    spec = load_spec(write_spec(tmp_path, train))
    with pytest.raises(SpecError) as ei:
        for_spec(spec)
    e = ei.value
    assert "\n" not in str(e)
    assert e.line == line, str(e)
    assert e.field == field, str(e)
    assert words in str(e)
    assert str(e).startswith(f"{spec.file}:{line}: {field}: ")


def test_bad_train_section_cli_exit_2(tmp_path):
    spec = write_spec(tmp_path, "  epochs: 2\n  batchsize: 4\n")
    p = cli("train", spec, "--out", tmp_path / "run")
    assert p.returncode == 2
    assert error_lines(p) == [f"error: {spec}:11: train.batchsize: unknown key 'batchsize' (did you mean "
                              f"'batch_size'?); allowed: " + ", ".join(TrainConfig.model_fields)]
    assert not (tmp_path / "run").exists()


def test_flags_override_section():
    cfg = parse_train({"epochs": 12, "optimizer": {"name": "adadelta", "learning_rate": 1.0},
                       "validation_split": 0.2})
    new = with_flags(cfg, {"epochs": 1, "learning_rate": 0.5, "validation": "test", "batch_size": None})
    assert new.epochs == 1 and new.validation == "test" and new.validation_split is None
    assert new.optimizer_config().keras_kwargs()["learning_rate"] == 0.5
    assert with_flags(cfg, {"optimizer": "sgd"}).optimizer_config().name == "sgd"
    with pytest.raises(CnnspecError, match="command-line"):
        with_flags(cfg, {"epochs": 0})


def test_schedules_and_monitors():
    from cnnspec.keras.callbacks import RunState, better, schedule_lr
    from cnnspec.keras.pipeline import split_validation

    cfg = parse_train({"epochs": 10, "lr_schedule": {"type": "step", "every": 3, "factor": 0.5}})
    assert [schedule_lr(cfg, 1.0, e, RunState()) for e in (0, 2, 3, 6)] == [1.0, 1.0, 0.5, 0.25]
    cos = parse_train({"epochs": 4, "lr_schedule": {"type": "cosine", "min_lr": 0.0}})
    assert schedule_lr(cos, 1.0, 0, RunState()) == 1.0 and schedule_lr(cos, 1.0, 2, RunState()) == pytest.approx(0.5)
    assert better("auto", "val_accuracy", 0.9, 0.8) and not better("auto", "val_loss", 0.9, 0.8)
    assert better("auto", "loss", 1.0, None) and not better("min", "loss", float("nan"), 1.0)
    tr, va = split_validation(100, 0.2, 0)
    assert len(va) == 20 and len(tr) == 80 and not set(tr) & set(va)
    assert np.array_equal(split_validation(100, 0.2, 0)[1], va)


def test_metrics_match_sklearn():
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from cnnspec.runs.metrics import classification_metrics

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    probs = rng.random((200, 4))
    probs /= probs.sum(1, keepdims=True)
    m = classification_metrics(y, probs, ["a", "b", "c", "d"])
    pred = probs.argmax(1)
    assert m["confusion_matrix"] == confusion_matrix(y, pred).tolist()
    p, r, f, s = precision_recall_fscore_support(y, pred, zero_division=0)
    for i, name in enumerate("abcd"):
        assert m["per_class"][name]["precision"] == pytest.approx(p[i])
        assert m["per_class"][name]["f1"] == pytest.approx(f[i])
        assert m["per_class"][name]["support"] == s[i]


# ----------------------------------------------------------------------------------------------
# a real run
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    p = cli("train", TINY, "--out", out, "--limit", "400", "--epochs", "2", "--json", check=True)
    return out, json.loads(p.stdout), p


def test_run_writes_every_file(run_dir):
    out, res, p = run_dir
    for f in RUN_FILES:
        assert (out / f).is_file(), f
    assert not [f for f in os.listdir(out) if f.endswith(".tmp") or ".tmp-" in f]
    assert (out / "spec.yaml").read_bytes() == TINY.read_bytes()
    assert res["status"] == "finished" and res["epochs_finished"] == 2
    assert p.stderr.count("epoch ") >= 2  # one progress line per epoch (not a TTY), on stderr with --json
    for png in ("learning_curves.png", "confusion_matrix.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_records_are_sane(run_dir):
    out, res, _ = run_dir
    m = json.loads((out / "metrics.json").read_text())
    assert m["loss"] > 0
    assert_metrics_consistent(m)
    assert m["accuracy"] > 0.2  # two epochs on 400 images: well above chance (0.1)
    assert m["n"] == 400
    cm = np.array(m["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 400
    names = json.loads((out / "model.cnnspec.json").read_text())["class_names"]
    assert list(m["per_class"]) == names and names[0] == "T-shirt/top"
    for v in m["per_class"].values():
        p_, r_ = v["precision"], v["recall"]
        assert v["f1"] == pytest.approx(0 if p_ + r_ == 0 else 2 * p_ * r_ / (p_ + r_), abs=1e-6)
    assert m["train_images_per_second"] > 0 and m["run_seconds"] > 0
    rows = history(out)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert list(rows[0]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"]
    assert float(rows[1]["lr"]) == pytest.approx(0.0015)  # step schedule: 0.003 * 0.5
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["seed"] == 0
    assert set(run["versions"]) >= {"python", "tensorflow", "keras", "numpy", "cnnspec"}
    assert run["data"]["name"] == "fashion_mnist_sample" and len(run["data"]["fingerprint"]) == 16
    assert run["data"]["train_images"] == 320 and run["data"]["validation_images"] == 80
    assert run["spec_fingerprint"] == load_spec(TINY).fingerprint()
    assert run["start_time"] <= run["end_time"]
    side = json.loads((out / "model.cnnspec.json").read_text())
    assert side["scale"] == pytest.approx(1 / 255) and side["input_shape"] == [28, 28, 1]
    conf = json.loads((out / "config.json").read_text())
    assert conf["resolved"]["epochs"] == 2 and conf["resolved"]["limit"] == 400
    assert conf["resolved"]["checkpoint"] == {"monitor": "val_loss", "mode": "auto"}


def test_evaluate_run_dir(run_dir):
    out, res, _ = run_dir
    p = cli("evaluate", out, "--limit", "400", check=True)
    assert "precision" in p.stdout and "confusion matrix" in p.stdout
    m = json.loads((out / "eval_fashion_mnist_sample.json").read_text())
    train_m = json.loads((out / "metrics.json").read_text())
    assert m["accuracy"] == pytest.approx(train_m["accuracy"], abs=1e-6)  # same model, data and scale
    assert sum(map(sum, m["confusion_matrix"])) == 400
    other = out.parent / "e.json"
    p = cli("evaluate", out, "--data", "sample", "--limit", "50", "-o", other, check=True)
    assert json.loads(other.read_text())["n"] == 50


def test_refuses_existing_run_and_foreign_dir(run_dir, tmp_path):
    out, _, _ = run_dir
    before = {f: (out / f).read_bytes() for f in ("history.csv", "metrics.json", "run.json")}
    p = cli("train", TINY, "--out", out, "--limit", "100")
    assert p.returncode == 2 and "already holds a run" in error_lines(p)[0] and "--resume" in error_lines(p)[0]
    assert {f: (out / f).read_bytes() for f in before} == before
    p = cli("train", "--resume", out)
    assert p.returncode == 2 and "--epochs" in error_lines(p)[0]
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    p = cli("train", TINY, "--out", foreign, "--limit", "100")
    assert p.returncode == 2 and "not empty" in error_lines(p)[0]
    assert os.listdir(foreign) == ["keep.txt"]


# ----------------------------------------------------------------------------------------------
# interrupt and resume
# ----------------------------------------------------------------------------------------------
def _start(out: Path, epochs: int) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-m", "cnnspec", "train", str(TINY), "--out", str(out), "--limit",
                             "1500", "--epochs", str(epochs), "--batch-size", "16"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _committed(out: Path) -> int:
    """Epochs of the resume point (state.json is its commit: history.csv is written before it)."""
    try:
        return json.loads((out / "state.json").read_text())["epoch"]
    except (OSError, ValueError):
        return 0


def _wait_rows(out: Path, proc: subprocess.Popen, n: int, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if _committed(out) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("no history rows")


def test_resume_after_sigkill(tmp_path):
    out = tmp_path / "run"
    epochs = 8
    proc = _start(out, epochs)
    _wait_rows(out, proc, 1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    done = _committed(out)
    assert 1 <= done < epochs, "the run finished before the kill; give it more epochs"
    assert json.loads((out / "run.json").read_text())["status"] == "running"
    killed_wall = json.loads((out / "state.json").read_text())["wall_seconds"]
    assert killed_wall > 0
    p = cli("train", "--resume", out, "--json", check=True)
    assert json.loads(p.stdout)["epochs_finished"] == epochs
    assert [int(r["epoch"]) for r in history(out)] == list(range(1, epochs + 1))
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished"
    assert run["resumed"][0]["at_epoch"] >= done
    # the run's seconds count the killed attempt too (up to its last finished epoch)
    metrics = json.loads((out / "metrics.json").read_text())
    resumed_epochs = sum(float(r["seconds"]) for r in history(out) if int(r["epoch"]) > done)
    assert run["seconds"] == metrics["run_seconds"] >= killed_wall + resumed_epochs
    assert json.loads((out / "metrics.json").read_text())["epochs_finished"] == epochs
    # a finished run can be extended with --epochs, still without gaps or duplicates
    cli("train", "--resume", out, "--epochs", str(epochs + 1), check=True)
    assert [int(r["epoch"]) for r in history(out)] == list(range(1, epochs + 2))


def test_sigint_stops_cleanly(tmp_path):
    out = tmp_path / "run"
    proc = _start(out, 40)
    _wait_rows(out, proc, 1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    msgs = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(msgs) == 1 and f"cnnspec train --resume {out}" in msgs[0], err
    assert "Traceback" not in err
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "interrupted"
    state = json.loads((out / "state.json").read_text())
    assert [int(r["epoch"]) for r in history(out)] == list(range(1, state["epoch"] + 1))


# ----------------------------------------------------------------------------------------------
# distribution
# ----------------------------------------------------------------------------------------------
def test_mirrored_two_logical_cpus(tmp_path):
    out = tmp_path / "run"
    p = cli("train", TINY, "--out", out, "--limit", "300", "--epochs", "1", "--distribute", "mirrored",
            "--json", env={"CNNSPEC_LOGICAL_CPUS": "2"}, check=True)
    assert json.loads(p.stdout)["num_replicas_in_sync"] == 2
    run = json.loads((out / "run.json").read_text())
    assert run["num_replicas_in_sync"] == 2 and run["distribute"] == "mirrored"
    assert len(run["devices"]) == 2
    assert_metrics_consistent(json.loads((out / "metrics.json").read_text()))


# ----------------------------------------------------------------------------------------------
# bad data
# ----------------------------------------------------------------------------------------------
def _npz(path: Path, shape, labels_max=9, n=40):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (n, *shape), dtype=np.uint8)
    y = rng.integers(0, labels_max + 1, n)
    y[0] = labels_max
    np.savez(path, x_train=x, y_train=y, x_test=x[:10], y_test=y[:10])
    return path


def test_wrong_image_shape(tmp_path):
    npz = _npz(tmp_path / "cifarlike.npz", (32, 32, 3))
    p = cli("train", TINY, "--out", tmp_path / "run", "--data", f"npz:{npz}")
    assert p.returncode == 2
    (msg,) = error_lines(p)
    assert "32x32x3" in msg and "28x28x1" in msg
    assert not (tmp_path / "run").exists()


def test_labels_beyond_units(tmp_path):
    npz = _npz(tmp_path / "many.npz", (28, 28, 1), labels_max=11)
    p = cli("train", TINY, "--out", tmp_path / "run", "--data", f"npz:{npz}")
    assert p.returncode == 2
    (msg,) = error_lines(p)
    assert "labels up to 11" in msg and "10 units" in msg


def test_missing_dataset_and_bad_flags(tmp_path):
    p = cli("train", TINY, "--out", tmp_path / "run", "--data", "nosuchdata")
    assert p.returncode == 2 and len(error_lines(p)) == 1 and "unknown dataset" in error_lines(p)[0]
    p = cli("train", TINY, "--out", tmp_path / "run", "--validation-split", "1.5")
    assert p.returncode == 2 and "validation_split" in error_lines(p)[0]
    p = cli("evaluate", tmp_path / "nothing.keras")
    assert p.returncode == 2 and len(error_lines(p)) == 1
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------------------------
# more of the section, in-process (categorical loss, augmentation, plateau, early stopping)
# ----------------------------------------------------------------------------------------------
def test_feature_combo_in_process(tmp_path):
    from cnnspec.keras.training import Request, run_training

    spec = write_spec(tmp_path, "\n".join([
        "  epochs: 4", "  batch_size: 50", "  validation: test", "  loss: categorical_crossentropy",
        "  metrics: [accuracy, top_5_accuracy]", "  optimizer: {name: rmsprop, learning_rate: 0.001, rho: 0.9}",
        "  kernel_initializer: he_uniform", "  l2: 0.0001",
        "  lr_schedule: {type: reduce_on_plateau, monitor: loss, factor: 0.5, patience: 0}",
        "  early_stopping: {monitor: val_accuracy, patience: 1, min_delta: 0.5}",
        "  checkpoint: {monitor: val_accuracy}",
        "  augmentation: {horizontal_flip: true, vertical_flip: true, width_shift: 0.1, height_shift: 0.1,"
        " rotation: 10, zoom: 0.1}", ""]))
    out = tmp_path / "run"
    res = run_training(Request(spec_path=str(spec), out=out, flags={"limit": 200}), log=lambda s: None)
    rows = history(out)
    # min_delta 0.5 can never be met after epoch 1: early stopping after epoch 2
    assert [int(r["epoch"]) for r in rows] == [1, 2] and res["epochs_finished"] == 2
    assert json.loads((out / "state.json").read_text())["stopped_early"] is True
    assert "val_top_5_accuracy" in rows[0]
    m = json.loads((out / "metrics.json").read_text())
    assert m["stopped_early"] and m["n"] == 200
    assert_metrics_consistent(m)
    p = cli("train", "--resume", out)
    assert p.returncode == 2 and "stopped early" in error_lines(p)[0]


def test_augmenter_changes_training_images_only():

    from cnnspec.keras.pipeline import augmenter

    cfg = parse_train({"augmentation": {"width_shift": 0.2, "horizontal_flip": True}})
    aug = augmenter(cfg, (28, 28, 1))
    x = np.random.default_rng(0).random((8, 28, 28, 1)).astype("float32")
    assert not np.allclose(np.asarray(aug(x, training=True)), x)
    assert np.allclose(np.asarray(aug(x, training=False)), x)
    assert augmenter(parse_train({"augmentation": {}}), (28, 28, 1)) is None


def test_resume_killed_before_first_epoch_and_force(tmp_path, run_dir):
    src, _, _ = run_dir
    out = tmp_path / "run"
    out.mkdir()
    for f in ("spec.yaml", "config.json", "run.json"):
        (out / f).write_bytes((src / f).read_bytes())
    (out / ".history.csv.abc.tmp").write_text("half")
    p = cli("train", "--resume", out, "--json", check=True)
    assert json.loads(p.stdout)["epochs_finished"] == 2
    assert [int(r["epoch"]) for r in history(out)] == [1, 2]
    assert not (out / ".history.csv.abc.tmp").exists()
    (out / "notes.txt").write_text("mine")
    cli("train", TINY, "--out", out, "--force", "--limit", "100", "--epochs", "1", check=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert [int(r["epoch"]) for r in history(out)] == [1]
    assert json.loads((out / "run.json").read_text())["data"]["train_images"] == 80


def test_history_csv_roundtrip():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from cnnspec.runs.files import history_text, read_history

    num = st.floats(min_value=1e-6, max_value=1e3, allow_nan=False)
    row = st.fixed_dictionaries({"loss": num, "accuracy": st.floats(0, 1), "val_loss": st.none() | num,
                                 "val_accuracy": st.none() | st.floats(0, 1), "lr": num, "seconds": num})

    @settings(max_examples=50, deadline=None)
    @given(st.lists(row, max_size=6))
    def check(rows):
        rows = [{"epoch": i + 1, **r} for i, r in enumerate(rows)]
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "history.csv"
            p.write_text(history_text(rows))
            back = read_history(p)
        assert [r["epoch"] for r in back] == [r["epoch"] for r in rows]
        for a, b in zip(rows, back):
            for k, v in a.items():
                assert (b[k] is None) if v is None else b[k] == pytest.approx(v, rel=1e-6, abs=1e-8)

    check()


def test_sigterm_stops_like_ctrl_c(tmp_path):
    out = tmp_path / "run"
    proc = _start(out, 40)
    _wait_rows(out, proc, 1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (history(out), err[-600:])
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"


def test_train_modules_do_not_import_tensorflow():
    code = ("import sys\n"
            "import cnnspec.cli, cnnspec.cli.train, cnnspec.keras.training, cnnspec.spec.trainconfig, cnnspec.runs.metrics, cnnspec.runs.files\n"
            "from cnnspec.cli import main\n"
            "try:\n    main(['check', '-q', sys.argv[1]])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "bad = [m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code, str(TINY)], cwd=ROOT, check=True, capture_output=True, timeout=60)
    # bad input for train is refused before TensorFlow is imported: fast, and nothing written
    t0 = time.time()
    p = cli("train", TINY, "--out", "/nonexistent/x", "--data", "nosuch")
    assert p.returncode == 2 and time.time() - t0 < 30


def test_python_api_as_the_r_bridge_calls_it(tmp_path):
    import cnnspec.interop.rbridge as rbridge
    from cnnspec.keras.training import train

    with pytest.raises(CnnspecError, match="positive whole number"):
        train(str(TINY), data="sample", out=str(tmp_path / "r"), epochs=1.5)
    with pytest.raises(CnnspecError, match="unknown option"):
        train(str(TINY), out=str(tmp_path / "r"), epoch=1)
    res = train(str(ROOT / "specs" / "table6.yaml"), data="sample", out=str(tmp_path / "r"), epochs=1,
                batch_size=64, limit=200)
    d = Path(rbridge.run_dir(res))
    assert d == tmp_path / "r" and (d / "model.keras").exists()
    assert [int(r["epoch"]) for r in history(d)] == [1]
    conf = json.loads((d / "config.json").read_text())["resolved"]
    assert conf["optimizer"] == {"name": "adadelta", "learning_rate": 1.0} and conf["dataset"] == "sample"


def test_run_dir_exports_to_onnx(run_dir, tmp_path):
    """The contract with export/predict: a run directory's model.keras + model.cnnspec.json."""
    pytest.importorskip("tf2onnx")
    out, _, _ = run_dir
    p = cli("export", "--help")
    if p.returncode != 0:
        pytest.skip("no export command in this checkout")
    onnx = tmp_path / "m.onnx"
    p = cli("export", out, "-o", onnx, "--json", check=True)
    assert onnx.exists() and onnx.stat().st_size > 1000


def test_multiworker_refused_with_several_workers_single_worker_runs(tmp_path):
    cfg = json.dumps({"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 0}})
    p = cli("train", TINY, "--out", tmp_path / "run", "--distribute", "multiworker", env={"TF_CONFIG": cfg})
    assert p.returncode == 2 and "keras-team/keras#20585" in error_lines(p)[0]
    assert not (tmp_path / "run").exists()
    p = cli("train", TINY, "--out", tmp_path / "one", "--limit", "100", "--epochs", "1", "--distribute",
            "multiworker", "--json", check=True)
    assert json.loads((tmp_path / "one" / "run.json").read_text())["distribute"] == "multiworker"
