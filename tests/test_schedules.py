"""Learning-rate schedules of the train: section (step, exponential, cosine, reduce on plateau, warm-up):
the rate per epoch, validation errors, and the rate recorded per epoch in a real run's history.csv."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from cnnspec.errors import SpecError
from cnnspec.keras.callbacks import RunState, schedule_lr
from cnnspec.spec.trainconfig import parse_train

ROOT = Path(__file__).resolve().parent.parent


def lrs(section: dict, epochs: int = 6, base: float = 1.0) -> list[float]:
    cfg = parse_train({"epochs": epochs, **section})
    return [schedule_lr(cfg, base, e, RunState()) for e in range(epochs)]


def test_rates_per_epoch():
    assert lrs({"lr_schedule": {"type": "exponential", "rate": 0.5}}) == [1, 0.5, 0.25, 0.125, 0.0625, 0.03125]
    assert lrs({"lr_schedule": {"type": "step", "every": 2, "factor": 0.1}}) == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01])
    assert lrs({"lr_schedule": {"type": "warmup", "warmup_epochs": 3}}) == pytest.approx(
        [0.1, 0.4, 0.7, 1, 1, 1])
    assert lrs({"lr_schedule": {"type": "warmup", "warmup_epochs": 2, "warmup_start": 0.5}}, 3) == pytest.approx(
        [0.5, 0.75, 1])
    # warm-up, then the schedule counted from the end of the warm-up
    assert lrs({"lr_schedule": {"type": "exponential", "rate": 0.5, "warmup_epochs": 2}}) == pytest.approx(
        [0.1, 0.55, 1, 0.5, 0.25, 0.125])
    cos = lrs({"lr_schedule": {"type": "cosine", "min_lr": 0.0, "warmup_epochs": 2}})
    assert cos[:3] == pytest.approx([0.1, 0.55, 1.0])
    assert cos[3:] == pytest.approx([0.5 * (1 + math.cos(math.pi * e / 4)) for e in (1, 2, 3)])


@pytest.mark.parametrize("sched, words", [
    ({"type": "exponential"}, "rate"),
    ({"type": "exponential", "rate": 1.5}, "rate"),
    ({"type": "warmup"}, "warmup_epochs"),
    ({"type": "linear"}, "exponential"),
    ({"type": "cosine", "warmpu_epochs": 2}, "did you mean 'warmup_epochs'"),
])
def test_bad_schedules_are_one_line(sched, words):
    with pytest.raises(SpecError) as exc:
        parse_train({"lr_schedule": sched}, "s.yaml", 3)
    msg = str(exc.value)
    assert "\n" not in msg and words in msg and msg.startswith("s.yaml")


def test_schedule_recorded_per_epoch_in_history(run_cli, tmp_path):
    from cnnspec.runs.files import read_history

    spec = tmp_path / "s.yaml"
    text = (ROOT / "tests" / "specs" / "train_tiny.yaml").read_text()
    text = text.replace("lr_schedule: {type: step, every: 1, factor: 0.5}",
                        "lr_schedule: {type: exponential, rate: 0.5, warmup_epochs: 1, warmup_start: 0.2}")
    spec.write_text(text)
    code, out, err = run_cli("train", spec, "--data", "sample", "--limit", "200", "--epochs", "3",
                             "--out", tmp_path / "run", "-q")
    assert code == 0, err
    got = [r["lr"] for r in read_history(tmp_path / "run" / "history.csv")]
    assert got == pytest.approx([0.003 * 0.2, 0.003, 0.0015])
