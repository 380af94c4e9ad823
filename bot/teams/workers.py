"""The worker threads every Teams activity's work runs on (never the event loop), and what a local run waits
for to know the bot is idle (the tests' and the demo's `settle`).

Two pools. An invoke (a card action, a dialog) waits for its answer while Teams waits for the HTTP response; a
message was answered 202 before its work began, and its work (a declare: seconds of Connector rounds) may take
long. So invokes have threads of their own: a burst of declares or commands holding every message thread never
makes a click wait for a thread before it can be answered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

WORKER_THREADS = 32  # messages, installs, replays
INVOKE_THREADS = 32  # card actions and dialogs; each holds its thread for the redraws after its answer too


class Workers:
    """The activities' worker threads, and what a local run waits for to know the bot is idle."""

    def __init__(self, threads: int = WORKER_THREADS, invoke_threads: int = INVOKE_THREADS) -> None:
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="crisisbot-teams")
        self.invokes = ThreadPoolExecutor(max_workers=invoke_threads, thread_name_prefix="crisisbot-teams-invoke")
        self._pending: set[Future[Any]] = set()
        self._lock = threading.Lock()

    def submit(self, work: Callable[[], Any], *, invoke: bool = False) -> Future[Any]:
        """Run `work` on a message thread, or (`invoke`) on an invoke's own."""
        with self._lock:
            future = (self.invokes if invoke else self.pool).submit(work)
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no activity is being worked on (work may start more work); False after `timeout` s."""
        end = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return True
            left = end - time.monotonic()
            if left <= 0:
                return False
            wait(pending, timeout=left)

    def stop(self) -> None:
        self.pool.shutdown(wait=False)
        self.invokes.shutdown(wait=False)
