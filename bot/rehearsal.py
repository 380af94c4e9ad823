"""`crisisbot drill <scenario>`: rehearse a drill offline, against the built-in Slack emulator, with simulated people.

The same local desk as the demo (bot/localdesk.py: the emulator plus the real served bot) and the demo's way of
playing people (bot/demo.py: signed slash commands and clicks), but the story is the drill's: an exercise
controller (the cast's member without a role) starts it with `/crisis drill`; each paged role owner acknowledges
after their own delay, approvers approve after it again, the social media manager marks the approved replies
posted; whoever is away never answers (the bot pages their backups and the lead, as it would). The crisis lead
ends it with the resolve, and the drill's score (its `drill_scored` event) is printed as the scorecard.
A development tool like the demo: never on the bot's runtime path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from rich.console import Console
from rich.markup import escape

from bot.clock import SystemClock
from bot.demo import DemoScript, _wording, demo_config
from bot.errors import ConfigError
from bot.ids import ROLES
from bot.localdesk import LocalCrisisDesk, start_local
from bot.models import Incident

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


class Rehearsal(DemoScript):
    """Plays the drill's people on their delays, then prints the scorecard."""

    def __init__(
        self,
        local: LocalCrisisDesk,
        console: Console,
        language: str,
        speed: float,
        people: Responsiveness,
        until: float,
    ) -> None:
        super().__init__(local, console, language, speed)
        self.people_of = {p.role: p.name for p in local.cast if p.role}
        self.responsive, self.until = people, until

    def play(self, scenario: str, level: int) -> int:
        desk = self.local.desk
        book = desk.playbook(scenario)  # an unknown scenario: a clear error before anything starts
        seats = book.level(level)
        for person in self.local.cast:
            if person.role:
                self.emu.slash_command(self.people["anna"], f"roles set {person.role} <@{person.id}|{person.name}>")
        self.local.settle()
        self.seen = len(self.emu.events)
        self.step("rehearsal.start", scenario=book.name.in_(self.language), level=level)
        self.command(CONTROLLER, f"drill {scenario} {level}")
        drill = desk.store.incidents()[-1]
        actions = self._plan(drill, list(seats.roles), list(seats.approvers))
        for action in sorted(actions):
            self._wait_until(drill, action.minute)
            action.do()
        self._wait_until(drill, self._end(actions))
        self.step("rehearsal.end")
        self.resolve(desk.store.incident(drill.id))
        return self.scorecard(drill.id)

    # ---- the plan ----------------------------------------------------------------------------------
    def _plan(self, drill: Incident, roles: list[str], approvers: list[str]) -> list[_Action]:
        actions: list[_Action] = []
        answered: dict[str, float] = {}
        for role in roles:
            delay = self.responsive.delay(role)
            if delay is not None and role in self.people_of:
                answered[role] = delay
                actions.append(_Action(delay, len(actions), self._ack(role, drill)))
        approved_at = []
        for role in approvers:
            if role in answered and (delay := self.responsive.delay(role)) is not None:
                approved_at.append(answered[role] + delay)
                actions.append(_Action(answered[role] + delay, len(actions), self._approve(role, drill)))
        poster = "social_media_manager"
        post_delay = self.responsive.delay(poster)
        if len(approved_at) == len(approvers) and post_delay is not None and poster in answered:
            actions.append(_Action(max([*approved_at, answered[poster]]) + post_delay, len(actions), self._post(drill)))
        return actions

    def _end(self, actions: list[_Action]) -> float:
        last = max((a.minute for a in actions), default=0.0)
        return min(self.until, last + 5)

    def _ack(self, role: str, drill: Incident) -> Callable[[], None]:
        return lambda: self.acknowledge(self.people_of[role], drill)

    def _approve(self, role: str, drill: Incident) -> Callable[[], None]:
        def approve() -> None:
            for draft in self.local.desk.store.drafts(drill.id):
                if draft.status == "pending":
                    ts = draft.message_ref or ""
                    label = self.ui("button.approve")
                    self.click(self.people_of[role], label, "draft_approve", channel_id=drill.room_ref or "", ts=ts)

        return approve

    def _post(self, drill: Incident) -> Callable[[], None]:
        def post() -> None:
            for draft in self.local.desk.store.drafts(drill.id):
                if draft.status == "approved":
                    ts, label = draft.message_ref or "", self.ui("button.mark_posted")
                    who = self.people_of["social_media_manager"]
                    self.click(who, label, "draft_mark_posted", channel_id=drill.room_ref or "", ts=ts)

        return post

    def _wait_until(self, drill: Incident, minute: float) -> None:
        """Let crisis time run to `minute` after the declare, showing what the bot does meanwhile."""
        due = drill.declared_at.timestamp() + minute * 60
        while (left := due - self.local.desk.now().timestamp()) > 0:
            time.sleep(min(left / self.speed, 0.5))
            self.show_new()

    def resolve_values(self, incident: Incident) -> dict[str, str]:
        return {key: self.say(f"rehearsal.resolve_{key}") for key in ("summary", "impact", "lessons")}

    # ---- the scorecard -----------------------------------------------------------------------------
    def scorecard(self, incident_id: int) -> int:
        desk = self.local.desk
        scored = desk.store.events(incident_id, "drill_scored")
        if not scored:
            self.console.print("[red]" + escape(self.say("rehearsal.no_score")) + "[/red]")
            return 1
        data = scored[-1].data
        self.step("rehearsal.scorecard", code=desk.store.incident(incident_id).code, score=data["score"])
        for role, seat in data["roles"].items():
            minutes = seat.get("ack_minutes")
            self.console.print(escape(self.say("rehearsal.role", role=self.ui(f"role.{role}"), minutes=minutes)))
        target = desk.playbook(data["scenario"]).deadlines.first_response_minutes
        posted = data.get("first_posted_minutes")
        self.console.print(escape(self.say("rehearsal.posted", minutes=posted, target=target)))
        self.console.print(escape(self.say("rehearsal.rule", rule=data["rule"])))
        return 0


def run_rehearsal(
    scenario: str,
    level: int = 2,
    speed: float = 60.0,
    people: Responsiveness | None = None,
    until: float = DEFAULT_UNTIL,
    language: str = "en",
    transcript: Path | None = None,
    console: Console | None = None,
) -> int:
    """Play a drill of `scenario` offline; returns the exit code (0 once the scorecard is printed)."""
    console = console or Console(record=transcript is not None, highlight=False)
    say = _wording(language)
    console.print(say("rehearsal.intro", speed=f"{speed:g}", minutes=f"{until:g}"))
    environ = {"CRISISBOT_CONFIG": str(demo_config(language)), "CRISISBOT_LANGUAGE": language}
    with start_local(clock=SystemClock(speed), environ=environ) as local:
        if scenario not in local.desk.playbooks:
            raise ConfigError([f"{scenario!r} is not a scenario — valid: {', '.join(local.desk.scenarios())}"])
        play = Rehearsal(local, console, language, speed, people or Responsiveness(), until)
        code = play.play(scenario, level)
    if transcript is not None:
        transcript.write_text(console.export_text(), encoding="utf-8")
    return code
