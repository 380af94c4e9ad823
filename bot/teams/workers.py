"""The worker threads every Teams activity's work runs on (never the event loop), and what a local run waits
for to know the bot is idle (the tests' and the demo's `settle`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

WORKER_THREADS = 32


class Workers:
    """The activities' worker threads, and what a local run waits for to know the bot is idle."""

    def __init__(self, threads: int = WORKER_THREADS) -> None:
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="crisisbot-teams")
        self._pending: set[Future[Any]] = set()
        self._lock = threading.Lock()

    def submit(self, work: Callable[[], Any]) -> Future[Any]:
        with self._lock:
            future = self.pool.submit(work)
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
