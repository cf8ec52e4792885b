"""`cnnspec code`: the R package targeted (keras3 by default, keras 2.x on request), input dtype kept,
specs failing check refused, compile()/fit() written from the train: section (and runnable)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cnnspec.errors import SpecError
from cnnspec.interop.codegen import generate
from cnnspec.spec.loader import load_spec

ROOT = Path(__file__).resolve().parents[1]

GRAPH = """
name: res
input: {shape: [8, 8, 3], dtype: float16}
layers:
  - {type: Conv2D, name: a, filters: 4, kernel_size: 3, padding: same}
  - {type: Conv2D, name: b, filters: 4, kernel_size: 3, padding: same}
  - {type: Add, name: add, inputs: [a, b]}
  - {type: Flatten}
  - {type: Dense, units: 3, activation: softmax}
"""

TRAINED = """
name: small
input: [8, 8, 1]
layers:
  - {type: Conv2D, filters: 2, kernel_size: 3, activation: relu}
  - {type: Flatten}
  - {type: Dense, units: 3, activation: softmax}
train:
  dataset: sample
  epochs: 2
  batch_size: 4
  optimizer: {name: sgd, learning_rate: 0.05, momentum: 0.9}
  loss: categorical_crossentropy
  metrics: [accuracy, top_5_accuracy]
  validation_split: 0.25
  seed: 3
  early_stopping: {monitor: val_loss, patience: 1}
  lr_schedule: {type: step, every: 1, factor: 0.5}
  augmentation: {horizontal_flip: true}
"""


def _spec(text: str, name: str = "s.yaml"):
    return load_spec(name, text=text)


def test_r_targets_keras3_by_default_and_says_so():
    code = generate(_spec(GRAPH), "r")
    assert "# Targets the R package keras3 (>= 1.0; Keras 3)." in code and "library(keras3)" in code
    assert 'inputs <- keras_input(shape = c(8, 8, 3), dtype = "float16", name = "input")' in code
    assert "|>" in code and "%>%" not in code


def test_r_keras2_target_has_no_keras_input():
    code = generate(_spec(GRAPH), "r", target="keras")
    assert "keras_input" not in code and "library(keras)" in code and "|>" not in code
    assert 'inputs <- layer_input(shape = c(8, 8, 3), dtype = "float16", name = "input")' in code
    assert "# Targets the R package keras (2.13 to 2.15; Keras 2, TensorFlow <= 2.15)." in code
    with pytest.raises(SpecError, match="unknown R target 'keras4'"):
        generate(_spec(GRAPH), "r", target="keras4")


def test_input_dtype_is_kept():
    seq = _spec("input: {shape: [10], dtype: int32}\nlayers:\n  - {type: Embedding, input_dim: 50, output_dim: 4}\n"
                "  - {type: Flatten}\n  - {type: Dense, units: 2, activation: softmax}\n")
    assert 'keras_model_sequential(input_shape = c(10), input_dtype = "int32"' in generate(seq, "r")
    assert 'keras_model_sequential(input_shape = c(10), dtype = "int32"' in generate(seq, "r", target="keras")
    assert 'keras.Input(shape=(10,), dtype="int32"' in generate(seq, "python")
    assert 'keras.Input(shape=(8, 8, 3), dtype="float16"' in generate(_spec(GRAPH), "python")


def test_a_spec_failing_check_is_refused_unless_forced(tmp_path):
    with pytest.raises(SpecError, match=r"the spec fails check, so no code is written .* 5 mismatch\(es\)"):
        generate(load_spec(ROOT / "specs/lenet5.yaml"), "r")
    r = subprocess.run([sys.executable, "-m", "cnnspec", "code", "specs/lenet5.yaml"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout == ""
    err = r.stderr.strip()
    assert err.startswith("error: specs/lenet5.yaml:16: the spec fails check") and err.count("\n") == 0
    out = tmp_path / "lenet.R"
    r = subprocess.run([sys.executable, "-m", "cnnspec", "code", "specs/lenet5.yaml", "--force", "--target", "keras",
                        "-o", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "library(keras)" in out.read_text()


def test_no_train_section_no_compile():
    code = generate(_spec(GRAPH), "r")
    assert "compile(" not in code and "fit(" not in code


def test_r_compile_and_fit_from_the_train_section():
    code = generate(load_spec(ROOT / "specs/table6.yaml"), "r")
    assert "model |> compile(\n  optimizer = optimizer_adadelta(learning_rate = 1.0)," in code
    assert 'loss = "sparse_categorical_crossentropy"' in code
    assert "model |> fit(x_train, y_train, epochs = 12, batch_size = 128, validation_split = 0.2)" in code
    assert "fashion_mnist <- dataset_fashion_mnist()" in code
    assert "array_reshape(fashion_mnist$train$x, c(-1, 28, 28, 1)) / 255" in code
    small = generate(_spec(TRAINED), "r", target="keras")
    assert "optimizer_sgd(learning_rate = 0.05, momentum = 0.9)" in small and "tensorflow::set_random_seed(3)" in small
    assert 'metric_top_k_categorical_accuracy(k = 5, name = "top_5_accuracy")' in small
    assert "callback_early_stopping(monitor = \"val_loss\", patience = 1" in small
    assert "callback_learning_rate_scheduler(function(epoch, lr) 0.05 * 0.5^(epoch %/% 1))" in small
    assert "# not written here, applied by `cnnspec train`: augmentation" in small
    assert "dataset_" not in small  # the cnnspec sample is no Keras dataset: train_model() for your arrays


@pytest.mark.skipif(not shutil.which("Rscript"), reason="R is not installed")
def test_generated_r_training_code_parses(tmp_path):
    files = []
    for i, (text, target) in enumerate([(TRAINED, "keras3"), (TRAINED, "keras"), (GRAPH, "keras")]):
        f = tmp_path / f"g{i}.R"
        f.write_text(generate(_spec(text), "r", target=target))
        files.append(str(f))
    f = tmp_path / "t6.R"
    f.write_text(generate(load_spec(ROOT / "specs/table6.yaml"), "r"))
    files.append(str(f))
    expr = "for (f in commandArgs(TRUE)) invisible(parse(file = f)); cat('parsed', length(commandArgs(TRUE)))"
    r = subprocess.run(["Rscript", "-e", expr, *files], capture_output=True, text=True)
    assert r.returncode == 0 and "parsed 4" in r.stdout, r.stderr


def test_python_compile_and_fit_run_as_written():
    pytest.importorskip("keras")
    import numpy as np

    code = generate(_spec(TRAINED), "python")
    assert "if __name__" not in code  # no Keras dataset to load: train_model() takes the arrays
    ns: dict = {}
    exec(compile(code.replace("model.summary()", ""), "<generated>", "exec"), ns)
    model = ns["model"]
    assert type(model.optimizer).__name__ == "SGD"
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.05)
    x = np.random.rand(8, 8, 8, 1).astype("float32")
    y = np.eye(3, dtype="float32")[np.arange(8) % 3]
    h = ns["train_model"](x, y)
    assert set(h.history) >= {"loss", "accuracy", "top_5_accuracy", "val_loss"}
    assert len(h.history["loss"]) <= 2
    t6 = generate(load_spec(ROOT / "specs/table6.yaml"), "python")
    assert 'if __name__ == "__main__":\n    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist' in t6
    ns = {}
    exec(compile(t6.replace("model.summary()", ""), "<generated>", "exec"), ns)  # defines, does not train
    assert type(ns["model"].optimizer).__name__ == "Adadelta"
    assert float(ns["model"].optimizer.learning_rate.numpy()) == 1.0
