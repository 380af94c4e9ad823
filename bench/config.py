"""How big each benchmark is: the default run (about three minutes) and the --quick smoke run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Config:
    quick: bool = False
    ack_requests: int = 500  # per app
    ack_warmup: int = 30
    ack_concurrent_requests: int = 1600  # per app, at concurrency 16
    declare_samples: int = 5  # per scenario
    # Teams' declares: one scenario, whose median of five moved by ±3 ms from run to run on a quiet machine
    # (single declares spread over 10-13 ms), as much as a change worth making takes off; fifteen cost ~25 s more.
    teams_declare_samples: int = 15
    declare_latency: float = 0.1  # seconds per Web API call
    load_incidents: int = 100
    load_rate: float = 50.0  # interactions per second
    load_seconds: float = 60.0  # in-process bot
    load_serve_seconds: float = 30.0  # `crisisbot serve` subprocess: long enough for its memory to settle
    startup_runs: int = 5
    timer_count: int = 10_000
    timer_spread: float = 20.0  # seconds of real time the due times are spread over
    workers: int = 64  # load generator threads
    history_incidents: int = 10_000  # resolved incidents behind the workspace
    history_active: int = 20  # live incidents, in both databases
    history_repeats: int = 20  # requests of each kind per database (declares and reports: 5)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


FULL = Config()
QUICK = Config(
    quick=True,
    ack_requests=100,
    ack_warmup=10,
    ack_concurrent_requests=320,
    declare_samples=2,
    teams_declare_samples=2,
    load_incidents=10,
    load_seconds=10.0,
    load_serve_seconds=5.0,
    startup_runs=2,
    timer_count=2_000,
    timer_spread=5.0,
    history_incidents=1_000,
    history_repeats=5,
)
