"""Sweeps through the real CLI on tiny data (200 images of the embedded sample, 1 epoch, tiny specs):
a 2-variant x 2-value grid gives 4 finished run directories and a 4-row table; a rerun trains
nothing; a sweep killed with SIGKILL mid-way and rerun finishes only what was missing; a diverging
trial is recorded and the others finish; a baseline's run directory is read by `compare`; the HTML
report renders in headless Chromium; the same grid on a REAL local Ray head (`ray start --head --block`
on 127.0.0.1 with explicit ports and its own temp dir, stopped afterwards by the pid of the process
that started it, never `ray stop`) gives the same table as the local executor."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAMILY = ROOT / "specs" / "sweeps" / "tiny_family.yaml"
GRID = """data: {{name: sample, limit: 200}}
train: {{epochs: 1}}
grid:
  variant: [A, B]
  train.learning_rate: [0.001, 0.01]
"""

pytestmark = pytest.mark.slow


def cli(*args, timeout=600) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "cnnspec", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def write_sweep(folder: Path, body: str) -> Path:
    p = folder / "sweep.yaml"
    p.write_text(f"spec: {FAMILY}\n" + body)
    return p


def results_rows(page: str) -> int:
    """Rows of the report's results table."""
    start = page.index('<table id="results">')
    return page[start:page.index("</table>", start)].count("<tr")


def table(out: Path) -> list[dict]:
    with open(out / "results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grid")
    sf = write_sweep(folder, GRID.format())
    out = folder / "out"
    r = cli("sweep", sf, "--out", out, "--json", "--max-concurrent", "2")
    assert r.returncode == 0, r.stderr
    return sf, out, json.loads(r.stdout)


def test_grid_gives_four_run_dirs_and_a_four_row_table(grid_sweep):
    sf, out, res = grid_sweep
    rows = table(out)
    assert len(rows) == 4 and len(res["rows"]) == 4
    assert {(r["variant"], float(r["train.learning_rate"])) for r in rows} == {
        (v, lr) for v in "AB" for lr in (0.001, 0.01)}
    for r in rows:
        run = Path(r["run_dir"])
        assert r["status"] == "finished" and r["epochs"] == "1"
        assert json.loads((run / "run.json").read_text())["status"] == "finished"
        for f in ("model.keras", "metrics.json", "history.csv", "spec.yaml", "config.json"):
            assert (run / f).exists()
        assert abs(float(r["test_error"]) - (1 - float(r["test_accuracy"]))) < 1e-9
    assert int(next(r for r in rows if r["variant"] == "B")["params"]) > int(
        next(r for r in rows if r["variant"] == "A")["params"])
    assert (out / "results.md").read_text().count("| ") > 4 and (out / "test_errors.png").stat().st_size > 1000
    assert (out / "metric_vs_train_learning_rate.png").exists()
    # best.yaml: the best trial's spec, checkable as is
    assert res["best"] in {r["trial"] for r in rows}
    chk = cli("check", out / "best.yaml", "-q", timeout=120)
    assert chk.returncode == 0, chk.stdout + chk.stderr


def test_rerun_trains_nothing(grid_sweep):
    sf, out, _ = grid_sweep
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("trials/*/metrics.json")}
    r = cli("sweep", sf, "--out", out)
    assert r.returncode == 0, r.stderr
    assert "start" not in r.stderr and len(stamps) == 4
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob("trials/*/metrics.json")}
    assert "4 finished" in r.stdout


def test_changed_sweep_file_refused_for_existing_dir(grid_sweep, tmp_path):
    sf, out, _ = grid_sweep
    other = tmp_path / "sweep.yaml"
    other.write_text(sf.read_text().replace("[0.001, 0.01]", "[0.001, 0.01, 0.1]"))
    r = cli("sweep", other, "--out", out)
    assert r.returncode == 2 and "--extend" in r.stderr and "Traceback" not in r.stderr


def test_compare_and_report(grid_sweep, tmp_path):
    sf, out, _ = grid_sweep
    runs = sorted(out.glob("trials/*"))
    r = cli("compare", *runs[:2], out, "--sort", "test_accuracy", "--json", timeout=120)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert len(rows) == 6
    accs = [x["test_accuracy"] for x in rows]
    assert accs == sorted(accs, reverse=True)
    md = cli("compare", out, "--markdown", timeout=120)
    assert md.returncode == 0 and md.stdout.count("\n| ") >= 4
    rep = cli("report", out, timeout=120)
    assert rep.returncode == 0, rep.stderr
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 1 + 4 * 2 and "<script" not in page
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:  # no browser: parse the page instead (docs/experiments.md says so)
        from html.parser import HTMLParser

        class P(HTMLParser):
            imgs = 0

            def handle_starttag(self, tag, attrs):
                P.imgs += tag == "img"
        P().feed(page)
        assert results_rows(page) == 5 and P.imgs >= 9
        return
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          (out / "report.html").as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-500:]
    assert results_rows(dom.stdout) == 5 and "finished" in dom.stdout  # header + 4 trials, as Chromium parsed it
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1000,1400", (out / "report.html").as_uri()], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000  # the page rendered with its images


def test_killed_sweep_resumes_diverging_trial_recorded_baseline_compared(tmp_path):
    sf = write_sweep(tmp_path, "variants: [A]\ndata: {name: sample, limit: 200}\ntrain: {epochs: 2}\n"
                               "grid:\n  train.learning_rate: [0.003, 0.01, 1.0e+30]\nbaselines: [knn]\n")
    out = tmp_path / "out"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "cnnspec", "sweep", str(sf), "--out", str(out),
                          "--max-concurrent", "1"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    first, second = out / "trials" / "A-learning_rate=0.003", out / "trials" / "A-learning_rate=0.01"
    t0 = time.time()
    while not (second / "run.json").exists():  # the first trial done, the second one training
        assert p.poll() is None and time.time() - t0 < 300, "sweep ended or stalled before the kill"
        time.sleep(0.2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    t0 = time.time()
    oc2 = out / "outcomes" / "A-learning_rate=0.01.json"
    while not oc2.exists():  # the orphaned trial process got SIGTERM (PR_SET_PDEATHSIG) and recorded it
        assert time.time() - t0 < 120, "the running trial did not stop with its sweep"
        time.sleep(0.2)
    assert json.loads(oc2.read_text())["status"] == "interrupted"
    assert json.loads((first / "run.json").read_text())["status"] == "finished"
    before = (first / "metrics.json").stat().st_mtime_ns
    assert not (out / "trials" / "baseline-knn").exists()

    r = cli("sweep", sf, "--out", out, "--json", "--max-concurrent", "1")
    assert r.returncode == 0, r.stderr
    rows = {x["trial"]: x for x in json.loads(r.stdout)["rows"]}
    assert len(rows) == 4
    assert (first / "metrics.json").stat().st_mtime_ns == before      # not trained again
    assert "A-learning_rate=0.003" not in r.stderr
    assert rows["A-learning_rate=0.01"]["status"] == "finished" and rows["A-learning_rate=0.01"]["epochs"] == 2
    bad = rows["A-learning_rate=1e+30"]
    assert bad["status"] in ("diverged", "failed") and bad["reason"], bad
    assert rows["baseline-knn"]["status"] == "finished" and rows["baseline-knn"]["kind"] == "knn"
    assert json.loads(r.stdout)["best"] in ("A-learning_rate=0.003", "A-learning_rate=0.01")

    c = cli("compare", out / "trials" / "baseline-knn", first, "--json", timeout=120)
    assert c.returncode == 0, c.stderr
    crow = json.loads(c.stdout)["rows"]
    assert [x["kind"] for x in crow] == ["knn", "cnn"] and all(0 <= x["test_accuracy"] <= 1 for x in crow)
    assert crow[0]["test_accuracy"] == rows["baseline-knn"]["test_accuracy"]
    m = json.loads((out / "trials" / "baseline-knn" / "metrics.json").read_text())
    cm = json.loads((first / "metrics.json").read_text())
    assert {"accuracy", "loss", "per_class", "confusion_matrix", "macro_avg"} <= set(m) & set(cm)


# ----------------------------------------------------------------------------------------------
def _free_port_block(n: int = 12) -> int:
    """A base port with ``n`` free ports after it (127.0.0.1)."""
    for base in range(47000, 60000, 97):
        ok = True
        for p in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free ports")


def _ours(temp_dir: Path) -> list[int]:
    """Pids of processes whose command line names our Ray temp dir (what this head started)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if str(temp_dir).encode() in (d / "cmdline").read_bytes():
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    ray_bin = Path(sys.executable).with_name("ray")
    if not ray_bin.exists():
        pytest.skip("ray is not installed (pip install 'cnnspec[ray]')")
    tmp = tmp_path_factory.mktemp("ray")
    temp_dir = Path("/tmp") / f"cnnspec-ray-{os.getpid()}"  # short: Ray's socket paths have a length limit
    b = _free_port_block()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("RAY_ADDRESS", None)
    args = [str(ray_bin), "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(b),
            "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", str(temp_dir),
            "--node-manager-port", str(b + 1), "--object-manager-port", str(b + 2),
            "--ray-client-server-port", str(b + 3), "--dashboard-agent-listen-port", str(b + 4),
            "--metrics-export-port", str(b + 5), "--runtime-env-agent-port", str(b + 6),
            "--dashboard-agent-grpc-port", str(b + 7), "--min-worker-port", str(b + 20),
            "--max-worker-port", str(b + 80)]
    log = open(tmp / "head.log", "w")
    head = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        t0 = time.time()
        while "Ray runtime started" not in (tmp / "head.log").read_text():
            assert head.poll() is None, (tmp / "head.log").read_text()[-2000:]
            assert time.time() - t0 < 120, "ray head did not start"
            time.sleep(0.5)
        yield f"127.0.0.1:{b}"
    finally:
        head.send_signal(signal.SIGTERM)  # --block: stops the processes this head started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
        time.sleep(2)
        for pid in _ours(temp_dir):  # anything left of ours, by pid
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_same_sweep_on_a_real_ray_head_gives_the_same_table(grid_sweep, ray_head, tmp_path):
    sf, out, res = grid_sweep
    r = cli("sweep", sf, "--out", tmp_path / "ray", "--executor", "ray", "--address", ray_head, "--json")
    assert r.returncode == 0, r.stderr
    ray_rows = json.loads(r.stdout)["rows"]
    assert json.loads(r.stdout)["executor"] == "ray" and len(ray_rows) == 4
    assert all(x["status"] == "finished" for x in ray_rows)
    assert all((Path(x["run_dir"]) / "model.keras").exists() for x in ray_rows)
    local_rows = res["rows"]
    keys = ("trial", "variant", "values", "params", "epochs", "status")
    assert [{k: x[k] for k in keys} for x in ray_rows] == [{k: x[k] for k in keys} for x in local_rows]
    for a, b in zip(ray_rows, local_rows):  # same seeds, one thread each: the same numbers
        assert abs(a["test_accuracy"] - b["test_accuracy"]) <= 0.02
        assert abs(a["best_metric"] - b["best_metric"]) <= 0.02


def test_successive_halving_prunes_and_continues_the_best(tmp_path):
    sf = write_sweep(tmp_path, "variants: [A]\ndata: {name: sample, limit: 200}\ntrain: {epochs: 2}\n"
                               "grid:\n  train.learning_rate: [0.0001, 0.01]\nhalving: {min_epochs: 1, eta: 2}\n")
    r = cli("sweep", sf, "--out", tmp_path / "out", "--json")
    assert r.returncode == 0, r.stderr
    rows = {x["trial"]: x for x in json.loads(r.stdout)["rows"]}
    assert sorted(x["status"] for x in rows.values()) == ["finished", "pruned"]
    kept = next(x for x in rows.values() if x["status"] == "finished")
    pruned = next(x for x in rows.values() if x["status"] == "pruned")
    assert kept["epochs"] == 2 and pruned["epochs"] == 1 and "halving" in pruned["reason"]
    assert kept["best_metric"] >= pruned["best_metric"]
    assert json.loads(r.stdout)["best"] == kept["trial"]


def test_sigterm_stops_the_sweep_and_its_trials_exit_130(tmp_path):
    sf = write_sweep(tmp_path, "variants: [A]\ndata: {name: sample, limit: 200}\ntrain: {epochs: 50}\n"
                               "grid:\n  train.learning_rate: [0.003]\n")
    out = tmp_path / "out"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "cnnspec", "sweep", str(sf), "--out", str(out)], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = out / "trials" / "A-learning_rate=0.003"
    t0 = time.time()
    while not (run / "state.json").exists():  # one epoch done: training is under way
        assert p.poll() is None and time.time() - t0 < 300, p.communicate()
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 130, stderr
    assert "sweep stopped" in stderr and "Traceback" not in stderr
    oc = json.loads((out / "outcomes" / "A-learning_rate=0.003.json").read_text())
    assert oc["status"] == "interrupted"
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    assert "interrupted" in (out / "results.md").read_text()
