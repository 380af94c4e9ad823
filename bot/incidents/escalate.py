"""Changing an incident's level: pull in (or release) roles and re-apply the approval rule to drafts."""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import BadLevel, WrongState
from bot.ids import LEVELS
from bot.incidents.announce import announce
from bot.incidents.approvals import approval_state
from bot.incidents.desk import Desk
from bot.incidents.roles import require_role
from bot.incidents.timers import ack_timers
from bot.models import Draft, Incident

ESCALATORS = ["crisis_lead", "spokesperson"]


@dataclass(frozen=True)
class Escalated:
    incident: Incident
    previous_level: int
    new_roles: list[str]  # roles the new level pulls in that the old one did not
    changed_drafts: list[Draft]  # drafts whose approval state the new rule changed


def check_may_escalate(desk: Desk, incident: Incident, level: int, user: str) -> None:
    """Refuse a level change that cannot happen, before anything is said or done."""
    if level not in LEVELS:
        raise BadLevel(level=level)
    if not incident.active:
        raise WrongState("error.incident_resolved", code=incident.code)
    if level == incident.level:
        raise WrongState("error.same_level", level=level)
    require_role(desk, incident, user, ESCALATORS, "escalate")


def escalate(desk: Desk, incident: Incident, level: int, user: str) -> Escalated:
    """Move the incident to `level` (up or down) on behalf of `user`."""
    check_may_escalate(desk, incident, level, user)
    book = desk.playbook(incident.scenario)
    before = set(book.level(incident.level).roles)
    new_roles = [r for r in book.level(level).roles if r not in before]
    previous = incident.level
    with desk.store.transaction():
        now = desk.now()
        incident = desk.store.update_incident(incident.id, level=level)
        desk.store.add_event(
            incident.id,
            now,
            user,
            "escalated" if level > previous else "deescalated",
            **{"from": previous, "to": level, "new_roles": new_roles},
        )
        desk.store.add_timers(ack_timers(desk, incident, new_roles))
        changed = _reapply_approval_rule(desk, incident, user)
        announce(desk, incident, "escalated" if level > previous else "deescalated")
    desk.timers_changed()
    return Escalated(incident, previous, new_roles, changed)


def _reapply_approval_rule(desk: Desk, incident: Incident, user: str) -> list[Draft]:
    """An approved draft that now lacks an approver goes back to pending; a pending one may now be complete."""
    changed = []
    for draft in desk.store.drafts(incident.id):
        if draft.status not in ("pending", "approved"):
            continue
        complete = all(approval_state(desk, incident, draft).values())
        status = "approved" if complete else "pending"
        if status != draft.status:
            draft = desk.store.update_draft(draft.id, status=status, updated_at=desk.now())
            desk.store.add_event(
                incident.id,
                desk.now(),
                user,
                "approval_rule_changed",
                draft_id=draft.id,
                network=draft.network,
                status=status,
            )
            changed.append(draft)
        else:
            changed.append(draft)  # its approval line lists the new level's approvers: redraw it too
    return changed
