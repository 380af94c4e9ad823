"""Crash points for the restart tests: `CRISISBOT_CRASH_AT=name[:n]` ends the process abruptly at the
n-th time (default first) the code passes `crash_point(name)`, like a kill -9 at exactly that spot.

Off unless the variable is set; the tests use it to prove that a crash between any two steps neither
loses nor repeats work.
"""

from __future__ import annotations

import os
import threading
from collections import Counter

_hits: Counter[str] = Counter()
_lock = threading.Lock()


def crash_point(name: str) -> None:
    spec = os.environ.get("CRISISBOT_CRASH_AT")
    if not spec:
        return
    wanted, _, nth = spec.partition(":")
    if wanted != name:
        return
    with _lock:
        _hits[name] += 1
        if _hits[name] >= int(nth or 1):
            os._exit(137)  # no cleanup, no flush: what SIGKILL leaves behind
