"""The figures behind `cnnspec doctor`'s update_ratio thresholds (docs/training.md): for table6 on the
embedded sample, the largest per-step update-to-weight ratio of any layer over the first 10 optimizer
steps, with sensible learning rates and with rates 100x too high.

    python benchmarks/doctor_update_ratios.py
"""
from __future__ import annotations

from pathlib import Path

from cnnspec.keras.doctor import load_setup
from cnnspec.keras.probe import first_steps
from cnnspec.spec.trainconfig import TrainConfig

SPEC = str(Path(__file__).resolve().parent.parent / "specs" / "table6.yaml")
CASES = [("adam", 1e-3), ("rmsprop", 1e-3), ("nadam", 2e-3), ("sgd", 1e-2), ("adadelta", 1.0),
         ("adam", 1e-1), ("rmsprop", 1e-1), ("sgd", 1.0), ("adadelta", 100.0)]


def main() -> None:
    """Print one line per optimizer and learning rate."""
    setup = load_setup(SPEC, "sample", None)
    base = setup.cfg.model_dump(exclude_unset=True)
    print(f"{'optimizer':10} {'lr':>8} {'largest step':>13} {'median (max layer)':>19}  status")
    for name, lr in CASES:
        setup.cfg = TrainConfig.model_validate({**base, "optimizer": {"name": name, "learning_rate": lr}})
        check = first_steps(setup)[1]
        largest = max(check.detail["largest_update_to_weight"].values())
        median = max(check.detail["update_to_weight"].values())
        print(f"{name:10} {lr:8.3g} {largest:13.3g} {median:19.3g}  {check.status}")


if __name__ == "__main__":
    main()
