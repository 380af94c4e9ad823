"""Drill scripts: `playbooks/drills/<scenario>.yaml`, the timed injects a drill of that scenario plays.

An inject is posted in the drill room at its minute offset from the declare (a `drill_inject` timer); it may
expect the team to do something within a target time (scored at the end: bot/incidents/drills/scorecard.py) and
may change the situation (raise the level, make a role's owner unavailable so the backups must step in).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.ids import LEVELS, NetworkId, RoleId
from bot.playbooks import Localized, _located, read_document
from bot.yamlload import load_yaml

MIN_INJECTS = 5
ExpectationKind = Literal["role_acknowledged", "draft_approved", "reply_posted", "update_drafted", "gdpr_recorded"]


class Expectation(BaseModel):
    """What the team should do after an inject, and within how long of its posting."""

    model_config = ConfigDict(extra="forbid")
    kind: ExpectationKind
    role: RoleId | None = None  # role_acknowledged: which role
    network: NetworkId | None = None  # draft_approved / reply_posted: on which network (any when absent)
    within_minutes: int = Field(gt=0)

    @model_validator(mode="after")
    def _role_for_acknowledged(self) -> Expectation:
        if self.kind == "role_acknowledged" and self.role is None:
            raise ValueError("role_acknowledged needs `role:` (e.g. spokesperson)")
        return self


class Effect(BaseModel):
    """How an inject changes the situation: a level raised, or a role's owner out of reach."""

    model_config = ConfigDict(extra="forbid")
    raise_level: int | None = Field(default=None, description="the level the drill moves to (only upward)")
    make_unavailable: RoleId | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Effect:
        if (self.raise_level is None) == (self.make_unavailable is None):
            raise ValueError("an effect is either `raise_level: <1-3>` or `make_unavailable: <role>`")
        if self.raise_level is not None and self.raise_level not in LEVELS:
            raise ValueError(f"raise_level {self.raise_level} is outside 1–3")
        return self


class Inject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at_minutes: int = Field(ge=0, description="minutes after the drill was declared")
    text: Localized
    expect: Expectation | None = None
    effect: Effect | None = None


class DrillScript(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenario: str
    injects: list[Inject] = Field(min_length=MIN_INJECTS)

    @model_validator(mode="after")
    def _in_time_order(self) -> DrillScript:
        offsets = [i.at_minutes for i in self.injects]
        if offsets != sorted(offsets):
            raise ValueError("injects are listed in time order (at_minutes never decreases)")
        return self

    def end_minutes(self) -> int:
        """When the script is played out: the last inject's offset plus its expectation's window."""
        return max(i.at_minutes + (i.expect.within_minutes if i.expect else 0) for i in self.injects)


def script_path(playbooks_dir: Path, scenario: str) -> Path:
    return playbooks_dir / "drills" / f"{scenario}.yaml"


def script_problems(path: Path, scenarios: list[str] | None = None) -> list[str]:
    """Every problem in one drill script as `file:line: what is wrong — what would be valid`."""
    read = read_document(path)
    if isinstance(read, str):
        return [read]
    node, data = read
    if not isinstance(data, dict):
        return [f"{path}:1: a drill script is a mapping — start with `injects:`"]
    problems: list[str] = []
    if scenarios is not None and path.stem not in scenarios:
        problems.append(f"{path}:1: no playbook {path.stem!r} for this script — valid: {', '.join(scenarios)}")
    try:
        DrillScript.model_validate({**data, "scenario": path.stem})
    except ValidationError as exc:
        problems += [_located(path, node, err) for err in exc.errors()]
    return problems


def load_scripts(playbooks_dir: Path) -> dict[str, DrillScript]:
    """The valid drill scripts beside the playbooks, by scenario (`crisisbot check` reports the others)."""
    scripts: dict[str, DrillScript] = {}
    for path in sorted((playbooks_dir / "drills").glob("*.yaml")):
        if script_problems(path):
            continue
        data = load_yaml(path.read_text(encoding="utf-8"))
        scripts[path.stem] = DrillScript.model_validate({**data, "scenario": path.stem})
    return scripts
