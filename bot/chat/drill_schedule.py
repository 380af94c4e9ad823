"""`/crisis drill schedule …`: the grammar (English and Dutch words), the handlers, and what a schedule looks like.

`drill schedule <scenario> [level] every <n> weeks [on <weekday>] [at <time>] [unannounced]`, `… schedule list`,
`… schedule cancel <id>`; in Dutch `elke <n> weken op maandag om 10:00 onaangekondigd`. What a schedule does is
the core's (bot/incidents/drills/schedule.py).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from babel.dates import format_datetime, get_day_names
from markupsafe import Markup

from bot.chat.wording import Wording
from bot.errors import UsageError
from bot.incidents.declare import DEFAULT_LEVEL
from bot.incidents.desk import Desk
from bot.incidents.drills import schedule as schedules
from bot.incidents.drills.schedule import ScheduleSpec, check_every, parse_time
from bot.incidents.roles import Person
from bot.messages import locale_of
from bot.models import DrillSchedule

if TYPE_CHECKING:  # the handlers' types only: bot/chat/subcommands.py imports this module
    from bot.chat.commands import Command
    from bot.chat.subcommands import Typed

EVERY = {"every", "elke", "iedere", "ieder"}
WEEKS = {"week", "weeks", "weken"}
ON = {"on", "op"}
AT = {"at", "om"}
UNANNOUNCED = {"unannounced", "onaangekondigd"}
CANCEL = {"cancel", "annuleer"}
HALF_DAY = {"am", "pm"}
_DAYS = (
    ("monday", "mon", "maandag", "ma"),
    ("tuesday", "tue", "tues", "dinsdag", "di"),
    ("wednesday", "wed", "woensdag", "wo"),
    ("thursday", "thu", "thur", "thurs", "donderdag", "do"),
    ("friday", "fri", "vrijdag", "vr"),
    ("saturday", "sat", "zaterdag", "za"),
    ("sunday", "sun", "zondag", "zo"),
)
WEEKDAYS = {name: day for day, names in enumerate(_DAYS) for name in names}
NUMBER = re.compile(r"[+-]?\d{1,6}")
LEVEL = re.compile(r"(?i)l?[123]")


# ---- the grammar -------------------------------------------------------------------------------------
def parse(words: list[str]) -> tuple[str, ScheduleSpec | None, int]:
    """The words after `drill schedule` → (command name, the schedule asked for, the schedule id to cancel)."""
    if not words:
        raise UsageError("error.drill_schedule_usage")
    head = words[0].lower()
    if head == "list" and len(words) == 1:
        return "drill_schedule_list", None, 0
    if head in CANCEL:
        number = words[1].lstrip("#") if len(words) == 2 else ""
        if not number.isdigit():
            raise UsageError("error.drill_schedule_cancel_usage")
        return "drill_schedule_cancel", None, int(number)
    return "drill_schedule", _spec(head, [w.lower().rstrip(",") for w in words[1:]]), 0


def _spec(scenario: str, rest: list[str]) -> ScheduleSpec:
    level = DEFAULT_LEVEL
    if rest and LEVEL.fullmatch(rest[0]):
        level, rest = int(rest[0][-1]), rest[1:]
    every: int | None = None
    weekday: int | None = None
    at_time = schedules.DEFAULT_TIME
    unannounced = False
    i = 0
    while i < len(rest):
        word, following = rest[i], rest[i + 1 : i + 3]
        if word in EVERY:
            every, used = _every(following)
        elif word in ON and following:
            weekday, used = _weekday(following[0]), 1
        elif word in AT and following:
            at_time, used = _time(following)
        elif word in UNANNOUNCED:
            unannounced, used = True, 0
        else:
            raise UsageError("error.drill_schedule_usage")
        i += 1 + used
    if every is None:
        raise UsageError("error.drill_schedule_usage")
    return ScheduleSpec(scenario, every, level, weekday, at_time, unannounced)


def _every(words: list[str]) -> tuple[int, int]:
    """`week` (1), or `<n> weeks`: the number and how many words it took."""
    if words and words[0] in WEEKS:
        return 1, 1
    if len(words) == 2 and NUMBER.fullmatch(words[0]) and words[1] in WEEKS:
        return check_every(int(words[0])), 2
    raise UsageError("error.drill_schedule_usage")


def _weekday(word: str) -> int:
    day = WEEKDAYS.get(word)
    if day is None:
        raise UsageError("error.drill_schedule_weekday", day=word[:20])
    return day


def _time(words: list[str]) -> tuple[str, int]:
    """`10:00`, or `3 pm` in two words."""
    if len(words) == 2 and words[1] in HALF_DAY:
        return parse_time(words[0] + words[1]), 2
    return parse_time(words[0]), 1


# ---- how a schedule reads ----------------------------------------------------------------------------
def moment(at: datetime, desk: Desk, say: Wording) -> str:
    """`Monday 16 Mar, 10:00` in the company's timezone and the reader's language."""
    return format_datetime(at.astimezone(desk.settings.tz), "EEEE d MMM, HH:mm", locale=locale_of(say.language))


def weekday_name(day: int, say: Wording) -> str:
    return str(get_day_names("wide", locale=locale_of(say.language))[day])


def describe(desk: Desk, schedule: DrillSchedule, say: Wording) -> str:
    book = desk.playbooks.get(schedule.scenario)
    return say(
        "drill_schedule.line",
        id=schedule.id,
        scenario=book.name.in_(say.language) if book else schedule.scenario,
        level=schedule.level,
        every=schedule.every_weeks,
        weekday=weekday_name(schedule.weekday, say),
        at=schedule.at_time,
        next=moment(schedule.next_start_at, desk, say),
        unannounced=schedule.unannounced,
    )


# ---- the handlers ------------------------------------------------------------------------------------
def _actor(run: Typed) -> Person:
    """Who typed, as the rights need them: a workspace admin only the platform can say (asked only when it matters)."""
    desk = run.desk
    if run.user in desk.store.role_owners().get("crisis_lead", []) or run.user in desk.settings.admins:
        return Person(run.user)
    return run.flow.port.person(run.user) or Person(run.user)


def schedule(run: Typed, cmd: Command) -> None:
    spec = cmd.schedule
    assert spec is not None  # the grammar gives a drill_schedule command its spec
    desk, say = run.desk, run.say
    desk.playbook(spec.scenario)  # an unknown scenario is answered at once, before anything is looked up or written
    run.quiet()  # the rights may need the platform (is this a workspace admin?)
    # schedules are incident 0's rows: holding it re-arms the runner once the schedule is made, so its first
    # heads-up and start are woken for on time, not at the runner's next safety tick (up to 15 s later)
    with run.flow.outbox.holding(0):
        made = schedules.schedule_drill(desk, _actor(run), spec, platform=say.dialect.platform.lower())
    line = Markup(describe(desk, made.schedule, say))  # our own wording, its values escaped already
    first = moment(made.schedule.next_start_at, desk, say)
    run.answer(say("drill_schedule.existing" if made.existing else "drill_schedule.done", line=line, first=first))


def show_schedules(run: Typed, cmd: Command) -> None:
    """Every schedule; an unannounced one only to those who may schedule (it would not be unannounced otherwise)."""
    desk, say = run.desk, run.say
    shown = desk.store.schedules()
    if any(s.unannounced for s in shown):
        run.quiet()
        if not schedules.may_schedule(desk, _actor(run)):
            shown = [s for s in shown if not s.unannounced]
    if not shown:
        run.answer(say("drill_schedule.none"))
        return
    run.answer("\n".join([say("drill_schedule.heading"), *(describe(desk, s, say) for s in shown)]))


def cancel(run: Typed, cmd: Command) -> None:
    desk, say, number = run.desk, run.say, cmd.number or 0  # 0: no schedule has it, refused as unknown
    schedules.check_cancel(desk, number)  # one that does not exist is answered in the ack
    run.quiet()
    cancelled = schedules.cancel_schedule(desk, _actor(run), number)
    run.answer(say("drill_schedule.cancelled", line=Markup(describe(desk, cancelled, say))))
