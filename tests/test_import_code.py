"""`cnnspec import` of R and Python code: the faults found from outside (Embedding arguments, deeply
nested files), idioms of published scripts, and the train section from compile()/fit()."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cnnspec.check.infer import check
from cnnspec.errors import SpecError
from cnnspec.interop.codegen import generate
from cnnspec.interop.importer import import_text
from cnnspec.spec.loader import load_spec

ROOT = Path(__file__).resolve().parents[1]

EMBED = """
name: emb
input: [100]
layers:
  - {type: Embedding, input_dim: 5000, output_dim: 50}
  - {type: Conv1D, filters: 250, kernel_size: 3, activation: relu}
  - {type: GlobalMaxPooling1D}
  - {type: Dense, units: 1, activation: sigmoid}
"""


def _spec(text: str):
    return load_spec("imported.yaml", text=text)


@pytest.mark.parametrize("lang", ["r", "python"])
def test_embedding_code_printed_by_cnnspec_imports(lang):
    spec = load_spec("emb.yaml", text=EMBED)
    back = _spec(import_text(generate(spec, lang), f"gen.{'R' if lang == 'r' else 'py'}"))
    assert back.rows[0].layer.options() == {"input_dim": 5000, "output_dim": 50}
    assert check(back).total == check(spec).total == 5000 * 50 + 3 * 50 * 250 + 250 + 251


def test_embedding_input_length_gives_the_input_shape():
    r = ("model <- keras_model_sequential()\nmodel %>%\n"
         "  layer_embedding(input_dim = 5000, output_dim = 50, input_length = 400) %>%\n"
         "  layer_flatten() %>% layer_dense(1)\n")
    spec = _spec(import_text(r, "imdb.R"))
    assert spec.input_shape == (400,) and spec.rows[0].layer.options() == {"input_dim": 5000, "output_dim": 50}
    py = ("from tensorflow.keras import layers, Sequential\n"
          "model = Sequential([layers.Embedding(20000, 128, input_length=80), layers.GlobalAveragePooling1D(),\n"
          "                    layers.Dense(1, activation='sigmoid')])\n")
    spec = _spec(import_text(py, "imdb.py"))
    assert spec.input_shape == (80,) and spec.rows[0].layer.options() == {"input_dim": 20000, "output_dim": 128}
    assert check(spec).total == 20000 * 128 + 129


@pytest.mark.parametrize("text,file", [
    ("x <- " + "c(" * 3000 + "1" + ")" * 3000 + "\n", "deep.R"),
    ("x <- " + "{" * 500 + "1" + "}" * 500 + "\n", "deep2.R"),
    ("x <- " + "-" * 5000 + "1\n", "deep3.R"),
    ("x = " + "[" * 3000 + "1" + "]" * 3000 + "\n", "deep.py"),
    ("x = " + "[" * 150 + "1" + "]" * 150 + "\n", "deep2.py"),
    ("x = 1" + " + 1" * 100000 + "\n", "long.py"),
])
def test_deeply_nested_file_is_a_one_line_error(text, file, tmp_path):
    p = tmp_path / file
    p.write_text(text)
    r = subprocess.run([sys.executable, "-m", "cnnspec", "import", str(p)], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and r.stderr.strip().count("\n") == 0, r.stderr
    assert "internal error" not in r.stderr and str(p) in r.stderr


def test_import_output_over_input_is_refused(tmp_path):
    src = tmp_path / "m.R"
    text = "model <- keras_model_sequential(input_shape = 4) |> layer_dense(2)\n"
    src.write_text(text)
    r = subprocess.run([sys.executable, "-m", "cnnspec", "import", str(src), "-o", str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "is the input" in r.stderr
    assert src.read_text() == text


# ---------------------------------------------------------------------------------------------- idioms
def _rows(text: str, file: str):
    spec = _spec(import_text(text, file))
    return spec, [(r.type, r.name, r.inputs, r.layer.options()) for r in spec.rows]


R_IDIOMS = """
library(keras3)
conv_bn <- function(x, filters, size = 3) {
  x |> layer_conv_2d(filters, size, padding = "same", use_bias = FALSE,
                     kernel_initializer = initializer_he_normal(seed = 1)) |>
    layer_batch_normalization() |>
    layer_activation_relu()
}
dense_block <- function(units) layer_dense(units = units, activation = "relu")
scale <- layer_rescaling(scale = 1/255)
inputs <- layer_input(batch_shape = c(NA, 32, 32, 3))
x <- scale(inputs)
x <- conv_bn(x, 16)
y <- conv_bn(x, 16, size = 1)
s <- layer_add(x, y)
t <- s |> layer_add(x)
u <- layer_concatenate(list(s, t), axis = -1)
for (f in c(32, 64)) u <- u |> conv_bn(f) |> layer_max_pooling_2d()
if (interactive()) plot(u)
head <- dense_block(10)
outputs <- u |> layer_global_average_pooling_2d() |> head()
model <- keras_model(inputs, outputs)
model %>% compile(optimizer = optimizer_adam(learning_rate = 1e-3), loss = "sparse_categorical_crossentropy",
                  metrics = c("accuracy"))
"""


def test_r_idioms():
    spec, rows = _rows(R_IDIOMS, "idioms.R")
    assert spec.input_shape == (32, 32, 3)  # c(NA, ...): the batch dimension
    assert rows[0] == ("Rescaling", "rescaling", ["input"], {"scale": 1 / 255})  # created, then applied
    assert rows[1][3] == {"filters": 16, "kernel_size": 3, "padding": "same", "use_bias": False,
                          "kernel_initializer": {"class_name": "HeNormal", "config": {"seed": 1}}}
    adds = [r for r in rows if r[0] == "Add"]
    assert adds == [("Add", "add", ["re_lu", "re_lu_1"], {}), ("Add", "add_1", ["add", "re_lu"], {})]
    assert [r[3]["filters"] for r in rows if r[0] == "Conv2D"] == [16, 16, 32, 64]  # loop over c(32, 64)
    assert rows[-1][:2] == ("Dense", "dense") and rows[-1][3] == {"units": 10, "activation": "relu"}
    assert spec.train["optimizer"] == {"name": "adam", "learning_rate": 1e-3}
    assert check(spec).total > 0


def test_r_keras3_sequential_layers_list_and_magrittr_assignment():
    text = """
model <- keras_model_sequential(input_shape = c(28, 28, 1), layers = list(
  layer_conv_2d(filters = 8, kernel_size = 3),
  layer_flatten()))
model %<>% layer_dense(units = 10)
"""
    spec, rows = _rows(text, "seq.R")
    assert [r[0] for r in rows] == ["Conv2D", "Flatten", "Dense"]
    _, rows2 = _rows("model <- keras_model_sequential(input_shape = c(NA, 100)) %>% layer_conv_1d_transpose(4, 3)\n"
                     "model %<>% layer_dense(2)\n", "t.R")
    assert rows2[0][0] == "Conv1DTranspose" and rows2[-1][0] == "Dense"
    spec3, _ = _rows("model <- keras_model_sequential() %>% layer_dense(4, input_shape = c(NULL, 10))\n", "n.R")
    assert spec3.input_shape == (10,)  # c(NULL, 10) is 10 in R


PY_IDIOMS = """
import tensorflow as tf
from tensorflow import keras

img_size = (16, 16)
base = [tf.keras.layers.Conv2D(8, 3, activation="relu"), tf.keras.layers.MaxPooling2D()]
head = [tf.keras.layers.Flatten(), tf.keras.layers.Dense(128 * 2 // 4)]
model = tf.keras.Sequential([tf.keras.Input(shape=img_size + (3,))] + base + head + [keras.layers.Dense(2)])

def block(x, filters, strides=1):
    y = keras.layers.Conv2D(filters, 3, strides=strides, padding="same")(x)
    return keras.layers.BatchNormalization()(y)

inputs = keras.Input(shape=(8, 8, 3))
x = block(inputs, 4)
x = keras.layers.add([x, block(x, 4)])
for i in range(2):
    x = block(x, 4 * (i + 1), strides=2)
flat = keras.layers.Reshape((2 * 2 * 8,))(x)
graph = keras.Model(inputs=[inputs], outputs=keras.layers.Dense(3)(flat))
"""


def test_python_idioms():
    spec, rows = _rows(PY_IDIOMS, "idioms.py")  # 'model' is the model the script names so
    assert spec.input_shape == (16, 16, 3)
    assert [r[0] for r in rows] == ["Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]
    assert rows[3][3] == {"units": 64}
    graph = _spec(import_text(PY_IDIOMS.replace("model = ", "seq = ").replace("graph = ", "model = "), "g.py"))
    assert [r.type for r in graph.rows].count("Conv2D") == 4 and graph.rows[-2].layer.options() == \
        {"target_shape": (32,)}
    assert check(graph).rows[-1].output == (3,)


@pytest.mark.parametrize("text,file,line,words", [
    ("m <- keras_model_sequential(input_shape = 4)\nif (runif(1) > 0.5) m |> layer_dense(2)\n", "c.R", 2,
     "cannot decide statically"),
    ("m <- keras_model_sequential(input_shape = 4)\nwhile (TRUE) m |> layer_dense(2)\n", "w.R", 2,
     "unsupported R construct 'while'"),
    ("f <- function(x) f(x)\nm <- keras_model_sequential(input_shape = 4) |> f()\n", "rec.R", 1, "50 deep"),
    ("import keras\nd = keras.layers.Dense(2)\ni = keras.Input((4,))\nm = keras.Model(i, d(d(i)))\n", "s.py", 4,
     "shared layers"),
    ("import keras\nclass M(keras.Model):\n    def __init__(self):\n        self.d = keras.layers.Dense(2)\n",
     "sub.py", 2, "subclassed model"),
])
def test_unreadable_code_is_one_line_error_naming_the_line(text, file, line, words):
    with pytest.raises(SpecError) as ei:
        import_text(text, file)
    assert words in str(ei.value) and ei.value.line == line and "\n" not in str(ei.value), str(ei.value)


def test_python_names_imported_bare():
    text = """
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Conv2D, Dense, Flatten, MaxPool2D as Pool
from tensorflow.keras.regularizers import l2
from tensorflow.keras.initializers import HeNormal
from tensorflow.keras.optimizers import SGD
from tensorflow.keras.losses import CategoricalCrossentropy
model = Sequential()
model.add(Conv2D(8, (3, 3), input_shape=(28, 28, 1), kernel_regularizer=l2(5e-4),
                 kernel_initializer=HeNormal(seed=7)))
model.add(Pool())
model.add(Flatten())
model.add(Dense(10, activation="softmax"))
model.compile(optimizer=SGD(learning_rate=0.01, momentum=0.9), loss=CategoricalCrossentropy(), metrics=["acc"])
pred = model(x_new)
"""
    spec, rows = _rows(text, "bare.py")
    assert rows[0][3] == {"filters": 8, "kernel_size": (3, 3), "kernel_regularizer": {"l2": 5e-4},
                          "kernel_initializer": {"class_name": "HeNormal", "config": {"seed": 7}}}
    assert [r[0] for r in rows] == ["Conv2D", "MaxPooling2D", "Flatten", "Dense"]
    assert dict(spec.train) == {"optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9},
                                "loss": "categorical_crossentropy", "metrics": ["accuracy"]}


def test_wrapped_layers_are_nested_rows():
    r_text = ("model <- keras_model_sequential(input_shape = c(100)) %>%\n"
              "  layer_embedding(input_dim = 2000, output_dim = 32) %>%\n"
              "  bidirectional(layer_lstm(units = 16, return_sequences = TRUE)) %>%\n"
              "  layer_bidirectional(layer = layer_gru(units = 8)) %>%\n  layer_dense(1)\n")
    _, rows = _rows(r_text, "bi.R")
    def inner(row):
        layer = row[3]["layer"]
        return layer.keras_class, layer.options()

    assert inner(rows[1]) == ("LSTM", {"units": 16, "return_sequences": True})
    assert inner(rows[2]) == ("GRU", {"units": 8})
    py = ("import keras\nfrom keras import layers\nmodel = keras.Sequential([keras.Input((10, 5)),\n"
          "    layers.Bidirectional(layers.LSTM(8, return_sequences=True)), layers.TimeDistributed(layers.Dense(3))])\n")
    spec, rows = _rows(py, "bi.py")
    assert inner(rows[1]) == ("Dense", {"units": 3})
    assert check(spec).total == 2 * (4 * (5 * 8 + 8 * 8 + 8)) + 16 * 3 + 3


def test_names_built_from_strings():
    py = ("import keras\ninputs = keras.Input((8, 8, 3))\nx = inputs\nfor i in range(2):\n"
          "    x = keras.layers.Conv2D(4 * (i + 1), 3, name=f\"block{i + 1}_conv\")(x)\n"
          "x = keras.layers.Flatten(name='flat_' + str(2))(x)\nmodel = keras.Model(inputs, x)\n")
    _, rows = _rows(py, "n.py")
    assert [r[1] for r in rows] == ["block1_conv", "block2_conv", "flat_2"]
    r = ("model <- keras_model_sequential(input_shape = c(4))\nfor (i in 1:2) model |> layer_dense(8, name = "
         "paste0(\"dense_\", i))\nmodel |> layer_dense(2, name = paste(\"out\", \"layer\", sep = \"_\"))\n")
    _, rows = _rows(r, "n.R")
    assert [x[1] for x in rows] == ["dense_1", "dense_2", "out_layer"]


TF_QUICKSTART = """
import tensorflow as tf
mnist = tf.keras.datasets.mnist
(x_train, y_train), (x_test, y_test) = mnist.load_data()
x_train, x_test = x_train / 255.0, x_test / 255.0
model = tf.keras.models.Sequential([
  tf.keras.layers.Flatten(input_shape=(28, 28)),
  tf.keras.layers.Dense(128, activation='relu'),
  tf.keras.layers.Dropout(0.2),
  tf.keras.layers.Dense(10)
])
predictions = model(x_train[:1]).numpy()
loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
model.compile(optimizer='adam', loss=loss_fn, metrics=['accuracy'])
model.fit(x_train, y_train, epochs=5)
probability_model = tf.keras.Sequential([
  model,
  tf.keras.layers.Softmax()
])
"""


def test_tensorflow_quickstart_shape():
    """The TensorFlow beginner quickstart's code: the model called on data and wrapped in another
    Sequential afterwards; the wrapper is refused only when it is the model the file defines."""
    spec, rows = _rows(TF_QUICKSTART, "quickstart.py")
    assert [r[0] for r in rows] == ["Flatten", "Dense", "Dropout", "Dense"] and spec.input_shape == (28, 28)
    assert dict(spec.train) == {"dataset": "mnist", "epochs": 5, "optimizer": "adam",
                                "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
    with pytest.raises(SpecError) as ei:
        import_text(TF_QUICKSTART.replace("probability_model = ", "model = "), "q.py")
    assert ei.value.line == 16 and "nested in a Sequential" in str(ei.value)


SHAPE_CODE = (ROOT / "tests" / "data" / "resnet_shape_condition.py")


def test_python_code_branching_on_a_tensor_shape_imports():
    """``if shortcut.shape[-1] != filters`` (ResNet's projection shortcut), ``h, w, c = x.shape[1:]`` and
    ``Dense(x.shape[-1] // 4)``: shapes are inferred from the rows built so far (Keras built this code to
    38,520 parameters, with the projection only in the block that changes width)."""
    spec = _spec(import_text(SHAPE_CODE.read_text(), "resnet_shape_condition.py"))
    report = check(spec)
    assert [r.type for r in spec.rows].count("Conv2D") == 8  # stem + 2 per block + 1 projection
    assert report.total == 38520 and report.rows[-1].output == (8,)
    assert any(r.output == (64, 32) for r in report.rows)  # Reshape((h * w, c)) of an 8x8x32 map


def test_r_code_branching_on_a_tensor_shape_imports_like_python():
    """The R form of the same network (``x$shape[[length(x$shape)]]``, ``%/%``, ``c(16, 1)[1]``, ``||``
    short-circuiting): the same rows and Keras's 38,520 parameters."""
    text = (ROOT / "tests" / "data" / "resnet_shape_condition.R").read_text()
    spec = _spec(import_text(text, "resnet_shape_condition.R"))
    py = _spec(import_text(SHAPE_CODE.read_text(), "resnet_shape_condition.py"))
    assert check(spec).total == 38520
    assert [(r.type, check(spec).rows[i].output) for i, r in enumerate(spec.rows)] == \
        [(r.type, check(py).rows[i].output) for i, r in enumerate(py.rows)]


@pytest.mark.parametrize("cond", ["interactive()", "x$shape[[4]] == n_from_data"])
def test_r_undecidable_condition_in_a_functional_helper_is_an_error(cond):
    text = ("library(keras3)\nblock <- function(x, filters) {\n  shortcut <- x\n"
            "  y <- x |> layer_conv_2d(filters, 3, padding = 'same')\n"
            f"  if ({cond}) {{\n    shortcut <- shortcut |> layer_conv_2d(filters, 1)\n  }}\n"
            "  layer_add(list(y, shortcut))\n}\n"
            "inputs <- layer_input(shape = c(8, 8, 4))\noutputs <- block(inputs, 4) |> layer_flatten()\n"
            "model <- keras_model(inputs, outputs)\n")
    with pytest.raises(SpecError) as ei:
        import_text(text, "u.R")
    assert "cannot decide statically" in str(ei.value) and ei.value.line == 5


def test_a_binary_file_given_to_import_says_what_import_reads(tmp_path):
    from cnnspec.interop.importer import import_file

    png = tmp_path / "photo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(SpecError) as ei:
        import_file(str(png))
    assert str(ei.value) == f"{png}: binary file, not R or Python code or a printed summary (saved models: " \
                            ".keras, .h5, .json)"


WRAPPED_THEN_PLAIN = """import keras
from keras import layers
inp = keras.Input((10, 4))
x = layers.Bidirectional(layers.GRU(4, return_sequences=True))(inp)
x = layers.TimeDistributed(layers.Dense(5))(x)
x = layers.GRU(3, return_sequences=True)(x)
x = layers.LSTM(2)(x)
out = layers.Dense(2)(x)
model = keras.Model(inp, out)
"""


def test_names_after_a_wrapped_layer_are_keras_names():
    """Keras names the layer a wrapper holds (gru, dense) before the next plain one (gru_1, dense_2):
    the imported graph and the spec checked from a Sequential list print Keras's names."""
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    ns: dict = {}
    exec(WRAPPED_THEN_PLAIN, ns)
    want = [layer.name for layer in ns["model"].layers[1:]]
    spec = _spec(import_text(WRAPPED_THEN_PLAIN, "w.py"))
    assert [r.name for r in spec.rows] == want
    seq = load_spec("s.yaml", text="input: [10, 4]\nlayers:\n"
                    "  - {type: Bidirectional, layer: {type: GRU, units: 4, return_sequences: true}}\n"
                    "  - {type: TimeDistributed, layer: {type: Dense, units: 5}}\n"
                    "  - {type: GRU, units: 3, return_sequences: true}\n  - {type: LSTM, units: 2}\n"
                    "  - {type: Dense, units: 2}\n")
    assert [r.name for r in seq.rows] == want
