"""`cnnspec doctor` through the CLI: a good spec passes every check, deliberately broken specs (no
softmax, a learning rate 100x too high, an all-zero input scale) get the right warnings, and the
data checks catch unscaled inputs, out-of-range labels, imbalance and train/test duplicates."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

GOOD = """name: small
input: [28, 28, 1]
layers:
{first}  - {{type: Conv2D, filters: 8, kernel_size: 3, activation: relu, kernel_initializer: he_normal}}
  - {{type: MaxPooling2D, pool_size: 2}}
  - {{type: Flatten}}
  - {{type: Dense, units: 32, activation: relu, kernel_initializer: he_normal}}
  - {{type: Dense, units: 10{last}}}
train:
  batch_size: 32
  optimizer: {{name: adam, learning_rate: {lr}}}
"""


def spec(tmp_path: Path, *, first: str = "", last: str = ", activation: softmax", lr: float = 0.001,
         name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(GOOD.format(first=first, last=last, lr=lr))
    return p


def doctor(run_cli, *args) -> tuple[int, dict]:
    code, out, err = run_cli("doctor", *map(str, args), "--json")
    assert code in (0, 1), err
    checks = json.loads(out)
    for c in checks:
        assert set(c) >= {"name", "status", "value", "advice"} and c["status"] in ("pass", "warn", "fail")
        assert isinstance(c["value"], str) and c["value"] and c["advice"]
    return code, {c["name"]: c for c in checks}


def flagged(checks: dict) -> dict:
    return {k: c["status"] for k, c in checks.items() if c["status"] != "pass"}


NAMES = {"input_scaling", "label_range", "class_balance", "duplicates", "final_activation", "initial_loss",
         "dead_relu", "saturation", "initialisation", "gradients", "update_ratio", "overfit_small"}


def test_good_spec_passes_everything(run_cli, tmp_path):
    code, checks = doctor(run_cli, spec(tmp_path), "--data", "sample")
    assert set(checks) == NAMES
    assert flagged(checks) == {} and code == 0
    assert "ln(10)" in checks["initial_loss"]["value"]
    assert checks["overfit_small"]["detail"]["accuracy"] >= 0.95
    assert checks["initialisation"]["advice"].startswith("He")


def test_table6_on_sample_passes_and_prints_a_table(run_cli):
    code, out, err = run_cli("doctor", ROOT / "specs" / "table6.yaml", "--data", "sample")
    assert code == 0, err
    assert "12 pass, 0 warn, 0 fail" in out
    assert "table6.yaml on fashion_mnist_sample (3000 train, 1000 test images)" in out.replace("\n", " ")
    for name in NAMES:
        assert name in out


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_no_softmax_with_categorical_loss(run_cli, tmp_path, loss):
    s = spec(tmp_path, last="")
    s.write_text(s.read_text() + f"  loss: {loss}\n")
    code, checks = doctor(run_cli, s, "--data", "sample")
    assert loss in checks["final_activation"]["advice"] and loss in checks["label_range"]["value"]
    assert code == 1
    assert checks["final_activation"]["status"] == "fail"
    assert "softmax" in checks["final_activation"]["advice"]


@pytest.mark.parametrize("which", ["adam", "table6"])
def test_learning_rate_100x_too_high(run_cli, tmp_path, which):
    if which == "adam":  # Adam's 0.001 -> 0.1
        s = spec(tmp_path, lr=0.1)
    else:  # table6's Adadelta 1.0 -> 100: the ReLUs die after the first step
        s = tmp_path / "t6.yaml"
        text = (ROOT / "specs" / "table6.yaml").read_text()
        assert "optimizer: {name: adadelta, learning_rate: 1.0}" in text
        s.write_text(text.replace("learning_rate: 1.0}", "learning_rate: 100.0}"))
    code, checks = doctor(run_cli, s, "--data", "sample")
    assert checks["update_ratio"]["status"] == "warn"
    assert "too high" in checks["update_ratio"]["advice"]
    # what is measured before any step is unaffected
    assert checks["initial_loss"]["status"] == "pass" and checks["final_activation"]["status"] == "pass"
    if which == "table6":
        assert checks["gradients"]["status"] == "warn" and "vanishing" in checks["gradients"]["advice"]
        assert checks["overfit_small"]["status"] == "warn"


def test_learning_rate_far_too_low(run_cli, tmp_path):
    s = spec(tmp_path)
    s.write_text(s.read_text().replace("{name: adam, learning_rate: 0.001}", "{name: sgd, learning_rate: 1.0e-7}"))
    code, checks = doctor(run_cli, s, "--data", "sample")
    assert checks["update_ratio"]["status"] == "warn" and "too low" in checks["update_ratio"]["advice"]
    assert checks["overfit_small"]["status"] == "warn"


def test_all_zero_input_scale(run_cli, tmp_path):
    s = spec(tmp_path, first="  - {type: Rescaling, scale: 0.0}\n")
    code, checks = doctor(run_cli, s, "--data", "sample")
    assert code == 1
    assert checks["input_scaling"]["status"] == "fail" and "std 0" in checks["input_scaling"]["value"]
    assert checks["dead_relu"]["status"] == "fail"
    assert checks["overfit_small"]["status"] == "warn"


def _npz(path: Path, *, dup: int = 0, imbalance: bool = False, raw_labels_max: int = 9, n: int = 200) -> Path:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    y = np.arange(n) % 10
    if imbalance:
        y[: n // 2] = 0
    y[-1] = raw_labels_max
    xt = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    xt[:dup] = x[:dup]
    np.savez(path, x_train=x, y_train=y, x_test=xt, y_test=np.arange(40) % 10)
    return path


def test_data_checks_through_the_cli(run_cli, tmp_path):
    npz = _npz(tmp_path / "d.npz", dup=3, imbalance=True)
    s = tmp_path / "raw.yaml"  # raw 0..255 pixels into a tanh layer
    text = spec(tmp_path).read_text().replace("units: 32, activation: relu", "units: 32, activation: tanh")
    s.write_text(text + "  scale: 1.0\n")
    code, checks = doctor(run_cli, s, "--data", f"npz:{npz}")
    assert checks["duplicates"]["status"] == "warn" and checks["duplicates"]["value"].startswith("3 of 40")
    assert checks["class_balance"]["status"] == "warn"
    assert checks["input_scaling"]["status"] == "warn" and "raw pixel" in checks["input_scaling"]["advice"]
    assert checks["saturation"]["status"] == "warn" and "dense" in checks["saturation"]["advice"]
    assert checks["initial_loss"]["status"] == "warn"


def test_labels_beyond_units_is_a_failed_check(run_cli, tmp_path):
    npz = _npz(tmp_path / "d.npz", raw_labels_max=12)
    code, checks = doctor(run_cli, spec(tmp_path), "--data", f"npz:{npz}")
    assert code == 1 and checks["label_range"]["status"] == "fail"
    assert "0..9" in checks["label_range"]["advice"]
    assert "update_ratio" not in checks  # training steps need valid labels


def test_he_on_the_softmax_layer_is_named(run_cli, tmp_path):
    s = tmp_path / "he.yaml"
    s.write_text(spec(tmp_path).read_text() + "  kernel_initializer: he_normal\n")
    code, checks = doctor(run_cli, s, "--data", "sample")
    assert checks["initial_loss"]["status"] == "warn"  # He on the softmax layer: logits too large at init
    assert "HeNormal" in checks["initial_loss"]["advice"] and "glorot_uniform" in checks["initial_loss"]["advice"]


def test_bad_input_is_one_line(run_cli, tmp_path):
    code, out, err = run_cli("doctor", tmp_path / "missing.yaml")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    code, out, err = run_cli("doctor", spec(tmp_path), "--data", "cifar10x")
    assert code == 2 and "unknown dataset" in err


def test_deep_relu_stack_without_he_through_the_cli(run_cli, tmp_path):
    """16 ReLU Dense layers of width 16 with Keras's default Glorot: each halves the signal's variance."""
    rows = "".join("  - {type: Dense, units: 16, activation: relu}\n" for _ in range(16))
    s = tmp_path / "deep.yaml"
    s.write_text("name: deep\ninput: [28, 28, 1]\nlayers:\n  - {type: Flatten}\n" + rows
                 + "  - {type: Dense, units: 10, activation: softmax}\n")
    code, checks = doctor(run_cli, s, "--data", "sample", "--limit", "300")
    assert checks["initialisation"]["status"] == "warn" and "he_normal" in checks["initialisation"]["advice"]
    assert checks["initialisation"]["detail"]["std_factor_vs_he"] < 0.01
    s.write_text(s.read_text() + "train: {kernel_initializer: he_normal}\n")
    code, checks = doctor(run_cli, s, "--data", "sample", "--limit", "300")
    assert checks["initialisation"]["status"] == "pass"


@pytest.mark.parametrize("rule", ["glorot_deep", "zeros"])
def test_initialisation_rule(tmp_path, rule):
    from cnnspec.keras.doctor import initialisation
    from cnnspec.keras.util import import_keras_quietly

    import_keras_quietly()
    import keras

    init = "glorot_uniform" if rule == "glorot_deep" else "zeros"
    inp = keras.Input((16,))
    h = inp
    for _ in range(16):  # Glorot on equal widths halves the variance per ReLU layer: 2^-8 in std
        h = keras.layers.Dense(16, activation="relu", kernel_initializer=init)(h)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(h))
    c = initialisation(model)
    assert c.status == ("warn" if rule == "glorot_deep" else "fail")
    assert "he_normal" in c.advice


def test_pure_modules_do_not_import_tensorflow():
    import subprocess
    import sys

    code = ("import sys; import cnnspec.data.checks, cnnspec.check.doctor, cnnspec.cli.diagnose; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
