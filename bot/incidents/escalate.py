"""Changing an incident's level: pull in (or release) roles and re-apply the approval rule to drafts."""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import AlreadyDone, BadLevel, WrongState
from bot.ids import LEVELS
from bot.incidents.announce import announce
from bot.incidents.approvals import approval_state
from bot.incidents.desk import Desk, require_active
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
    require_active(incident)
    if level == incident.level:
        _same_level(desk, incident)
    require_role(desk, incident, user, ESCALATORS, "escalate")


def _same_level(desk: Desk, incident: Incident) -> None:
    """Already there: say who took it there when someone did (a second press of the same button), else say so."""
    changes = [e for e in desk.store.events(incident.id) if e.kind in ("escalated", "deescalated")]
    if changes:
        raise AlreadyDone("error.already_at_level", code=incident.code, level=incident.level, user=changes[-1].actor)
    raise WrongState("error.same_level", level=incident.level)


def escalate(desk: Desk, incident: Incident, level: int | None, user: str, step: int = 0) -> Escalated:
    """Move the incident to `level` (up or down), or `step` levels from where it is, on behalf of `user`.

    A button names an absolute level: pressed twice, or by two people, it escalates once. A typed
    `/crisis escalate` without a level is a step from the level read here, under the write lock, so two
    commands typed at once are serialised: the second starts where the first ended.
    """
    with desk.deciding():
        incident = desk.store.incident(incident.id)
        previous = incident.level
        level = previous + step if level is None else level
        check_may_escalate(desk, incident, level, user)
        incident, new_roles, changed = change_level(desk, incident, level, user)
        now = desk.now()
        # The team hears of it from the outbox, retried like a timer's notice: it exists exactly when the change does.
        desk.store.add_outbox(
            incident.id, "escalation", now, by=user, previous=previous, level=level, new_roles=new_roles
        )
        announce(desk, incident, "escalated" if level > previous else "deescalated")
    desk.timers_changed()
    return Escalated(incident, previous, new_roles, changed)


def change_level(desk: Desk, incident: Incident, level: int, actor: str) -> tuple[Incident, list[str], list[Draft]]:
    """Move to `level` on the timeline: new roles' acknowledge timers, the approval rule re-applied; the caller
    holds the transaction and has checked the right (a person's escalation, or a drill's inject)."""
    previous = incident.level
    book = desk.playbook(incident.scenario)
    before = set(book.level(previous).roles)
    new_roles: list[str] = [r for r in book.level(level).roles if r not in before]
    incident = desk.store.update_incident(incident.id, level=level)
    desk.store.add_event(
        incident.id,
        desk.now(),
        actor,
        "escalated" if level > previous else "deescalated",
        **{"from": previous, "to": level, "new_roles": new_roles},
    )
    desk.store.add_timers(ack_timers(desk, incident, new_roles))
    return incident, new_roles, _reapply_approval_rule(desk, incident, actor)


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
