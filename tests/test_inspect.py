"""`cnnspec inspect` (feature maps, first-layer filters, saliency) and the worst-classified images grid
`cnnspec evaluate` writes, through the CLI on a tiny run; PNGs opened with PIL and checked."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "specs" / "train_tiny.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from cnnspec.keras.training import train

    out = tmp_path_factory.mktemp("insp") / "run"
    train(str(TINY), data="sample", out=str(out), epochs=1, limit=300, seed=0)
    return out


@pytest.fixture(scope="module")
def image(run):
    from PIL import Image

    from cnnspec.data import load_dataset

    x = load_dataset("sample", limit=5).x_test[3]
    path = run.parent / "img.png"
    Image.fromarray(x.reshape(28, 28)).save(path)
    return path


def readable(path: Path, min_size=(150, 100)) -> np.ndarray:
    from PIL import Image

    img = Image.open(path)
    img.load()
    assert img.size[0] >= min_size[0] and img.size[1] >= min_size[1]
    arr = np.asarray(img.convert("L"), dtype=np.float64)
    assert arr.std() > 5  # not a blank figure
    return arr


def test_inspect_cli_writes_readable_grids(run_cli, run, image, tmp_path):
    out = tmp_path / "look"
    code, stdout, err = run_cli("inspect", run, "--image", image, "--out", out, "--json")
    assert code == 0, err
    res = json.loads(stdout)
    names = sorted(Path(f).name for f in res["files"])
    assert names == ["filters.png", "maps_00_conv2d.png", "maps_01_max_pooling2d.png", "saliency.png"]
    for f in res["files"]:
        assert Path(f).parent == out
        readable(Path(f))
    assert res["saliency_of"] == "logit" and 0 < res["confidence"] <= 1
    # text mode, default folder under the run
    code, stdout, err = run_cli("inspect", run, "--image", image, "--class", "3")
    assert code == 0, err
    assert (run / "inspect" / "img" / "saliency.png").is_file() and "saliency of the logit of Dress" in stdout


def test_inspect_errors(run_cli, run, image, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    code, _, err = run_cli("inspect", run, "--image", bad, "--out", tmp_path / "o")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "image" in err
    code, _, err = run_cli("inspect", run, "--image", image, "--class", "12", "--out", tmp_path / "o2")
    assert code == 2 and "--class 12" in err
    code, _, err = run_cli("inspect", tmp_path / "norun", "--image", image)
    assert code == 2 and len(err.strip().splitlines()) == 1
    clash = tmp_path / "saliency.png"
    clash.write_bytes(image.read_bytes())
    code, _, err = run_cli("inspect", run, "--image", clash, "--out", tmp_path)
    assert code == 2 and "overwrite an input" in err and clash.read_bytes() == image.read_bytes()


def test_saliency_is_where_the_class_score_looks():
    from cnnspec.keras.inspect import saliency
    from cnnspec.keras.util import import_keras_quietly

    import_keras_quietly()
    import keras

    inp = keras.Input((8, 8, 1))
    dense = keras.layers.Dense(3, activation="softmax")
    model = keras.Model(inp, dense(keras.layers.Flatten()(inp)))
    w = np.zeros((64, 3), np.float32)
    w[:32, 0] = 1.0    # class 0 looks at the top half only
    w[32:, 1] = -2.0   # class 1 at the bottom half
    dense.set_weights([w, np.zeros(3, np.float32)])
    x = np.random.default_rng(0).random((8, 8, 1)).astype(np.float32)
    sal, c, p, what = saliency(model, x, cls=0)
    assert what == "logit" and c == 0
    assert np.allclose(sal[:4], 1.0) and np.allclose(sal[4:], 0.0)
    sal1, *_ = saliency(model, x, cls=1)
    assert np.allclose(sal1[:4], 0.0) and np.allclose(sal1[4:], 2.0)


def test_evaluate_writes_worst_classified_grid(run_cli, run):
    code, stdout, err = run_cli("evaluate", run, "--data", "sample", "--limit", "300", "--json")
    assert code == 0, err
    m = json.loads(stdout)
    png = Path(m["worst_images"]["png"])
    assert png.parent == run and png.name.endswith("_worst.png")
    readable(png, (300, 300))
    recs = m["worst_images"]["images"]
    assert len(recs) == 16
    p_true = [r["p_true"] for r in recs]
    assert p_true == sorted(p_true)
    wrong = m["n"] - round(m["accuracy"] * m["n"])
    assert all(r["true"] != r["predicted"] for r in recs[:min(16, wrong)])
    assert json.loads((run / "eval_fashion_mnist_sample.json").read_text())["worst_images"]["png"] == str(png)
