"""Crash points for the restart tests: `CRISISBOT_CRASH_AT=name[:n][@seconds]` ends the process abruptly at the
n-th time (default first) the code passes `crash_point(name)`, like a kill -9 at exactly that spot; with
`@seconds` that many seconds later, the thread that reached the point held there meanwhile (so an answer it
handed to the HTTP server, such as an ack, still goes out first, and nothing after the point runs).

Off unless the variable is set; the tests use it to prove that a crash between any two steps neither
loses nor repeats work.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

_hits: Counter[str] = Counter()
_lock = threading.Lock()


def crash_point(name: str) -> None:
    spec = os.environ.get("CRISISBOT_CRASH_AT")
    if not spec:
        return
    spec, _, delay = spec.partition("@")
    wanted, _, nth = spec.partition(":")
    if wanted != name:
        return
    with _lock:
        _hits[name] += 1
        if _hits[name] < int(nth or 1):
            return
    time.sleep(float(delay or 0))
    os._exit(137)  # no cleanup, no flush: what SIGKILL leaves behind
