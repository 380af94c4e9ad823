"""Who holds which role, who may do what, and acknowledging a role."""

from __future__ import annotations

from collections.abc import Sequence
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
        RoleSeat(role, next(iter(owners.get(role, [])), None), owners.get(role, [])[1:], acks.get(role))
        for role in level.roles
    ]


def roles_of(desk: Desk, incident: Incident, user: str) -> set[str]:
    """Roles `user` may act in for this incident: owner, backup, or the one who acknowledged it."""
    return held_roles(desk.store.role_owners(), desk.store.acks(incident.id), user)


def held_roles(owners: dict[str, list[str]], acks: dict[str, Ack], user: str) -> set[str]:
    """`roles_of` on owners and acknowledgements already read: asking it of many people costs no query each."""
    held = {role for role, users in owners.items() if user in users}
    held |= {role for role, ack in acks.items() if ack.user == user}
    return held


def roles_in(
    desk: Desk, incident: Incident, user: str, owners: dict[str, list[str]], acks: dict[str, Ack] | None = None
) -> list[str]:
    """The roles `user` has in the incident: owner or backup of one its level pulls in, or the one who acknowledged.

    (A scenario disabled since the declare has no playbook: then only the acknowledgements tell.)
    """
    acks = desk.store.acks(incident.id) if acks is None else acks
    book = desk.playbooks.get(incident.scenario)
    level_roles = book.level(incident.level).roles if book else []
    roles = [r for r in level_roles if user in owners.get(r, [])]
    return roles + [r for r, ack in acks.items() if ack.user == user and r not in roles]


def takes_part(desk: Desk, incident: Incident, user: str, owners: dict[str, list[str]] | None = None) -> bool:
    """Whether `user` declared the incident or has a role in it: the people its channel is for."""
    owners = desk.store.role_owners() if owners is None else owners
    return incident.declared_by == user or bool(roles_in(desk, incident, user, owners))


def may_see(desk: Desk, incident: Incident, user: str, owners: dict[str, list[str]] | None = None) -> bool:
    """A private incident is shown only to the people it is for; a public one to anyone."""
    return not incident.private or takes_part(desk, incident, user, owners)


def require_role(desk: Desk, incident: Incident, user: str, allowed: Sequence[str], action: str) -> set[str]:
    """The allowed roles `user` holds; refuse (and record the refusal) when there are none."""
    held = roles_of(desk, incident, user) & set(allowed)
    if not held:
        raise refuse(
            desk,
            incident,
            user,
            NotAuthorized(action=action, allowed=list(allowed)),
            action=action,
            allowed=list(allowed),
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
        if incident.drill and user in unavailable(desk, incident, role):  # the drill's inject took them out
            error = NotAuthorized("exercise.error.unavailable", role=role)
            raise refuse(desk, incident, user, error, action="acknowledge", role=role)
        current = desk.store.acks(incident.id).get(role)
        if current is not None:
            return current
        ack = Ack(incident_id=incident.id, role=role, user=user, at=desk.now())
        desk.store.add_ack(ack)
        desk.store.add_event(incident.id, ack.at, user, "acknowledged", role=role)
    return ack


@dataclass(frozen=True)
class Person:
    """What the chat platform says about an account, looked up by the adapter before a verb that needs it."""

    id: str
    known: bool = True  # False: the platform has no such account
    deactivated: bool = False
    bot: bool = False
    workspace_admin: bool = False  # an admin or owner of the whole workspace


def may_change_role_owners(desk: Desk, actor: Person) -> bool:
    """The crisis lead (owner or backup), a workspace admin or owner, anyone under `admins:` in the config; anyone
    at all while nobody is crisis lead (setting up)."""
    leads = desk.store.role_owners().get("crisis_lead", [])
    return not leads or actor.id in leads or actor.workspace_admin or actor.id in desk.settings.admins


def _check_can_hold_a_role(person: Person) -> None:
    if not person.known:
        raise UsageError("error.roles_set_unknown_person", person=person.id)
    if person.deactivated:
        raise UsageError("error.roles_set_deactivated", person=person.id)
    if person.bot:
        raise UsageError("error.roles_set_bot", person=person.id)


def set_role_owners(desk: Desk, actor: Person, role: str, people: list[Person]) -> list[str]:
    """Make people[0] the owner of `role` and the rest its backups (ordered, no repeats)."""
    role = check_role(role)
    people = list({p.id: p for p in people}.values())
    if not people:
        raise UsageError("error.roles_set_usage")
    for person in people:  # one who cannot take a role refuses the whole change: nothing half-set
        _check_can_hold_a_role(person)
    with desk.deciding():  # decided on the owners as they are now, not as they were before the look-ups
        if not may_change_role_owners(desk, actor):
            raise NotAuthorized("error.roles_set_not_lead")
        desk.store.set_role_owners(role, [p.id for p in people])
    return [p.id for p in people]


def unavailable(desk: Desk, incident: Incident, role: str) -> set[str]:
    """Who a drill's injects made unavailable for `role`: they may not take it again in that drill."""
    return {
        str(e.data["unavailable"])
        for e in desk.store.events(incident.id, "drill_inject")
        if e.data.get("unavailable_role") == role and e.data.get("unavailable")
    }
