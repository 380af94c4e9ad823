"""What the timeline's events carry, for the events the report and the metrics read.

An event is stored as its kind (bot/models.py `EventKind`) and a JSON object; these models say what that
object holds, so a reader asks `payload(event, LevelChanged).to` instead of `int(event.data.get("to", 0))`.
Every field has a default and unknown keys are ignored: the timeline is append-only, and events written by
older versions (or by hand, in a test) lack fields that were added since.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from bot.models import Event


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Declared(Payload):
    """`declared`: what was declared."""

    code: str | None = None
    scenario: str | None = None
    title: str | None = None
    level: int | None = None  # the level at declaration (an escalation changes it)


class LevelChanged(Payload):
    """`escalated` / `deescalated`: from which level to which, and the roles the new level pulled in."""

    from_level: int = Field(default=0, alias="from")
    to_level: int = Field(default=0, alias="to")
    new_roles: list[str] | None = None


class Acknowledged(Payload):
    """`acknowledged`: the role someone took."""

    role: str | None = None


class DraftStep(Payload):
    """`drafted`, `edited`, `approved`, `rejected`, `draft_ready`, `approval_rule_changed`, `posted`."""

    draft_id: int | None = None
    version: int = 1
    network: str | None = None
    kind: str | None = None  # drafted: the draft's kind (first_response, status_update, …)
    role: str | None = None  # approved / rejected: the approver's role
    status: str | None = None  # approval_rule_changed: the draft's status under the new rule


class Resolution(Payload):
    """`resolved`: the resolver's summary, impact and lessons (free text, possibly missing)."""

    summary: Any = None
    impact: Any = None
    lessons: Any = None


class SurveyAnswer(Payload):
    """`survey_answer`: a participant's answers by question id."""

    questions: Any = None


class AuthorityNotified(Payload):
    """`gdpr_notified`: when the authority was notified, when not at the moment of recording (the resolve form)."""

    notified_at: str | None = None
    via: str | None = None


P = TypeVar("P", bound=Payload)


def payload(event: Event, model: type[P]) -> P:
    """The event's data read as `model`."""
    return model.model_validate(event.data)
