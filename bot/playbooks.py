"""Load and validate playbooks: one YAML file per crisis scenario, named by its scenario id."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from bot.errors import ConfigError, not_utf8
from bot.ids import DRAFT_KINDS, LEVELS, NETWORKS, Language, NetworkId, RoleId
from bot.yamlload import compose_yaml, load_yaml


class Localized(BaseModel):
    """A text in every supported language."""

    model_config = ConfigDict(extra="forbid")
    en: Annotated[str, Field(min_length=1)]
    nl: Annotated[str, Field(min_length=1)]

    def in_(self, language: Language | str) -> str:
        """The text in `language`; English for a language the plan does not have."""
        return self.nl if language == "nl" else self.en


class Level(BaseModel):
    model_config = ConfigDict(extra="forbid")
    criteria: Localized
    roles: list[RoleId] = Field(min_length=1, description="roles this level pulls in and pings")

    approvers: list[RoleId] = Field(min_length=1, description="roles that must all approve a public draft")
    ack_within_minutes: int = Field(gt=0, description="a pinged role owner must acknowledge within this")
    update_every_minutes: int = Field(gt=0, description="public update cadence after the first response")
    advice: Localized | None = None

    @field_validator("roles", "approvers")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _approvers_are_pulled_in(self) -> Level:
        missing = [r for r in self.approvers if r not in self.roles]
        if missing:
            raise ValueError(f"approvers {missing} are not among this level's roles {self.roles}")
        return self


class ChecklistItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    text: Localized
    role: RoleId | None = None


class Checklist(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first_hour: list[ChecklistItem] = Field(min_length=1)
    ongoing: list[ChecklistItem] = Field(default_factory=list)
    after: list[ChecklistItem] = Field(default_factory=list)

    def all_items(self) -> list[ChecklistItem]:
        return [*self.first_hour, *self.ongoing, *self.after]

    @model_validator(mode="after")
    def _unique_ids(self) -> Checklist:
        ids = [item.id for item in self.all_items()]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"checklist item id {repeated[0]!r} is used twice; ids must be unique")
        return self


class Deadlines(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first_response_minutes: int = Field(default=60, gt=0)
    reminders_before_minutes: list[int] = Field(default_factory=lambda: [30, 15, 5])
    authority_notification_hours: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _reminders_before_deadline(self) -> Deadlines:
        bad = [m for m in self.reminders_before_minutes if not 0 < m < self.first_response_minutes]
        if bad:
            raise ValueError(
                f"reminder {bad[0]} minutes before the deadline must be between 1 and {self.first_response_minutes - 1}"
            )
        return self


class Monitoring(BaseModel):
    """How this situation is spotted before it spreads: the plan names the tools and who watches when."""

    model_config = ConfigDict(extra="forbid")
    tools: list[Annotated[str, Field(min_length=1, max_length=80)]] = Field(
        min_length=1, description="the monitoring tools by name, as the team knows them"
    )
    watch: Literal["24/7", "office_hours"] = Field(description="24/7: someone is on watch around the clock")
    watched_by: RoleId
    signals: Localized | None = None

    @field_validator("tools")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(tool.strip() for tool in value))


Term = Annotated[str, Field(min_length=2, max_length=80)]


class Terms(BaseModel):
    """Keywords and phrases, per language: an alert matches when its text holds one as whole words."""

    model_config = ConfigDict(extra="forbid")
    en: list[Term] = Field(min_length=1)
    nl: list[Term] = Field(min_length=1)

    def all(self) -> list[str]:
        return list(dict.fromkeys(term.casefold() for term in [*self.en, *self.nl]))


class DetectionRule(BaseModel):
    """What in a monitoring alert suggests this scenario."""

    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    keywords: Terms


class LevelSignal(BaseModel):
    """Thresholds that suggest a level: any one met is enough (reach and alerts add up over the grouping window)."""

    model_config = ConfigDict(extra="forbid")
    reach: int | None = Field(default=None, gt=0, description="people the grouped posts reached, together")
    alerts: int | None = Field(default=None, gt=1, description="related alerts within the grouping window")
    sentiment: float | None = Field(default=None, ge=-1, le=1, description="average sentiment at or below this")

    @model_validator(mode="after")
    def _something(self) -> LevelSignal:
        if self.reach is None and self.alerts is None and self.sentiment is None:
            raise ValueError("give at least one of reach, alerts, sentiment")
        return self


class Detection(BaseModel):
    """Detection rules of a scenario: keyword rules, and the signals that suggest level 2 or 3 (else level 1)."""

    model_config = ConfigDict(extra="forbid")
    rules: list[DetectionRule] = Field(min_length=1)
    levels: dict[int, LevelSignal] = Field(default_factory=dict)

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: list[DetectionRule]) -> list[DetectionRule]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} appears twice; give each rule its own id")
            seen.add(rule.id)
        return rules

    @field_validator("levels")
    @classmethod
    def _levels_two_or_three(cls, levels: dict[int, LevelSignal]) -> dict[int, LevelSignal]:
        bad = [n for n in levels if n not in (2, 3)]
        if bad:
            raise ValueError(f"level {bad[0]}: signals suggest level 2 or 3 (level 1 is what no signal suggests)")
        return dict(sorted(levels.items()))


class Drafts(BaseModel):
    """Which message template to draft at each moment of the incident."""

    model_config = ConfigDict(extra="forbid")
    declare: str = "first_response"
    update: str = "status_update"
    resolve: str = "resolved"

    @field_validator("declare", "update", "resolve")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in DRAFT_KINDS:
            raise ValueError(f"unknown template {value!r}; valid: {', '.join(DRAFT_KINDS)}")
        return value


class Playbook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: Localized
    description: Localized
    levels: dict[int, Level]
    checklist: Checklist
    deadlines: Deadlines = Field(default_factory=Deadlines)
    drafts: Drafts = Field(default_factory=Drafts)
    monitoring: Monitoring | None = None
    detection: Detection | None = None
    channels: list[NetworkId] = Field(default_factory=lambda: list(NETWORKS))
    resolve_by: list[RoleId] = Field(
        default_factory=lambda: list[RoleId](["crisis_lead"]),
        min_length=1,
        description="roles that may resolve the incident",
    )
    gdpr_notified_by: list[RoleId] = Field(
        default_factory=lambda: list[RoleId](["legal", "crisis_lead"]),
        min_length=1,
        description="roles that may record the authority as notified, which stops the 72-hour clock",
    )

    @field_validator("levels")
    @classmethod
    def _levels_one_to_three(cls, levels: dict[int, Level]) -> dict[int, Level]:
        bad = [n for n in levels if n not in LEVELS]
        if bad:
            raise ValueError(f"level {bad[0]} is outside 1–3; valid levels: 1, 2, 3")
        if sorted(levels) != list(LEVELS):
            raise ValueError("a playbook defines levels 1, 2 and 3")
        return dict(sorted(levels.items()))

    @model_validator(mode="after")
    def _breach_needs_legal(self) -> Playbook:
        if self.id == "data-breach":
            for number, level in self.levels.items():
                if "legal" not in level.approvers:
                    raise ValueError(f"data-breach level {number}: legal must approve every public draft")
            if self.deadlines.authority_notification_hours is None:
                raise ValueError("data-breach needs deadlines.authority_notification_hours (GDPR/AVG: 72)")
        return self

    def level(self, number: int) -> Level:
        return self.levels[number]


def load_playbook(path: Path) -> Playbook:
    """Read one playbook file; its scenario id is the file name without `.yaml`."""
    problems = playbook_problems(path)
    if problems:
        raise ConfigError(problems)
    data = load_yaml(path.read_text(encoding="utf-8"))
    return Playbook.model_validate({**data, "id": path.stem})


def load_playbooks(directory: Path) -> dict[str, Playbook]:
    """Every playbook in `directory`, keyed by scenario id; all problems reported at once."""
    if not directory.is_dir():
        raise ConfigError([f"{directory}: playbook folder not found — set CRISISBOT_PLAYBOOKS to a folder of *.yaml"])
    problems: list[str] = []
    books: dict[str, Playbook] = {}
    for path in sorted(directory.glob("*.yaml")):
        found = playbook_problems(path)
        if found:
            problems.extend(found)
            continue
        data = load_yaml(path.read_text(encoding="utf-8"))
        books[path.stem] = Playbook.model_validate({**data, "id": path.stem})
    if not books and not problems:
        problems.append(f"{directory}: no playbooks (*.yaml) found — copy the defaults with `crisisbot init`")
    if problems:
        raise ConfigError(problems)
    return books


def read_document(path: Path) -> tuple[yaml.Node | None, Any] | str:
    """A YAML file's node tree (for the line of a problem) and its data, or the one problem that stops reading it,
    as `file:line: what is wrong — what would be valid`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return f"{path}:1: cannot read the file ({exc.strerror}) — check the path and permissions"
    except UnicodeDecodeError as exc:
        return not_utf8(path, exc)
    try:
        return compose_yaml(text), load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        return f"{path}:{line}: malformed YAML ({getattr(exc, 'problem', exc)}) — fix the indentation/quoting"


def playbook_problems(path: Path) -> list[str]:
    """Every problem in one playbook file as `file:line: what is wrong — what would be valid`."""
    read = read_document(path)
    if isinstance(read, str):
        return [read]
    node, data = read
    if not isinstance(data, dict):
        return [f"{path}:1: a playbook is a mapping of keys — start with `name:`, `levels:`, `checklist:`"]
    data.pop("id", None)
    try:
        Playbook.model_validate({**data, "id": path.stem})
    except ValidationError as exc:
        return [_located(path, node, err) for err in exc.errors()]
    return []


def _located(path: Path, node: yaml.Node | None, err: ErrorDetails) -> str:
    loc = [p for p in err["loc"] if p != "id"]
    line = _line_of(node, loc)
    where = ".".join(str(p) for p in loc) or "(top level)"
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "literal_error":  # pydantic's message repeats the valid list the hint gives
        message = f"unknown value {err['input']!r}"
    hint = _hint(err)
    return f"{path}:{line}: {where}: {message}" + (f" — {hint}" if hint else "")


def _hint(err: ErrorDetails) -> str:
    kind = err["type"]
    if kind == "literal_error":
        return "valid: " + str(err.get("ctx", {}).get("expected", ""))
    if kind == "extra_forbidden":
        return "remove it, or check its spelling"
    if kind == "missing":
        return "add this key"
    return ""


def _line_of(node: yaml.Node | None, loc: list[int | str]) -> int:
    """The 1-based line of the YAML node at `loc`, or of its nearest existing parent."""
    line = node.start_mark.line + 1 if node is not None else 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if str(k.value) == str(key)), None)
            if pair is None:
                return line
            key_node, node = pair
            line = key_node.start_mark.line + 1  # the key's line: a block value starts on the next one
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line
