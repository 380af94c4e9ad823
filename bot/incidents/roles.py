"""Who holds which role, who may do what, and acknowledging a role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.errors import NotAuthorized, UnknownRole, UsageError
from bot.ids import ROLES
from bot.incidents.desk import Desk, require_active
from bot.models import Ack, Incident


@dataclass(frozen=True)
class RoleSeat:
    """One role of an incident: who owns it, its backups, and who acknowledged it."""

    role: str
    owner: str | None
    backups: list[str]
    ack: Ack | None


def check_role(role: str) -> str:
    role = role.strip().lower().replace("-", "_")
    if role not in ROLES:
        raise UnknownRole(role=role[:40], valid=", ".join(ROLES))  # a short echo, whatever was typed
    return role


def seats(desk: Desk, incident: Incident) -> list[RoleSeat]:
    """The roles the incident's level pulls in, in playbook order."""
    owners = desk.store.role_owners()
    acks = desk.store.acks(incident.id)
    level = desk.playbook(incident.scenario).level(incident.level)
    return [
        RoleSeat(role, (owners.get(role) or [None])[0], (owners.get(role) or [])[1:], acks.get(role))
        for role in level.roles
    ]


def roles_of(desk: Desk, incident: Incident, user: str) -> set[str]:
    """Roles `user` may act in for this incident: owner, backup, or the one who acknowledged it."""
    held = {role for role, users in desk.store.role_owners().items() if user in users}
    held |= {role for role, ack in desk.store.acks(incident.id).items() if ack.user == user}
    return held


def require_role(desk: Desk, incident: Incident, user: str, allowed: list[str], action: str) -> set[str]:
    """The allowed roles `user` holds; refuse (and record the refusal) when there are none."""
    held = roles_of(desk, incident, user) & set(allowed)
    if not held:
        raise refuse(
            desk, incident, user, NotAuthorized(action=action, allowed=allowed), action=action, allowed=allowed
        )
    return held


def refuse(desk: Desk, incident: Incident, user: str, error: NotAuthorized, **data: Any) -> NotAuthorized:
    """Record the refusal on the timeline; returns `error` to raise (Desk.deciding keeps the record on a rollback)."""
    desk.store.add_event(incident.id, desk.now(), user, "refused", **data)
    error.refusal = (incident.id, user, data)
    return error


def acknowledge(desk: Desk, incident: Incident, role: str, user: str) -> Ack:
    """`user` takes `role` for the incident; the first to acknowledge holds it."""
    role = check_role(role)
    with desk.deciding():  # decided on the incident and owners as they are now: a resolve may have come first
        incident = require_active(desk.store.incident(incident.id))
        if user not in desk.store.role_owners().get(role, []):
            error = NotAuthorized("error.not_role_owner", role=role)
            raise refuse(desk, incident, user, error, action="acknowledge", role=role)
        current = desk.store.acks(incident.id).get(role)
        if current is not None:
            return current
        ack = Ack(incident_id=incident.id, role=role, user=user, at=desk.now())
        desk.store.add_ack(ack)
        desk.store.add_event(incident.id, ack.at, user, "acknowledged", role=role)
    return ack


def set_role_owners(desk: Desk, actor: str, role: str, users: list[str]) -> list[str]:
    """Make users[0] the owner of `role` and the rest its backups (ordered, no repeats)."""
    role = check_role(role)
    users = list(dict.fromkeys(users))
    if not users:
        raise UsageError("error.roles_set_usage")
    leads = desk.store.role_owners().get("crisis_lead", [])
    if leads and actor not in leads:
        raise NotAuthorized("error.roles_set_not_lead")
    desk.store.set_role_owners(role, users)
    return users
