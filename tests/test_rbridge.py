"""cnnspec.interop.rbridge: the Python helpers the R package calls (no R needed here)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

import cnnspec.interop.rbridge as rbridge

ROOT = Path(__file__).resolve().parents[1]


def test_check_table_columns_and_totals():
    t = rbridge.check_table(str(ROOT / "specs/table3.yaml"))
    assert t["ok"] and t["totals"] == {"total": 34826, "trainable": 34826, "non_trainable": 0}
    rows = t["rows"]
    assert rows["output"][0] == "(None, 26, 26, 32)" and rows["expected_output"][0] == "(None, 26, 26, 32)"
    assert rows["params"] == [320, 0, 18496, 0, 0, 16010] and all(rows["ok"])
    assert t["mismatches"]["name"] == []


def test_check_table_mismatches_and_missing_expectations():
    t = rbridge.check_table(str(ROOT / "specs/lenet5.yaml"))
    assert not t["ok"]
    i = t["rows"]["name"].index("flatten")
    assert t["rows"]["expected_output"][i] == "" and math.isnan(t["rows"]["expected_params"][i])
    assert "C3" in t["mismatches"]["name"]
    assert any("params expected 416, computed 2416" in m for m in t["mismatches"]["message"])


def test_call_turns_cnnspec_errors_into_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [4]\nlayers:\n  - {type: Dense, units: 3, unitz: 3}\n")
    res = rbridge.call("cnnspec.interop.rbridge", "check_table", str(bad))
    assert res["ok"] is False and res["type"] == "SpecError"
    assert res["error"].startswith(f"{bad}:3: unitz: unknown option 'unitz'") and "\n" not in res["error"]
    assert rbridge.call("cnnspec.interop.rbridge", "one_line", "a\n b")["value"] == "a b"


def test_run_dir_from_various_returns(tmp_path):
    assert rbridge.run_dir(tmp_path) == str(tmp_path)
    assert rbridge.run_dir({"run_dir": "x"}) == "x"


def test_inst_specs_are_the_repository_specs():
    """The R package ships copies of specs/ files for its examples and tests: they must not drift."""
    shipped = sorted((ROOT / "r-bridge/inst/specs").glob("*.yaml"))
    assert shipped
    for f in shipped:
        assert f.read_bytes() == (ROOT / "specs" / f.name).read_bytes(), f"r-bridge/inst/specs/{f.name} differs"


def test_call_keeps_the_useful_line_of_other_errors():
    res = rbridge.call("json", "loads", "{")
    assert res["ok"] is False and res["type"] == "JSONDecodeError"
    assert res["error"].startswith("JSONDecodeError: Expecting property name") and "\n" not in res["error"]


def test_useful_line_skips_keras_framing():
    exc = ValueError("Exception encountered when calling Conv2D.call().\n\n\x1b[1mInput 0 of layer is "
                     "incompatible: expected ndim=4, found ndim=3\x1b[0m\n\nArguments received by Conv2D.call():\n"
                     "  \u2022 inputs=tf.Tensor(shape=(1, 4, 4))")
    assert rbridge.useful_line(exc) == "ValueError: Input 0 of layer is incompatible: expected ndim=4, found ndim=3"


def test_useful_line_of_real_keras_and_tensorflow_errors():
    pytest.importorskip("keras")
    import keras
    import numpy as np

    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    res = rbridge.call("cnnspec.interop.rbridge", "predict", rbridge.RModel(m, label="m", origin="m"),
                       np.zeros((2, 5)))
    assert res["error"] == "x has dimensions 2x5; the model takes N x 4" and res["type"] == "DataError"
    with pytest.raises(ValueError) as exc:
        m.predict(np.zeros((2, 5), "float32"), verbose=0)
    assert rbridge.useful_line(exc.value) == ("ValueError: Input 0 with name 'None' of layer 'dense' is incompatible "
                                              "with the layer: expected axis -1 of input shape to have value 4, but "
                                              "received input with shape (2, 5)")
    m.compile(loss="sparse_categorical_crossentropy")
    with pytest.raises(Exception) as exc:
        m.fit(np.zeros((2, 4), "float32"), np.array([0, 5]), verbose=0)
    line = rbridge.useful_line(exc.value)  # (the label order follows the shuffle)
    assert line.startswith("InvalidArgumentError: Received a label value of 5 which is outside the valid range of "
                           "[0, 2). Label values: ") and line.endswith(("0 5", "5 0"))
    res = rbridge.call("keras.ops", "reshape", np.zeros(6, "float32"), (4, 4))
    assert res["error"] == ("InvalidArgumentError: Input to reshape is a tensor with 6 values, but the requested "
                            "shape has 16")


def test_build_honours_the_train_section_and_overrides():
    pytest.importorskip("keras")
    m = rbridge.build(str(ROOT / "specs/table6.yaml"))
    assert type(m.keras.optimizer).__name__ == "Adadelta"
    assert float(m.keras.optimizer.learning_rate.numpy()) == 1.0 and m.loss == "sparse_categorical_crossentropy"
    m = rbridge.build(str(ROOT / "specs/table6.yaml"), optimizer="sgd", learning_rate=0.05)
    assert type(m.keras.optimizer).__name__ == "SGD"
    assert abs(float(m.keras.optimizer.learning_rate.numpy()) - 0.05) < 1e-7
    info = rbridge.model_info(m)
    assert info["totals"]["total"] == 1199882 and info["optimizer"] == "sgd" and info["units"] == 10


def test_fit_evaluate_predict_with_r_style_arrays():
    pytest.importorskip("keras")
    import numpy as np

    m = rbridge.build(str(ROOT / "specs/table5.yaml"))
    assert m.count_params() == 9409 and m.loss == "binary_crossentropy"
    x = np.random.rand(6, 200)  # no channel dimension
    h = rbridge.fit(m, x, np.array([0, 1] * 3), epochs=1.0, batch_size=3.0)
    assert set(h["metrics"]) >= {"loss", "accuracy"} and len(h["metrics"]["loss"]) == 1
    assert h["params"]["epochs"] == 1 and h["params"]["batch_size"] == 3
    assert set(rbridge.evaluate(m, x, [0, 1] * 3)) == {"loss", "accuracy"}
    assert rbridge.predict(m, x).shape == (6, 1)
    with pytest.raises(Exception, match="x has dimensions 6x199"):
        rbridge.predict(m, np.random.rand(6, 199))


def test_first_fit_decides_the_input_scale_as_runs_do():
    pytest.importorskip("keras")
    import numpy as np

    m = rbridge.build(str(ROOT / "specs/table3.yaml"))
    assert m.scale is None and rbridge.model_info(m)["scale"] is None
    rbridge.fit(m, np.random.randint(0, 256, size=(10, 28, 28)).astype("float64"), np.arange(10), epochs=1)
    assert m.scale == pytest.approx(1 / 255)
    m2 = rbridge.build(str(ROOT / "specs/table3.yaml"), scale=0.5)
    rbridge.fit(m2, np.random.rand(10, 28, 28, 1), np.arange(10), epochs=1)
    assert m2.scale == 0.5  # given: kept
    m3 = rbridge.build(str(ROOT / "specs/table3.yaml"))
    rbridge.fit(m3, np.random.rand(10, 28, 28, 1), np.arange(10), epochs=1,
                validation_data=(np.random.rand(2, 28, 28), [0, 1]))
    assert m3.scale == 1.0


def test_dataset_and_inputs_for_r(tmp_path):
    d = rbridge.dataset("sample", limit=20)
    assert d["x_train"].shape == (20, 28, 28, 1) and len(d["class_names"]) == 10 and d["name"]
    import numpy as np

    from cnnspec.data import load_dataset

    path = rbridge.write_inputs(np.random.rand(3, 28, 28, 1), str(tmp_path / "x.npz"))
    ds = load_dataset("npz:" + path)
    assert ds.x_test.shape == (3, 28, 28, 1)
