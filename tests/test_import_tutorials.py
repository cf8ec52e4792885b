"""Published tutorial scripts (tests/fixtures/code, sources named in each file) import, check and
build with real Keras with their counts; the train section follows compile()/fit()."""
from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

from cnnspec.check.infer import check
from cnnspec.interop.importer import import_file
from cnnspec.spec.loader import load_spec

ROOT = Path(__file__).resolve().parents[1]
CODE = ROOT / "tests/fixtures/code"

#: fixture -> (input, total parameters, layer types in order (first ones), train section)
TUTORIALS = {
    # 3*3*3*32+32 + 3 * (3*3*32*32+32) + (6*6*32)*512+512 + 512*10+10
    "cifar10_cnn.R": ((32, 32, 3), 624_106, ["Conv2D", "Activation", "Conv2D", "Activation", "MaxPooling2D"],
                      {"dataset": "cifar10", "epochs": 200, "optimizer": {"name": "rmsprop", "learning_rate": 1e-4},
                       "loss": "categorical_crossentropy", "metrics": ["accuracy"]}),
    # 5000*50 + (3*50*250+250) + (250*250+250) + 251
    "imdb_cnn.R": ((400,), 350_751, ["Embedding", "Dropout", "Conv1D", "GlobalMaxPooling1D", "Dense"],
                   {"epochs": 2, "batch_size": 32, "optimizer": "adam", "metrics": ["accuracy"]}),
    # keras.io / keras3 guide print "Total params: 223,242" for this model
    "keras3_toy_resnet.R": ((32, 32, 3), 223_242, ["Conv2D", "Conv2D", "MaxPooling2D", "Conv2D", "Conv2D", "Add"],
                            {"dataset": "cifar10", "epochs": 1, "batch_size": 64, "validation_split": 0.2,
                             "optimizer": {"name": "rmsprop", "learning_rate": 1e-3},
                             "loss": "categorical_crossentropy", "metrics": ["accuracy"]}),
    # keras.io prints "Total params: 34,826"
    "mnist_convnet.py": ((28, 28, 1), 34_826, ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten"],
                         {"dataset": "mnist", "epochs": 15, "batch_size": 128, "validation_split": 0.1,
                          "optimizer": "adam", "loss": "categorical_crossentropy", "metrics": ["accuracy"]}),
    "image_classification_from_scratch.py": (
        (180, 180, 3), None, ["Rescaling", "Conv2D", "BatchNormalization", "Activation", "Activation"],
        {"epochs": 25, "optimizer": {"name": "adam", "learning_rate": 3e-4}}),
}


def _import(name: str):
    return load_spec("imported.yaml", text=import_file(CODE / name))


@pytest.mark.parametrize("name", sorted(TUTORIALS))
def test_tutorial_imports_and_checks(name):
    shape, total, types, train = TUTORIALS[name]
    spec = _import(name)
    rep = check(spec)
    assert spec.input_shape == shape
    assert [r.type for r in spec.rows][:len(types)] == types
    if total is not None:
        assert rep.total == total
    assert dict(spec.train) == train


def test_partial_matching_and_if_block_of_cifar10_cnn():
    spec = _import("cifar10_cnn.R")
    assert [r.layer.options() for r in spec.rows if r.type == "Conv2D"] == [
        {"filters": 32, "kernel_size": (3, 3), "padding": "same"}, {"filters": 32, "kernel_size": (3, 3)},
        {"filters": 32, "kernel_size": (3, 3), "padding": "same"}, {"filters": 32, "kernel_size": (3, 3)}]
    text = import_file(CODE / "cifar10_cnn.R")
    assert "decay" in text.splitlines()[1]  # what train cannot reproduce is said, not dropped silently


def test_functional_helper_and_loop_of_keras_io_example():
    spec = _import("image_classification_from_scratch.py")
    adds = [r for r in spec.rows if r.type == "Add"]
    assert len(adds) == 3 and all(len(r.inputs) == 2 for r in adds)
    assert [r.layer.options()["filters"] for r in spec.rows if r.type == "SeparableConv2D"] == \
        [256, 256, 512, 512, 728, 728, 1024]
    assert spec.rows[-1].layer.options() == {"units": 1, "activation": None}  # num_classes == 2 branch
    assert "RandomFlip" not in [r.type for r in spec.rows]  # augmentation runs in the data pipeline


def _keras_count_of_make_model() -> int:
    """The script's own make_model(), run with real Keras (only that function)."""
    tree = ast.parse((CODE / "image_classification_from_scratch.py").read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "make_model")
    ns: dict = {}
    exec("import keras\nfrom keras import layers\n" + ast.unparse(fn), ns)
    return ns["make_model"]((180, 180, 3), 2).count_params()


@pytest.mark.parametrize("name", sorted(TUTORIALS))
def test_tutorial_builds_with_its_counts(name):
    pytest.importorskip("keras")
    from cnnspec.keras.build import build_model

    spec = _import(name)
    model = build_model(spec)
    total = TUTORIALS[name][1] or _keras_count_of_make_model()
    assert model.count_params() == check(spec).total == total


@pytest.mark.skipif(not shutil.which("Rscript"), reason="R is not installed")
def test_r_fixtures_are_valid_r():
    files = sorted(str(p) for p in CODE.glob("*.R"))
    expr = "for (f in commandArgs(TRUE)) invisible(parse(file = f)); cat('parsed', length(commandArgs(TRUE)))"
    r = subprocess.run(["Rscript", "-e", expr, *files], capture_output=True, text=True)
    assert r.returncode == 0 and f"parsed {len(files)}" in r.stdout, r.stderr
