"""`cnnspec import` of saved models (.keras, .h5, config .json) built and saved by real Keras:
rows and options as the spec they came from, counts checked against the file's weights, the
train section from the compile configuration, Lambda layers refused by name, hostile files."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cnnspec.check.infer import check
from cnnspec.errors import SpecError
from cnnspec.interop.codegen import generate
from cnnspec.interop.importer import import_file
from cnnspec.spec.loader import load_spec

keras = pytest.importorskip("keras")

ROOT = Path(__file__).resolve().parents[1]
GRAPH = """
input: [16, 16, 3]
layers:
  - {type: Conv2D, name: stem, filters: 8, kernel_size: 3, padding: same, activation: relu,
     kernel_initializer: he_normal, kernel_regularizer: {l2: 0.001}}
  - {type: Conv2D, name: a, filters: 8, kernel_size: 3, padding: same, use_bias: false}
  - {type: BatchNormalization, name: bn, trainable: false}
  - {type: Add, name: add, inputs: [stem, bn]}
  - {type: SeparableConv2D, name: side, inputs: stem, filters: 4, kernel_size: 3, strides: 2, padding: same}
  - {type: UpSampling2D, name: up, size: 2}
  - {type: Concatenate, name: cat, inputs: [add, up], axis: -1}
  - {type: GlobalAveragePooling2D}
  - {type: Dropout, rate: 0.5}
  - {type: Dense, units: 3, activation: softmax}
"""
RNN = """
input: [20]
layers:
  - {type: Embedding, input_dim: 500, output_dim: 8}
  - {type: Bidirectional, layer: {type: LSTM, units: 6, return_sequences: true}}
  - {type: TimeDistributed, layer: {type: Dense, units: 4}}
  - {type: GRU, units: 5}
  - {type: Dense, units: 2, activation: softmax}
"""
CASES = {"table6": ROOT / "specs/table6.yaml", "table3_2": ROOT / "specs/table3_2.yaml", "graph": GRAPH,
         "rnn": RNN}


def _spec(case: str):
    src = CASES[case]
    return load_spec(src) if isinstance(src, Path) else load_spec(f"{case}.yaml", text=src)


def _model(spec):
    ns: dict = {}
    exec(compile(generate(spec, "python", force=True).replace("model.summary()", ""), "<generated>", "exec"), ns)
    return ns["model"]


def _rows(spec):
    """By name (Keras saves a graph's layers in its own topological order): type, inputs, trainable,
    output shape and count."""
    return {r.row.name: (r.row.type, r.row.inputs, r.row.layer.trainable, r.output, r.count.total)
            for r in check(spec).rows}


def _same_options(back, spec):
    """Every option the spec sets comes back with the same value."""
    def norm(v):  # kernel_size (3, 3) is kernel_size 3
        return v[0] if isinstance(v, tuple) and v and len(set(v)) == 1 else v

    got = {r.name: r.layer.model_dump() for r in back.rows}
    return all(norm(got[r.name][k]) == norm(r.layer.model_dump()[k]) for r in spec.rows for k in r.layer.options())


@pytest.mark.parametrize("fmt", ["keras", "h5", "json"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_saved_model_imports_as_its_spec(case, fmt, tmp_path):
    spec = _spec(case)
    model = _model(spec)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-4), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    path = tmp_path / f"m.{fmt}"
    if fmt == "json":
        path.write_text(model.to_json())
    else:
        model.save(path)
    back = load_spec("imported.yaml", text=import_file(path))
    assert back.input_shape == spec.input_shape
    assert _rows(back) == _rows(spec) and _same_options(back, spec)
    rep = check(back)
    assert rep.total == model.count_params() and rep.ok
    if fmt != "json":
        assert back.expect.total == model.count_params()
        assert back.train["optimizer"] == {"name": "adam", "learning_rate": 3e-4} or \
            back.train["optimizer"]["learning_rate"] == 3e-4
        assert back.train["loss"] == "sparse_categorical_crossentropy"


def test_lambda_is_refused_by_name(tmp_path):
    inp = keras.Input((4,))
    out = keras.layers.Dense(2)(keras.layers.Lambda(lambda x: x * 2, name="double")(inp))
    path = tmp_path / "lam.keras"
    keras.Model(inp, out).save(path)
    with pytest.raises(SpecError) as ei:
        import_file(path)
    assert "'double' is a Lambda" in str(ei.value) and "never executes" in str(ei.value)


def test_counts_are_checked_against_the_weights(tmp_path):
    model = _model(_spec("table6"))
    path = tmp_path / "m.keras"
    model.save(path)
    forged = tmp_path / "forged.keras"  # a config that no longer matches its weights
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(forged, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                cfg = json.loads(data)
                cfg["config"]["layers"][-1]["config"]["units"] = 11
                data = json.dumps(cfg).encode()
            dst.writestr(item, data)
    with pytest.raises(SpecError) as ei:
        import_file(forged)
    assert "weights hold 1,199,882" in str(ei.value)


KERAS2_JSON = {  # the layout of tf.keras 2.x model.to_json() for a functional model (inbound_nodes as lists)
    "class_name": "Functional", "keras_version": "2.11.0", "backend": "tensorflow",
    "config": {"name": "model", "layers": [
        {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 28, 28, 1], "dtype": "float32", "name": "input_1"}},
        {"class_name": "Conv2D", "name": "conv2d", "inbound_nodes": [[["input_1", 0, 0, {}]]],
         "config": {"name": "conv2d", "trainable": True, "filters": 8, "kernel_size": [3, 3], "strides": [1, 1],
                    "padding": "valid", "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1,
                    "activation": "relu", "use_bias": True,
                    "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
                    "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
                    "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
                    "bias_constraint": None}},
        {"class_name": "MaxPooling2D", "name": "max_pooling2d", "inbound_nodes": [[["conv2d", 0, 0, {}]]],
         "config": {"name": "max_pooling2d", "trainable": True, "pool_size": [2, 2], "padding": "valid",
                    "strides": [2, 2], "data_format": "channels_last"}},
        {"class_name": "Flatten", "name": "flatten", "inbound_nodes": [[["max_pooling2d", 0, 0, {}]]],
         "config": {"name": "flatten", "trainable": True, "data_format": "channels_last"}},
        {"class_name": "Dense", "name": "dense", "inbound_nodes": [[["flatten", 0, 0, {}]]],
         "config": {"name": "dense", "trainable": True, "units": 10, "activation": "softmax", "use_bias": True,
                    "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
                    "bias_initializer": {"class_name": "Zeros", "config": {}}}}],
        "input_layers": [["input_1", 0, 0]], "output_layers": [["dense", 0, 0]]}}


def test_keras2_json_layout(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(KERAS2_JSON))
    spec = load_spec("imported.yaml", text=import_file(path))
    assert spec.input_shape == (28, 28, 1)
    assert [(r.type, r.layer.options()) for r in spec.rows] == [
        ("Conv2D", {"filters": 8, "kernel_size": 3, "activation": "relu"}),
        ("MaxPooling2D", {"strides": 2}), ("Flatten", {}),
        ("Dense", {"units": 10, "activation": "softmax"})]
    assert check(spec).total == 8 * 9 + 8 + 13 * 13 * 8 * 10 + 10


def test_keras_2_2_sequential_list_layout(tmp_path):
    """Keras <= 2.2 saved a Sequential's configuration as a bare list of layers."""
    cfg = {"class_name": "Sequential", "config": [
        {"class_name": "Dense", "config": {"name": "dense_1", "units": 4, "batch_input_shape": [None, 3],
                                           "activation": "relu", "use_bias": True}},
        {"class_name": "Dense", "config": {"name": "dense_2", "units": 2, "activation": "linear"}}]}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(cfg))
    spec = load_spec("imported.yaml", text=import_file(path))
    assert spec.input_shape == (3,) and check(spec).total == 3 * 4 + 4 + 4 * 2 + 2


@pytest.mark.parametrize("content,words", [
    (b"PK\x03\x04 not really a zip", "cannot read the model file"),
    (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    (json.dumps({"class_name": "MyModel", "config": {}}).encode(), "subclassed or custom"),
])
def test_hostile_model_files_are_one_line_errors(content, words, tmp_path):
    path = tmp_path / ("m.keras" if content.startswith(b"PK") else "m.json")
    path.write_bytes(content)
    r = subprocess.run([sys.executable, "-m", "cnnspec", "import", str(path)], capture_output=True, text=True)
    assert r.returncode == 2 and words in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_saved_keras_application(tmp_path):
    """A real Keras architecture saved by Keras (MobileNetV2: ReLU(6), asymmetric ZeroPadding2D,
    depthwise convolutions, residual Adds) imports with the counts its weights hold."""
    model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), classes=10, alpha=0.35)
    path = tmp_path / "mobilenet.keras"
    model.save(path)
    text = import_file(path)
    spec = load_spec("imported.yaml", text=text)
    rep = check(spec)
    assert rep.ok and rep.total == model.count_params() == spec.expect.total
    assert "renorm_momentum = 0.99 (bn_Conv1 and" in text  # dropped settings are said, once per setting
    relu6 = [r for r in spec.rows if r.type == "ReLU"]
    assert relu6 and all(r.layer.options() == {"max_value": 6.0} for r in relu6)
