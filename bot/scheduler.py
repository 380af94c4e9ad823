"""Runs the timers kept in SQLite: APScheduler wakes the bot at the earliest pending timer.

The table is the truth; APScheduler holds a single wake-up job armed for the earliest `due_at` (turned
into real time by the clock's speed), so rebuilding after a restart is one indexed query, however many
timers are pending. Each wake fires everything due, delivers the outbox, and re-arms. A lease row keeps a
second bot process off the same database file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Protocol

from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler

from bot.errors import CrisisError
from bot.faults import crash_point
from bot.incidents.desk import Desk
from bot.incidents.timers import Fired, fire_due
from bot.models import OutboxMessage

log = logging.getLogger("crisisbot.scheduler")

LEASE_NAME = "scheduler"
LEASE_TTL = 30.0  # real seconds; renewed every LEASE_RENEW
LEASE_RENEW = 10.0
SAFETY_TICK = 15.0  # real seconds: catches clock jumps (a sleeping laptop) and rows added by other code
MAX_ATTEMPTS = 6
RETRY_BASE = timedelta(seconds=20)
SAME_WAKE = timedelta(milliseconds=10)  # a re-arm for the same moment (float rounding aside) changes nothing


class AlreadyRunning(CrisisError):
    key = "error.already_running"

    def __str__(self) -> str:
        return (
            f"another crisisbot ({self.params['holder']}) is running on {self.params['db']}; "
            "stop it first, or give this one its own CRISISBOT_DB"
        )


def _dead_here(holder: str) -> bool:
    """True when `holder` (host:pid:nonce) names a process on this machine that no longer exists."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Waiting(Exception):
    """Raised by a Deliverer for a row this process cannot deliver (its platform is not served here): the row keeps
    its attempts and waits for a process that serves it, instead of being retried into failure."""


class Deliverer(Protocol):
    def deliver(self, message: OutboxMessage) -> None: ...

    def report_failure(self, message: OutboxMessage, error: str) -> None: ...


def shut_down(scheduler: BackgroundScheduler) -> None:
    """Stop `scheduler` without waiting for a running tick, and without its thread dying of JobLookupError.

    APScheduler 3 marks itself stopped before it takes its job-store lock, so a main loop that is handling a due
    one-off job at that moment (the wake-up) looks for it among the jobs not yet started, does not find it, and
    raises in its thread. Paused first and emptied under that lock (remove_all_jobs waits for the loop's pass to
    end), it has nothing left to handle when it stops."""
    with contextlib.suppress(SchedulerNotRunningError):
        scheduler.pause()
        scheduler.remove_all_jobs()
        scheduler.shutdown(wait=False)


class TimerRunner:
    def __init__(
        self,
        desk: Desk,
        deliverer: Deliverer,
        holder: str | None = None,
        guard: Callable[[], AbstractContextManager[None]] | None = None,
    ) -> None:
        self.desk, self.deliverer = desk, deliverer
        self.guard = guard or nullcontext  # lets a local run wait until a tick's Slack calls are done
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.scheduler: BackgroundScheduler | None = None
        self._lock = threading.RLock()
        self._arm_lock = threading.Lock()
        self._wake: Job | None = None
        self._wake_at: datetime | None = None  # when the pending wake-up job runs (real time)
        self._held: Counter[int] = Counter()  # incidents whose outbox rows a request delivers itself (`holding`)
        self._held_lock = threading.Lock()  # not the tick's lock: a request must not wait for a tick's Slack calls
        self.lateness: list[float] = []  # seconds late per fired timer, for the benchmarks
        self._waiting: set[int] = set()  # rows already logged as waiting for a platform not served here

    # ---- life cycle ------------------------------------------------------------------------------
    def acquire(self) -> None:
        store = self.desk.store
        other = store.take_lease(LEASE_NAME, self.holder, time.time(), LEASE_TTL)
        if other and _dead_here(other):  # a crashed bot on this machine: no need to wait out its lease
            log.warning("taking over the timers from %s, which is no longer running", other)
            other = store.take_lease(LEASE_NAME, self.holder, time.time(), LEASE_TTL, steal_from=other)
        if other:
            raise AlreadyRunning(holder=other, db=str(store.path))

    def start(self, background: bool = True) -> list[Fired]:
        """Take the lease, then fire what came due while the bot was down and keep running.

        In the background the catch-up runs on the scheduler's thread, so the HTTP server can answer
        Slack at once; without it (tests, one-shot runs) the catch-up happens here and is returned.
        """
        self.acquire()
        if not background:
            return self.tick()
        self.scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        )
        self.scheduler.add_job(self._renew, "interval", seconds=LEASE_RENEW, id="lease")
        self.scheduler.add_job(self.tick, "interval", seconds=SAFETY_TICK, id="safety")
        self.scheduler.start()
        self.desk.timer_listeners.append(self.arm)
        self.scheduler.add_job(self.tick, "date", run_date=datetime.now(UTC))  # the catch-up
        return []

    def stop(self) -> None:
        if self.arm in self.desk.timer_listeners:
            self.desk.timer_listeners.remove(self.arm)
        if self.scheduler is not None:
            shut_down(self.scheduler)
            self.scheduler = None
        self.desk.store.release_lease(LEASE_NAME, self.holder)

    def _renew(self) -> None:
        try:
            self.acquire()
        except AlreadyRunning as exc:  # someone took over after we stalled: stop firing, say why
            log.error("%s — this process stops running timers", exc)
            if self.scheduler is not None:
                self.scheduler.pause()

    # ---- the work --------------------------------------------------------------------------------
    def arm(self) -> None:
        """Point the wake-up job at the earliest pending timer or outbox retry."""
        scheduler = self.scheduler  # stop() may clear it meanwhile (a request still delivering at shut-down)
        if scheduler is None:
            return
        store = self.desk.store
        # While a request holds rows it delivers them itself, then re-arms: a held row due now must not spin the wake-up.
        outbox = None if self._held else store.next_outbox_attempt()
        candidates = [t for t in (store.next_due(), outbox) if t is not None]
        if not candidates:
            return
        delay = self.desk.clock.real_seconds_until(min(candidates))
        run_date = datetime.now(UTC) + timedelta(seconds=delay)
        with self._arm_lock:
            if self._wake is not None and self._wake_at is not None and abs(run_date - self._wake_at) < SAME_WAKE:
                return  # already armed for then (a declare whose timers all come later): no scheduler churn
            # A fresh job each time: replacing the one that is running right now (tick() re-arms from inside
            # it) would make APScheduler skip the new run as "maximum instances reached" and lose the wake-up.
            if self._wake is not None:
                with contextlib.suppress(JobLookupError):
                    self._wake.remove()
            try:
                self._wake = scheduler.add_job(self.tick, "date", run_date=run_date)
                self._wake_at = run_date
            except SchedulerNotRunningError:  # shut down since: the next start arms from the database
                self._wake = None

    def tick(self) -> list[Fired]:
        """Fire every due timer and deliver the outbox; safe to call from any thread, any time."""
        with self._arm_lock:
            self._wake_at = None  # whatever woke this tick, the next arm makes a fresh wake-up job
        with self._lock, self.guard():
            fired = fire_due(self.desk)
            late = [f for f in fired if f.late.total_seconds() > 60]
            if late:
                log.info("fired %s timer(s) that came due while the bot was down or busy", len(late))
            for item in fired:
                self.lateness.append(max(0.0, item.late.total_seconds()))
            self.flush_outbox()
            self.arm()
            return fired

    @contextmanager
    def holding(self, incident_id: int) -> Iterator[None]:
        """While a request redraws what its verb changed, keep the runner off the incident's new rows; then deliver
        them at once, on the request's thread: a notice the verb queued follows the redraws, as its post did when the
        listener made it, and arrives without waiting for a wake-up (a ManualClock has none)."""
        with self._held_lock:
            self._held[incident_id] += 1
        try:
            yield
        finally:
            with self._held_lock:
                self._held[incident_id] -= 1
                if not self._held[incident_id]:
                    del self._held[incident_id]
            self.deliver_now(incident_id)

    def deliver_now(self, incident_id: int) -> int:
        """Deliver the incident's pending rows now, under the lock a tick holds (no row is sent by two threads)."""
        with self._lock, self.guard():
            delivered = self.flush_outbox(incident_id)
            self.arm()
            return delivered

    def flush_outbox(self, incident_id: int | None = None) -> int:
        """Deliver each pending outbox row (of one incident, or of every incident no request holds); a failure is
        retried with backoff, then reported."""
        delivered = 0
        for message in self.desk.store.pending_outbox(self.desk.now()):
            if not self._ours(message, incident_id):
                continue
            try:
                self.deliverer.deliver(message)
            except Waiting as exc:
                self._wait(message, str(exc))
                continue
            except Exception as exc:  # any platform failure: keep the row, try again later
                self._failed(message, f"{type(exc).__name__}: {exc}")
                continue
            crash_point("outbox_delivered")
            self.desk.store.mark_sent(message.id, self.desk.now())
            delivered += 1
        return delivered

    def _ours(self, message: OutboxMessage, incident_id: int | None) -> bool:
        """Whether this flush delivers `message`: the incident asked for, or (a tick) any incident no request holds."""
        if incident_id is not None:
            return message.incident_id == incident_id
        return message.incident_id not in self._held

    def _wait(self, message: OutboxMessage, why: str) -> None:
        """A row for a platform this process does not serve: said once per row, not counted as an attempt."""
        if message.id not in self._waiting:
            self._waiting.add(message.id)
            log.warning("outbox %s (%s) waits: %s", message.id, message.kind, why)

    def _failed(self, message: OutboxMessage, error: str) -> None:
        now = self.desk.now()
        attempts = message.attempts + 1
        if attempts < MAX_ATTEMPTS:
            retry_at = now + RETRY_BASE * (2 ** (attempts - 1))
            log.warning(
                "outbox %s (%s) failed, attempt %s; retrying at %s: %s",
                message.id,
                message.kind,
                attempts,
                retry_at,
                error,
            )
            self.desk.store.mark_attempt(message.id, now, retry_at, error)
            return
        log.error("outbox %s (%s) gave up after %s attempts: %s", message.id, message.kind, attempts, error)
        self.desk.store.mark_attempt(message.id, now, None, error)
        try:
            self.deliverer.report_failure(message, error)
        except Exception:  # the channel itself is unreachable: the log line above is all we can do
            log.exception("could not report the failed delivery of outbox %s", message.id)

    def lateness_summary(self) -> dict[str, float]:
        values = sorted(self.lateness) or [0.0]
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        return {"count": len(self.lateness), "p50": statistics.median(values), "p99": p99, "max": values[-1]}
