"""cnnspec export: Keras 3 -> ONNX with stripped training layers, metadata and parity."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cnnspec.errors import ModelFileError
from tests.deploy_helpers import artefacts


@pytest.fixture(scope="module")
def art():
    return artefacts()


@pytest.fixture(scope="module")
def onnx_model(art):
    import onnx

    return onnx.load(str(art.onnx))


def _run_cli(argv, capsys):
    from cnnspec.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_export_report_parity_ok(art):
    par = art.report["parity"]
    assert par["ok"] is True
    assert par["max_abs_diff"] <= 1e-5
    assert par["argmax_agreement"] == 1.0
    assert par["n"] > 0


def test_parity_on_real_test_images(art):
    from cnnspec.keras.export import check_parity

    par = check_parity(art.model, art.onnx, art.x_test, art.report["metadata"])
    assert par["n"] == len(art.x_test)
    assert par["max_abs_diff"] <= 1e-5
    assert par["argmax_agreement"] == 1.0


def test_input_output_names_and_dynamic_batch(onnx_model, art):
    graph = onnx_model.graph
    inits = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    assert [i.name for i in inputs] == ["input"]
    dims = inputs[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch"
    assert [d.dim_value for d in dims[1:]] == art.meta["input_shape"]
    assert [o.name for o in graph.output] == ["probabilities"]
    out_dims = graph.output[0].type.tensor_type.shape.dim
    assert out_dims[0].dim_param == "batch"
    assert out_dims[1].dim_value == len(art.meta["class_names"])


def test_checker_passes(onnx_model):
    import onnx

    onnx.checker.check_model(onnx_model, full_check=True)


def test_metadata_round_trips(onnx_model, art):
    import keras

    props = {p.key: p.value for p in onnx_model.metadata_props}
    meta = json.loads(props["cnnspec"])
    for key, value in art.meta.items():
        assert meta[key] == pytest.approx(value) if isinstance(value, float) else meta[key] == value
    assert meta["keras_version"] == keras.__version__
    assert meta["opset"] == max(o.version for o in onnx_model.opset_import if o.domain in ("", "ai.onnx"))
    assert meta["input_name"] == "input" and meta["output_name"] == "probabilities"


def test_training_only_layers_absent(onnx_model, art):
    dropped = art.report["dropped_layers"]
    assert any(n.startswith("random_translation") for n in dropped)
    assert any(n.startswith("random_rotation") for n in dropped)
    assert sum(n.startswith("dropout") for n in dropped) == 2
    names = " ".join(n.name.lower() for n in onnx_model.graph.node)
    ops = {n.op_type for n in onnx_model.graph.node}
    assert "random" not in names and "dropout" not in names
    assert not ops & {"RandomUniform", "RandomUniformLike", "RandomNormal", "RandomNormalLike",
                      "Dropout", "Multinomial", "Bernoulli"}


def test_functional_model_is_stripped_too(tmp_path):
    import keras
    from keras import layers

    from cnnspec.keras.export import export_keras, strip_training_layers

    inp = keras.Input((8, 8, 1))
    x = layers.RandomFlip("horizontal")(inp)
    x = layers.Conv2D(4, 3)(x)
    x = layers.SpatialDropout2D(0.2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inp, out)
    stripped, dropped = strip_training_layers(model)
    assert {type(l).__name__ for l in stripped.layers}.isdisjoint({"RandomFlip", "SpatialDropout2D"})
    assert len(dropped) == 2
    x0 = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(stripped(x0)), np.asarray(model(x0, training=False)), atol=1e-6)
    # the trained layer objects (and so their weights) are reused, not copied
    conv = [l for l in model.layers if isinstance(l, layers.Conv2D)][0]
    assert any(l is conv for l in stripped.layers)
    meta = {"class_names": ["a", "b", "c"], "input_shape": [8, 8, 1], "scale": 1.0, "offset": 0.0}
    rep = export_keras(model, meta, tmp_path / "f.onnx")
    assert rep["metadata"]["class_names"] == ["a", "b", "c"] and rep["parity"]["ok"]
    assert rep["dropped_layers"] == dropped


def test_opset_option(art, tmp_path):
    import onnx

    from cnnspec.keras.export import export_model

    rep = export_model(art.run, tmp_path / "m13.onnx", opset=13, limit=32)
    m = onnx.load(str(tmp_path / "m13.onnx"))
    assert max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) == 13
    assert rep["metadata"]["opset"] == 13
    assert rep["parity"]["ok"]


def test_cli_export_json_and_table(art, tmp_path, capsys):
    code, out, err = _run_cli(["export", str(art.run), "-o", str(tmp_path / "c.onnx"), "--json"], capsys)
    assert code == 0, err
    rep = json.loads(out)
    assert rep["parity"]["ok"] and rep["metadata"]["input_name"] == "input"
    code, out, err = _run_cli(["export", str(art.keras_path), "-o", str(tmp_path / "d.onnx")], capsys)
    assert code == 0, err
    assert "argmax agreement" in out and "100.00%" in out and "max |keras - onnx|" in out


def test_cli_export_failing_parity_exits_1_and_keeps_the_previous_file(art, tmp_path, capsys, monkeypatch):
    import cnnspec.keras.onnx_target as target

    out_path = tmp_path / "p.onnx"
    out_path.write_bytes(b"the previous export")
    monkeypatch.setattr(target, "check_parity", lambda *a, **k: {
        "n": 8, "max_abs_diff": 0.25, "argmax_agreement": 0.875, "atol": 1e-5, "ok": False})
    code, out, err = _run_cli(["export", str(art.run), "-o", str(out_path)], capsys)
    assert code == 1
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "parity check failed" in lines[0] and "87.50%" in lines[0]
    assert "argmax agreement" in out  # the parity table is still shown
    assert out_path.read_bytes() == b"the previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.onnx"]  # no temporary file left


def test_converter_failure_keeps_the_previous_file(art, tmp_path, capsys, monkeypatch):
    import cnnspec.keras.onnx_target as target

    out_path = tmp_path / "c.onnx"
    out_path.write_bytes(b"the previous export")

    def broken(self, inference, path, meta, **kw):
        with open(path, "wb") as fh:
            fh.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(target.OnnxTarget, "convert", broken)
    code, out, err = _run_cli(["export", str(art.run), "-o", str(out_path)], capsys)
    assert code == 2 and "No space left" in err and len(err.strip().splitlines()) == 1
    assert out_path.read_bytes() == b"the previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.onnx"]


def test_output_that_is_an_input_is_refused(art, tmp_path, capsys):
    link = tmp_path / "model.onnx"
    link.symlink_to(art.keras_path)
    before = art.keras_path.read_bytes()
    code, out, err = _run_cli(["export", str(art.run), "-o", str(link)], capsys)
    assert code == 2 and "is the input file" in err
    assert art.keras_path.read_bytes() == before


def test_bare_keras_without_sidecar_warns_and_uses_defaults(art, tmp_path, capsys):
    bare = tmp_path / "bare.keras"
    shutil.copy(art.keras_path, bare)
    code, out, err = _run_cli(["export", str(bare), "-o", str(tmp_path / "bare.onnx"), "--json"], capsys)
    # Without the sidecar the inputs are fed unscaled (0..255 into a model trained on 0..1), so
    # float32 noise in the saturated softmax may exceed 1e-5: exit 1 is then the right answer.
    assert code in (0, 1), err
    assert err.strip().splitlines()[0].startswith("warning: no metadata sidecar bare.cnnspec.json")
    assert code == 0 or "parity check failed" in err
    meta = json.loads(out)["metadata"]
    assert meta["class_names"] == [str(i) for i in range(10)]
    assert meta["scale"] == 1.0 and meta["offset"] == 0.0


@pytest.mark.parametrize("kind", ["missing", "text", "dir_without_model", "wrong_suffix"])
def test_bad_model_files_one_line(kind, tmp_path, capsys):
    target = {"missing": tmp_path / "nope.keras", "text": tmp_path / "t.keras",
              "dir_without_model": tmp_path / "rundir", "wrong_suffix": tmp_path / "m.h5"}[kind]
    if kind == "text":
        target.write_text("this is not a keras archive\n")
    elif kind == "dir_without_model":
        target.mkdir()
    elif kind == "wrong_suffix":
        target.write_bytes(b"\x89HDF")
    code, out, err = _run_cli(["export", str(target), "-o", str(tmp_path / "x.onnx")], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err


def test_load_model_meta_contract(art, tmp_path):
    from cnnspec.runs.modelmeta import load_model_meta

    path, meta = load_model_meta(art.run)
    assert path == art.keras_path and meta["sidecar"] and meta["class_names"] == art.meta["class_names"]
    path, meta = load_model_meta(art.keras_path)
    assert path == art.keras_path and meta["scale"] == pytest.approx(1 / 255)
    bad = tmp_path / "b.keras"
    bad.write_bytes(b"x")
    (tmp_path / "b.cnnspec.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="unreadable metadata sidecar"):
        load_model_meta(bad)
    (tmp_path / "b.cnnspec.json").write_text(json.dumps({"scale": "big"}))
    with pytest.raises(ModelFileError, match="scale"):
        load_model_meta(bad)


def test_predict_keras_and_onnx_agree(art, capsys):
    code, out, err = _run_cli(["predict", str(art.run), *map(str, art.images), "--json", "--top", "2"], capsys)
    assert code == 0, err
    keras_pred = json.loads(out)
    code, out, err = _run_cli(["predict", str(art.onnx), *map(str, art.images), "--json", "--top", "2",
                               "--device", "cpu"], capsys)
    assert code == 0, err
    onnx_pred = json.loads(out)
    assert keras_pred["engine"] == "keras" and onnx_pred["engine"] == "onnxruntime"
    for kp, op in zip(keras_pred["predictions"], onnx_pred["predictions"]):
        assert len(kp["top"]) == 2
        assert kp["top"][0]["class"] == op["top"][0]["class"]
        assert kp["top"][0]["probability"] == pytest.approx(op["top"][0]["probability"], abs=1e-5)


@pytest.mark.parametrize("which", ["onnx", "run"])
def test_predict_says_a_missing_image_before_loading_the_model(art, tmp_path, capsys, which):
    """One line naming the image, and no engine probe or Keras model load before it."""
    model = art.onnx if which == "onnx" else art.run
    code, out, err = _run_cli(["predict", str(model), str(art.images[0]), str(tmp_path / "nothere.png"),
                               "--engine", "auto"], capsys)
    assert code == 2 and err.strip() == f"error: {tmp_path / 'nothere.png'}: no such image file", err


def test_cli_bench_against_keras(art, tmp_path, capsys):
    png = tmp_path / "bench.png"
    code, out, err = _run_cli(["bench", str(art.onnx), "--keras", str(art.run), "--runs", "10", "--rounds", "1",
                               "--batch", "16", "--json", "--png", str(png), "--data", "sample", "--limit", "64"],
                              capsys)
    assert code == 0, err
    rep = json.loads(out)
    keras_label = rep["baseline"]
    assert keras_label.startswith("keras") and rep["variants"][keras_label]["throughput_ratio"] == 1.0
    ort = rep["variants"]["onnxruntime fp32"]
    assert set(ort) >= {"latency_p50_ratio", "latency_p95_ratio", "throughput_ratio", "rounds", "precision"}
    assert ort["rounds"] == 1 and ort["vs"] == keras_label
    acc = rep["accuracy"]
    assert acc["onnxruntime fp32"]["agreement"] == 1.0 and acc[keras_label]["agreement"] == 1.0
    assert acc["onnxruntime fp32"]["accuracy"] == acc[keras_label]["accuracy"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, err = _run_cli(["bench", str(art.onnx), "--keras", str(art.run), "--runs", "10", "--rounds", "1",
                               "--batch", "16", "--engine", "onnxruntime"], capsys)
    assert code == 0 and "throughput ratio" in out and "onnxruntime fp32" in out


# ---- INT8 with an accuracy gate, graph rewrites (issue 14) ---------------------------------

def test_int8_export_passes_its_gate_and_says_what_it_is(art, tmp_path, capsys):
    from cnnspec.deploy.runtime import OnnxModel

    out_path = tmp_path / "m.int8.onnx"
    code, out, err = _run_cli(["export", str(art.run), "-o", str(out_path), "--quantize", "int8",
                               "--calibrate", "sample", "--calibration-size", "64", "--max-accuracy-drop", "5",
                               "--json"], capsys)
    assert code == 0, err
    rep = json.loads(out)
    q = rep["quantization"]
    assert q["type"] == "int8" and q["format"] == "QDQ" and q["calibration"]["size"] == 64
    assert q["calibration"]["split"] == "train" and q["gate"]["split"] == "test" and q["gate"]["passed"]
    assert q["gate"]["n"] > 0 and 0.0 < q["gate"]["top1_agreement"] <= 1.0
    assert q["gate"]["delta_pt"] == pytest.approx((q["gate"]["accuracy_int8"] - q["gate"]["accuracy_fp32"]) * 100,
                                                  abs=1e-3)
    m = OnnxModel(out_path, device="cpu", engine="onnxruntime", on_notice=None)
    assert m.precision == "int8" and m.meta["quantization"]["gate"] == q["gate"]
    import onnx

    ops = {n.op_type for n in onnx.load(str(out_path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    ref = OnnxModel(art.onnx, device="cpu", engine="onnxruntime", on_notice=None)
    agree = np.mean(m.predict(art.x_test).argmax(1) == ref.predict(art.x_test).argmax(1))
    assert agree >= 0.9


def test_int8_gate_forced_to_fail_leaves_no_file(art, tmp_path, capsys):
    out_path = tmp_path / "m.int8.onnx"
    code, out, err = _run_cli(["export", str(art.run), "-o", str(out_path), "--quantize", "int8",
                               "--calibrate", "sample", "--calibration-size", "32",
                               "--max-accuracy-drop", "-50"], capsys)   # demands a 50-point gain
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "INT8 accuracy gate failed" in lines[0] and "nothing written" in lines[0]
    assert "accuracy change" in out
    assert list(tmp_path.iterdir()) == []
    out_path.write_bytes(b"previous")  # and a previous file survives it
    code, _, _ = _run_cli(["export", str(art.run), "-o", str(out_path), "--quantize", "int8", "--calibrate",
                           "sample", "--calibration-size", "32", "--max-accuracy-drop", "-50"], capsys)
    assert code == 1 and out_path.read_bytes() == b"previous" and len(list(tmp_path.iterdir())) == 1


def test_quantize_needs_calibration_data(art, tmp_path, capsys):
    code, out, err = _run_cli(["export", str(art.run), "-o", str(tmp_path / "q.onnx"), "--quantize", "int8"], capsys)
    assert code == 2 and "--calibrate" in err
    code, out, err = _run_cli(["export", str(art.run), "-o", str(tmp_path / "q.onnx"), "--quantize", "int4",
                               "--calibrate", "sample"], capsys)
    assert code == 2 and "int8" in err
    assert list(tmp_path.iterdir()) == []


def test_batchnorm_after_activation_is_rewritten_exactly(tmp_path):
    """Conv -> relu -> BN and Dense -> relu -> BN -> Dense: the Mul/Add pairs become depthwise 1x1
    convolutions and folded Dense weights, and the parity check still holds."""
    import keras
    import onnx
    from keras import layers

    from cnnspec.keras.export import export_keras

    keras.utils.set_random_seed(3)
    inp = keras.Input((12, 12, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = layers.BatchNormalization()(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    x = layers.BatchNormalization()(x)
    out = layers.Dense(4, activation="softmax")(x)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # non-trivial statistics, as after training
        if isinstance(layer, layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 2, g.shape), rng.normal(0, 1, b.shape), rng.normal(0, 1, m.shape),
                               rng.uniform(0.5, 2, v.shape)])
    meta = {"class_names": list("abcd"), "input_shape": [12, 12, 3], "scale": 1 / 255, "offset": 0.0}
    plain = export_keras(model, meta, tmp_path / "plain.onnx", rewrite=False)
    rew = export_keras(model, meta, tmp_path / "rewritten.onnx")
    assert rew["rewrites"]["affine_to_depthwise"] == 2 and rew["rewrites"]["affine_into_matmul"] == 1
    assert rew["metadata"]["rewrites"] == rew["rewrites"] and rew["parity"]["ok"] and plain["parity"]["ok"]
    g = onnx.load(str(tmp_path / "rewritten.onnx")).graph
    assert not any(n.op_type == "Mul" for n in g.node)
    depthwise = [n for n in g.node if n.op_type == "Conv" and any(a.name == "group" and a.i == 8 for a in n.attribute)]
    assert len(depthwise) == 2
    from cnnspec.deploy.runtime import OnnxModel

    x = rng.integers(0, 256, (32, 12, 12, 3))
    a = OnnxModel(tmp_path / "plain.onnx", device="cpu", engine="onnxruntime", on_notice=None).predict(x)
    b = OnnxModel(tmp_path / "rewritten.onnx", device="cpu", engine="onnxruntime", on_notice=None).predict(x)
    np.testing.assert_allclose(a, b, atol=1e-5)
