"""Sweep files, planning, trial specs, the results table and baselines' features: pure Python and fast.
(The sweeps that train through the real CLI are in test_experiments_sweep.py and _ray.py.)"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnspec.errors import SpecError
from cnnspec.experiments.plan import plan_trials, refine_space, sample, trial_spec
from cnnspec.experiments.sweepfile import Dim, load_sweep

ROOT = Path(__file__).resolve().parents[1]
FAMILY = ROOT / "specs" / "sweeps" / "tiny_family.yaml"


def sweep_file(tmp_path: Path, body: str, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(f"spec: {FAMILY}\n" + body)
    return p


def err(tmp_path, body) -> str:
    with pytest.raises(SpecError) as e:
        load_sweep(sweep_file(tmp_path, body))
    return str(e.value)


def test_grid_plan_names_and_specs(tmp_path):
    s = load_sweep(sweep_file(tmp_path, "data: {name: sample, limit: 200}\ngrid:\n  variant: [A, B]\n"
                              "  train.learning_rate: [0.001, 0.01]\n  vars.rate: [0.0, 0.25]\n"))
    trials = plan_trials(s)
    assert len(trials) == 8 and len({t.name for t in trials}) == 8
    assert {t.variant for t in trials} == {"A", "B"}
    from cnnspec.check.infer import infer
    from cnnspec.spec.loader import load_spec
    from cnnspec.spec.trainconfig import for_spec

    t = next(t for t in trials if t.variant == "B" and t.values == {"train.learning_rate": 0.01, "vars.rate": 0.25})
    p = tmp_path / "t.yaml"
    p.write_text(trial_spec(s, t))
    spec = load_spec(p)          # one variant left: loads without FILE#VARIANT
    assert spec.variant == "B"
    assert spec.rows[0].layer.filters == 8 and spec.rows[2].layer.rate == 0.25
    cfg = for_spec(spec)
    assert cfg.optimizer_config().learning_rate == 0.01  # into the optimizer mapping, as --learning-rate does
    assert (cfg.dataset, cfg.limit) == ("sample", 200)
    assert infer(spec)[-1].output == (10,)


def test_random_search_is_seeded_and_refine_narrows(tmp_path):
    body = ("random:\n  trials: 5\n  seed: 3\n  space:\n    train.learning_rate: {loguniform: [1.0e-4, 1.0e-1]}\n"
            "    vars.rate: {uniform: [0.0, 0.5]}\n    train.batch_size: {choice: [16, 32, 64]}\n"
            "  refine: {top_k: 2, trials: 3}\n")
    s = load_sweep(sweep_file(tmp_path, body))
    a, b = plan_trials(s), plan_trials(s)
    assert [t.values for t in a] == [t.values for t in b] and len(a) == 10  # 5 samples x 2 variants
    for t in a:
        assert 1e-4 <= t.values["train.learning_rate"] <= 0.1 and 0 <= t.values["vars.rate"] <= 0.5
        assert t.values["train.batch_size"] in (16, 32, 64)
    top = [a[0].values, a[2].values]
    fine = refine_space(s.model.random.space, top)
    lrs = sorted(v["train.learning_rate"] for v in top)
    assert fine["train.learning_rate"].loguniform == tuple(lrs)
    assert set(fine["train.batch_size"].choice) == {v["train.batch_size"] for v in top}
    stage2 = [t for t in plan_trials(s, refine_top=top) if t.stage == "refine"]
    assert len(stage2) == 6 and all(lrs[0] <= t.values["train.learning_rate"] <= lrs[1] for t in stage2)
    ints = sample({"k": Dim(int=(2, 4))}, 50, 0)
    assert {p["k"] for p in ints} == {2, 3, 4}


@pytest.mark.parametrize("body,where,words", [
    ("grid:\n  train.learnig_rate: [0.1]\n", ":3:", "did you mean 'learning_rate'"),
    ("grid:\n  vars.rte: [0.1]\n", ":3:", "did you mean 'rate'"),
    ("grid:\n  variant: [A, C]\n", ":3:", "no variant 'C'"),
    ("grd:\n  variant: [A]\n", ":2:", "did you mean 'grid'"),
    ("random:\n  trials: 2\n  space:\n    vars.rate: {uniform: [0.5, 0.1]}\n", ":5:", "low must be at most high"),
    ("random:\n  trials: 2\n  space:\n    vars.rate: {unifrom: [0.1, 0.5]}\n", ":5:", "did you mean 'uniform'"),
    ("random:\n  trials: 0\n  space: {vars.rate: {uniform: [0, 1]}}\n", ":3:", "greater than or equal to 1"),
    ("baselines: [knn, svm]\n", ":2:", "knn"),
    ("metric: val_acc\ngrid: {variant: [A, B]}\n", ":2:", "val_accuracy"),
    ("train: {epocs: 2}\ngrid: {variant: [A, B]}\n", ":2:", "did you mean 'epochs'"),
    ("train: {limit: 2}\ngrid: {variant: [A, B]}\n", ":2:", "data:"),
    ("variants: [A]\n", ":1:", "nothing to sweep"),
])
def test_bad_sweep_files_one_line_with_line(tmp_path, body, where, words):
    msg = err(tmp_path, body)
    assert "\n" not in msg and where in msg and words in msg, msg


def test_missing_spec_and_bad_yaml(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("spec: nowhere.yaml\ngrid: {variant: [A]}\n")
    with pytest.raises(SpecError, match="s.yaml:1: spec: spec file 'nowhere.yaml' not found"):
        load_sweep(p)
    p.write_text("spec: [unclosed\n")
    with pytest.raises(SpecError, match="malformed YAML"):
        load_sweep(p)


def test_cli_refuses_bad_sweep_exit_2(tmp_path):
    p = sweep_file(tmp_path, "grid:\n  train.batch_sise: [8]\n")
    r = subprocess.run([sys.executable, "-m", "cnnspec", "sweep", str(p), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "s.yaml:3: grid.train.batch_sise: unknown train key 'batch_sise' (did you mean 'batch_size'?)" in r.stderr
    assert not (tmp_path / "o").exists()


def test_changed_sweep_refused_unless_extend(tmp_path):
    from cnnspec.experiments.sweep import SweepRun

    p = sweep_file(tmp_path, "grid: {variant: [A, B]}\n")
    out = tmp_path / "o"
    run = SweepRun(load_sweep(p), out, extend=False, retry_failed=False)
    run.add(plan_trials(run.sweep))
    p.write_text(p.read_text().replace("[A, B]", "[A]") + "repeats: 2\n")
    with pytest.raises(Exception, match="different sweep file.*--extend"):
        SweepRun(load_sweep(p), out, extend=False, retry_failed=False)
    run2 = SweepRun(load_sweep(p), out, extend=True, retry_failed=False)
    run2.add(plan_trials(run2.sweep))
    names = {t["name"] for t in run2.state["trials"]}
    assert {"A", "B", "A-r1", "A-r2"} <= names
    inside = out / "specs" / "mine.yaml"  # an input where the sweep writes its own files
    inside.write_text(p.read_text())
    with pytest.raises(Exception, match="overwrite an input"):
        SweepRun(load_sweep(inside), out, extend=True, retry_failed=False)


def test_bad_values_fail_the_trial_not_the_sweep(tmp_path):
    from cnnspec.experiments.sweep import SweepRun

    p = sweep_file(tmp_path, "grid:\n  variant: [A]\n  vars.rate: [0.1, 1.5]\n")
    run = SweepRun(load_sweep(p), tmp_path / "o", extend=False, retry_failed=False)
    trials = plan_trials(run.sweep)
    run.add(trials)
    st = {t.name: run.status(t) for t in trials}
    assert st == {"A-rate=0.1": "todo", "A-rate=1.5": "failed"}
    assert "bad values" in run.outcome("A-rate=1.5")["reason"] and "rate" in run.outcome("A-rate=1.5")["reason"]


def test_baseline_features_follow_seed_000():
    from cnnspec.experiments.baselines import features

    x = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    f = features(x, 255.0)
    assert f.shape == (2, 4 * 4 * 3 + 2 * 3)
    xf = x.astype(np.float32) / 255
    np.testing.assert_allclose(f[:, -6:-3], xf.mean(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_allclose(f[:, -3:], xf.std(axis=(1, 2)), rtol=1e-5)
    assert features(np.zeros((3, 28, 28, 1), np.uint8), 255).shape == (3, 786)  # seed 000's 786 predictors


def test_experiments_modules_do_not_import_tensorflow(tmp_path):
    code = ("import sys; import cnnspec.experiments.sweep, cnnspec.experiments.report, cnnspec.experiments.baselines, "
            "cnnspec.experiments.executors, cnnspec.cli.experiments; assert 'tensorflow' not in sys.modules; "
            "assert 'ray' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_val_metric_without_validation_refused_before_writing(tmp_path):
    from cnnspec.experiments.sweep import run_sweep

    spec = tmp_path / "nov.yaml"
    spec.write_text(FAMILY.read_text().replace("  validation_split: 0.2\n", ""))
    p = tmp_path / "s.yaml"
    p.write_text(f"spec: {spec}\ngrid: {{variant: [A, B]}}\nmetric: val_loss\n")
    with pytest.raises(SpecError, match=r"s.yaml:3: metric: metric val_loss needs validation data.*validation_split"):
        run_sweep(str(p), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_second_sweep_on_the_same_dir_refused(tmp_path):
    from cnnspec.errors import CnnspecError
    from cnnspec.experiments.sweep import SweepRun

    p = sweep_file(tmp_path, "grid: {variant: [A, B]}\n")
    first = SweepRun(load_sweep(p), tmp_path / "o", extend=False, retry_failed=False)
    first.lock()
    code = ("import sys; from cnnspec.experiments.sweep import SweepRun; from cnnspec.experiments.sweepfile import "
            "load_sweep; SweepRun(load_sweep(sys.argv[1]), __import__('pathlib').Path(sys.argv[2]), False, False).lock()")
    r = subprocess.run([sys.executable, "-c", code, str(p), str(tmp_path / "o")], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and "another cnnspec sweep" in r.stderr and str(__import__("os").getpid()) in r.stderr
    with pytest.raises(CnnspecError, match="another cnnspec sweep") as ei:
        SweepRun(load_sweep(p), tmp_path / "o", extend=False, retry_failed=False).lock()  # same process, 2nd fd
    assert str(ei.value).count(str(tmp_path / "o")) == 1, str(ei.value)
    first.unlock()  # a finished sweep leaves no pid behind, and the next sweep takes the directory
    assert (tmp_path / "o" / ".sweep.lock").read_text() == ""
    second = SweepRun(load_sweep(p), tmp_path / "o", extend=False, retry_failed=False)
    second.lock()
    second.unlock()


@pytest.mark.parametrize("body,words", [
    ("data: 5\ngrid: {variant: [A]}\n", "`data` is a dataset name"),
    ("repeats: true\ngrid: {variant: [A]}\n", "valid integer"),
    ("random: {trials: 2, space: {vars.rate: {uniform: [0.1]}}}\n", "uniform takes two values"),
    ("grid: [1, 2]\n", "valid dictionary"),
])
def test_hostile_sweep_values(tmp_path, body, words):
    msg = err(tmp_path, body)
    assert ":2:" in msg and words in msg and "\n" not in msg, msg


def test_grid_over_mappings_writes_trial_specs(tmp_path):
    """A grid whose values are mappings (augmentation on/off, as seed 002 compares) gives trial specs
    that load and carry the mapping into the train section."""
    s = load_sweep(sweep_file(tmp_path, "variants: [A]\ngrid:\n  train.augmentation:\n    - null\n"
                              "    - {rotation: 10, width_shift: 0.1}\n"))
    from cnnspec.spec.loader import load_spec
    from cnnspec.spec.trainconfig import for_spec

    augs = []
    for i, t in enumerate(plan_trials(s)):
        p = tmp_path / f"t{i}.yaml"
        p.write_text(trial_spec(s, t))
        augs.append(for_spec(load_spec(p)).augmentation)
    assert augs[0] is None and augs[1].rotation == 10 and augs[1].width_shift == 0.1
