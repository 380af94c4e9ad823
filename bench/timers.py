"""`timers`: 10,000 pending timers: how long the runner takes to start, and how late they fire.

One incident is declared through the bot (so the timers belong to a real incident), then 10,000
`overdue` timers are added with due times spread over the next ~20 s of real time (SystemClock at
speed 1). A fresh TimerRunner with a do-nothing deliverer is started in the background: this measures
the scheduler and the store, not Slack. Each `overdue` timer writes one outbox row, which the runner
then "delivers" (no-op) and marks sent, as it would in production.

APScheduler's "skipped: maximum number of running instances" warnings are counted: each one is a
wake-up that was dropped because the tick that armed it was still running, which leaves the timers it
was for to the 15 s safety tick.

A second, smaller set shows the catch-up after downtime: timers already due when the runner starts are
fired inside runner.start(), and `crisisbot serve` starts its HTTP server only after that returns.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from bench.config import Config
from bench.figures import Outcome
from bench.logs import Matching
from bench.team import declare, staff
from bot.clock import SystemClock
from bot.incidents.desk import Desk
from bot.localdesk import start_local
from bot.models import OutboxMessage
from bot.scheduler import TimerRunner

TARGET_REBUILD = 1.0
TARGET_LATE_P99 = 1.0
FIRST_DUE = 2.0  # seconds after insertion: none is due while the runner starts
KIND = "overdue"
SKIPPED = "maximum number of running instances reached"
CATCH_UP_SHARE = 5  # the catch-up set is a fifth of the main one
CATCH_UP_AGO = 30.0  # seconds overdue (under a minute, so firing them logs no "fired late" warning each)


class NoDelivery:
    """A deliverer that accepts every outbox row and says nothing."""

    def deliver(self, message: OutboxMessage) -> None:
        return None

    def report_failure(self, message: OutboxMessage, error: str) -> None:
        return None


def _rows(incident_id: int, start: datetime, count: int, spread: float) -> list[dict[str, Any]]:
    step = spread / count
    return [
        {"incident_id": incident_id, "kind": KIND, "due_at": start + timedelta(seconds=i * step), "data": {"late": 0}}
        for i in range(count)
    ]


def _catch_up(desk: Desk, incident_id: int, count: int) -> float:
    """Seconds runner.start() takes when `count` timers came due while the bot was down."""
    desk.store.add_timers(_rows(incident_id, desk.now() - timedelta(seconds=CATCH_UP_AGO), count, 1.0))
    runner = TimerRunner(desk, NoDelivery())
    began = time.perf_counter()
    runner.start(background=False)
    seconds = time.perf_counter() - began
    runner.stop()
    return seconds


def _live(desk: Desk, incident_id: int, config: Config) -> dict[str, Any]:
    """Add the timers due over the next seconds, start a runner in the background, wait for all to fire."""
    baseline = len(desk.store.pending_timers())
    rows = _rows(incident_id, desk.now() + timedelta(seconds=FIRST_DUE), config.timer_count, config.timer_spread)
    began = time.perf_counter()
    desk.store.add_timers(rows)
    inserted = time.perf_counter() - began
    runner = TimerRunner(desk, NoDelivery())
    with Matching("apscheduler.scheduler", SKIPPED) as skipped:
        began = time.perf_counter()
        runner.start(background=True)
        rebuild = time.perf_counter() - began
        deadline = time.perf_counter() + FIRST_DUE + config.timer_spread + 120
        while len(runner.lateness) < config.timer_count and time.perf_counter() < deadline:
            time.sleep(0.2)
        finished = time.perf_counter() - began
        runner.stop()
    return {
        "lateness": runner.lateness_summary(),
        "rebuild_seconds": rebuild,
        "insert_seconds": inserted,
        "finished_after": finished,
        "still_pending": len(desk.store.pending_timers()) - baseline,
        "wakeups_skipped": skipped.count,
    }


def run(config: Config) -> Outcome:
    local = start_local(clock=SystemClock(speed=1))
    try:
        staff(local)
        incident = declare(local, "data-breach", "Timer benchmark")
        local.bot.runner.stop()  # the bot's own runner gives way (and its lease) to the ones measured here
        live = _live(local.desk, incident.id, config)
        count = config.timer_count // CATCH_UP_SHARE
        live["catch_up"] = {"timers": count, "seconds": _catch_up(local.desk, incident.id, count)}
    finally:
        local.stop()
    return _report(live, config)


def _report(live: dict[str, Any], config: Config) -> Outcome:
    outcome = Outcome(details=live)
    late, catch_up = live["lateness"], live["catch_up"]
    outcome.add(f"runner.start() with {config.timer_count:,} pending", live["rebuild_seconds"], "s", TARGET_REBUILD)
    outcome.add(
        "lateness p99", late["p99"], "s", TARGET_LATE_P99, note=f"p50 {late['p50']:.3f} s, max {late['max']:.2f} s"
    )
    outcome.add(
        "wake-ups dropped by APScheduler",
        live["wakeups_skipped"],
        "",
        0,
        note="each leaves due timers to the 15 s safety tick",
    )
    outcome.add("timers fired", late["count"], "", note=f"{live['still_pending']} still pending at the end")
    outcome.add(
        "all fired after",
        live["finished_after"],
        "s",
        note=f"due over {FIRST_DUE:.0f}–{FIRST_DUE + config.timer_spread:.0f} s",
    )
    outcome.add("inserting them (add_timers)", live["insert_seconds"], "s")
    outcome.add(
        f"catch-up: runner.start() with {catch_up['timers']:,} already due",
        catch_up["seconds"],
        "s",
        note=f"{catch_up['seconds'] / catch_up['timers'] * 1000:.2f} ms per timer (in serve this runs on the scheduler thread; /healthz answers meanwhile)",
    )
    return outcome
