"""What a submitted form may say: the declare and resolve forms' values checked, field by field.

A platform draws the form and reads the values out of its own payload (bot/slack/views.py for Slack's
modals); what counts as a valid answer, and the sentence under a field when it is not, is decided here.
Field names are the form's own (`scenario`, `title`, `authority_at`…), which a platform uses as its inputs' ids.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel

from bot.chat.wording import Wording
from bot.ids import LEVELS
from bot.incidents import gdpr
from bot.incidents.declare import DEFAULT_LEVEL, MAX_DESCRIPTION, MAX_TITLE
from bot.incidents.desk import Desk
from bot.incidents.detection import match_text
from bot.models import Triage
from bot.playbooks import Playbook

FieldErrors = dict[str, str]  # field → the sentence shown under it


class DeclareForm(BaseModel):
    scenario: str
    level: int
    title: str
    description: str = ""
    detected_at: datetime | None = None
    private: bool = False
    drill: bool = False  # drills: the form's "This is a drill" choice


class DeclareAnswers(BaseModel):
    """The declare form's values as the platform read them (None: the field was not answered)."""

    scenario: str | None = None
    level: str | None = None
    title: str | None = None
    description: str | None = None
    detected: datetime | None = None
    private: bool = False
    drill: bool = False


class DeclarePrefill(BaseModel):
    """What the declare form starts with when it is opened from a triage card or a message (all changeable)."""

    scenario: str | None = None
    level: int | None = None
    title: str = ""
    description: str = ""
    detected_at: datetime | None = None  # the alert's (or message's) time: the first-response hour counts from it
    triage_id: int | None = None


def triage_prefill(triage: Triage, playbooks: dict[str, Playbook]) -> DeclarePrefill:
    """The declare form from a triage card: its suggested scenario and level, its title and link, its detection."""
    scenario = triage.scenario if triage.scenario in playbooks else None
    description = triage.url or ""
    return DeclarePrefill(
        scenario=scenario,
        level=triage.level if scenario else None,
        title=triage.title[:MAX_TITLE],
        description=description[:MAX_DESCRIPTION],
        detected_at=triage.detected_at,
        triage_id=triage.id,
    )


def message_prefill(text: str, at: datetime, link: str | None, playbooks: dict[str, Playbook]) -> DeclarePrefill:
    """The declare form from a message (a pasted screenshot link, an escalation): its first line as the title, the
    message and its link as the description, the scenario its words suggest, detection at the message's time."""
    words = " ".join(text.split())
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    title = " ".join(first.split())
    match = match_text(playbooks, words)
    description = "\n".join(part for part in (text.strip(), link or "") if part)
    return DeclarePrefill(
        scenario=match.scenario if match else None,
        title=title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1] + "…",
        description=description[:MAX_DESCRIPTION],
        detected_at=at,
    )


def declare_form(answers: DeclareAnswers, now: datetime, say: Wording) -> tuple[DeclareForm | None, FieldErrors]:
    """The declare form's values, or field errors to show in the form."""
    level = answers.level or str(DEFAULT_LEVEL)
    title = " ".join((answers.title or "").split())
    errors: FieldErrors = {}
    if not answers.scenario:
        errors["scenario"] = say("modal.declare.need_scenario")
    if level not in {str(n) for n in LEVELS}:  # the form only offers 1–3
        errors["level"] = say("error.bad_level", level=level[:10])
    if not title:
        errors["title"] = say("error.empty_title")
    if answers.detected and answers.detected > now + timedelta(minutes=1):
        errors["detected"] = say("modal.declare.detected_future")
    if errors:
        return None, errors
    form = DeclareForm(
        scenario=answers.scenario or "",
        level=int(level),
        title=title,
        description=answers.description or "",
        detected_at=answers.detected,
        private=answers.private,
        drill=answers.drill,
    )
    return form, {}


# drills: the declare form's "This is a drill" choice
def scenario_problem(desk: Desk, form: DeclareForm, say: Wording) -> FieldErrors:
    """An unknown scenario, or a drill of one without a drill script: the error under the scenario field."""
    if form.scenario not in desk.playbooks:
        return {"scenario": say("modal.declare.need_scenario")}
    if form.drill and form.scenario not in desk.drill_scripts:
        valid = ", ".join(s for s in desk.scenarios() if s in desk.drill_scripts)
        return {"scenario": say("exercise.error.no_script", scenario=form.scenario, valid=valid)}
    return {}


def authority_answer(
    choice: str | None, at: datetime | None, now: datetime, say: Wording
) -> tuple[gdpr.Answer | None, FieldErrors]:
    """The resolve form's GDPR answer (None when the form did not ask), or field errors for the form."""
    if choice is None:
        return None, {}
    if choice != "notified":
        return gdpr.Answer(notified=False), {}
    if at is None:
        return None, {"authority_at": say("gdpr_duty.when_needed")}
    if at > now + gdpr.FUTURE_SLACK:
        return None, {"authority_at": say("gdpr_duty.when_future")}
    return gdpr.Answer(notified=True, at=at), {}
