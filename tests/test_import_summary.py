"""`cnnspec import` of printed summaries: published tables in every format (tests/fixtures/summaries,
sources named in each file), round trips through `cnnspec summary` and real Keras `model.summary()`
for every spec, and one-line errors."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from cnnspec.check.infer import check
from cnnspec.check.render import markdown, rich_table
from cnnspec.errors import SpecError
from cnnspec.interop.codegen import generate
from cnnspec.interop.importer import import_file, import_text
from cnnspec.spec.loader import load_spec, load_specs

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests/fixtures/summaries"
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
ALL = [(p, s.variant) for p in SPECS for s in load_specs(p)]
IDS = [f"{p.stem}#{v}" if v else p.stem for p, v in ALL]
#: Generated models: residual and inception-like graphs, long names Keras 3 cuts with '…', frozen rows,
#: and sequential models over many layer types.
GRAPHS = {
    "resblock": """
input: [16, 16, 3]
layers:
  - {type: Conv2D, name: stem, filters: 8, kernel_size: 3, padding: same, activation: relu}
  - {type: Conv2D, name: a, filters: 8, kernel_size: 3, padding: same, use_bias: false}
  - {type: BatchNormalization, name: bn, trainable: false}
  - {type: Add, name: add, inputs: [stem, bn]}
  - {type: Conv2D, name: side, inputs: stem, filters: 4, kernel_size: 1}
  - {type: Concatenate, name: cat, inputs: [add, side], axis: -1}
  - {type: ZeroPadding2D, padding: [[1, 1], [2, 2]]}
  - {type: GlobalAveragePooling2D}
  - {type: Dense, units: 3, activation: softmax}
""",
    "inception": """
input: [32, 32, 3]
layers:
  - {type: Conv2D, name: a_very_long_stem_convolution_name, filters: 16, kernel_size: 5, strides: 2, padding: same}
  - {type: MaxPooling2D, name: branch_pool_with_a_long_name, pool_size: 3, strides: 1, padding: same}
  - {type: Conv2D, name: branch_1x1, inputs: a_very_long_stem_convolution_name, filters: 8, kernel_size: 1}
  - {type: SeparableConv2D, name: branch_sep, inputs: a_very_long_stem_convolution_name, filters: 8, kernel_size: 3, padding: same}
  - {type: DepthwiseConv2D, name: branch_dw, inputs: a_very_long_stem_convolution_name, kernel_size: 3, padding: same, depth_multiplier: 2}
  - {type: Concatenate, name: mixed_concatenation_of_all_branches, inputs: [branch_pool_with_a_long_name, branch_1x1, branch_sep, branch_dw]}
  - {type: AveragePooling2D, pool_size: 2}
  - {type: Flatten}
  - {type: Dropout, rate: 0.3}
  - {type: Dense, units: 10, use_bias: false}
""",
    # many layer types: 1D/3D convolutions and pooling, transposed, separable and depthwise, padding and
    # cropping, recurrent (wrapped too), normalizations, reshaping
    "cnn1d": """
input: [100, 8]
layers:
  - {type: Conv1D, filters: 16, kernel_size: 5, strides: 2, padding: causal}
  - {type: SeparableConv1D, filters: 8, kernel_size: 3, padding: same}
  - {type: DepthwiseConv1D, kernel_size: 3, depth_multiplier: 2}
  - {type: MaxPooling1D, pool_size: 3}
  - {type: AveragePooling1D, pool_size: 2, strides: 1}
  - {type: ZeroPadding1D, padding: [1, 2]}
  - {type: Cropping1D, cropping: 1}
  - {type: UpSampling1D, size: 3}
  - {type: Conv1DTranspose, filters: 4, kernel_size: 3, strides: 2}
  - {type: LayerNormalization}
  - {type: SpatialDropout1D, rate: 0.2}
  - {type: LSTM, units: 12, return_sequences: true}
  - {type: GRU, units: 6}
  - {type: RepeatVector, n: 4}
  - {type: SimpleRNN, units: 5, return_sequences: true}
  - {type: GlobalAveragePooling1D}
  - {type: Dense, units: 3, use_bias: false}
""",
    "cnn3d": """
input: [16, 16, 16, 2]
layers:
  - {type: Conv3D, filters: 4, kernel_size: 3}
  - {type: MaxPooling3D, pool_size: 2}
  - {type: Conv3DTranspose, filters: 2, kernel_size: 2, strides: 2}
  - {type: ZeroPadding3D, padding: 1}
  - {type: Cropping3D, cropping: 2}
  - {type: UpSampling3D, size: 2}
  - {type: AveragePooling3D, pool_size: 2}
  - {type: GlobalMaxPooling3D}
  - {type: Dense, units: 2}
""",
    "img": """
input: [64, 64, 3]
layers:
  - {type: Rescaling, scale: 0.00392156862745098}
  - {type: Conv2D, filters: 8, kernel_size: [3, 5], strides: [1, 2], padding: same}
  - {type: GroupNormalization, groups: 4}
  - {type: PReLU}
  - {type: Conv2DTranspose, filters: 4, kernel_size: 3, strides: 2, padding: same}
  - {type: DepthwiseConv2D, kernel_size: 5, depth_multiplier: 3, use_bias: false}
  - {type: ZeroPadding2D, padding: [[0, 1], [2, 3]]}
  - {type: Cropping2D, cropping: [[1, 1], [0, 2]]}
  - {type: AveragePooling2D, pool_size: 3, strides: 2, padding: same}
  - {type: BatchNormalization, center: false}
  - {type: ELU}
  - {type: SpatialDropout2D, rate: 0.1}
  - {type: GlobalMaxPooling2D}
  - {type: Reshape, target_shape: [3, 4]}
  - {type: Permute, dims: [2, 1]}
  - {type: Flatten}
  - {type: UnitNormalization}
  - {type: Dense, units: 7}
""",
    "seq": """
input: [20]
layers:
  - {type: Embedding, input_dim: 1000, output_dim: 16}
  - {type: Bidirectional, layer: {type: LSTM, units: 8, return_sequences: true}}
  - {type: Conv1D, filters: 4, kernel_size: 3, activation: relu}
  - {type: GlobalMaxPooling1D}
  - {type: Dense, units: 1, activation: sigmoid}
""",
}

#: fixture -> (input shape, printed total, mismatches check reports)
PUBLISHED = {
    "keras_io_mnist_convnet_keras3.txt": ((28, 28, 1), 34826, 0),
    "keras_io_mnist_convnet_tf2.txt": ((28, 28, 1), 34826, 0),
    "keras_io_toy_resnet_tf2.txt": ((32, 32, 3), 223242, 0),
    "r_keras_getting_started_mlp.txt": ((784,), 235146, 0),
    "r_keras3_getting_started_mlp.txt": ((784,), 235146, 0),
    "seed000_table6.csv": ((28, 28, 1), 1199882, 0),
    "seed001_fig_a2.md": ((32, 32, 3), 34912, 0),
    "seed003_table3_2.txt": ((32, 32, 3), 551978, 1),
}


def _spec(text: str):
    return load_spec("imported.yaml", text=text)


def printed_rows(spec):
    return [(r.name, r.type, r.expect.output, r.expect.params) for r in spec.rows]


@pytest.mark.parametrize("fixture", sorted(PUBLISHED))
def test_published_summary_imports_and_checks(fixture):
    shape, total, mismatches = PUBLISHED[fixture]
    spec = _spec(import_file(FIXTURES / fixture))
    rep = check(spec)
    assert spec.input_shape == shape
    assert rep.total == total
    assert len(rep.mismatches) == mismatches, [m.message("x") for m in rep.mismatches]
    assert all(r.expect is not None for r in spec.rows)


def test_seed003_misprint_is_flagged_on_its_row():
    spec = _spec(import_file(FIXTURES / "seed003_table3_2.txt"))
    (m,) = check(spec).mismatches
    assert (m.name, m.field, m.expected) == ("conv2d_6", "output", (4, 4, 128))
    assert spec.rows[9].layer.options() == {"filters": 128, "kernel_size": 3, "padding": "same"}
    assert [r.type for r in spec.rows].count("BatchNormalization") == 4  # 'BatchNormalizatation' read


def test_table_options_are_kept_and_graph_rebuilt():
    t6 = _spec(import_file(FIXTURES / "seed000_table6.csv"))
    assert t6.rows[0].layer.options() == {"filters": 32, "kernel_size": (3, 3), "activation": "relu"}
    assert t6.rows[3].layer.options() == {"rate": 0.25}
    res = _spec(import_file(FIXTURES / "keras_io_toy_resnet_tf2.txt"))
    assert [(r.name, r.inputs) for r in res.rows if r.type == "Add"] == [
        ("add", ["conv2d_11", "max_pooling2d"]), ("add_1", ["conv2d_13", "add"])]
    assert res.rows[2].layer.options() == {"pool_size": 3}
    assert res.rows[10].type == "GlobalAveragePooling2D"  # printed cut: "(Globa"


def _table(spec) -> str:
    buf = io.StringIO()
    Console(file=buf, width=250, color_system=None).print(rich_table(check(spec), with_expect=False))
    return buf.getvalue()


def _load(path, variant):
    if path in GRAPHS:
        return load_spec(f"{path}.yaml", text=GRAPHS[path])
    return load_spec(f"{path}#{variant}" if variant else path)


CASES = ALL + [(g, None) for g in GRAPHS]
CASE_IDS = IDS + list(GRAPHS)


@pytest.mark.parametrize("path,variant", CASES, ids=CASE_IDS)
def test_roundtrip_cnnspec_summary(path, variant):
    spec = _load(path, variant)
    rep = check(spec)
    for text in [_table(spec)] + ([markdown(rep)] if _sequential(spec) else []):
        back = _import(text, "summary.txt")
        brep = check(back)
        assert brep.ok, [m.message("x") for m in brep.mismatches]
        assert [(r.row.name, r.row.type, r.output, r.count.total) for r in brep.rows] == \
            [(r.row.name, r.row.type, r.output, r.count.total) for r in rep.rows]
        assert (brep.total, brep.trainable) == (rep.total, rep.trainable)


def _import(text: str, file: str):
    return _spec(import_text(text, file))


def _sequential(spec) -> bool:
    prev = "input"
    for r in spec.rows:
        if r.inputs != [prev]:
            return False
        prev = r.name
    return True


def _keras_summary(spec) -> str:
    ns: dict = {}
    code = generate(spec, "python", force=True).replace('weights="imagenet"', "weights=None")  # no download
    exec(compile(code.replace("model.summary()", ""), "<generated>", "exec"), ns)
    lines: list[str] = []
    ns["model"].summary(print_fn=lambda s, line_break=True: lines.append(s))
    return "\n".join(lines)


@pytest.mark.parametrize("path,variant", CASES, ids=CASE_IDS)
def test_roundtrip_real_keras_summary(path, variant):
    pytest.importorskip("keras")
    spec = _load(path, variant)
    rep = check(spec)
    back = _import(_keras_summary(spec), "keras_summary.txt")
    brep = check(back)
    assert brep.ok, [m.message("x") for m in brep.mismatches]
    assert [(r.row.type, r.output, r.count.total) for r in brep.rows] == \
        [(r.row.type, r.output, r.count.total) for r in rep.rows]
    names = {a.name: b.name for a, b in zip(spec.rows, back.rows)}
    assert all(b == a or len(a) > 18 for a, b in names.items())  # Keras 3 cuts long names: '…'
    assert [r.inputs for r in back.rows] == [[names.get(n, n) for n in r.inputs] for r in spec.rows]
    assert (brep.total, brep.non_trainable) == (rep.total, rep.non_trainable)



@pytest.mark.parametrize("fixture", sorted(PUBLISHED))
def test_published_summary_builds_with_printed_counts(fixture):
    pytest.importorskip("keras")
    from cnnspec.keras.build import build_model

    spec = _spec(import_file(FIXTURES / fixture))
    model = build_model(spec)
    assert model.count_params() == PUBLISHED[fixture][1]


@pytest.mark.parametrize("text,line,words", [
    ("Layer (type)   Output Shape   Param #\nlambda (Lambda)   (None, 4)   0\n", 2, "Lambda layers"),
    ("Layer (type)   Output Shape   Param #\ndense (Dense)   (None, 4)   12\n"
     "conv2d (Conv2D)   (None, 3, 3, 4)   40\n", 3, "no Conv2D options fit"),
    ("Layer (type)   Output Shape   Param #\nflatten (Flatten)   (None, 4)   0\n", 2, "--input"),
    ("some text\nwithout a table\n", None, "not a model summary"),
])
def test_summary_errors(text, line, words):
    with pytest.raises(SpecError) as ei:
        import_text(text, "s.txt", lang="summary")
    assert words in str(ei.value) and ei.value.line == line and "\n" not in str(ei.value)


def test_unexplained_row_is_kept_as_printed_and_flagged():
    text = "Layer (type)   Output Shape   Param #\ndense (Dense)   (None, 4)   12\ndense_1 (Dense)   (None, 4)   7\n"
    out = import_text(text, "s.txt", lang="summary")
    assert "no option set explains the printed row" in out.splitlines()[-1]
    (m,) = check(_spec(out)).mismatches
    assert (m.name, m.field, m.expected, m.computed) == ("dense_1", "params", 7, 20)


def test_cli_summary_import_and_input(tmp_path):
    src = tmp_path / "s.txt"
    src.write_text("Layer (type)   Output Shape   Param #\nflatten (Flatten)   (None, 12)   0\n"
                   "dense (Dense)   (None, 2)   26\nTotal params: 26\n")
    r = subprocess.run([sys.executable, "-m", "cnnspec", "import", str(src), "--input", "3,4",
                        "-o", str(tmp_path / "s.yaml")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    spec = load_spec(tmp_path / "s.yaml")
    assert spec.input_shape == (3, 4) and check(spec).ok
    r = subprocess.run([sys.executable, "-m", "cnnspec", "import", str(src)], capture_output=True, text=True)
    assert r.returncode == 2 and "--input" in r.stderr and r.stderr.count("\n") == 1


def test_cli_pipe_summary_import_check(tmp_path):
    """`cnnspec summary X | cnnspec import - | cnnspec check`, through the real entry point."""
    env = {**__import__("os").environ, "COLUMNS": "200"}
    summary = subprocess.run([sys.executable, "-m", "cnnspec", "summary", str(ROOT / "specs/table3.yaml")],
                             capture_output=True, text=True, env=env)
    assert summary.returncode == 0, summary.stderr
    out = tmp_path / "back.yaml"
    r = subprocess.run([sys.executable, "-m", "cnnspec", "import", "-", "-o", str(out)], input=summary.stdout,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "cnnspec", "check", str(out), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    back, orig = json.loads(r.stdout), check(load_spec(ROOT / "specs/table3.yaml"))
    assert [(x["name"], x["type"], x["output_shape"], x["params"]) for x in back["layers"]] == \
        [(y.row.name, y.row.type, list(y.output), y.count.total) for y in orig.rows]


# ---------------------------------------------------------------------------------------------- generated
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402


@st.composite
def _cnn(draw) -> str:
    """A random small CNN: convolutions (non-square kernels, strides, padding, bias), pooling,
    depthwise, separable and transposed convolutions, batch norm, then a Dense head."""
    rows = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["conv", "conv", "pool", "bn", "dw", "sep", "tconv"]))
        if kind == "conv":
            rows.append({"type": "Conv2D", "filters": draw(st.integers(1, 16)),
                         "kernel_size": draw(st.sampled_from([1, 2, 3, 5, [1, 3], [3, 1]])),
                         "strides": draw(st.sampled_from([1, 2])), "padding": draw(st.sampled_from(["valid", "same"])),
                         "use_bias": draw(st.booleans())})
        elif kind == "pool":
            rows.append({"type": draw(st.sampled_from(["MaxPooling2D", "AveragePooling2D"])),
                         "pool_size": draw(st.sampled_from([2, 3])), "padding": draw(st.sampled_from(["valid", "same"]))})
        elif kind == "dw":
            rows.append({"type": "DepthwiseConv2D", "kernel_size": 3, "depth_multiplier": draw(st.integers(1, 3)),
                         "padding": "same"})
        elif kind == "sep":
            rows.append({"type": "SeparableConv2D", "filters": draw(st.integers(1, 8)), "kernel_size": 3,
                         "padding": draw(st.sampled_from(["valid", "same"]))})
        elif kind == "tconv":
            rows.append({"type": "Conv2DTranspose", "filters": draw(st.integers(1, 8)),
                         "kernel_size": draw(st.sampled_from([2, 3])), "strides": draw(st.sampled_from([1, 2]))})
        else:
            rows.append({"type": "BatchNormalization", "center": draw(st.booleans()), "scale": draw(st.booleans())})
    rows += [{"type": "Flatten"}, {"type": "Dense", "units": draw(st.integers(1, 12)), "use_bias": draw(st.booleans())}]
    size, ch = draw(st.sampled_from([16, 28, 32])), draw(st.sampled_from([1, 3]))
    return f"input: [{size}, {size}, {ch}]\nlayers:\n" + "".join(f"  - {json.dumps(r)}\n" for r in rows)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(_cnn())
def test_roundtrip_generated_cnns(text):
    try:
        spec = load_spec("generated.yaml", text=text)
        rep = check(spec)
    except SpecError:
        return  # an impossible random network (a size below 1)
    back = _spec(import_text(_table(spec), "summary.txt", input_shape=spec.input_shape))
    brep = check(back)
    assert brep.ok, [m.message("x") for m in brep.mismatches]
    assert [(r.row.type, r.output, r.count.total, r.count.trainable) for r in brep.rows] == \
        [(r.row.type, r.output, r.count.total, r.count.trainable) for r in rep.rows]


#: tf.keras 2.13-2.15's layout: names and "Connected to" entries wrapped at the column width, even
#: inside an index ('...[0][' then '0]').
TF215 = """\
Model: "model"
__________________________________________________________________________________________________
 Layer (type)                Output Shape                 Param #   Connected to                  
==================================================================================================
 input_1 (InputLayer)        [(None, 32, 32, 3)]          0         []                            
                                                                                                  
 conv2d (Conv2D)             (None, 32, 32, 16)           448       ['input_1[0][0]']             
                                                                                                  
 batch_normalization (Batch  (None, 32, 32, 16)           64        ['conv2d[0][0]']              
 Normalization)                                                                                   
                                                                                                  
 add (Add)                   (None, 32, 32, 16)           0         ['batch_normalization[0][0]', 
                                                                     'conv2d[0][0]']              
                                                                                                  
 global_average_pooling2d (  (None, 16)                   0         ['add[0][0]']                 
 GlobalAveragePooling2D)                                                                          
                                                                                                  
 dense (Dense)               (None, 10)                   170       ['global_average_pooling2d[0][
                                                                    0]']                          
                                                                                                  
==================================================================================================
Total params: 682 (2.66 KB)
Trainable params: 650 (2.54 KB)
Non-trainable params: 32 (128.00 Byte)
__________________________________________________________________________________________________
"""
#: Keras 3's table drawn with ASCII characters (a console without Unicode, as R on some Windows setups).
ASCII = """\
Model: "sequential"
+---------------------------------+---------------------------+------------+
| Layer (type)                    | Output Shape              |    Param # |
+=================================+===========================+============+
| conv2d (Conv2D)                 | (None, 26, 26, 32)        |        320 |
+---------------------------------+---------------------------+------------+
| max_pooling2d (MaxPooling2D)    | (None, 13, 13, 32)        |          0 |
+---------------------------------+---------------------------+------------+
| flatten (Flatten)               | (None, 5408)              |          0 |
+---------------------------------+---------------------------+------------+
| dense (Dense)                   | (None, 10)                |     54,090 |
+---------------------------------+---------------------------+------------+
 Total params: 54,410 (212.54 KB)
 Trainable params: 54,410 (212.54 KB)
 Non-trainable params: 0 (0.00 B)
"""


@pytest.mark.parametrize("text,types,total", [
    (TF215, ["Conv2D", "BatchNormalization", "Add", "GlobalAveragePooling2D", "Dense"], 682),
    (ASCII, ["Conv2D", "MaxPooling2D", "Flatten", "Dense"], 54410),
])
def test_summary_layouts(text, types, total):
    spec = _spec(import_text(text, "s.txt"))
    rep = check(spec)
    assert [r.type for r in spec.rows] == types and rep.total == total and rep.ok


@pytest.mark.parametrize("app,shape,kw", [("MobileNetV2", (96, 96, 3), {"alpha": 0.35})])
def test_keras_applications_summaries(app, shape, kw):
    """A real Keras architecture (inverted residual blocks, asymmetric ZeroPadding2D, ReLU(6), depthwise
    convolutions): its printed summary imports, checks and builds with the same count. (ResNet50's does
    too; it is left out only for the suite's time.)"""
    keras = pytest.importorskip("keras")
    from cnnspec.keras.build import build_model

    model = getattr(keras.applications, app)(weights=None, input_shape=shape, classes=10, **kw)
    lines: list[str] = []
    model.summary(print_fn=lambda s, line_break=True: lines.append(s))
    spec = _spec(import_text("\n".join(lines), f"{app}.txt"))
    rep = check(spec)
    assert rep.ok, [m.message("x") for m in rep.mismatches][:3]
    assert spec.input_shape == shape and len(spec.rows) == len(model.layers) - 1
    assert rep.total == model.count_params() == build_model(spec).count_params()


TD_VIDEO = """name: td_video
input: [8, 32, 32, 3]
layers:
  - {type: TimeDistributed, layer: {type: Conv2D, filters: 16, kernel_size: 3}}
  - {type: TimeDistributed, layer: {type: MaxPooling2D, pool_size: 2}}
  - {type: TimeDistributed, layer: {type: Conv2D, filters: 8, kernel_size: 5, padding: same}}
  - {type: TimeDistributed, layer: {type: GlobalAveragePooling2D}}
  - {type: TimeDistributed, layer: {type: Dense, units: 12}}
  - {type: GRU, units: 24, reset_after: false}
  - {type: Dense, units: 5, activation: softmax}
"""


def test_time_distributed_rows_name_their_wrapped_layer():
    """A summary prints TimeDistributed rows without the layer inside: it is found from the per-step
    shapes and count with each layer class's rules (Conv2D, pooling, Dense ...)."""
    spec = load_spec("td.yaml", text=TD_VIDEO)
    back = _spec(import_text(_table(spec), "summary.txt"))
    inner = [r.layer.layer for r in back.rows if r.type == "TimeDistributed"]
    assert [type(i).__name__ for i in inner] == ["Conv2D", "MaxPooling2D", "Conv2D", "GlobalAveragePooling2D",
                                                 "Dense"]
    assert (inner[0].filters, inner[0].kernel_size) in ((16, 3), (16, (3, 3)))
    assert (inner[2].filters, inner[2].kernel_size) in ((8, 5), (8, (5, 5)))
    rep, brep = check(spec), check(back)
    assert brep.ok and [(r.output, r.count.total) for r in brep.rows] == [(r.output, r.count.total)
                                                                          for r in rep.rows]


def test_time_distributed_summary_printed_by_keras_imports():
    pytest.importorskip("keras")
    spec = load_spec("td.yaml", text=TD_VIDEO)
    back = _spec(import_text(_keras_summary(spec), "keras_summary.txt"))
    rep, brep = check(spec), check(back)
    assert brep.ok and (brep.total, brep.non_trainable) == (rep.total, rep.non_trainable)
    assert [(r.row.type, r.output) for r in brep.rows] == [(r.row.type, r.output) for r in rep.rows]


def test_cut_connected_to_names_resolve_to_the_real_graph():
    """Keras at 80 columns cuts 'Connected to' cells: 'batch_normalizat…' fits six rows. Each resolves to
    the earliest row whose output is still unused, which gives the graph the code built (same rows,
    same inputs as importing the code itself) and no dangling extra output."""
    printed = _spec(import_file(FIXTURES / "keras3_resnet_80_columns.txt"))
    code = _spec(import_file(ROOT / "tests/data/resnet_cut_names.py"))
    # Keras prints the graph by depth (conv2d_4, conv2d_5, then their BatchNormalizations): compare by name
    assert {r.name: (r.type, r.inputs) for r in printed.rows} == {r.name: (r.type, r.inputs) for r in code.rows}
    assert check(printed).ok and check(printed).total == 38922


def test_a_summary_printed_at_60_columns_imports_to_the_graph_of_its_code():
    """At 60 columns Keras wraps the header ('Param' above '#') and cuts 'conv2d[0][0…' inside the
    node index: the header is read over its lines and the name before '[' is taken whole."""
    printed = _spec(import_file(FIXTURES / "keras3_densenet_60_columns.txt"))
    code = _spec(import_file(ROOT / "tests/data/densenet_narrow.py"))
    assert {r.name: (r.type, r.inputs) for r in printed.rows} == {r.name: (r.type, r.inputs) for r in code.rows}
    assert check(printed).ok and check(printed).total == check(code).total == 26994


def test_cnnspec_summary_on_a_narrow_terminal_imports_back():
    """`cnnspec summary` at 60 columns wraps its header too ('Connected' above 'to'): it imports back."""
    spec = load_spec(str(ROOT / "specs" / "two_heads.yaml"))
    buf = io.StringIO()
    Console(file=buf, width=60, color_system=None).print(rich_table(check(spec), with_expect=False))
    assert "Connected" in buf.getvalue() and "Connected to" not in buf.getvalue()  # really wrapped
    back = _spec(import_text(buf.getvalue(), "narrow.txt"))
    assert [(r.name, r.type, r.inputs) for r in back.rows] == [(r.name, r.type, r.inputs) for r in spec.rows]
    assert back.outputs == spec.outputs
