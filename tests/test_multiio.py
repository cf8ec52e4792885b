"""Models with several inputs (Input rows) and several outputs (`outputs:`): check and summary without
TensorFlow, build compared with real Keras, code generation and import (Python, R, printed summaries)."""
from __future__ import annotations

import json

import pytest

from conftest import SPECS, cli_subprocess

from cnnspec.check.infer import check
from cnnspec.errors import SpecError
from cnnspec.interop.codegen import generate
from cnnspec.interop.importer import import_text
from cnnspec.spec.loader import load_spec

#: graphs with several inputs and/or outputs, built with Keras and compared with check row by row
GRAPHS = {
    "three_inputs_add": """
layers:
  - {type: Input, name: a, shape: [8]}
  - {type: Input, name: b, shape: [8]}
  - {type: Input, name: c, shape: [6], dtype: float32}
  - {type: Dense, name: c_proj, inputs: c, units: 8, use_bias: false}
  - {type: Add, name: sum, inputs: [a, b, c_proj]}
  - {type: Dense, name: out, units: 3, activation: softmax}
""",
    "two_in_two_out": """
layers:
  - {type: Input, name: left, shape: [16, 16, 3]}
  - {type: Input, name: right, shape: [16, 16, 3]}
  - {type: Conv2D, name: conv_l, inputs: left, filters: 4, kernel_size: 3}
  - {type: Conv2D, name: conv_r, inputs: right, filters: 4, kernel_size: 3, padding: same}
  - {type: GlobalMaxPooling2D, name: pool_l, inputs: conv_l}
  - {type: GlobalAveragePooling2D, name: pool_r, inputs: conv_r}
  - {type: Concatenate, name: both, inputs: [pool_l, pool_r]}
  - {type: Dense, name: same, units: 1, activation: sigmoid}
  - {type: Dense, name: kind, inputs: both, units: 5}
  - {type: BatchNormalization, name: bn, inputs: pool_r}
  - {type: Dense, name: score, units: 1}
outputs: [same, kind, score]
""",
    "aux_inside_blocks": """
input: [32, 32, 1]
blocks:
  conv: [{type: Conv2D, filters: $f, kernel_size: 3, padding: same, activation: relu}, {type: MaxPooling2D, pool_size: 2}]
layers:
  - {use: conv, with: {f: 4}}
  - {use: conv, with: {f: 8}}
  - {type: Flatten, name: flat}
  - {type: Dense, name: main, units: 10, activation: softmax}
  - {type: GlobalAveragePooling2D, name: aux_pool, inputs: max_pooling2d}
  - {type: Dense, name: aux, units: 10, activation: softmax}
outputs: [main, aux]
""",
}


def _spec(tmp_path, name: str):
    p = tmp_path / f"{name}.yaml"
    p.write_text(GRAPHS[name])
    return load_spec(p)


def test_check_cli_json_lists_inputs_and_outputs(run_cli):
    code, out, _ = run_cli("check", "--json", SPECS / "two_inputs.yaml")
    doc = json.loads(out)
    assert code == 0 and doc["ok"]
    assert [(i["name"], i["shape"]) for i in doc["inputs"]] == [("image", [28, 28, 1]), ("meta", [4])]
    assert doc["outputs"] == ["classes"] and doc["total_params"] == 290
    code, out, _ = run_cli("check", "--json", SPECS / "two_heads.yaml")
    doc = json.loads(out)
    assert code == 0 and doc["outputs"] == ["classes", "aux"] and doc["total_params"] == 1508


def test_check_is_tensorflow_free():
    code = ("import sys; from cnnspec.cli import main\n"
            "try:\n    main(['check', '-q', 'specs/two_inputs.yaml', 'specs/two_heads.yaml'])\n"
            "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    import subprocess
    import sys

    from conftest import ROOT
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr


def test_input_row_expect_is_compared(tmp_path, run_cli):
    p = tmp_path / "s.yaml"
    p.write_text("layers:\n  - {type: Input, name: a, shape: [4], expect: {output: '(None, 5)', params: 3}}\n"
                 "  - {type: Dense, units: 2}\n")
    code, out, _ = run_cli("check", "-q", p)
    assert code == 1
    assert f"{p}:2: a: output expected (None, 5), computed (None, 4)" in out
    assert f"{p}:2: a: params expected 3, computed 0" in out and "2 mismatch(es)" in out


def test_summary_prints_input_rows_and_connections():
    r = cli_subprocess("summary", SPECS / "two_inputs.yaml", "--format", "markdown")
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("| ")]
    assert lines[1].startswith("| image (InputLayer) | (None, 28, 28, 1) | 0 |")
    assert lines[4].startswith("| meta (InputLayer) | (None, 4) | 0 |")
    r = cli_subprocess("summary", SPECS / "two_inputs.yaml")
    assert "Connected to" in r.stdout and "gap, meta_dense" in r.stdout


def test_fingerprint_of_one_input_spec_unchanged_by_the_feature(tmp_path):
    """A spec with one unnamed input hashes as before; naming it or adding an output changes the hash."""
    a = tmp_path / "a.yaml"
    a.write_text("input: [4]\nlayers:\n  - {type: Dense, units: 2}\n")
    b = tmp_path / "b.yaml"
    b.write_text("layers:\n  - {type: Input, name: x, shape: [4]}\n  - {type: Dense, units: 2}\n")
    import hashlib

    body = {"input": [4], "dtype": "float32", "rows": [["Dense", "dense", ["input"], {"units": 2}]]}
    want = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]
    assert load_spec(a).fingerprint() == want
    assert load_spec(b).fingerprint() != want


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_build_matches_keras(name, tmp_path):
    pytest.importorskip("keras")
    from cnnspec.keras.build import build_model, compare_rows, keras_rows

    spec = _spec(tmp_path, name)
    rep = check(spec)
    model = build_model(spec)
    assert compare_rows(rep, keras_rows(model)) == []
    assert model.count_params() == rep.total
    assert [t.name.split(":")[0] for t in model.inputs] == spec.input_names
    assert list(model.output_names) == spec.outputs
    # the generated Python code builds the same model
    ns: dict = {}
    exec(compile(generate(spec, "python").replace("model.summary()", ""), "<generated>", "exec"), ns)
    assert ns["model"].count_params() == rep.total and list(ns["model"].output_names) == spec.outputs


@pytest.mark.parametrize("lang", ["python", "r"])
@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_code_roundtrip(name, lang, tmp_path):
    spec = _spec(tmp_path, name)
    code = generate(spec, lang)
    back_text = import_text(code, "gen.R" if lang == "r" else "gen.py")
    (tmp_path / "back.yaml").write_text(back_text)
    back = load_spec(tmp_path / "back.yaml")
    assert [(i.name, i.shape) for i in back.inputs] == [(i.name, i.shape) for i in spec.inputs]
    assert back.outputs == spec.outputs
    assert [(r.name, r.inputs, r.layer.options()) for r in back.rows] == \
        [(r.name, r.inputs, r.layer.options()) for r in spec.rows]


HAND_PY = '''
import keras
from keras import layers
a = keras.Input((28, 28, 1))
b = keras.Input(shape=(10,), name="extra")
x = layers.Conv2D(8, 3, activation="relu")(a)
x = layers.Flatten()(x)
y = layers.Dense(16, activation="relu")(b)
z = layers.concatenate([x, y])
main = layers.Dense(10, activation="softmax", name="main")(z)
aux = layers.Dense(1, activation="sigmoid", name="aux")(y)
model = keras.Model(inputs=[a, b], outputs=[main, aux])
model.compile(optimizer="adam", loss={"main": "sparse_categorical_crossentropy", "aux": "binary_crossentropy"})
'''

HAND_R = '''
library(keras3)
img <- keras_input(shape = c(28, 28, 1), name = "img")
meta <- keras_input(shape = c(10), name = "meta")
x <- img |> layer_conv_2d(filters = 8, kernel_size = 3) |> layer_flatten()
m <- meta |> layer_dense(units = 16)
z <- layer_concatenate(list(x, m))
out <- z |> layer_dense(units = 10, activation = "softmax", name = "out")
aux <- m |> layer_dense(units = 1, name = "aux")
model <- keras_model(inputs = list(img, meta), outputs = list(out, aux))
'''


@pytest.mark.parametrize("text,file,inputs,outputs", [
    (HAND_PY, "hand.py", [("input_layer", (28, 28, 1)), ("extra", (10,))], ["main", "aux"]),
    (HAND_R, "hand.R", [("img", (28, 28, 1)), ("meta", (10,))], ["out", "aux"]),
])
def test_import_hand_written_multi_io(text, file, inputs, outputs, tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(import_text(text, file))
    spec = load_spec(p)
    assert [(i.name, i.shape) for i in spec.inputs] == inputs
    assert spec.outputs == outputs
    assert check(spec).total == (8 * 9 + 8) + (10 * 16 + 16) + (26 * 26 * 8 + 16) * 10 + 10 + 17


@pytest.mark.parametrize("text,words", [
    (HAND_PY.replace("inputs=[a, b]", "inputs=a"), "outputs need input 'extra', which is not in inputs"),
    (HAND_PY.replace("inputs=[a, b]", "inputs=[a, z]"), "inputs must be Input tensors ('concatenate'"),
    (HAND_PY.replace('name="aux"', 'name="main"'), "duplicate layer name 'main'"),
])
def test_import_multi_io_errors(text, words):
    with pytest.raises(SpecError) as e:
        import_text(text, "hand.py")
    assert words in str(e.value) and "hand.py:" in str(e.value)


def test_import_printed_summary_with_two_inputs_and_two_heads(tmp_path):
    """A printed Keras functional summary with two InputLayer rows and two unconsumed rows (the heads)."""
    text = """Model: "functional"
┏━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┓
┃ Layer (type)        ┃ Output Shape      ┃    Param # ┃ Connected to      ┃
┡━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━┩
│ image (InputLayer)  │ (None, 28, 28, 1) │          0 │ -                 │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ meta (InputLayer)   │ (None, 4)         │          0 │ -                 │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ flatten (Flatten)   │ (None, 784)       │          0 │ image[0][0]       │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ concatenate         │ (None, 788)       │          0 │ flatten[0][0],    │
│ (Concatenate)       │                   │            │ meta[0][0]        │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ classes (Dense)     │ (None, 10)        │      7,890 │ concatenate[0][0] │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ aux (Dense)         │ (None, 1)         │          5 │ meta[0][0]        │
└─────────────────────┴───────────────────┴────────────┴───────────────────┘
 Total params: 7,895 (30.84 KB)
 Trainable params: 7,895 (30.84 KB)
 Non-trainable params: 0 (0.00 B)
"""
    p = tmp_path / "s.yaml"
    p.write_text(import_text(text, "summary.txt"))
    spec = load_spec(p)
    assert spec.input_names == ["image", "meta"] and spec.outputs == ["classes", "aux"]
    rep = check(spec)
    assert rep.ok and rep.total == 7895


def _random_graph(seed: int) -> str:
    """A random functional graph: 1-3 inputs (vectors and images), Dense/Conv2D branches merged by
    Concatenate or Add, 1-3 heads; every row used, the unconsumed ones listed under `outputs`."""
    import random

    rnd = random.Random(seed)
    lines, tensors, used = [], [], set()
    for i in range(rnd.randint(1, 3)):
        if rnd.random() < 0.5:
            lines.append(f"  - {{type: Input, name: in{i}, shape: [{rnd.randint(2, 9)}]}}")
            tensors.append((f"in{i}", "vec"))
        else:
            lines.append(f"  - {{type: Input, name: in{i}, shape: [8, 8, {rnd.randint(1, 3)}]}}")
            lines.append(f"  - {{type: Conv2D, name: c{i}, inputs: in{i}, filters: {rnd.randint(1, 4)}, kernel_size: 3}}")
            lines.append(f"  - {{type: GlobalMaxPooling2D, name: g{i}, inputs: c{i}}}")
            used |= {f"in{i}", f"c{i}"}
            tensors.append((f"g{i}", "vec"))
    k = 0
    for _ in range(rnd.randint(1, 4)):  # dense rows and merges
        if len(tensors) > 1 and rnd.random() < 0.5:
            a, b = rnd.sample([t for t, _ in tensors], 2)
            width = rnd.randint(2, 6)
            lines.append(f"  - {{type: Dense, name: pa{k}, inputs: {a}, units: {width}}}")
            lines.append(f"  - {{type: Dense, name: pb{k}, inputs: {b}, units: {width}, use_bias: false}}")
            merge = rnd.choice(["Add", "Concatenate"])
            lines.append(f"  - {{type: {merge}, name: m{k}, inputs: [pa{k}, pb{k}]}}")
            used |= {a, b, f"pa{k}", f"pb{k}"}
            tensors.append((f"m{k}", "vec"))
        else:
            a = rnd.choice([t for t, _ in tensors])
            lines.append(f"  - {{type: Dense, name: d{k}, inputs: {a}, units: {rnd.randint(2, 7)}, activation: relu}}")
            used.add(a)
            tensors.append((f"d{k}", "vec"))
        k += 1
    free = [t for t, _ in tensors if t not in used]
    heads = []
    for j, t in enumerate(free):
        lines.append(f"  - {{type: Dense, name: head{j}, inputs: {t}, units: {rnd.randint(1, 5)}}}")
        heads.append(f"head{j}")
    return "layers:\n" + "\n".join(lines) + f"\noutputs: [{', '.join(heads)}]\n"


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("seed", range(6))
def test_random_graphs_match_keras_and_round_trip(seed, tmp_path):
    """Graphs nobody wrote by hand: check equals Keras row by row, and Python code round-trips."""
    pytest.importorskip("keras")
    from cnnspec.keras.build import build_model, compare_rows, keras_rows

    p = tmp_path / "g.yaml"
    p.write_text(_random_graph(seed))
    spec = load_spec(p)
    rep = check(spec)
    model = build_model(spec)
    assert compare_rows(rep, keras_rows(model)) == [], p.read_text()
    assert model.count_params() == rep.total and list(model.output_names) == spec.outputs
    (tmp_path / "back.yaml").write_text(import_text(generate(spec, "python"), "gen.py"))
    back = load_spec(tmp_path / "back.yaml")
    names = spec.input_names if len(spec.inputs) > 1 else ["input"]  # one input: the top-level `input:`
    assert (back.input_names, back.outputs, check(back).total) == (names, spec.outputs, rep.total)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_import_saved_models_with_several_inputs_and_outputs(tmp_path):
    """.keras files: Input rows in the model's input order (not the layer list's), outputs in order."""
    keras = pytest.importorskip("keras")
    from cnnspec.interop.importer import import_file
    from cnnspec.keras.build import build_model

    a = keras.Input((6,), name="a")
    b = keras.Input((8, 8, 2), name="b")
    x = keras.layers.Dense(4, name="da")(a)
    y = keras.layers.GlobalAveragePooling2D(name="gb")(keras.layers.Conv2D(3, 3, name="cb")(b))
    z = keras.layers.Concatenate(name="cat")([x, y])
    model = keras.Model(inputs=[b, a], outputs=[keras.layers.Dense(2, name="o2")(y), keras.layers.Dense(5, name="o1")(z)])
    model.save(tmp_path / "m.keras")
    (tmp_path / "m.yaml").write_text(import_file(tmp_path / "m.keras"))
    spec = load_spec(tmp_path / "m.yaml")
    assert [(i.name, i.shape) for i in spec.inputs] == [("b", (8, 8, 2)), ("a", (6,))]
    assert spec.outputs == ["o2", "o1"] and check(spec).total == model.count_params()
    for name in ("two_inputs", "two_heads"):
        ref = load_spec(SPECS / f"{name}.yaml")
        build_model(ref).save(tmp_path / f"{name}.keras")
        (tmp_path / f"{name}.yaml").write_text(import_file(tmp_path / f"{name}.keras"))
        back = load_spec(tmp_path / f"{name}.yaml")
        assert (back.input_names, back.outputs, check(back).total) == \
            (ref.input_names, ref.outputs, check(ref).total)
