"""`crisisbot drill <scenario>`: rehearse a drill offline, against the built-in Slack (or Teams) emulator, with
simulated people.

The same local desk as the demo (bot/localdesk.py, bot/localteams.py: the emulator plus the real served bot) and
the demo's hands (bot/demo.py, bot/demo_teams.py: signed commands and clicks), but the story is the drill's: an
exercise controller (the cast's member without a role) starts it with `/crisis drill`; each paged role owner
acknowledges their own delay after the pages, approvers approve after it again, the social media manager marks the approved replies
posted; whoever is away never answers (the bot pages their backups and the lead, as it would). The crisis lead
ends it with the resolve, and the drill's score (its `drill_scored` event) is printed as the scorecard.
A development tool like the demo: never on the bot's runtime path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from rich.console import Console
from rich.markup import escape

from bot.clock import SystemClock
from bot.config import Settings, load_settings
from bot.demo import DemoScript, _wording, demo_config
from bot.errors import ConfigError
from bot.ids import ROLES
from bot.incidents.desk import Desk
from bot.localdesk import start_local
from bot.models import Draft, Incident
from bot.playbooks import load_playbooks
from bot.sandbox.local import Person

CONTROLLER = "gijs"  # the cast's member without a role: starts the exercise, as a comms lead running it would
DEFAULT_DELAY = 3.0
DEFAULT_UNTIL = 90.0  # crisis minutes after which the drill ends, posted or not


class Responsiveness(BaseModel):
    """Who answers how fast: minutes per role (`slow`), everyone else `default`; `away` never answers."""

    model_config = ConfigDict(extra="forbid")

    default: float = Field(DEFAULT_DELAY, ge=0, le=240)
    slow: dict[str, float] = Field(default_factory=dict)
    away: list[str] = Field(default_factory=list)

    @field_validator("slow")
    @classmethod
    def _known_slow(cls, value: dict[str, float]) -> dict[str, float]:
        for role, minutes in value.items():
            _check_role(role)
            if not 0 <= minutes <= 240:
                raise ValueError(f"{role}={minutes:g}: a delay is 0 to 240 minutes")
        return value

    @field_validator("away")
    @classmethod
    def _known_away(cls, value: list[str]) -> list[str]:
        for role in value:
            _check_role(role)
        return value

    def delay(self, role: str) -> float | None:
        """Minutes `role` takes to answer; None when away."""
        return None if role in self.away else self.slow.get(role, self.default)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"{role!r} is not a role — valid: {', '.join(ROLES)}")


def responsiveness(slow: list[str], away: list[str], people: Path | None, default: float | None) -> Responsiveness:
    """From the options (`--slow legal=20`, `--away spokesperson`) over a YAML file's (`--people`): a ConfigError
    naming what is wrong otherwise."""
    base: dict[str, object] = {}
    try:
        if people is not None:
            loaded = yaml.safe_load(people.read_text(encoding="utf-8")) or {}
            if not isinstance(loaded, dict):
                raise ConfigError([f"{people}: expected `default:`, `slow:` and `away:` keys"])
            base = loaded
        slow_map = dict(base.get("slow") or {})  # type: ignore[call-overload]
        for item in slow:
            role, _, minutes = item.partition("=")
            slow_map[role.strip()] = float(minutes)
        return Responsiveness.model_validate(
            {
                **base,
                "slow": slow_map,
                "away": [*list(base.get("away") or []), *away],  # type: ignore[call-overload]
                **({"default": default} if default is not None else {}),
            }
        )
    except OSError as exc:
        raise ConfigError([f"{people}: {exc.strerror}"]) from None
    except (ValueError, TypeError) as exc:
        problems = (
            [f"{'.'.join(map(str, e['loc'])) or 'people'}: {e['msg']}" for e in exc.errors()]
            if isinstance(exc, ValidationError)
            else [f"--slow: expected <role>=<minutes>, e.g. --slow legal=20 ({exc})"]
        )
        raise ConfigError(problems) from None


@dataclass(order=True)
class _Action:
    minute: float
    order: int
    do: Callable[[], None] = field(compare=False)


class Players(Protocol):
    """The simulated people's hands on one platform: bot/demo.py's DemoScript (Slack) or bot/demo_teams.py's
    TeamsDemoScript (Teams), with the few acts a drill needs."""

    console: Console
    speed: float
    language: str

    @property
    def desk(self) -> Desk: ...

    def step(self, key: str, **params: Any) -> None: ...

    def say(self, key: str, **params: Any) -> str: ...

    def ui(self, key: str, **params: Any) -> str: ...

    def show_new(self) -> None: ...

    def setup(self) -> None:
        """Every role owned (the cast's), before the drill."""
        ...

    def start(self, who: str, text: str) -> None:
        """`who` types `/crisis <text>`."""
        ...

    def acknowledge(self, who: str, incident: Incident) -> None: ...

    def press(self, who: str, draft: Draft, incident: Incident, action: str, label: str) -> None: ...

    def end(self, incident: Incident) -> None:
        """The crisis lead resolves it through the resolve form."""
        ...


class Rehearsal:
    """Plays the drill's people on their delays, then prints the scorecard."""

    def __init__(self, players: Players, cast: list[Person], people: Responsiveness, until: float) -> None:
        self.players, self.cast, self.responsive, self.until = players, cast, people, until
        self.desk = players.desk

    def play(self, scenario: str, level: int) -> int:
        book = self.desk.playbook(scenario)  # an unknown scenario: a clear error before anything starts
        seats = book.level(level)
        self.players.setup()
        self.players.step("rehearsal.start", scenario=book.name.in_(self.players.language), level=level)
        self.players.start(CONTROLLER, f"drill {scenario} {level}")
        drill = self.desk.store.incidents()[-1]
        paged = self.desk.now()  # delays count from the pages: the set-up's own time is the bot's, not theirs
        actions = self._plan(drill, list(seats.roles), list(seats.approvers))
        for action in sorted(actions):
            self._wait_until(paged, action.minute)
            action.do()
        self._wait_until(paged, min(self.until, max((a.minute for a in actions), default=0.0) + 5))
        self.players.step("rehearsal.end")
        self.players.end(self.desk.store.incident(drill.id))
        return self.scorecard(drill.id)

    # ---- the plan ----------------------------------------------------------------------------------
    def _holders(self) -> dict[str, str]:
        """Role → the cast member who owns it (by Slack id or Entra object id, as the store names them)."""
        names = {p.id: p.name for p in self.cast} | {p.aad_id: p.name for p in self.cast}
        return {role: names[users[0]] for role, users in self.desk.store.role_owners().items() if users[0] in names}

    def _plan(self, drill: Incident, roles: list[str], approvers: list[str]) -> list[_Action]:
        holders = self._holders()
        actions: list[_Action] = []
        answered: dict[str, float] = {}
        for role in roles:
            delay = self.responsive.delay(role)
            if delay is not None and role in holders:
                answered[role] = delay
                actions.append(_Action(delay, len(actions), self._ack(holders[role], drill)))
        approved_at = []
        for role in approvers:
            if role in answered and (delay := self.responsive.delay(role)) is not None:
                approved_at.append(answered[role] + delay)
                actions.append(
                    _Action(answered[role] + delay, len(actions), self._press(holders[role], drill, "approve"))
                )
        poster = "social_media_manager"
        post_delay = self.responsive.delay(poster)
        if len(approved_at) == len(approvers) and post_delay is not None and poster in answered:
            when = max([*approved_at, answered[poster]]) + post_delay
            actions.append(_Action(when, len(actions), self._press(holders[poster], drill, "mark_posted")))
        return actions

    def _ack(self, who: str, drill: Incident) -> Callable[[], None]:
        return lambda: self.players.acknowledge(who, drill)

    def _press(self, who: str, drill: Incident, what: str) -> Callable[[], None]:
        """Approve every draft still pending, or mark every approved one posted."""
        wanted = "pending" if what == "approve" else "approved"

        def press() -> None:
            for draft in self.desk.store.drafts(drill.id):
                if draft.status == wanted:
                    self.players.press(who, draft, drill, f"draft_{what}", self.players.ui(f"button.{what}"))

        return press

    def _wait_until(self, paged: datetime, minute: float) -> None:
        """Let crisis time run to `minute` after the pages, showing what the bot does meanwhile."""
        due = paged.timestamp() + minute * 60
        while (left := due - self.desk.now().timestamp()) > 0:
            time.sleep(min(left / self.players.speed, 0.5))
            self.players.show_new()

    # ---- the scorecard -----------------------------------------------------------------------------
    def scorecard(self, incident_id: int) -> int:
        players, desk = self.players, self.desk
        scored = desk.store.events(incident_id, "drill_scored")
        if not scored:
            players.console.print("[red]" + escape(players.say("rehearsal.no_score")) + "[/red]")
            return 1
        data = scored[-1].data
        players.step("rehearsal.scorecard", code=desk.store.incident(incident_id).code, score=data["score"])
        for role, seat in data["roles"].items():
            role_name = players.ui(f"role.{role}")
            players.console.print(
                escape(players.say("rehearsal.role", role=role_name, minutes=seat.get("ack_minutes")))
            )
        target = desk.playbook(data["scenario"]).deadlines.first_response_minutes
        posted = data.get("first_posted_minutes")
        players.console.print(escape(players.say("rehearsal.posted", minutes=posted, target=target)))
        players.console.print(escape(players.say("rehearsal.rule", rule=data["rule"])))
        return 0


def _resolve_values(say: Callable[..., str]) -> dict[str, str]:
    return {key: say(f"rehearsal.resolve_{key}") for key in ("summary", "impact", "lessons")}


class SlackPlayers(DemoScript):
    """The people on the Slack emulator (bot/demo.py's hands)."""

    def setup(self) -> None:
        for person in self.local.cast:
            if person.role:
                self.emu.slash_command(self.people["anna"], f"roles set {person.role} <@{person.id}|{person.name}>")
        self.local.settle()
        self.seen = len(self.emu.events)

    def start(self, who: str, text: str) -> None:
        self.command(who, text)

    def press(self, who: str, draft: Draft, incident: Incident, action: str, label: str) -> None:
        self.click(who, label, action, channel_id=incident.room_ref or "", ts=draft.message_ref or "")

    def end(self, incident: Incident) -> None:
        self.resolve(incident)

    def resolve_values(self, incident: Incident) -> dict[str, str]:
        return _resolve_values(self.say)


def run_rehearsal(
    scenario: str,
    level: int = 2,
    speed: float = 60.0,
    people: Responsiveness | None = None,
    until: float = DEFAULT_UNTIL,
    language: str = "en",
    transcript: Path | None = None,
    console: Console | None = None,
    platform: str = "slack",
) -> int:
    """Play a drill of `scenario` offline on `platform`'s emulator; returns the exit code (0 once the scorecard is
    printed)."""
    console = console or Console(record=transcript is not None, highlight=False)
    say = _wording(language)
    console.print(say("rehearsal.intro", speed=f"{speed:g}", minutes=f"{until:g}"))
    environ = {"CRISISBOT_CONFIG": str(demo_config(language, platform)), "CRISISBOT_LANGUAGE": language}
    _check_scenario(scenario, load_settings(environ=environ))  # a typo answered before any emulator starts
    cast = people or Responsiveness()
    if platform == "teams":
        code = _on_teams(scenario, level, speed, cast, until, language, console, environ)
    else:
        with start_local(clock=SystemClock(speed), environ=environ) as local:
            players = SlackPlayers(local, console, language, speed)
            code = Rehearsal(players, local.cast, cast, until).play(scenario, level)
    if transcript is not None:
        transcript.write_text(console.export_text(), encoding="utf-8")
    return code


def _on_teams(
    scenario: str,
    level: int,
    speed: float,
    people: Responsiveness,
    until: float,
    language: str,
    console: Console,
    environ: dict[str, str],
) -> int:
    # Imported here: a Slack rehearsal never loads the Agents SDK.
    from bot.localteams import start_local_teams
    from bot.rehearsal_teams import TeamsPlayers

    with start_local_teams(clock=SystemClock(speed), environ=environ) as local:
        players = TeamsPlayers(local, console, language, speed)
        return Rehearsal(players, local.cast, people, until).play(scenario, level)


def _check_scenario(scenario: str, settings: Settings) -> None:
    """The scenario among those the demo company enables (its playbooks, as the desk will load them)."""
    books = load_playbooks(settings.playbooks_dir)
    enabled = [b for b in books if not settings.scenarios or b in settings.scenarios]
    if scenario not in enabled:
        raise ConfigError([f"{scenario!r} is not a scenario — valid: {', '.join(enabled)}"])
