"""Stopping the timer runner's scheduler while its thread is handling due wake-ups: no error in that thread."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler

from bot.scheduler import shut_down


def test_a_scheduler_stopped_while_it_handles_due_wake_ups_dies_quietly(monkeypatch) -> None:
    """APScheduler 3 flags itself stopped before it takes its job-store lock: a main loop handling a due one-off
    job then raises JobLookupError in its thread (seen as a failed test at a runner's stop). Without `shut_down`'s
    pause and emptying first, about two of three of these stops raised (checked)."""
    errors: list[str] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_type.__name__))
    for _ in range(6):
        scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True, "misfire_grace_time": None})
        scheduler.start()

        def wake(scheduler: BackgroundScheduler = scheduler) -> None:  # re-arms itself, as TimerRunner.tick does
            try:
                scheduler.add_job(wake, "date", run_date=datetime.now(UTC) + timedelta(microseconds=200))
            except SchedulerNotRunningError:  # stopped meanwhile
                return

        for _ in range(200):
            scheduler.add_job(wake, "date", run_date=datetime.now(UTC))
        time.sleep(0.002)
        shut_down(scheduler)
    time.sleep(0.3)  # the schedulers' threads end
    assert errors == []
