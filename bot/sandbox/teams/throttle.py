"""Teams' per-bot, per-thread rate limits, opt-in (TeamsEmulator(rate_limits=True)).

"Optimize your bot with rate limiting" gives, per bot per thread: 7 operations in 1 s, 8 in 2 s, 60 in 30 s and
1800 in 3600 s; over any of them the call gets 429 Too Many Requests. Off by default: the benchmarks measure the
bot's own round trips, and the fault injector gives a test a 429 exactly where it wants one.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

LIMITS = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))  # (window seconds, operations)


class Throttle:
    """Counts each conversation's operations and says when one is over a limit (and for how long)."""

    def __init__(self, limits: tuple[tuple[float, int], ...] = LIMITS) -> None:
        self.limits = limits
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, conversation_id: str, now: float | None = None) -> int | None:
        """Count one operation in `conversation_id`; return seconds to wait when it is over a limit (not counted)."""
        now = time.monotonic() if now is None else now
        longest = max(window for window, _ in self.limits)
        with self._lock:
            seen = self._seen.setdefault(conversation_id, deque())
            while seen and seen[0] <= now - longest:
                seen.popleft()
            for window, most in self.limits:
                recent = [t for t in seen if t > now - window]
                if len(recent) >= most:
                    return max(1, math.ceil(recent[0] + window - now))
            seen.append(now)
            return None
