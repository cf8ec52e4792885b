"""Training a model with several outputs (per-head loss, loss_weights, metrics), through the real CLI:
history and metrics per head, evaluate, export's one-line refusal; several inputs refused in one line;
generated training code that runs in Keras."""
from __future__ import annotations

import csv
import json

import pytest

from conftest import SPECS, cli_subprocess

from cnnspec.errors import SpecError
from cnnspec.spec.loader import load_spec


def cli(*args, timeout=300):
    return cli_subprocess(*args, timeout=timeout)


@pytest.fixture(scope="module")
def heads_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "heads"
    p = cli("train", SPECS / "two_heads.yaml", "--out", out, "--limit", "300", "--epochs", "2",
            "--validation-split", "0.2", "--json")
    assert p.returncode == 0, p.stderr
    return out, json.loads(p.stdout)


def test_history_and_metrics_per_head(heads_run):
    out, res = heads_run
    assert res["status"] == "finished" and res["epochs_finished"] == 2
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert len(rows) == 2
    for col in ("classes_loss", "aux_loss", "val_classes_loss", "val_aux_loss", "classes_accuracy",
                "aux_accuracy", "classes_top_5_accuracy", "val_classes_top_5_accuracy"):
        assert rows[-1][col] not in ("", None), col
    assert "aux_top_5_accuracy" not in rows[-1]  # the aux head's metrics are its own
    # the total loss is the weighted sum of the heads' losses (weights 1.0 and 0.3); accuracy is the main head's
    total = float(rows[-1]["classes_loss"]) + 0.3 * float(rows[-1]["aux_loss"])
    assert float(rows[-1]["loss"]) == pytest.approx(total, rel=1e-3)
    assert rows[-1]["accuracy"] == rows[-1]["classes_accuracy"]
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["heads"]) == {"classes", "aux"}
    assert m["accuracy"] == m["heads"]["classes"]["accuracy"] and 0 <= m["heads"]["aux"]["accuracy"] <= 1
    conf = json.loads((out / "config.json").read_text())["train"]
    assert conf["loss_weights"] == {"classes": 1.0, "aux": 0.3} and conf["head_metrics"]["aux"] == ["accuracy"]


def test_evaluate_and_export_of_two_heads(heads_run, tmp_path):
    out, _ = heads_run
    p = cli("evaluate", out, "-o", tmp_path / "eval.json")
    assert p.returncode == 0, p.stderr
    m = json.loads((tmp_path / "eval.json").read_text())
    assert set(m["heads"]) == {"classes", "aux"} and m["n"] > 0
    for head, h in m["heads"].items():  # the console names every head's figures, not the first head's alone
        assert f"{head}: accuracy {h['accuracy']:.4f}  loss {h['loss']:.4f}" in p.stdout, p.stdout
    p = cli("export", out, "-o", tmp_path / "m.onnx")
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr
    assert "one input and one output" in lines[0] and "(classes, aux)" in lines[0]
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob(".*tmp*"))
    assert "--head NAME" in lines[0]
    p = cli("export", out, "-o", tmp_path / "m.onnx", "--head", "nope")
    assert p.returncode == 2 and "--head nope: not an output of this model (outputs: classes, aux)" in p.stderr
    p = cli("export", out, "-o", tmp_path / "classes.onnx", "--head", "classes", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["parity"]["ok"] and (tmp_path / "classes.onnx").is_file()


def test_training_several_inputs_is_refused_in_one_line(tmp_path):
    p = cli("train", SPECS / "two_inputs.yaml", "--out", tmp_path / "r", "--epochs", "1", "--limit", "50")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    assert "two_inputs.yaml:10:" in p.stderr and "2 inputs (image, meta)" in p.stderr
    assert "x_train_image, x_train_meta" in p.stderr and "--data npz:FILE" in p.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("train,words", [
    ("loss_weights: {classes: 1.0, auxx: 0.5}", "names 'auxx', which is not an output"),
    ("loss: {classes: sparse_categorical_crossentropy, aux: mse}", "train.loss.aux"),
    ("metrics: {aux: [acc]}", "train.metrics.aux"),
    ("loss_weights: {classes: -1}", "must be a number >= 0"),
    ("early_stopping: {monitor: val_nope_accuracy}\n  validation_split: 0.2", "monitors 'val_nope_accuracy'"),
])
def test_bad_head_settings_one_line(tmp_path, train, words):
    text = (SPECS / "two_heads.yaml").read_text().split("\ntrain:")[0] + "\n"
    line = len(text.splitlines()) + 2  # the first key under train:
    text += "train:\n  " + train + "\n"
    p = tmp_path / "s.yaml"
    p.write_text(text)
    with pytest.raises(SpecError) as e:
        from cnnspec.check.infer import check

        check(load_spec(p))
    assert words in str(e.value) and f"s.yaml:{line}:" in str(e.value), str(e.value)


def test_head_monitor_accepted(tmp_path):
    from cnnspec.spec.trainconfig import for_spec

    text = (SPECS / "two_heads.yaml").read_text() + "  validation_split: 0.2\n  checkpoint: {monitor: val_aux_accuracy}\n"
    p = tmp_path / "s.yaml"
    p.write_text(text)
    assert for_spec(load_spec(p)).checkpoint.monitor == "val_aux_accuracy"


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_generated_training_code_runs_in_keras():
    pytest.importorskip("keras")
    import numpy as np

    from cnnspec.interop.codegen import generate

    ns: dict = {}
    code = generate(load_spec(SPECS / "two_heads.yaml"), "python").replace("model.summary()", "")
    exec(compile(code, "<generated>", "exec"), ns)
    x = np.random.default_rng(0).random((32, 28, 28, 1)).astype("float32")
    y = np.arange(32) % 10
    hist = ns["train_model"](x, y).history
    assert {"classes_loss", "aux_loss", "classes_top_5_accuracy", "aux_accuracy"} <= set(hist)


@pytest.mark.parametrize("cmd,spec", [("doctor", "two_heads.yaml"), ("lr-find", "two_inputs.yaml")])
def test_diagnostics_refuse_several_inputs_or_outputs_in_one_line(cmd, spec, tmp_path):
    p = cli(cmd, SPECS / spec, "--limit", "50", *(["-o", tmp_path / "lr.png"] if cmd == "lr-find" else []))
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "one input and one output" in p.stderr and f"{spec}:" in p.stderr


# ------------------------------------------------------------------------------------------------
# several inputs: one array per input from an npz keyed by input row name
# ------------------------------------------------------------------------------------------------
def _inputs_npz(path, n_train=300, n_test=100, meta_dim=4, drop=None):
    import numpy as np

    from cnnspec.data import load_dataset

    ds = load_dataset("sample", limit=max(n_train, n_test))
    rng = np.random.default_rng(0)

    def meta(y):  # a vector that tells the class a little
        m = rng.normal(size=(len(y), meta_dim)).astype("float32")
        m[:, 0] += y / 3.0
        return m

    arrays = {"x_train_image": ds.x_train[:n_train], "x_train_meta": meta(ds.y_train[:n_train]),
              "x_test_image": ds.x_test[:n_test], "x_test_meta": meta(ds.y_test[:n_test]),
              "y_train": ds.y_train[:n_train], "y_test": ds.y_test[:n_test],
              "class_names": np.array(ds.class_names)}
    arrays.pop(drop, None)
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def inputs_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    npz = _inputs_npz(d / "two.npz")
    out = d / "run"
    p = cli("train", SPECS / "two_inputs.yaml", "--data", f"npz:{npz}", "--out", out, "--epochs", "2",
            "--validation-split", "0.2", "--json")
    assert p.returncode == 0, p.stderr
    return out, npz, json.loads(p.stdout)


def test_train_two_inputs_from_npz(inputs_run):
    out, npz, res = inputs_run
    assert res["status"] == "finished" and res["epochs_finished"] == 2
    run = json.loads((out / "run.json").read_text())
    assert run["data"]["train_images"] == 240 and run["data"]["validation_images"] == 60
    assert run["data"]["test_images"] == 100 and run["data"]["source"] == str(npz)
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert len(rows) == 2 and all(float(r["loss"]) > 0 and r["val_accuracy"] for r in rows)
    side = json.loads((out / "model.cnnspec.json").read_text())
    assert [i["name"] for i in side["inputs"]] == ["image", "meta"] and side["inputs"][1]["shape"] == [4]
    assert side["outputs"] == ["classes"]


def test_evaluate_two_inputs(inputs_run, tmp_path):
    out, npz, _ = inputs_run
    p = cli("evaluate", out, "-o", tmp_path / "e.json")  # the run's own npz
    assert p.returncode == 0, p.stderr
    m = json.loads((tmp_path / "e.json").read_text())
    assert m["n"] == 100 and 0 <= m["accuracy"] <= 1 and m["dataset"] == "two"
    p = cli("evaluate", out, "--data", "sample", "-o", tmp_path / "f.json")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    assert "x_test_image, x_test_meta" in p.stderr and not (tmp_path / "f.json").exists()


@pytest.mark.parametrize("case,words", [
    ("missing", "npz lacks x_test_meta"),
    ("shape", "x_train_meta is 5 per example but input 'meta' of spec two_inputs takes 4"),
    ("augment", "augmentation is for one image input"),
])
def test_two_inputs_data_errors_one_line(case, words, tmp_path):
    npz = _inputs_npz(tmp_path / "d.npz", 60, 20, meta_dim=5 if case == "shape" else 4,
                      drop="x_test_meta" if case == "missing" else None)
    spec = SPECS / "two_inputs.yaml"
    if case == "augment":
        spec = tmp_path / "aug.yaml"
        spec.write_text((SPECS / "two_inputs.yaml").read_text() + "train: {augmentation: {horizontal_flip: true}}\n")
    p = cli("train", spec, "--data", f"npz:{npz}", "--out", tmp_path / "r", "--epochs", "1")
    assert p.returncode == 2, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    assert words in p.stderr, p.stderr
    assert not (tmp_path / "r").exists()
