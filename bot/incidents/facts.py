"""Facts a chat adapter learns while it carries out the core's decisions, recorded by the core.

The adapter makes the room, pages people and runs the set-up and closing steps; what came of it belongs to
the incident's history (the timeline the report and the metrics read, and the incident's own fields). The
adapter hands each fact to `record` and never writes the timeline or the incident itself, so the core alone
decides how a fact is stored, and a second platform records the same facts the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.incidents.desk import Desk
from bot.models import Incident


@dataclass(frozen=True)
class RoomCreated:
    """The incident's room exists on the platform: `ref` is the platform's id for it, `name` what people see."""

    ref: str
    name: str


@dataclass(frozen=True)
class PersonPaged:
    """A person was told to join, for these roles."""

    user: str
    roles: list[str]


@dataclass(frozen=True)
class SetupFailed:
    """The declare's set-up steps the platform refused (the declarer is told, and may retry)."""

    steps: list[str]


@dataclass(frozen=True)
class SetupDone:
    """Every set-up step is done: from now on an identical declare after the first minute is a new incident."""


@dataclass(frozen=True)
class ClosingFailed:
    """The resolve's closing steps the platform refused."""

    steps: list[str]


Fact = RoomCreated | PersonPaged | SetupFailed | SetupDone | ClosingFailed


def record(desk: Desk, incident: Incident, fact: Fact) -> Incident:
    """Put `fact` in the incident's history, in one transaction (joining the caller's); returns the incident now."""
    store, now = desk.store, desk.now()
    with store.transaction():
        match fact:
            case RoomCreated(ref=ref, name=name):
                store.add_event(incident.id, now, "bot", "channel_created", channel=ref, name=name)
                return store.update_incident(incident.id, room_ref=ref, room_name=name)
            case PersonPaged(user=user, roles=roles):
                store.add_event(incident.id, now, "bot", "pinged", user=user, roles=roles)
            case SetupFailed(steps=steps):
                store.add_event(incident.id, now, "bot", "setup_failed", steps=steps)
            case ClosingFailed(steps=steps):
                store.add_event(incident.id, now, "bot", "closing_failed", steps=steps)
            case SetupDone():
                # Not on the timeline (it never was): a marker the duplicate-declare rule reads. The first one counts.
                if store.incident(incident.id).setup_done_at is None:
                    return store.update_incident(incident.id, setup_done_at=now)
    return incident
