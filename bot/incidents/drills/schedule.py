"""Scheduled drills: a drill that starts by itself every n weeks, with a heads-up to the crisis lead the day before.

A schedule is a row (`drill_schedules`); its next start is a `drill_start` timer and the heads-up a
`drill_heads_up` timer, both of no incident (`incident_id` 0, the schedule's id in their data), so they ride the
same restart-safe timer table as every deadline. Firing `drill_start` declares the drill through the core's one
declare (the bot as declarer), arms the next occurrence and queues the room's set-up (a `drill_setup` outbox row,
carried out on the drill's platform) in the timer's one transaction: a crash before the commit starts nothing,
after it the set-up is the outbox's to finish.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bot.errors import NotAuthorized, UsageError
from bot.incidents.declare import DEFAULT_LEVEL, DeclareRequest, declare
from bot.incidents.desk import Desk
from bot.incidents.roles import Person
from bot.models import DrillSchedule, Timer

log = logging.getLogger("crisisbot.drills")

SYSTEM = "bot"  # the declarer of a scheduled drill, as the timeline names the bot everywhere
MAX_WEEKS = 52
DEFAULT_TIME = "10:00"
HEADS_UP_BEFORE = timedelta(days=1)
TIME = re.compile(r"(?i)(\d{1,2})(?:[:.hu](\d{2}))?\s*(am|pm)?")


@dataclass(frozen=True)
class ScheduleSpec:
    """What `/crisis drill schedule …` asked for, parsed (bot/chat/drill_schedule.py)."""

    scenario: str
    every_weeks: int
    level: int = DEFAULT_LEVEL
    weekday: int | None = None  # 0 = Monday; None: the weekday it was scheduled on
    at_time: str = DEFAULT_TIME  # HH:MM, the company's timezone
    unannounced: bool = False


def parse_time(word: str) -> str:
    """`10:00`, `9.30`, `14u`, `3pm` → `HH:MM`; anything else is refused with the form to type."""
    match = TIME.fullmatch(word.strip())
    if not match:
        raise UsageError("error.drill_schedule_time", time=word[:20])
    hour, minute, half = int(match.group(1)), int(match.group(2) or 0), (match.group(3) or "").lower()
    if half:
        if not 1 <= hour <= 12:
            raise UsageError("error.drill_schedule_time", time=word[:20])
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        raise UsageError("error.drill_schedule_time", time=word[:20])
    return f"{hour:02d}:{minute:02d}"


def check_every(weeks: int) -> int:
    if not 1 <= weeks <= MAX_WEEKS:
        raise UsageError("error.drill_schedule_every", weeks=weeks, most=MAX_WEEKS)
    return weeks


# ---- when --------------------------------------------------------------------------------------------
def _at(day: date, at_time: str, desk: Desk) -> datetime:
    hour, minute = (int(part) for part in at_time.split(":"))
    return datetime.combine(day, time(hour, minute), tzinfo=desk.settings.tz).astimezone(UTC)


def first_start(desk: Desk, weekday: int, at_time: str) -> datetime:
    """The first slot (that weekday, that time, the company's timezone) more than a day away: the heads-up the day
    before always has its day."""
    not_before = desk.now() + HEADS_UP_BEFORE
    day = not_before.astimezone(desk.settings.tz).date()
    for ahead in range(8):
        candidate = day + timedelta(days=ahead)
        if candidate.weekday() == weekday and _at(candidate, at_time, desk) > not_before:
            return _at(candidate, at_time, desk)
    raise AssertionError("a weekday recurs within eight days")  # pragma: no cover


def following(desk: Desk, schedule: DrillSchedule) -> datetime:
    """The occurrence after the current one, every n weeks on the wall clock (a DST change keeps 10:00 at 10:00);
    occurrences the bot slept through are skipped, not started late one after another."""
    day = schedule.next_start_at.astimezone(desk.settings.tz).date()
    step = timedelta(weeks=schedule.every_weeks)
    start = _at(day + step, schedule.at_time, desk)
    while start <= desk.now():
        day += step
        start = _at(day + step, schedule.at_time, desk)
    return start


def _timers(desk: Desk, schedule: DrillSchedule, start: datetime) -> list[dict[str, Any]]:
    data = {"schedule_id": schedule.id, "start": start.isoformat()}
    heads_up = max(start - HEADS_UP_BEFORE, desk.now())
    return [
        {"incident_id": 0, "kind": "drill_heads_up", "due_at": heads_up, "data": data},
        {"incident_id": 0, "kind": "drill_start", "due_at": start, "data": data},
    ]


# ---- verbs -------------------------------------------------------------------------------------------
def may_schedule(desk: Desk, actor: Person) -> bool:
    """The crisis lead (owner or backup), a workspace admin or owner, anyone under `admins:` in the config."""
    leads = desk.store.role_owners().get("crisis_lead", [])
    return actor.id in leads or actor.workspace_admin or actor.id in desk.settings.admins


def _require_may_schedule(desk: Desk, actor: Person) -> None:
    if not may_schedule(desk, actor):
        raise NotAuthorized("error.drill_schedule_not_allowed")


@dataclass(frozen=True)
class Scheduled:
    schedule: DrillSchedule
    existing: bool  # True: the very same schedule was active already (typed twice): nothing new was made


def schedule_drill(desk: Desk, actor: Person, spec: ScheduleSpec, platform: str = "slack") -> Scheduled:
    """Record a schedule and arm its first start and heads-up, in one transaction; the same one typed again is
    the same intent, answered with the schedule already there."""
    book = desk.playbook(spec.scenario)  # an unknown scenario is a usage answer, before anything is written
    book.level(spec.level)
    check_every(spec.every_weeks)
    at_time = parse_time(spec.at_time)
    with desk.deciding():
        _require_may_schedule(desk, actor)
        now = desk.now()
        weekday = spec.weekday if spec.weekday is not None else now.astimezone(desk.settings.tz).weekday()
        same = (book.id, spec.level, spec.every_weeks, weekday, at_time, spec.unannounced, platform)
        for active in desk.store.schedules():
            as_typed = (active.scenario, active.level, active.every_weeks, active.weekday, active.at_time)
            if (*as_typed, active.unannounced, active.platform) == same:
                return Scheduled(active, existing=True)
        start = first_start(desk, weekday, at_time)
        schedule = desk.store.insert_schedule(
            scenario=book.id,
            level=spec.level,
            every_weeks=spec.every_weeks,
            weekday=weekday,
            at_time=at_time,
            unannounced=spec.unannounced,
            platform=platform,
            created_by=actor.id,
            created_at=now,
            next_start_at=start,
        )
        desk.store.add_timers(_timers(desk, schedule, start))
    desk.timers_changed()
    return Scheduled(schedule, existing=False)


def cancel_schedule(desk: Desk, actor: Person, schedule_id: int) -> DrillSchedule:
    """Cancel a schedule and its pending timers; a drill it already started runs on."""
    with desk.deciding():
        schedule = desk.store.find_schedule(schedule_id)
        if schedule is None or not schedule.active:
            raise UsageError("error.drill_schedule_unknown", id=schedule_id)
        _require_may_schedule(desk, actor)
        now = desk.now()
        desk.store.cancel_schedule_timers(schedule.id, now)
        schedule = desk.store.update_schedule(schedule.id, cancelled_at=now, cancelled_by=actor.id)
    desk.timers_changed()
    return schedule


def check_cancel(desk: Desk, schedule_id: int) -> None:
    """Read-only: refuse a schedule that does not exist (or is cancelled already) before anything else."""
    schedule = desk.store.find_schedule(schedule_id)
    if schedule is None or not schedule.active:
        raise UsageError("error.drill_schedule_unknown", id=schedule_id)


# ---- what its timers do (bot/incidents/timers.py hands over the timers of no incident) -------------------------
def fire_schedule_timer(desk: Desk, timer: Timer) -> bool:
    """Carry out a schedule's timer inside the caller's transaction; False when it no longer matters."""
    schedule = desk.store.find_schedule(int(timer.data.get("schedule_id", 0)))
    if schedule is None or not schedule.active or timer.data.get("start") != schedule.next_start_at.isoformat():
        return False  # cancelled, or a timer of an occurrence since re-armed
    if schedule.scenario not in desk.playbooks:  # disabled or removed since: nothing to start, the rest runs on
        log.warning(
            "drill schedule %s: scenario %r is not enabled any more; its drill is skipped",
            schedule.id,
            schedule.scenario,
        )
        if timer.kind == "drill_start":
            _arm_next(desk, schedule)
        return False
    if timer.kind == "drill_heads_up":
        return _heads_up(desk, schedule)
    return _start(desk, schedule)


def heads_up_roles(desk: Desk, schedule: DrillSchedule) -> list[str]:
    """Who hears of the drill the day before: only the crisis lead when it is unannounced, else the level's roles."""
    if schedule.unannounced:
        return ["crisis_lead"]
    roles = desk.playbook(schedule.scenario).level(schedule.level).roles
    return ["crisis_lead", *[r for r in roles if r != "crisis_lead"]]


def _heads_up(desk: Desk, schedule: DrillSchedule) -> bool:
    desk.store.add_outbox(
        0,
        "drill_heads_up",
        desk.now(),
        schedule_id=schedule.id,
        start=schedule.next_start_at.isoformat(),
        platform=schedule.platform,
        roles=heads_up_roles(desk, schedule),
    )
    return True


def _start(desk: Desk, schedule: DrillSchedule) -> bool:
    """Declare the drill as `/crisis drill` does (the bot as declarer) and arm the next occurrence."""
    book = desk.playbook(schedule.scenario)
    title = desk.messages.ui(
        desk.language, "drill_schedule.title", id=schedule.id, scenario=book.name.in_(desk.language)
    )
    request = DeclareRequest(
        scenario=schedule.scenario,
        level=schedule.level,
        title=title,
        declared_by=SYSTEM,
        drill=True,
        platform=schedule.platform,
    )
    incident = declare(desk, request).incident
    desk.store.add_event(incident.id, desk.now(), SYSTEM, "drill_started", schedule_id=schedule.id)
    desk.store.add_outbox(incident.id, "drill_setup", desk.now())
    _arm_next(desk, schedule, last_incident_id=incident.id)
    return True


def _arm_next(desk: Desk, schedule: DrillSchedule, **fields: Any) -> None:
    start = following(desk, schedule)
    desk.store.update_schedule(schedule.id, next_start_at=start, **fields)
    desk.store.add_timers(_timers(desk, schedule, start))
