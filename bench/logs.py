"""Counting the bot's warnings per logger, so a benchmark can say what went wrong while it ran."""

from __future__ import annotations

import logging
import threading
from collections import Counter


class WarningCounter(logging.Handler):
    """Counts WARNING and worse records by logger name."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.counts: Counter[str] = Counter()
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            self.counts[f"{record.levelname} {record.name}"] += 1

    def snapshot(self) -> Counter[str]:
        with self._guard:
            return Counter(self.counts)


COUNTER = WarningCounter()


def since(before: Counter[str]) -> dict[str, int]:
    """Warnings counted after `before` was taken."""
    return dict(COUNTER.snapshot() - before)


class Matching(logging.Handler):
    """Counts the records of one logger whose message contains some text, while attached."""

    def __init__(self, logger: str, contains: str) -> None:
        super().__init__(level=logging.DEBUG)
        self.logger, self.contains, self.count = logging.getLogger(logger), contains, 0

    def emit(self, record: logging.LogRecord) -> None:
        if self.contains in record.getMessage():
            self.count += 1

    def __enter__(self) -> Matching:
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
