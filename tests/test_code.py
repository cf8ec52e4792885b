"""`cnnspec code` / `cnnspec import`: round trips over every spec, imports of hand-written R and
Python code, and one-line errors with line numbers."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cnnspec.check.infer import check
from cnnspec.interop.codegen import generate, is_sequential
from cnnspec.errors import SpecError
from cnnspec.interop.importer import import_text
from cnnspec.spec.loader import load_spec, load_specs

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
ALL = [(p, s.variant) for p in SPECS for s in load_specs(p)]
IDS = [f"{p.stem}#{v}" if v else p.stem for p, v in ALL]

GRAPH = """
name: resblock
input: [16, 16, 3]
layers:
  - {type: Conv2D, name: stem, filters: 8, kernel_size: 3, padding: same, activation: relu}
  - {type: Conv2D, name: a, filters: 8, kernel_size: 3, padding: same, use_bias: false}
  - {type: BatchNormalization, name: bn, trainable: false}
  - {type: Add, name: add, inputs: [stem, bn]}
  - {type: Conv2D, name: side, inputs: stem, filters: 4, kernel_size: 1, kernel_regularizer: {l2: 0.001}}
  - {type: Concatenate, name: cat, inputs: [add, side], axis: -1}
  - {type: ZeroPadding2D, padding: [[1, 1], [2, 2]]}
  - {type: GlobalAveragePooling2D}
  - {type: Dropout, rate: 0.5, noise_shape: [null, 12]}
  - {type: Dense, units: 3, activation: softmax}
"""


def rows(spec):
    return [(r.type, r.name, r.inputs, r.layer.options(), r.layer.trainable) for r in spec.rows]


def spec_of(tmp_path: Path, text: str, name: str = "s.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return load_spec(p)


def _load(path, variant):
    return load_spec(f"{path}#{variant}" if variant else path)


def roundtrip(spec, lang: str, tmp_path: Path):
    code = generate(spec, lang, force=True)  # some specs document misprints
    ext = ".R" if lang == "r" else ".py"
    yaml_text = import_text(code, f"gen{ext}")
    return code, spec_of(tmp_path, yaml_text, "back.yaml")


@pytest.mark.parametrize("lang", ["r", "python"])
@pytest.mark.parametrize("path,variant", ALL, ids=IDS)
def test_roundtrip_every_spec(path, variant, lang, tmp_path):
    spec = _load(path, variant)
    _, back = roundtrip(spec, lang, tmp_path)
    assert back.input_shape == spec.input_shape
    assert rows(back) == rows(spec)


@pytest.mark.parametrize("lang", ["r", "python"])
def test_roundtrip_graph(lang, tmp_path):
    spec = spec_of(tmp_path, GRAPH)
    assert not is_sequential(spec)
    code, back = roundtrip(spec, lang, tmp_path)
    if lang == "r":
        assert "keras_input(shape = c(16, 16, 3)" in code and "layer_add(list(stem, bn)" in code
        assert "regularizer_l2(l2 = 0.001)" in code and "trainable = FALSE" in code
        assert "keras_model(inputs = inputs, outputs = dense" in code
    else:
        assert "keras.layers.Add(name=\"add\")([stem, bn])" in code
    assert rows(back) == rows(spec)


def _exec_model(code: str):
    ns: dict = {}
    code = code.replace('weights="imagenet"', "weights=None")  # pretrained bases: same counts, no download
    exec(compile(code.replace("model.summary()", ""), "<generated>", "exec"), ns)
    return ns["model"]


@pytest.mark.parametrize("path,variant", ALL, ids=IDS)
def test_generated_python_builds_same_counts(path, variant):
    pytest.importorskip("keras")
    spec = _load(path, variant)
    rep = check(spec)
    model = _exec_model(generate(spec, "python", force=True))
    import numpy as np

    tr = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    nt = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
    assert (model.count_params(), tr, nt) == (rep.total, rep.trainable, rep.non_trainable)
    assert [layer.name for layer in model.layers if layer.__class__.__name__ != "InputLayer"] == \
        [r.name for r in spec.rows]


def test_generated_python_graph_builds(tmp_path):
    pytest.importorskip("keras")
    spec = spec_of(tmp_path, GRAPH)
    rep = check(spec)
    model = _exec_model(generate(spec, "python"))
    assert model.count_params() == rep.total
    assert tuple(model.output.shape[1:]) == rep.rows[-1].output


def test_r_code_reads_like_r_keras(tmp_path):
    code = generate(load_spec(ROOT / "specs/table6.yaml"), "r")
    assert 'model <- keras_model_sequential(input_shape = c(28, 28, 1), name = "table6") |>' in code
    assert 'layer_conv_2d(filters = 32, kernel_size = c(3, 3), activation = "relu", name = "conv2d") |>' in code
    assert 'layer_dropout(rate = 0.25, name = "dropout")' in code


# ---------------------------------------------------------------------------------------------- R imports
MNIST_CNN_R = """\
library(keras)

# Data Preparation -----------------------------------------------------
batch_size <- 128
num_classes <- 10
epochs <- 12
img_rows <- 28; img_cols <- 28

mnist <- dataset_mnist()
x_train <- mnist$train$x
x_train <- array_reshape(x_train, c(nrow(x_train), img_rows, img_cols, 1))
input_shape <- c(img_rows, img_cols, 1)
x_train <- x_train / 255
y_train <- to_categorical(mnist$train$y, num_classes)

# Define Model -----------------------------------------------------------
model <- keras_model_sequential()
model %>%
  layer_conv_2d(filters = 32, kernel_size = c(3,3), activation = 'relu',
                input_shape = input_shape) %>%
  layer_conv_2d(filters = 64, kernel_size = c(3,3), activation = 'relu') %>%
  layer_max_pooling_2d(pool_size = c(2, 2)) %>%
  layer_dropout(rate = 0.25) %>%
  layer_flatten() %>%
  layer_dense(units = 128, activation = 'relu') %>%
  layer_dropout(rate = 0.5) %>%
  layer_dense(units = num_classes, activation = 'softmax')

model %>% compile(
  loss = loss_categorical_crossentropy,
  optimizer = optimizer_adadelta(),
  metrics = c('accuracy')
)
history <- model %>% fit(x_train, y_train, batch_size = batch_size, epochs = epochs,
                         validation_split = 0.2)
scores <- model %>% evaluate(x_test, y_test, verbose = 0)
cat('Test loss:', scores[[1]], '\\n')
"""


def _imp(tmp_path, text, file, **kw):
    return spec_of(tmp_path, import_text(text, file, **kw), "imp.yaml")


def test_import_r_mnist_cnn_is_table6(tmp_path):
    spec = _imp(tmp_path, MNIST_CNN_R, "mnist_cnn.R")
    t6 = load_spec(ROOT / "specs/table6.yaml")
    assert spec.name == "mnist_cnn" and spec.input_shape == (28, 28, 1)
    assert [(t, n, i, o) for t, n, i, o, _ in rows(spec)] == [(t, n, i, o) for t, n, i, o, _ in rows(t6)]
    assert check(spec).total == check(t6).total == 1199882


def test_import_r_native_pipe_keras3_style(tmp_path):
    text = """
    model <- keras_model_sequential(input_shape = c(32, 32, 3)) |>
      keras::layer_conv_2d(32, c(3, 3), padding = "same", use_bias = FALSE) |>  # positional filters, kernel
      layer_batch_normalization() |>
      layer_activation_relu() |>
      layer_max_pooling_2d(pool_size = c(2L, 2L)) |>
      layer_flatten() |>
      layer_dense(units = 10, activation = "softmax", kernel_regularizer = regularizer_l2(l = 0.01),
                  kernel_initializer = initializer_he_normal(), bias_initializer = NULL,
                  name = "out")
    """
    spec = _imp(tmp_path, text, "m.R", name="cifar")
    assert spec.name == "cifar"
    assert [r.type for r in spec.rows] == ["Conv2D", "BatchNormalization", "ReLU", "MaxPooling2D", "Flatten",
                                           "Dense"]
    assert spec.rows[0].layer.options() == {"filters": 32, "kernel_size": (3, 3), "padding": "same",
                                            "use_bias": False}
    assert spec.rows[-1].name == "out"
    assert spec.rows[-1].layer.options()["kernel_regularizer"] == {"l2": 0.01}
    assert spec.rows[-1].layer.options()["kernel_initializer"] == "he_normal"


def test_import_r_keras2_first_layer_and_leaky_alpha(tmp_path):
    text = "model <- keras_model_sequential() %>%\n  layer_dense(units = 64, input_shape = c(784)) %>%\n" \
           "  layer_activation_leaky_relu(alpha = 0.1) %>%\n  layer_dense(10, 'softmax')\n"
    spec = _imp(tmp_path, text, "m.R")
    assert spec.input_shape == (784,)
    assert spec.rows[1].layer.options() == {"negative_slope": 0.1}
    assert spec.rows[2].layer.options() == {"units": 10, "activation": "softmax"}


def test_import_r_functional(tmp_path):
    text = """
inputs <- layer_input(shape = c(8, 8, 3))
a <- inputs |> layer_conv_2d(filters = 4, kernel_size = 3, padding = "same")
b <- inputs |> layer_conv_2d(filters = 4, kernel_size = 1)
s <- layer_add(list(a, b))
outputs <- s |> layer_flatten() |> layer_dense(units = 2)
model <- keras_model(inputs, outputs)
"""
    spec = _imp(tmp_path, text, "f.R")
    assert [(r.name, r.inputs) for r in spec.rows] == [
        ("conv2d", ["input"]), ("conv2d_1", ["input"]), ("add", ["conv2d", "conv2d_1"]),
        ("flatten", ["add"]), ("dense", ["flatten"])]
    assert check(spec).total == (3 * 3 * 3 * 4 + 4) + (3 * 4 + 4) + (8 * 8 * 4 * 2 + 2)


# ---------------------------------------------------------------------------------------------- Python imports
MNIST_CNN_PY = """\
from tensorflow import keras
from tensorflow.keras import layers, models

num_classes = 10
input_shape = (28, 28, 1)

(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train = x_train.astype("float32") / 255

model = models.Sequential()
model.add(layers.Conv2D(32, kernel_size=(3, 3), activation="relu", input_shape=input_shape))
model.add(layers.Conv2D(64, (3, 3), activation="relu"))
model.add(layers.MaxPooling2D(pool_size=(2, 2)))
model.add(layers.Dropout(0.25))
model.add(layers.Flatten())
model.add(layers.Dense(128, activation="relu"))
model.add(layers.Dropout(0.5))
model.add(layers.Dense(num_classes, activation="softmax"))

model.compile(loss="categorical_crossentropy", optimizer="adadelta", metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=128, epochs=12, validation_split=0.2)
"""


def test_import_python_model_add_is_table6(tmp_path):
    spec = _imp(tmp_path, MNIST_CNN_PY, "mnist_cnn.py")
    t6 = load_spec(ROOT / "specs/table6.yaml")
    assert [(t, n, i, o) for t, n, i, o, _ in rows(spec)] == [(t, n, i, o) for t, n, i, o, _ in rows(t6)]


def test_import_python_sequential_list_aliases(tmp_path):
    text = """
import keras
from keras import layers
model = keras.Sequential(
    [
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(16, 5, strides=2, padding="same"),
        layers.MaxPool2D(),
        layers.Activation("relu"),
        layers.Reshape((7, 7 * 16)),
        layers.GlobalAvgPool1D(),
        layers.Dense(10, kernel_regularizer=keras.regularizers.L2(1e-4)),
    ],
    name="small",
)
"""
    spec = _imp(tmp_path, text, "s.py")
    assert spec.name == "small"
    assert [r.type for r in spec.rows] == ["Conv2D", "MaxPooling2D", "Activation", "Reshape",
                                           "GlobalAveragePooling1D", "Dense"]
    assert spec.rows[3].layer.options() == {"target_shape": (7, 112)}
    assert spec.rows[-1].layer.options()["kernel_regularizer"] == {"l2": 1e-4}


def test_import_python_input_layer_and_activation_functions(tmp_path):
    text = """
import tensorflow as tf
model = tf.keras.models.Sequential([
    tf.keras.layers.InputLayer(input_shape=(28, 28, 1)),
    tf.keras.layers.Conv2D(8, 3, activation=tf.nn.relu),
    tf.keras.layers.Flatten(),
    tf.keras.layers.Dense(10, activation=tf.keras.activations.softmax),
])
"""
    spec = _imp(tmp_path, text, "il.py")
    assert spec.input_shape == (28, 28, 1)
    assert [r.layer.options().get("activation") for r in spec.rows] == ["relu", None, "softmax"]
    r_text = "model <- keras_model_sequential(input_shape = 4) %>% layer_dense(3, activation = activation_relu)"
    assert _imp(tmp_path, r_text, "a.R").rows[0].layer.options() == {"units": 3, "activation": "relu"}


def test_import_python_functional(tmp_path):
    text = """
from keras import layers, Model, Input
inp = Input((8, 8, 3))
x = layers.Conv2D(4, 3, padding="same", name="c1")(inp)
y = layers.Conv2D(4, 1, name="c2")(inp)
z = layers.Concatenate()([x, y])
unused = layers.Dense(3)(z)
out = layers.Dense(2)(layers.Flatten()(z))
model = Model(inputs=inp, outputs=out)
"""
    spec = _imp(tmp_path, text, "f.py")
    assert [(r.type, r.inputs) for r in spec.rows] == [
        ("Conv2D", ["input"]), ("Conv2D", ["input"]), ("Concatenate", ["c1", "c2"]), ("Flatten", ["concatenate"]),
        ("Dense", ["flatten"])]


# ---------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("text,file,line,words", [
    ("model <- keras_model_sequential(input_shape = c(4)) |>\n  layer_dense(units = 2) |>\n"
     "  layer_dense_foo(units = 1)\n", "e.R", 3, "unknown layer function 'layer_dense_foo'"),
    ("model <- keras_model_sequential(input_shape = c(4)) |>\n  layer_dense(units = n_units)\n",
     "e.R", 2, "argument 'units' is not a literal"),
    ("model <- keras_model_sequential(input_shape = c(4)) |>\n  layer_dense(units = 2,,\n  )) |>\n",
     "e.R", 3, "R syntax error"),
    ("model <- keras_model_sequential(input_shape = c(4)) |>\n  layer_dense(units = 2\n", "e.R", 3,
     "unclosed '('"),
    ("model <- keras_model_sequential(input_shape = c(4))\nfor (u in sizes()) model |> layer_dense(u)\n",
     "e.R", 2, "unsupported R construct 'for'"),
    ("model <- keras_model_sequential(input_shape = c(4)) |>\n  layer_dense(unitz = 2)\n", "e.R", 2,
     "unknown option 'unitz' for Dense (did you mean 'units'?)"),
    ("model <- keras_model_sequential(input_shape = c(4)) |>\n  layer_dropout(rate = 1.5)\n", "e.R", 2,
     "less than 1"),
    ("import keras\nmodel = keras.Sequential([\n    keras.Input((4,)),\n    keras.layers.Dense(2),\n"
     "    keras.layers.Denze(1),\n])\n", "e.py", 5, "unknown Keras layer 'Denze' (did you mean 'Dense'?)"),
    ("import keras\nn = compute()\nmodel = keras.Sequential()\nmodel.add(keras.layers.Dense(n, input_shape=(4,)))\n",
     "e.py", 4, "argument 'units' is not a literal"),
    ("import keras\nmodel = keras.Sequential(\n    [keras.layers.Dense(2)\n", "e.py", 3, "Python syntax error"),
    ("import keras\nmodel = keras.Sequential()\nfor u in sizes():\n    model.add(keras.layers.Dense(u))\n",
     "e.py", 3, "unsupported Python construct 'for'"),
    ("x <- 1\n", "e.R", None, "no Keras model found"),
    ("m <- keras_model_sequential(input_shape = c(4)) |>\n  layer_dense(2, name = 'a') |>\n"
     "  layer_dense(2, name = 'a')\n", "e.R", 3, "duplicate layer name 'a' (first on line 2)"),
    ("m <- keras_model_sequential(input_shape = c(4)) |>\n  layer_add()\n", "e.R", 2, "use the functional API"),
    ("m <- keras_model_sequential(input_shape = c(4)) |>\n  layer_dense(units = 1 / 0)\n", "e.R", 2,
     "a division by zero"),
])
def test_import_errors(text, file, line, words):
    with pytest.raises(SpecError) as ei:
        import_text(text, file)
    err = ei.value
    assert words in str(err)
    assert err.file == file and err.line == line
    assert "\n" not in str(err)


# ---------------------------------------------------------------------------------------------- CLI
def _cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "cnnspec", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_code_and_import(tmp_path):
    r = _cli("code", "specs/cifar10_m.yaml#M4", "--lang", "r", "-o", str(tmp_path / "m4.R"))
    assert r.returncode == 0, r.stderr
    r = _cli("import", str(tmp_path / "m4.R"), "-o", str(tmp_path / "m4.yaml"), "--name", "m4")
    assert r.returncode == 0, r.stderr
    back = load_spec(tmp_path / "m4.yaml")
    assert back.name == "m4" and rows(back) == rows(load_spec(ROOT / "specs/cifar10_m.yaml#M4"))
    r = _cli("code", "specs/table3.yaml", "--lang", "python")
    assert r.returncode == 0 and "keras.Sequential([" in r.stdout
    bad = tmp_path / "bad.R"
    bad.write_text("model <- keras_model_sequential(input_shape = c(4)) |>\n  layer_foo()\n")
    r = _cli("import", str(bad))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and f"{bad}:2:" in r.stderr
    r = _cli("code", "specs/cifar10_m.yaml", "--lang", "r")
    assert r.returncode == 2 and "choose one" in r.stderr


@pytest.mark.skipif(not __import__("shutil").which("Rscript"), reason="R is not installed")
def test_generated_r_code_parses_in_r(tmp_path):
    """R keras is not needed to know the generated code is valid R: R's own parser reads it."""
    files = []
    for i, (path, variant) in enumerate(ALL):
        f = tmp_path / f"m{i}.R"
        f.write_text(generate(_load(path, variant), "r", force=True))
        files.append(f)
    g = tmp_path / "graph.R"
    g.write_text(generate(spec_of(tmp_path, GRAPH), "r"))
    files.append(g)
    snippet = tmp_path / "mnist_cnn.R"  # the hand-written test input is valid R too
    snippet.write_text(MNIST_CNN_R)
    files.append(snippet)
    expr = "for (f in commandArgs(TRUE)) invisible(parse(file = f)); cat('parsed', length(commandArgs(TRUE)))"
    r = subprocess.run(["Rscript", "-e", expr, *map(str, files)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"parsed {len(files)}" in r.stdout


@pytest.mark.parametrize("lang", ["r", "python"])
def test_roundtrip_attention_recurrent_wrappers(lang, tmp_path):
    """MultiHeadAttention applied to (query, value), Bidirectional and TimeDistributed wrappers import back."""
    spec = load_spec(Path(__file__).parent / "specs" / "attention_block.yaml")
    code, back = roundtrip(spec, lang, tmp_path)
    assert back.input_shape == spec.input_shape
    assert rows(back) == rows(spec)
