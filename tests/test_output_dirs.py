"""Directories cnnspec fills besides training runs (baselines, ensembles): never an ordinary folder,
--force replaces only cnnspec's own output."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnspec.errors import CnnspecError
from cnnspec.runs.rundir import MARKER, prepare_output_dir

ROOT = Path(__file__).resolve().parents[1]


def cli(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "cnnspec", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_prepare_output_dir_rule(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my thesis")
    for force in (False, True):
        with pytest.raises(CnnspecError, match=r"not a cnnspec output directory \(1 entry\)"):
            prepare_output_dir(mine, force, ("notes.txt",))
    assert (mine / "notes.txt").read_text() == "my thesis"
    assert prepare_output_dir(tmp_path / "new", False, ()) is None
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / MARKER).write_text("{}")
    (ours / "model.onnx").write_text("old")
    (ours / "keep.txt").write_text("user's")
    with pytest.raises(CnnspecError, match="already holds cnnspec output"):
        prepare_output_dir(ours, False, ("model.onnx",))
    assert prepare_output_dir(ours, True, ("model.onnx",)) == "model.onnx"
    assert not (ours / "model.onnx").exists() and (ours / "keep.txt").read_text() == "user's"


def test_baseline_force_never_writes_into_an_ordinary_folder(tmp_path):
    pytest.importorskip("sklearn")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metrics.json").write_text('{"mine": true}')
    p = cli("baseline", "--model", "knn", "--data", "sample", "--limit", "200", "--out", mine, "--force")
    assert p.returncode == 2 and "not a cnnspec output directory" in p.stderr, p.stderr
    assert "--force" not in p.stderr.split("not a cnnspec output directory")[1]
    assert json.loads((mine / "metrics.json").read_text()) == {"mine": True}
    assert sorted(x.name for x in mine.iterdir()) == ["metrics.json"]
    run = tmp_path / "knn"
    assert cli("baseline", "--model", "knn", "--data", "sample", "--limit", "200", "--out", run).returncode == 0
    assert (run / MARKER).is_file() and json.loads((run / "metrics.json").read_text())["model"] == "knn"
    again = cli("baseline", "--model", "knn", "--data", "sample", "--limit", "200", "--out", run)
    assert again.returncode == 2 and "--force" in again.stderr
    assert cli("baseline", "--model", "knn", "--data", "sample", "--limit", "200", "--out", run,
               "--force").returncode == 0
