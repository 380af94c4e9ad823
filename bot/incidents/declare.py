"""Declaring an incident: the record, its deadlines, its timeline and its first drafts, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel

from bot.errors import BadLevel, UsageError
from bot.ids import LEVELS
from bot.incidents import triage
from bot.incidents.announce import announce
from bot.incidents.desk import Desk
from bot.incidents.drafts import render_drafts
from bot.incidents.drills.injects import inject_timers, script_for
from bot.incidents.timers import declare_timers
from bot.models import Ack, Draft, Incident

DEFAULT_LEVEL = 2  # a crisis someone bothers to declare usually needs a lead; L1 is the explicit choice
DUPLICATE_WINDOW = timedelta(minutes=1)
MAX_TITLE = 120
MAX_DESCRIPTION = 2000


class DeclareRequest(BaseModel):
    """What a person asked for, already parsed by the adapter."""

    scenario: str
    title: str
    declared_by: str
    level: int = DEFAULT_LEVEL
    description: str = ""
    detected_at: datetime | None = None
    private: bool = False
    drill: bool = False
    language: str | None = None
    platform: str = "slack"  # where it was declared, and where it will live (bot/models.py Incident.platform)
    triage_id: int | None = None  # declared from this triage card: its alerts become the first events


@dataclass(frozen=True)
class Declared:
    incident: Incident
    drafts: list[Draft]
    existing: bool  # True: the same person declared the same title a moment ago; nothing new was made


def find_repeat(desk: Desk, request: DeclareRequest) -> Incident | None:
    """The incident this request repeats: same person and title within a minute, or never fully set up."""
    title = " ".join(request.title.split())
    return desk.store.recent_declare(request.declared_by, title, desk.now() - DUPLICATE_WINDOW)


def declare(desk: Desk, request: DeclareRequest) -> Declared:
    """Record a new incident (or return the one just declared with the same title by the same person)."""
    book = desk.playbook(request.scenario)
    if request.drill:
        script_for(desk, book.id)  # a drill plays its scenario's script: none, no drill (nothing changed)
    if request.level not in LEVELS:
        raise BadLevel(level=request.level)
    title = " ".join(request.title.split())
    if not title:
        raise UsageError("error.empty_title")
    if len(title) > MAX_TITLE:
        raise UsageError("error.title_too_long", limit=MAX_TITLE)
    now = desk.now()
    detected = min(request.detected_at or now, now)
    with desk.store.transaction():
        earlier = find_repeat(desk, request)
        if earlier is not None:
            return Declared(earlier, desk.store.drafts(earlier.id), existing=True)
        code = desk.store.next_code(now.year, prefix="DR" if request.drill else "CR")
        incident = desk.store.insert_incident(
            code=code,
            scenario=book.id,
            level=request.level,
            title=title,
            description=request.description.strip()[:MAX_DESCRIPTION],
            status="active",
            drill=request.drill,
            private=request.private,
            language=request.language or desk.language,
            platform=request.platform,
            declared_by=request.declared_by,
            declared_at=now,
            detected_at=detected,
            first_response_due=detected + timedelta(minutes=book.deadlines.first_response_minutes),
        )
        if request.triage_id is not None:  # before "declared": the alerts are what happened first
            triage.declared_from(desk, request.triage_id, incident, request.declared_by, now)
        desk.store.add_event(
            incident.id,
            now,
            request.declared_by,
            "declared",
            code=code,
            scenario=book.id,
            level=request.level,
            title=title,
            detected_at=detected.isoformat(),
        )
        _declarer_takes_own_roles(desk, incident)
        drafts = render_drafts(desk, incident, book.drafts.declare, actor=request.declared_by)
        desk.store.add_timers(declare_timers(desk, incident))
        if incident.drill:
            desk.store.add_timers(inject_timers(desk, incident))
        else:  # never mixed up: every drill running hears, in its own room, that a real incident is on
            for drill in desk.store.incidents("active", drill=True):  # one read of the few, not every incident
                desk.store.add_outbox(drill.id, "drill_real_incident", now, code=code, title=title)
        announce(desk, incident, "declared")
    desk.timers_changed()
    return Declared(incident, drafts, existing=False)


def _declarer_takes_own_roles(desk: Desk, incident: Incident) -> None:
    """Whoever declares is evidently on it: the roles they own or back up count as acknowledged."""
    owners = desk.store.role_owners()
    for role in desk.playbook(incident.scenario).level(incident.level).roles:
        if incident.declared_by in owners.get(role, []) and desk.store.add_ack(
            Ack(incident_id=incident.id, role=role, user=incident.declared_by, at=incident.declared_at)
        ):
            desk.store.add_event(
                incident.id, incident.declared_at, incident.declared_by, "acknowledged", role=role, declared=True
            )
