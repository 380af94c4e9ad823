"""A minimal drill score, written when a drill is resolved: how fast the roles acknowledged and the first reply went
out. A stand-in until the full scorecard (injects, approvals, cadence, GDPR) replaces it; it writes the same one
`drill_scored` event the drills contract defines, so readiness (bot/readiness.py) reads either the same way."""

from __future__ import annotations

from datetime import datetime

from bot.incidents.desk import Desk
from bot.models import Event, Incident

ACK_POINTS = 50  # shared by the roles acknowledged within the level's window
POSTED_POINTS = 50  # the first reply posted within the first-response target, less a point per minute late


def _minutes(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds() / 60, 1)


def score_drill(desk: Desk, incident: Incident, now: datetime) -> Event:
    """Score the drill and record it on its timeline; the caller (the resolve) holds the transaction."""
    book = desk.playbook(incident.scenario)
    level = book.level(incident.level)
    acks = desk.store.acks(incident.id)
    roles = {role: _minutes(incident.declared_at, acks[role].at if role in acks else None) for role in level.roles}
    in_time = [m for m in roles.values() if m is not None and m <= level.ack_within_minutes]
    posted = _minutes(incident.declared_at, incident.first_response_at)
    target = book.deadlines.first_response_minutes
    ack_points = ACK_POINTS * len(in_time) / len(roles) if roles else ACK_POINTS
    posted_points = 0.0 if posted is None else max(0.0, POSTED_POINTS - max(0.0, posted - target))
    rule = desk.messages.ui(incident.language, "drill_score.rule_minimal", ack=level.ack_within_minutes, target=target)
    return desk.store.add_event(
        incident.id,
        now,
        "bot",
        "drill_scored",
        score=round(ack_points + posted_points),
        scenario=incident.scenario,
        level=incident.level,
        roles={role: {"ack_minutes": minutes} for role, minutes in roles.items()},
        first_approved_minutes=None,
        first_posted_minutes=posted,
        injects_on_time=0,
        injects_total=0,
        rule=rule,
    )
