"""What a benchmark reports: named figures with a unit and an optional target (always an upper bound)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One measured number; `target` is the most it may be (None: reported for information)."""

    name: str
    value: float
    unit: str = ""
    target: float | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None or math.isnan(self.value):
            return None
        return self.value <= self.target

    @property
    def miss(self) -> float | None:
        """How far above the target the value is (None when met or without target)."""
        if self.met is not False or self.target is None:
            return None
        return self.value - self.target

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(met=self.met, miss=self.miss)
        if math.isnan(self.value):
            data["value"] = None
        return data


@dataclass
class Outcome:
    """Everything one benchmark produced: its figures and raw details for the JSON file."""

    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, value: float, unit: str = "", target: float | None = None, note: str = "") -> None:
        self.figures.append(Figure(name, value, unit, target, note))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max/mean of durations given in seconds, in milliseconds."""
    if not seconds:
        return {"count": 0}
    return {
        "count": len(seconds),
        "p50": percentile(seconds, 50) * 1000,
        "p90": percentile(seconds, 90) * 1000,
        "p99": percentile(seconds, 99) * 1000,
        "max": max(seconds) * 1000,
        "mean": sum(seconds) / len(seconds) * 1000,
    }
