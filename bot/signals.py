"""The evaluation report's detection part: how the incident was seen (alert → triage card → declare → first
reply) and how good each monitoring source's signals are (alerts, cards, declared, dismissed)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.incidents.desk import Desk
from bot.models import Incident


def detection(
    desk: Desk, incident: Incident, minutes: Callable[[float], str | None], moment: Callable[[datetime], str]
) -> dict[str, Any] | None:
    """The path from the first alert to the first reply, for an incident declared from a triage card (else None),
    in the report's own formatting of minutes and moments."""
    triage = desk.store.triage_of_incident(incident.id)
    if triage is None:
        return None

    def since(at: datetime | None) -> str | None:
        return None if at is None else minutes((at - incident.detected_at).total_seconds() / 60)

    steps = [
        ("detected", incident.detected_at),
        ("triaged", triage.created_at),
        ("declared", incident.declared_at),
        ("first_reply", incident.first_response_at),
    ]
    return {
        "source": triage.source,
        "alerts": triage.alerts,
        "held_back": triage.held_back,
        "suggested": {"scenario": triage.scenario, "level": triage.level},
        "steps": [{"step": name, "at": moment(at) if at else None, "after": since(at)} for name, at in steps],
    }


def sources(desk: Desk) -> list[dict[str, Any]]:
    """Per monitoring source, over everything this desk received: alerts, cards, declared, dismissed."""
    return [
        {"source": source, "alerts": alerts, "cards": cards, "declared": declared, "dismissed": dismissed}
        for source, alerts, cards, declared, dismissed in desk.store.signal_counts()
    ]
