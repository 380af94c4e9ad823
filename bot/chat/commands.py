"""The `/crisis …` grammar: the typed text → a `Command`, or a UsageError saying what to type.

Platform-neutral: any chat platform's slash command (or message) hands its text to `parse`; what each command
then does is bot/chat/subcommands.py."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from bot.chat import drill_schedule
from bot.errors import BadLevel, UsageError
from bot.ids import LEVELS
from bot.incidents.drills.schedule import ScheduleSpec

# Only a level that exists is read as one (`2`, or `L2` as crisis plans write it); any other first word starts
# the title, so `/crisis declare service-outage 500 errors on checkout` is titled "500 errors on checkout".
DECLARE_LEVEL = re.compile(rf"(?i)l?[{''.join(map(str, LEVELS))}]")
MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,20})(?:\|[^>]*)?>$")


@dataclass(frozen=True)
class Mentions:
    """How a platform's typed text mentions a person: a whole word matching `pattern`, group 1 the person's id.

    `error` is the UsageError key for a word that is no mention (its wording names the platform's way to type one);
    `lower` keeps ids case-insensitive (Entra object ids)."""

    pattern: re.Pattern[str]
    error: str = "error.no_mention"
    lower: bool = False

    def person(self, word: str) -> str:
        match = self.pattern.match(word)
        if not match:
            raise UsageError(self.error, word=word[:40])
        return match.group(1).lower() if self.lower else match.group(1)


SLACK_MENTIONS = Mentions(MENTION)
# Teams: the adapter replaces each `<at>…</at>` of a message with `<@entra-object-id>` from its mention entities.
TEAMS_MENTIONS = Mentions(
    re.compile(r"^<@([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})>$"),
    error="error.no_mention_teams",
    lower=True,
)
SUBCOMMANDS = (
    "help",
    "declare",
    "drill",
    "roles",
    "escalate",
    "deescalate",
    "gdpr",
    "status",
    "list",
    "update",
    "note",
    "resolve",
)


@dataclass(frozen=True)
class Command:
    name: str  # "", "help", "declare", "drill", "roles", "roles_set"
    scenario: str = ""
    level: int | None = None
    title: str = ""
    role: str = ""
    users: list[str] = field(default_factory=list)
    # drills: after-action items (`drill action <text> @owner <date>`, `drill action done <n>`); schedules
    due: date | None = None
    number: int | None = None  # the item to mark done, the schedule to cancel
    schedule: ScheduleSpec | None = None


def parse(text: str, mentions: Mentions = SLACK_MENTIONS) -> Command:
    """Turn the slash command's text into a Command, or raise UsageError naming what to type.

    `mentions` is how the platform's text mentions people (`roles set`): Slack's `<@U…>` unless told."""
    words = text.split()
    if not words:
        return Command("")
    head, rest = words[0].lower(), words[1:]
    if head == "help":
        return Command("help")
    # drills: after-action items
    if head == "drill" and rest and rest[0].lower() == "action":
        return _drill_action(rest[1:], mentions)
    if head == "drill" and rest and rest[0].lower() == "schedule":  # drills: schedules
        name, spec, number = drill_schedule.parse(rest[1:])
        return Command(name, schedule=spec, number=number)
    if head in ("declare", "drill"):
        return _declare(head, rest)
    if head in ("status", "list", "resolve") and not rest:
        return Command(head)
    if head in ("update", "note"):
        body = text.strip()[len(words[0]) :].strip()
        if not body:
            raise UsageError(f"error.empty_{head}")
        return Command(head, title=body)
    if head in ("escalate", "deescalate"):
        if len(rest) > 1:
            raise UsageError("error.escalate_usage")
        return Command(head, level=_level(rest[0]) if rest else None)
    if head == "gdpr":
        if [w.lower() for w in rest] != ["notified"]:
            raise UsageError("error.gdpr_usage")
        return Command("gdpr_notified")
    if head == "roles":
        if not rest:
            return Command("roles")
        if rest[0].lower() == "set":
            return _roles_set(rest[1:], mentions)
        raise UsageError("error.roles_usage")
    raise UsageError("error.unknown_command", command=words[0][:40])


def _declare(head: str, rest: list[str]) -> Command:
    if not rest:
        raise UsageError("error.declare_usage")
    scenario, rest = rest[0].lower(), rest[1:]
    level = None
    if rest and DECLARE_LEVEL.fullmatch(rest[0]):
        level = int(rest[0][-1])
        rest = rest[1:]
    title = " ".join(rest)
    if not title and head == "declare":
        raise UsageError("error.empty_title")
    return Command(head, scenario=scenario, level=level, title=title)


def _level(word: str) -> int:
    """`2`, `L2`, `level2` or `L-2` is 2; `-1`, `4` or `two` is refused."""
    if not re.fullmatch(r"(?i)(l|level)?-?\d{1,3}", word):
        raise BadLevel(level=word[:10])
    level = int(re.sub(r"(?i)^(level|l)-?", "", word))
    if level not in LEVELS:
        raise BadLevel(level=word[:10])
    return level


def _roles_set(rest: list[str], mentions: Mentions) -> Command:
    if not rest:
        raise UsageError("error.roles_set_usage")
    role, words = rest[0], rest[1:]
    users = [mentions.person(word) for word in words]
    if not users:
        raise UsageError("error.roles_set_usage")
    return Command("roles_set", role=role, users=users)


# drills: after-action items
DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y")  # 2026-04-01, and the day-first ways Dutch plans write it


def _drill_action(rest: list[str], mentions: Mentions) -> Command:
    """`<text> @owner <date>` (owner and date both required, each refused with what is missing), or `done <n>`."""
    if rest and rest[0].lower() == "done":
        if len(rest) != 2 or not rest[1].isdigit():
            raise UsageError("exercise.error.action_done_usage")
        return Command("drill_action_done", number=int(rest[1]))
    if not rest:
        raise UsageError("exercise.error.action_usage")
    last_is_owner = mentions.pattern.match(rest[-1]) is not None
    if last_is_owner:
        raise UsageError("exercise.error.action_no_date")
    owner_word = rest[-2] if len(rest) >= 2 else ""
    if not mentions.pattern.match(owner_word):
        raise UsageError("exercise.error.action_no_owner")
    text = " ".join(rest[:-2])
    if not text:
        raise UsageError("exercise.error.action_usage")
    return Command("drill_action", title=text, users=[mentions.person(owner_word)], due=_date(rest[-1]))


def _date(word: str) -> date:
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(word, pattern).date()
        except ValueError:
            continue
    raise UsageError("exercise.error.action_bad_date", word=word[:40])
