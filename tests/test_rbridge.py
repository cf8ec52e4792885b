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


def test_build_and_fit_with_r_style_numbers():
    pytest.importorskip("keras")
    import numpy as np

    m = rbridge.build(str(ROOT / "specs/table5.yaml"))
    assert rbridge.count_params(m) == 9409
    h = rbridge.fit(m, np.random.rand(6, 200, 1), np.array([0.0, 1.0] * 3), epochs=1.0, batch_size=3.0)
    assert set(h) >= {"loss", "accuracy"} and len(h["loss"]) == 1
