"""Counts listeners still working after their ack(), so a demo or a test can wait until the bot is idle.

Slack itself never needs this: it is how a local run knows that the work behind a 200 has finished,
instead of sleeping and hoping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any


class Activity:
    def __init__(self) -> None:
        self._busy = 0
        self._changed = threading.Condition()
        # What to do with a failure nobody foresaw (a bug, a full disk): tell the person in plain words. Called
        # with the exception and the listener's arguments while the listener still counts as busy, so an
        # idle bot has said everything it will say.
        self.on_failure: Callable[[Exception, dict[str, Any]], None] | None = None

    @contextmanager
    def working(self) -> Iterator[None]:
        with self._changed:
            self._busy += 1
        try:
            yield
        finally:
            with self._changed:
                self._busy -= 1
                self._changed.notify_all()

    def track(self, listener: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a Bolt listener; Bolt injects arguments by name, so the signature is kept via wraps."""

        @wraps(listener)
        def tracked(*args: Any, **kwargs: Any) -> Any:
            with self.working():
                try:
                    return listener(*args, **kwargs)
                except Exception as exc:
                    if self.on_failure is None:
                        raise
                    self.on_failure(exc, kwargs)
                    return None

        return tracked

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no listener is running; False if that did not happen within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    @property
    def busy(self) -> int:
        return self._busy
