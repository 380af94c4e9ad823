"""Time for the whole bot: timezone-aware UTC, injectable, optionally running faster than real time.

With speed S, every real second counts as S seconds of crisis time, starting at the moment the clock
was made; `CRISISBOT_CLOCK_SPEED=60` makes the first-response hour pass in a real minute. Nothing else in
the code knows about the speed: deadlines are computed in crisis time, and `real_seconds_until` is the one
place that turns crisis time back into real waiting time.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def real_seconds_until(self, when: datetime) -> float: ...


class SystemClock:
    """The machine's clock, scaled by `speed` from an anchor (default: the moment of creation).

    The anchor pairs a wall-clock instant with the crisis time it stood for. A sped-up drill that
    restarts passes the anchor it stored, so its crisis time continues instead of jumping back.
    """

    def __init__(self, speed: float = 1.0, anchor: tuple[float, datetime] | None = None) -> None:
        if not (0 < speed < math.inf):  # also refuses NaN, which compares false with everything
            raise ValueError(f"clock speed must be a positive number, not {speed!r}")
        self.speed = speed
        self.anchor_wall, self.anchor_crisis = anchor or (time.time(), datetime.now(UTC))

    def now(self) -> datetime:
        elapsed = (time.time() - self.anchor_wall) * self.speed
        return self.anchor_crisis + timedelta(seconds=elapsed)

    def real_seconds_until(self, when: datetime) -> float:
        return max(0.0, (when - self.now()).total_seconds() / self.speed)


class ManualClock:
    """A clock that moves only when told to: for tests and drills driven step by step."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when

    def real_seconds_until(self, when: datetime) -> float:
        return max(0.0, (when - self.now()).total_seconds())


def utc(dt: datetime) -> datetime:
    """Return `dt` as aware UTC; naive datetimes are taken to be UTC already."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def parse_iso(text: str) -> datetime:
    return utc(datetime.fromisoformat(text))


def wall_seconds() -> float:
    """This machine's real Unix time: what a signed webhook's timestamp is checked against (crisis time may run
    faster, and a ManualClock stands still, but the sender's clock does neither)."""
    return time.time()
