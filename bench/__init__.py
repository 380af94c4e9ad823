"""Crisis Desk benchmarks: ack latency, declare round trips, load, start-up and timers.

Run with `python -m bench` or `crisisbot bench` (add `--quick` for a smoke run, `--only NAME` for one).
Benchmarks are not tests: nothing in tests/ runs them. Each run prints a table and saves JSON under
bench/results/.
"""

from __future__ import annotations

from bench.run import main

__all__ = ["main"]
