"""`cnnspec ensemble` through the CLI on three tiny runs that differ (seeds): member and ensemble test
accuracies, the ensemble no worse than its best member, one ONNX that passes the export parity check
with the usual metadata and that predict takes unchanged; weighting by validation accuracy; errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

# A high-variance member (a wide MLP on 400 training images, 10 epochs): members trained from different
# seeds overfit differently, which averaging removes (on the under-trained tiny CNN of train_tiny.yaml,
# whose members differ mostly in how far they got, the average can lose to the best member).
MLP = """name: mlp
input: [28, 28, 1]
layers:
  - {type: Flatten}
  - {type: Dense, units: 256, activation: relu}
  - {type: Dense, units: 10, activation: softmax}
train:
  batch_size: 32
  validation_split: 0.2
  optimizer: {name: adam, learning_rate: 0.001}
"""
LIMIT = 500


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    from cnnspec.keras.training import train

    base = tmp_path_factory.mktemp("members")
    spec = base / "mlp.yaml"
    spec.write_text(MLP)
    runs = []
    for seed in (1, 2, 3):
        out = base / f"r{seed}"
        train(str(spec), data="sample", out=str(out), epochs=10, limit=LIMIT, seed=seed)
        runs.append(out)
    return runs


def test_ensemble_cli(run_cli, members, tmp_path):
    out = tmp_path / "ens"
    code, stdout, err = run_cli("ensemble", *members, "--out", out, "--data", "sample", "--limit", str(LIMIT),
                                "--json")
    assert code == 0, err
    res = json.loads(stdout)
    accs = [m["test_accuracy"] for m in res["members"]]
    assert [m["weight"] for m in res["members"]] == pytest.approx([1 / 3] * 3)
    print("members", accs, "ensemble", res["ensemble_test_accuracy"])
    assert res["ensemble_test_accuracy"] >= max(accs) == res["best_member_test_accuracy"]
    assert res["parity"]["ok"] and res["parity"]["max_abs_diff"] <= res["parity"]["atol"]
    for f in ("model.keras", "model.cnnspec.json", "model.onnx", "ensemble.json"):
        assert (out / f).is_file()
    md = res["metadata"]
    assert md["input_shape"] == [28, 28, 1] and len(md["class_names"]) == 10 and md["spec_name"].startswith("ensemble")
    # the ONNX file, run by the TF-free runtime, gives the ensemble's accuracy and differs from each member
    from cnnspec.data import load_dataset
    from cnnspec.deploy.runtime import OnnxModel

    ds = load_dataset("sample", limit=LIMIT)
    onnx_probs = OnnxModel(out / "model.onnx", device="cpu").predict(ds.x_test)
    assert float((onnx_probs.argmax(-1) == ds.y_test).mean()) == pytest.approx(res["ensemble_test_accuracy"], abs=2e-3)
    from cnnspec.keras.export import load_keras

    member_probs = []
    for m in members:
        model, meta, _ = load_keras(m)
        member_probs.append(np.asarray(model.predict(ds.x_test.astype("float32") * meta["scale"], verbose=0)))
    assert any(np.abs(member_probs[0] - p).max() > 0.05 for p in member_probs[1:])  # members differ
    np.testing.assert_allclose(onnx_probs, np.mean(member_probs, axis=0), atol=1e-4)
    # predict uses it unchanged
    from PIL import Image

    img = tmp_path / "x.png"
    Image.fromarray(ds.x_test[0].reshape(28, 28)).save(img)
    code, stdout, err = run_cli("predict", out / "model.onnx", img, "--json")
    assert code == 0, err
    assert ds.class_names[int(onnx_probs[0].argmax())] in stdout


def test_weighted_by_validation_accuracy(run_cli, members, tmp_path):
    from cnnspec.runs.files import read_history

    out = tmp_path / "w"
    code, stdout, err = run_cli("ensemble", *members, "--out", out, "--data", "sample", "--limit", "300", "--weighted",
                                "--json")
    assert code == 0, err
    res = json.loads(stdout)
    val = []
    for m in members:  # the validation accuracy of the epoch model.keras holds (the best by val_loss)
        best = json.loads((m / "run.json").read_text())["best_epoch"]
        val.append(next(r["val_accuracy"] for r in read_history(m / "history.csv") if r["epoch"] == best))
    assert len(set(val)) > 1
    assert [m["weight"] for m in res["members"]] == pytest.approx([v / sum(val) for v in val])
    assert res["parity"]["ok"]
    code, stdout, err = run_cli("ensemble", *members, "--out", out, "--data", "sample")
    assert code == 2 and "--force" in err


def test_ensemble_errors(run_cli, members, tmp_path):
    code, _, err = run_cli("ensemble", members[0], "--out", tmp_path / "e")
    assert code == 2 and "at least two" in err
    code, _, err = run_cli("ensemble", members[0], members[0], "--out", tmp_path / "e")
    assert code == 2 and "twice" in err
    code, _, err = run_cli("ensemble", members[0], members[1], "--out", members[1])
    assert code == 2 and "member" in err
    code, _, err = run_cli("ensemble", members[0], tmp_path / "nothing", "--out", tmp_path / "e")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "e").exists()


def test_members_with_other_scaling_and_dropout(run_cli, members, tmp_path):
    """A member fed [-1, 1] inputs (train.scale 2/255, offset -1) with Dropout layers joins one fed
    [0, 1]: the ensemble converts the scaling inside, and export drops the Dropouts."""
    from cnnspec.data import load_dataset
    from cnnspec.deploy.runtime import OnnxModel
    from cnnspec.keras.export import load_keras
    from cnnspec.keras.training import train

    spec = tmp_path / "drop.yaml"
    spec.write_text(MLP.replace("  - {type: Dense, units: 10", "  - {type: Dropout, rate: 0.3}\n  - {type: Dense, units: 10")
                    + "  scale: 0.00784313725490196\n  offset: -1.0\n")
    other = tmp_path / "other"
    train(str(spec), data="sample", out=str(other), epochs=2, limit=LIMIT, seed=7)
    out = tmp_path / "mix"
    code, stdout, err = run_cli("ensemble", members[0], other, "--out", out, "--data", "sample", "--limit", "200",
                                "--json")
    assert code == 0, err
    res = json.loads(stdout)
    assert res["parity"]["ok"] and res["metadata"]["offset"] == 0.0
    x = load_dataset("sample", limit=200).x_test.astype("float32")
    want = []
    for m in (members[0], other):
        model, meta, _ = load_keras(m)
        want.append(np.asarray(model.predict(x * meta["scale"] + meta["offset"], verbose=0)))
    assert load_keras(other)[1]["offset"] == -1.0
    got = OnnxModel(out / "model.onnx", device="cpu").predict(x)
    np.testing.assert_allclose(got, np.mean(want, axis=0), atol=1e-4)


def test_from_sweep_top_k(run_cli, tmp_path):
    """A real sweep (3 seeds of the tiny CNN); --from-sweep --top 2 takes the two trials with the best
    validation accuracy (the sweep's metric), never ranked on the test split."""
    from cnnspec.runs.files import read_history

    sweep = tmp_path / "sw.yaml"
    sweep.write_text(f"spec: {ROOT / 'tests' / 'specs' / 'train_tiny.yaml'}\n"
                     "data: {name: sample, limit: 200}\ntrain: {epochs: 1, validation_split: 0.2}\n"
                     "grid:\n  train.seed: [1, 2, 3]\n")
    code, _, err = run_cli("sweep", sweep, "--out", tmp_path / "sw", "--max-concurrent", "1")
    assert code == 0, err
    trials = sorted((tmp_path / "sw" / "trials").iterdir())
    best_val = {t.name: max(r["val_accuracy"] for r in read_history(t / "history.csv")) for t in trials}
    code, stdout, err = run_cli("ensemble", "--from-sweep", tmp_path / "sw", "--top", "2", "--out", tmp_path / "e",
                                "--data", "sample", "--limit", "200", "--json")
    assert code == 0, err
    res = json.loads(stdout)
    sel = res["selection"]
    assert sel["metric"] == "val_accuracy" and len(sel["trials"]) == 2
    assert sel["values"] == sorted(best_val.values(), reverse=True)[:2]
    assert [Path(m["run"]).name for m in res["members"]] == sel["trials"]
    assert res["parity"]["ok"]
    code, _, err = run_cli("ensemble", "--from-sweep", tmp_path, "--out", tmp_path / "e2")
    assert code == 2 and "sweep.json" in err
