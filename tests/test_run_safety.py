"""Nothing lost, nothing wrong (issue 9), through the real CLI: --force's limits, resume validated
before it touches a run, outputs never over inputs, the run directory lock, a run directory only
after the model builds, every exit path recorded, divergence, build compared by layer name,
usage errors, and user text printed literally. Data: tiny generated .npz files."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "specs" / "train_tiny.yaml"


def cli(*args, timeout=300) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "cnnspec", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def popen(*args) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-m", "cnnspec", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def one_error(p: subprocess.CompletedProcess) -> str:
    """The single error line (and no traceback, no internal error)."""
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr, p.stderr
    return lines[0]


def one_line(err: str) -> str:
    """The single error line of an in-process run (no traceback, no internal error)."""
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "internal error" not in err and "Traceback" not in err, err
    return lines[0]


def snapshot(folder: Path) -> dict:
    """Every file's bytes (the lock file holds a pid only while locked: not part of the run)."""
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir()) if f.is_file() and f.name != ".cnnspec-lock"}


def npz(path: Path, n_train=64, n_test=30, class_names=None) -> Path:
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.integers(0, 255, (n_train, 28, 28, 1), dtype=np.uint8),
                  y_train=np.arange(n_train) % 10,
                  x_test=rng.integers(0, 255, (n_test, 28, 28, 1), dtype=np.uint8), y_test=np.arange(n_test) % 10)
    if class_names is not None:
        arrays["class_names"] = np.array(class_names)
    np.savez(path, **arrays)
    return path


def run_json(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def wait_for(cond, proc: subprocess.Popen, timeout=180.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished one-epoch run on a small npz whose class names are hostile text."""
    d = tmp_path_factory.mktemp("safety")
    data = npz(d / "data.npz", class_names=["[bold]a", "b[/]", "c\x1b[31m", "d", "e", "f", "g", "h", "i", "j"])
    run = d / "run"
    p = cli("train", TINY, "--out", run, "--data", f"npz:{data}", "--epochs", "1", "--json")
    assert p.returncode == 0, p.stderr
    return run, data


# ----------------------------------------------------------------------------------------------
# --force
# ----------------------------------------------------------------------------------------------
def test_force_never_empties_an_ordinary_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    (folder / "run.txt").write_text("also mine")
    for extra in ([], ["--force"]):
        p = cli("train", TINY, "--out", folder, "--limit", "100", *extra)
        msg = one_error(p)
        assert p.returncode == 2 and "not a cnnspec run directory" in msg and "--force" not in msg
    assert snapshot(folder) == {"keep.txt": b"mine", "run.txt": b"also mine"}


def test_force_replaces_only_a_marked_run_and_says_what(finished, tmp_path):
    src, data = finished
    run = tmp_path / "run"
    shutil.copytree(src, run)
    (run / "notes.txt").write_text("mine")
    # a spec Keras refuses (check accepts it): the run is not touched, nothing is created
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text().replace(
        "activation: relu,", "activation: relu, kernel_initializer: {class_name: VarianceScaling, "
        "config: {scale: -1.0}},"))
    before = snapshot(run)
    p = cli("train", bad, "--out", run, "--force", "--data", f"npz:{data}")
    assert p.returncode == 2 and "bad.yaml" in one_error(p)
    assert snapshot(run) == before
    p = cli("train", bad, "--out", tmp_path / "new", "--data", f"npz:{data}")
    assert p.returncode == 2 and not (tmp_path / "new").exists()
    # a real replacement says what it replaces and keeps foreign files
    p = cli("train", TINY, "--out", run, "--force", "--data", f"npz:{data}", "--epochs", "1", "--quiet")
    assert p.returncode == 0, p.stderr
    assert "replacing the run of tiny (status finished, 1 epoch(s))" in p.stderr
    assert (run / "notes.txt").read_text() == "mine" and run_json(run)["status"] == "finished"
    # run files without the marker (an older cnnspec): --force refuses
    (run / ".cnnspec-run").unlink()
    p = cli("train", TINY, "--out", run, "--force", "--data", f"npz:{data}")
    assert p.returncode == 2 and "marker" in one_error(p)


# ----------------------------------------------------------------------------------------------
# resume: everything validated before the run is touched
# ----------------------------------------------------------------------------------------------
def test_resume_validates_before_touching(finished, tmp_path, run_cli):
    src, data = finished
    run = tmp_path / "run"
    shutil.copytree(src, run)
    before = snapshot(run)
    other = tmp_path / "other.yaml"
    other.write_text(TINY.read_text().replace("filters: 8", "filters: 9"))
    cases = [
        (["--learning-rate", "0.1"], None, "only --epochs may change"),
        (["--data", "sample"], None, "only --epochs may change"),
        ([], None, "already finished"),
        ([], "spec", "differs from the spec of run"),
    ]
    for flags, spec, words in cases:
        args = ["train", *([other] if spec else []), "--resume", run, "--epochs", "3", *flags]
        if words == "already finished":
            args = ["train", "--resume", run]
        code, _, err = run_cli(*args)
        assert code == 2 and words in one_line(err), (args, err)
        assert snapshot(run) == before
    # the data is gone
    data.rename(data.with_suffix(".moved"))
    try:
        code, _, err = run_cli("train", "--resume", run, "--epochs", "3")
        assert code == 2 and "no such npz file" in one_line(err)
    finally:
        data.with_suffix(".moved").rename(data)
    assert snapshot(run) == before
    # the saved spec was edited, or a record is corrupt
    breakages = {"spec.yaml": TINY.read_text().replace("filters: 8", "filters: 9"),
                 "run.json": '{"status": ', "state.json": "[1]", "config.json": '{"train": {"epochs": -1}}'}
    for name, text in breakages.items():
        (run / name).write_text(text)
        code, _, err = run_cli("train", "--resume", run, "--epochs", "3")
        msg = one_line(err)
        assert code == 2 and name in msg, (name, msg)
        (run / name).write_bytes(before[name])
    assert snapshot(run) == before


# ----------------------------------------------------------------------------------------------
# outputs never resolve to inputs
# ----------------------------------------------------------------------------------------------
def test_outputs_never_resolve_to_inputs(finished, tmp_path, run_cli):
    run, data = finished
    before = snapshot(run)
    link = tmp_path / "link.json"
    link.symlink_to(run / "model.keras")
    refusals = [(["evaluate", run, "-o", out], "is the input file")
                for out in (run / "model.keras", run / "metrics.json", run / "model.cnnspec.json", link)]
    refusals += [(["evaluate", run, "--data", f"npz:{data}", "-o", data], "is the input file"),
                 (["evaluate", run, "-o", tmp_path], "is a directory")]
    spec = tmp_path / "s.yaml"
    spec.write_bytes(TINY.read_bytes())
    (tmp_path / "alias.yaml").symlink_to(spec)
    refusals += [(["code", spec, "-o", out], "is the input file") for out in (spec, tmp_path / "alias.yaml")]
    refusals += [(["build", spec, "-o", tmp_path / "nofolder" / "m.keras"], "folder does not exist")]
    code = tmp_path / "m.py"
    code.write_text("import keras\nmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n")
    os.link(code, tmp_path / "hard.py")
    refusals += [(["import", code, "-o", tmp_path / "hard.py"], "is the input file")]
    for args, words in refusals:
        rc, _, err = run_cli(*args)
        assert rc == 2 and words in one_line(err), (args, err)
    assert snapshot(run) == before
    assert spec.read_bytes() == TINY.read_bytes() and code.read_text().startswith("import keras")
    assert data.read_bytes()[:2] == b"PK"
    p = cli("evaluate", run, "-o", link)  # and once through `python -m cnnspec`
    assert p.returncode == 2 and "is the input file" in one_error(p)


# ----------------------------------------------------------------------------------------------
# the lock, and Ctrl-C before the first epoch ends
# ----------------------------------------------------------------------------------------------
def test_second_process_refused_and_ctrl_c_in_first_epoch_recorded(finished, tmp_path):
    _, _ = finished
    data = npz(tmp_path / "big.npz", n_train=20000, n_test=20)
    run = tmp_path / "run"
    proc = popen("train", TINY, "--out", run, "--data", f"npz:{data}", "--epochs", "5", "--batch-size", "4")
    try:
        wait_for(lambda: (run / "run.json").exists(), proc)
        for args in (["train", "--resume", run], ["train", TINY, "--out", run, "--force"], ["evaluate", run]):
            p = cli(*args)
            assert p.returncode == 2 and f"pid {proc.pid}" in one_error(p), (args, p.stderr)
        assert not (run / "state.json").exists(), "the first epoch ended already: give it more images"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert [ln for ln in err.splitlines() if ln.startswith("error:")] == [
        f"error: interrupted (SIGINT) after 0 finished epoch(s) of 5; continue with: cnnspec train --resume {run}"]
    info = run_json(run)
    assert info["status"] == "interrupted" and info["reason"] == "SIGINT" and info["end_time"]


def test_sigterm_during_final_evaluation_recorded(tmp_path):
    data = npz(tmp_path / "d.npz", n_train=32, n_test=150000)
    run = tmp_path / "run"
    proc = popen("train", TINY, "--out", run, "--data", f"npz:{data}", "--epochs", "1", "--quiet")
    try:
        wait_for(lambda: (run / "state.json").exists(), proc)
        time.sleep(0.3)  # inside the final evaluation (150000 test images)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    info = run_json(run)
    assert info["status"] == "interrupted" and info["reason"] == "SIGTERM" and info["epochs_finished"] == 1
    assert not (run / "metrics.json").exists()


def test_sigterm_during_evaluate_command_is_one_line(finished, tmp_path):
    run, _ = finished
    data = npz(tmp_path / "d.npz", n_train=10, n_test=20000)
    proc = popen("evaluate", run, "--data", f"npz:{data}")
    try:  # the lock file names the process once it is inside the command
        wait_for(lambda: (run / ".cnnspec-lock").read_text().strip() == str(proc.pid), proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and [ln for ln in err.splitlines() if ln.startswith("error:")] == [
        "error: interrupted"], err
    assert not (run / "eval_d.json").exists()


# ----------------------------------------------------------------------------------------------
# failures and divergence are recorded
# ----------------------------------------------------------------------------------------------
def test_divergence_stops_records_and_exits_1(tmp_path):
    run = tmp_path / "run"
    p = cli("train", TINY, "--out", run, "--limit", "100", "--epochs", "3", "--learning-rate", "1e30", "--quiet")
    assert p.returncode == 1, p.stderr
    msg = one_error(p)
    assert "diverged" in msg and ("nan" in msg.lower() or "inf" in msg.lower())
    info = run_json(run)
    assert info["status"] == "diverged" and "loss became" in info["reason"]
    assert not (run / "metrics.json").exists() and not (run / "state.json").exists()


def test_failure_recorded_with_reason(tmp_path, monkeypatch):
    """A disk that fills up mid-run: run.json says failed, with the reason (Python API)."""
    import cnnspec.runs.files as files
    from cnnspec.errors import CnnspecError
    from cnnspec.keras.training import train

    def full(model, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files, "save_keras_atomic", full)
    run = tmp_path / "run"
    with pytest.raises(CnnspecError) as exc:
        train(str(TINY), data="sample", out=str(run), epochs=1, limit=100)
    assert exc.value.exit_code == 3 and "No space left" in str(exc.value)
    info = run_json(run)
    assert info["status"] == "failed" and "No space left" in info["error"]


# ----------------------------------------------------------------------------------------------
# build compares by name
# ----------------------------------------------------------------------------------------------
BRANCHES = """name: branches
input: [16, 16, 3]
layers:
  - {type: Conv2D, name: stem, filters: 8, kernel_size: 3, padding: same, activation: relu}
  - {type: Conv2D, name: b2, inputs: [stem], filters: 4, kernel_size: 3, padding: same}
  - {type: Conv2D, name: b1, inputs: [stem], filters: 4, kernel_size: 1}
  - {type: MaxPooling2D, name: b3, inputs: [stem], pool_size: 3, strides: 1, padding: same}
  - {type: Concatenate, name: cat, inputs: [b1, b2, b3]}
  - {type: Conv2D, name: skip, inputs: [cat], filters: 16, kernel_size: 1}
  - {type: Add, name: add, inputs: [skip, cat]}
  - {type: GlobalAveragePooling2D, name: gap}
  - {type: Dense, name: out, units: 3, activation: softmax}
"""


def test_build_compares_rows_by_name_not_position(tmp_path):
    spec = tmp_path / "branches.yaml"
    spec.write_text(BRANCHES)
    p = cli("build", spec, "-o", tmp_path / "m.keras", "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["equals_check"] and res["differences"] == []
    # the case that matters: Keras lists the branches in another order than the spec
    assert [r["name"] for r in res["layers"]][1:4] != ["b2", "b1", "b3"]


# ----------------------------------------------------------------------------------------------
# usage errors and user text
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, words", [
    (["train", "--bogus"], "No such option: --bogus"),
    (["build"], "Missing argument"),
    (["train", "x.yaml", "--distribute", "sideways"], "Invalid value for '--distribute'"),
])
def test_usage_errors_exit_2_with_clicks_message(args, words):
    p = cli(*args)
    assert p.returncode == 2 and words in one_error(p)


def test_user_text_printed_literally(finished, tmp_path):
    run, _ = finished
    name = tmp_path / "x[bold]y[red\x1b[31mz.yaml"
    name.write_text(TINY.read_text().replace("name: tiny", 'name: "t[/]i\\e[2Jny"'))
    p = cli("check", name)
    assert p.returncode == 0, p.stderr
    assert 't[/]i\\x1b[2Jny' in p.stdout and "\x1b" not in p.stdout
    p = cli("check", str(name).replace(".yaml", "[/].yaml"))
    assert p.returncode == 2 and "[bold]y[red\\x1b[31mz[/].yaml" in one_error(p) and "\x1b" not in p.stderr
    p = cli("evaluate", run, "-o", tmp_path / "e.json")
    assert p.returncode == 0, p.stderr
    for cls in ("[bold]a", "b[/]", "c\\x1b[31m"):
        assert cls in p.stdout
    assert "\x1b" not in p.stdout


# ----------------------------------------------------------------------------------------------
# the pieces, in-process (no TensorFlow)
# ----------------------------------------------------------------------------------------------
def test_epoch_logic_never_commits_a_diverged_epoch(tmp_path):
    from cnnspec.keras.callbacks import EpochLogic, RunState
    from cnnspec.runs.rundir import RunDir
    from cnnspec.spec.trainconfig import parse_train

    run = RunDir(tmp_path)
    state, history = RunState(), []
    logic = EpochLogic(parse_train({"epochs": 3}), state, history, 100, rundir=run)
    logic.begin(0)
    assert logic.end(0, {"loss": 0.5, "accuracy": 0.8}) is False
    assert state.epoch == 1 and len(history) == 1 and (tmp_path / "state.json").exists()
    committed = (tmp_path / "state.json").read_bytes()
    logic.begin(1)
    assert logic.check_loss(1, {"loss": float("inf")}, batch=4) is True
    assert logic.end(1, {"loss": float("nan")}) is True
    assert logic.diverged == "the training loss became inf in epoch 2, batch 5"
    assert state.epoch == 1 and len(history) == 1 and (tmp_path / "state.json").read_bytes() == committed


def test_run_lock_names_the_holder(tmp_path):
    from cnnspec.runs.rundir import RunLock, RunLocked

    first = RunLock(tmp_path).acquire()
    try:
        with pytest.raises(RunLocked, match=f"pid {os.getpid()}"):
            RunLock(tmp_path).acquire()
    finally:
        first.release()
    with RunLock(tmp_path):  # free again; the file stays, emptied
        pass
    assert (tmp_path / ".cnnspec-lock").read_text() == ""


def test_a_stop_during_the_epoch_end_waits_for_its_commit(tmp_path):
    """Ctrl-C while model.keras is being saved: the epoch is committed whole before the stop is raised,
    so the state in memory (run.json's epochs_finished, the message) equals state.json on disk."""
    import signal

    from cnnspec.keras.callbacks import EpochLogic, RunState
    from cnnspec.keras.stopping import StopSignals
    from cnnspec.runs.rundir import RunDir
    from cnnspec.spec.trainconfig import parse_train

    stop = StopSignals(enabled=False)
    saved = []

    def save(name):
        saved.append(name)
        if name == "model.keras":
            stop._handler(signal.SIGINT, None)  # the signal arrives mid-save

    state = RunState()
    logic = EpochLogic(parse_train({"epochs": 3}), state, [], 100, rundir=RunDir(tmp_path), save=save, stop=stop)
    logic.begin(0)
    with pytest.raises(KeyboardInterrupt):
        logic.end(0, {"loss": 0.5, "accuracy": 0.8})
    assert saved == ["model.keras", "last.keras"]
    on_disk = __import__("json").loads((tmp_path / "state.json").read_text())
    assert state.epoch == on_disk["epoch"] == 1


@pytest.mark.parametrize("command", ["check", "summary"])
def test_an_ascii_only_terminal_gets_escapes_not_an_internal_error(tmp_path, command):
    spec = tmp_path / "café.yaml"
    spec.write_text("name: café_net\nsource: réseau à deux couches\ninput: [8, 8, 1]\nlayers:\n"
                    "  - {type: Flatten}\n  - {type: Dense, units: 2}\n", encoding="utf-8")
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    p = subprocess.run([sys.executable, "-m", "cnnspec", command, str(spec)], cwd=ROOT, env=env,
                       capture_output=True, text=True, encoding="ascii", errors="strict", timeout=120)
    assert p.returncode == 0 and "internal error" not in p.stderr, p.stderr
    assert "caf\\xe9" in p.stdout


def test_an_ascii_only_terminal_gets_ascii_marks():
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    p = subprocess.run([sys.executable, "-m", "cnnspec", "check", "specs/table3_2.yaml"], cwd=ROOT, env=env,
                       capture_output=True, text=True, encoding="ascii", errors="strict", timeout=120)
    rows = [ln for ln in p.stdout.splitlines() if ln.startswith("| conv2d")]
    assert rows and all(ln.endswith(("| ok |", "| X  |")) for ln in rows), p.stdout
    assert "\\u2713" not in p.stdout and len({len(ln) for ln in rows}) == 1
