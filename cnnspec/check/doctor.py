"""What ``cnnspec doctor`` reports: a list of checks, each pass / warn / fail with the measured value
and the advice (seed 004's sanity checks before a long run). Pure Python: the data checks live in
:mod:`cnnspec.data.checks`, the ones that need a built model in :mod:`cnnspec.keras.doctor`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STATUSES = ("pass", "warn", "fail")


@dataclass
class Check:
    """One diagnosis: ``name``, ``status`` (pass/warn/fail), the measured ``value`` (text) and
    ``advice`` (what to change, or why it is fine). ``detail`` holds per-layer figures (JSON)."""

    name: str
    status: str
    value: str
    advice: str
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def to_json(self) -> dict[str, Any]:
        """``{name, status, value, advice, detail}`` (detail only when there is one)."""
        d = asdict(self)
        if not d["detail"]:
            d.pop("detail")
        return d


def worst(checks: list[Check]) -> str:
    """The worst status among ``checks`` ("pass" for none)."""
    return max((c.status for c in checks), key=STATUSES.index, default="pass")


def fmt(v: float) -> str:
    """A figure in 3 significant digits (1.2e-03 style for small or large values)."""
    if v != v:  # nan
        return "nan"
    if v == 0 or 1e-2 <= abs(v) < 1e4:
        return f"{v:.3g}"
    return f"{v:.1e}"
