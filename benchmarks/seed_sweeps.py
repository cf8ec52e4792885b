"""The seed comparisons of docs/experiments.md, full size or on a subset.

    python benchmarks/seed_sweeps.py NAME... [--limit N] [--epochs E] [--out runs/seed_sweeps] [--executor ray]

NAME is a sweep file of specs/sweeps/ without .yaml (table7_dropout, fig7_baselines, table6_random,
seed002_augmentation, cifar10_m). --limit keeps the first N train and N test images and --epochs caps
every trial's epochs: the sweep file is copied to OUT/NAME.yaml with those settings (and an absolute
spec path), then run as `cnnspec sweep OUT/NAME.yaml --out OUT/NAME`. Without them the sweeps run as
written (hours on 2 CPU cores). Prints each sweep's results.md.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def derived(name: str, out: Path, limit: int | None, epochs: int | None) -> Path:
    """OUT/NAME.yaml: the sweep file with --limit/--epochs applied."""
    src = ROOT / "specs" / "sweeps" / f"{name}.yaml"
    doc = yaml.safe_load(src.read_text())
    doc["spec"] = str((src.parent / doc["spec"]).resolve())
    data = doc.get("data", "sample")
    data = {"name": data} if isinstance(data, str) else dict(data)
    if limit:
        data["limit"] = limit
    doc["data"] = data
    if epochs:
        doc["train"] = {**(doc.get("train") or {}), "epochs": epochs}
        if doc.get("halving"):
            doc["halving"]["min_epochs"] = min(doc["halving"].get("min_epochs", 1), epochs)
    out.mkdir(parents=True, exist_ok=True)
    p = out / f"{name}.yaml"
    p.write_text(f"# {src.name} with --limit {limit} --epochs {epochs} (benchmarks/seed_sweeps.py)\n"
                 + yaml.safe_dump(doc, sort_keys=False))
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="+")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--out", default="runs/seed_sweeps")
    ap.add_argument("--executor", default="local")
    a = ap.parse_args()
    from cnnspec.experiments.sweep import run_sweep

    for name in a.names:
        sf = derived(name, Path(a.out), a.limit, a.epochs)
        t0 = time.perf_counter()
        res = run_sweep(str(sf), Path(a.out) / name, executor=a.executor)
        print(f"## {name}: {time.perf_counter() - t0:.0f} s, best {res['best']}\n")
        print((Path(a.out) / name / "results.md").read_text())


if __name__ == "__main__":
    main()
