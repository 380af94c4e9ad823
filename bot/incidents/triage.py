"""What the team decides on a triage card: Declare (in the declare transaction), Dismiss with a reason, Watch.

Anyone who may declare may decide a triage (today: anyone in the workspace). Each verb re-reads the triage in its
write transaction: two people on one card make one decision, the other is told who decided what. Every decision
queues the card's redraw (an outbox row addressed by triage), so the card shows it and loses its buttons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.errors import AlreadyDone, UsageError
from bot.incidents.desk import Desk
from bot.models import Incident, Triage

MAX_REASON = 500
TIMELINE_ALERTS = 20  # alerts copied onto the timeline of an incident declared from a card; the rest are counted


@dataclass(frozen=True)
class Decided:
    triage: Triage


def undecided(desk: Desk, triage_id: int) -> Triage:
    """The triage, if nobody declared or dismissed it yet; else AlreadyDone saying who did what."""
    triage = desk.store.triage(triage_id)
    if triage.status == "declared" and triage.incident_id:
        code = desk.store.incident(triage.incident_id).code
        raise AlreadyDone("triage.already_declared", user=triage.decided_by or "", code=code)
    if triage.status == "dismissed":
        raise AlreadyDone("triage.already_dismissed", user=triage.decided_by or "", reason=triage.reason or "")
    return triage


def dismiss(desk: Desk, triage_id: int, user: str, reason: str) -> Decided:
    """A false alarm (or not ours): kept with its reason for the evaluation of the signals."""
    reason = " ".join(reason.split())
    if not reason:
        raise UsageError("triage.reason_needed")
    now = desk.now()
    with desk.deciding():
        undecided(desk, triage_id)
        triage = desk.store.update_triage(
            triage_id, status="dismissed", decided_by=user, decided_at=now, reason=reason[:MAX_REASON]
        )
        desk.store.add_triage_outbox(triage_id, "triage_card", now)
    desk.timers_changed()
    return Decided(triage)


def watch(desk: Desk, triage_id: int, user: str) -> Decided:
    """Snooze: the card stays, without its Watch button; when its alerts double, a new card re-alerts."""
    now = desk.now()
    with desk.deciding():
        triage = undecided(desk, triage_id)
        if triage.status == "watching":
            raise AlreadyDone("triage.already_watching", user=triage.decided_by or "")
        triage = desk.store.update_triage(
            triage_id, status="watching", decided_by=user, decided_at=now, watch_alerts=triage.alerts
        )
        desk.store.add_triage_outbox(triage_id, "triage_card", now)
    desk.timers_changed()
    return Decided(triage)


def declared_from(desk: Desk, triage_id: int, incident: Incident, user: str, now: datetime) -> None:
    """Inside the declare's transaction: the card's alerts become the incident's first events, the triage is
    declared. Raises AlreadyDone (the declare rolls back) when someone else decided the card meanwhile."""
    triage = undecided(desk, triage_id)
    alerts = [a for a in desk.store.alerts(triage_id) if not a.held]
    for alert in alerts[:TIMELINE_ALERTS]:
        desk.store.add_event(
            incident.id,
            alert.detected_at,
            alert.source,  # the monitoring tool: the report names it as it names a person
            "alert_received",
            source=alert.source,
            title=alert.data.get("title"),
            url=alert.data.get("url"),
            reach=alert.data.get("reach"),
            received_at=alert.received_at.isoformat(),
        )
    desk.store.add_event(
        incident.id,
        triage.created_at,
        user,
        "triaged",
        triage=triage.id,
        source=triage.source,
        alerts=triage.alerts,
        held_back=triage.held_back,
        suggested_scenario=triage.scenario,
        suggested_level=triage.level,
    )
    desk.store.update_triage(triage_id, status="declared", decided_by=user, decided_at=now, incident_id=incident.id)
    desk.store.add_triage_outbox(triage_id, "triage_card", now)
