"""`cnnspec lr-find` through the CLI: a readable PNG of loss vs learning rate and a suggested rate that
sits where the loss falls, and the suggestion rules on known curves."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "specs" / "train_tiny.yaml"


def test_lr_find_cli_png_and_suggestion(run_cli, tmp_path):
    from PIL import Image

    out = tmp_path / "lr.png"
    code, stdout, err = run_cli("lr-find", TINY, "--data", "sample", "--steps", "80", "--min-lr", "1e-6",
                                "--max-lr", "10", "-o", out, "--json")
    assert code == 0, err
    res = json.loads(stdout)
    img = Image.open(out)
    assert img.size[0] > 300 and img.size[1] > 200
    assert np.asarray(img.convert("L")).std() > 5
    lrs, sm = res["lrs"], res["smoothed"]
    assert lrs == sorted(lrs) and lrs[0] == pytest.approx(1e-6)
    s = res["suggestions"]
    assert s["min_loss/10"] == pytest.approx(s["min_loss"] / 10) == pytest.approx(res["suggested_lr"])
    # the loss at the lowest-loss rate is clearly below the loss at the start (the net learns there)
    assert s["min_smoothed_loss"] < sm[0] - 0.1
    assert 1e-5 < res["suggested_lr"] < 1.0
    assert s["steepest"] <= s["min_loss"]


def test_lr_find_text_and_bad_options(run_cli, tmp_path):
    code, out, err = run_cli("lr-find", TINY, "--data", "sample", "--steps", "20", "-o", tmp_path / "x.png")
    assert code == 0, err
    assert "suggested learning rate:" in out and (tmp_path / "x.png").stat().st_size > 1000
    code, out, err = run_cli("lr-find", TINY, "-o", tmp_path / "x.jpg")
    assert code == 2 and ".png" in err
    code, out, err = run_cli("lr-find", TINY, "--min-lr", "1", "--max-lr", "0.1", "-o", tmp_path / "y.png")
    assert code == 2 and "min-lr" in err and not (tmp_path / "y.png").exists()
    code, out, err = run_cli("lr-find", TINY, "-o", tmp_path / "missing" / "y.png")
    assert code == 2 and "folder" in err


def test_suggest_on_a_known_curve():
    from cnnspec.keras.lrfind import smooth, suggest

    lrs = list(np.geomspace(1e-6, 1, 121))
    # flat, then falling fastest around 1e-3, minimum at 1e-2, then blowing up
    loss = [2.0 - 1.5 / (1 + math.exp(-4 * (math.log10(lr) + 3))) + (50 * (lr - 1e-2) if lr > 1e-2 else 0)
            for lr in lrs]
    s = suggest(lrs, loss)
    assert s["steepest"] == pytest.approx(1e-3, rel=0.15)
    assert s["min_loss"] == pytest.approx(1e-2, rel=0.15)
    assert s["min_loss/10"] == pytest.approx(s["min_loss"] / 10)
    assert smooth([1.0, 1.0, 1.0]) == pytest.approx([1.0, 1.0, 1.0])
