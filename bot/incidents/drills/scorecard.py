"""The drill's scorecard: how the team did against the playbook's targets and the script's injects.

Computed from the timeline only (bot/incidents/metrics.py measures most of it), at the resolve, and kept as ONE
`drill_scored` event on the drill (its payload is what readiness over time reads); the same transaction queues the
scorecard's post in the drill room (`drill_scorecard`, worded by bot/chat/drillcards.py).

The overall score, 0–100 (RULE says it in one line; README and the scorecard say it too):
  assemble 20 × the share of pulled-in roles acknowledged within their window
+ first reply 30 when the first public reply went out within the target, less in proportion to how late it was
  (nothing at twice the target or when none went out)
+ injects 30 × the share of scripted expectations met within their time
+ checklist 10 × the share of the first-hour checklist done
+ cadence 10 × the share of public update gaps within the level's cadence (all 10 when no gap was measured)
rounded to a whole number.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.incidents import gdpr
from bot.incidents.approvals import approval_state
from bot.incidents.desk import Desk
from bot.incidents.drills.script import DrillScript, Expectation
from bot.incidents.metrics import SLOW_APPROVAL_MINUTES, IncidentMetrics, incident_metrics, minutes_between
from bot.models import Event, Incident

RULE = (
    "20 × roles acknowledged in their window + 30 × first reply within the target (less when late, 0 at twice "
    "the target) + 30 × injects answered in time + 10 × first-hour checklist done + 10 × update cadence kept"
)
WEIGHTS = {"assemble": 20, "first_reply": 30, "injects": 30, "checklist": 10, "cadence": 10}


def score_drill(desk: Desk, incident: Incident, ended: str = "resolve") -> Event | None:
    """Write the `drill_scored` event and queue the scorecard post; the caller holds the transaction.
    Once per drill, when it ends: at its resolve, or at its script's end, whichever comes first (a second call
    returns the first score)."""
    if not incident.drill:
        return None
    earlier = desk.store.events(incident.id, "drill_scored")
    if earlier:
        return earlier[0]
    card = {**scorecard(desk, incident), "ended": ended}  # `resolve`, or `script`: its last window closed
    event = desk.store.add_event(incident.id, desk.now(), "bot", "drill_scored", **card)
    desk.store.add_outbox(incident.id, "drill_scorecard", desk.now(), event_id=event.id)
    return event


def scorecard(desk: Desk, incident: Incident) -> dict[str, Any]:
    """Everything the scorecard says, as the `drill_scored` payload (the contract's keys first)."""
    metrics = incident_metrics(desk, incident)
    events = desk.store.events(incident.id)
    script = desk.drill_scripts.get(incident.scenario)
    injects = inject_results(events, script, incident)
    networks = _networks(events, incident)
    checklist = _checklist(desk, incident)
    parts = _parts(metrics, injects, checklist)
    return {
        "score": round(sum(parts.values())),
        "scenario": incident.scenario,
        "level": incident.level,
        "roles": {r.role: {"ack_minutes": r.minutes, "user": r.user, "within": r.within_window} for r in metrics.roles},
        "first_approved_minutes": metrics.first_approved_minutes,
        "first_posted_minutes": metrics.first_response_minutes,
        "injects_on_time": sum(1 for i in injects if i["on_time"]),
        "injects_total": len(injects),
        "rule": RULE,
        "parts": {k: round(v, 1) for k, v in parts.items()},
        "assemble_minutes": metrics.all_acknowledged_minutes,
        "target_minutes": metrics.first_response_target_minutes,
        "networks": networks,
        "injects": injects,
        "checklist": checklist,
        "stalled": _stalled(desk, incident, metrics),
        "updates_kept": metrics.updates_kept,
        "updates_missed": metrics.updates_missed,
        "gdpr": _gdpr(desk, incident),
    }


# ---- the parts of the score ----------------------------------------------------------------------------
def _parts(metrics: IncidentMetrics, injects: list[dict[str, Any]], checklist: dict[str, int]) -> dict[str, float]:
    roles = metrics.roles
    assemble = sum(1 for r in roles if r.within_window) / len(roles) if roles else 1.0
    injected = [i for i in injects if i["expected"]]
    answered = sum(1 for i in injected if i["on_time"]) / len(injected) if injected else 1.0
    gaps = metrics.updates_kept + metrics.updates_missed
    cadence = metrics.updates_kept / gaps if gaps else 1.0
    done = checklist["done"] / checklist["total"] if checklist["total"] else 1.0
    return {
        "assemble": WEIGHTS["assemble"] * assemble,
        "first_reply": WEIGHTS["first_reply"] * _first_reply_share(metrics),
        "injects": WEIGHTS["injects"] * answered,
        "checklist": WEIGHTS["checklist"] * done,
        "cadence": WEIGHTS["cadence"] * cadence,
    }


def _first_reply_share(metrics: IncidentMetrics) -> float:
    took, target = metrics.first_response_minutes, metrics.first_response_target_minutes
    if took is None or target <= 0:
        return 0.0
    if took <= target:
        return 1.0
    return max(0.0, 1 - (took - target) / target)


# ---- injects ---------------------------------------------------------------------------------------------
def inject_results(events: list[Event], script: DrillScript | None, incident: Incident) -> list[dict[str, Any]]:
    """Each inject that was posted: its expectation, when it was answered, on time or how late (minutes)."""
    results = []
    for posted in (e for e in events if e.kind == "drill_inject"):
        index = int(posted.data.get("index", -1))
        inject = script.injects[index] if script and 0 <= index < len(script.injects) else None
        expect = inject.expect if inject else None
        result: dict[str, Any] = {"index": index, "at_minutes": posted.data.get("at_minutes"), "expected": None}
        result |= {"answered_minutes": None, "late_minutes": None, "on_time": expect is None}
        if expect is not None:
            answered = _answer(events, posted, expect)
            took = minutes_between(posted.at, answered) if answered else None
            result |= {
                "expected": expect.kind,
                "role": expect.role,
                "network": expect.network,
                "within_minutes": expect.within_minutes,
                "answered_minutes": took,
                "on_time": took is not None and took <= expect.within_minutes,
                "late_minutes": round(took - expect.within_minutes, 1)
                if took is not None and took > expect.within_minutes
                else None,
            }
        results.append(result)
    return results


def _answer(events: list[Event], posted: Event, expect: Expectation) -> datetime | None:
    """When the team did what the inject expected: the first matching event after it (or the moment of the
    inject when it was done already and still holds)."""
    matches = [e for e in events if _matches(e, expect)]
    after = next((e.at for e in matches if e.id is not None and posted.id is not None and e.id > posted.id), None)
    if after is not None:
        return after
    freed = expect.kind == "role_acknowledged" and posted.data.get("unavailable_role") == expect.role
    return posted.at if matches and not freed else None


def _matches(event: Event, expect: Expectation) -> bool:
    data = event.data
    if expect.kind == "role_acknowledged":
        return event.kind == "acknowledged" and data.get("role") == expect.role
    if expect.kind == "gdpr_recorded":
        return event.kind == "gdpr_notified"
    if expect.kind == "update_drafted":
        return event.kind == "drafted" and data.get("kind") == "status_update"
    kind = "draft_ready" if expect.kind == "draft_approved" else "posted"
    return event.kind == kind and (expect.network is None or data.get("network") == expect.network)


# ---- the rest of the card -------------------------------------------------------------------------------
def _networks(events: list[Event], incident: Incident) -> dict[str, dict[str, float | None]]:
    """Per network: declaration → first approved, detection → first posted (as the one-hour target counts)."""
    found: dict[str, dict[str, float | None]] = {}
    for event in events:
        network = event.data.get("network")
        if not network or event.kind not in ("draft_ready", "posted"):
            continue
        seat = found.setdefault(str(network), {"approved_minutes": None, "posted_minutes": None})
        if event.kind == "draft_ready" and seat["approved_minutes"] is None:
            seat["approved_minutes"] = minutes_between(incident.declared_at, event.at)
        if event.kind == "posted" and seat["posted_minutes"] is None:
            seat["posted_minutes"] = minutes_between(incident.detected_at, event.at)
    return found


def _checklist(desk: Desk, incident: Incident) -> dict[str, int]:
    items = desk.playbook(incident.scenario).checklist.first_hour
    done = desk.store.checklist(incident.id)
    return {"done": sum(1 for item in items if item.id in done), "total": len(items)}


def _stalled(desk: Desk, incident: Incident, metrics: IncidentMetrics) -> list[dict[str, Any]]:
    """Approvals that took longer than the report's threshold, and drafts still waiting at the end: on whom."""
    holders = {r.role: r.user for r in metrics.roles}
    owners = desk.store.role_owners()
    stalled: list[dict[str, Any]] = [
        {"role": role, "user": holders.get(role), "max_minutes": latency.max_minutes, "waiting": None}
        for role, latency in metrics.approval_latency.items()
        if latency.max_minutes > SLOW_APPROVAL_MINUTES
    ]
    closing = desk.playbook(incident.scenario).drafts.resolve  # written at the resolve: not the drill's to approve
    for draft in desk.store.drafts(incident.id):
        if draft.kind == closing or draft.status not in ("pending", "rejected"):
            continue
        for role, approval in approval_state(desk, incident, draft).items():
            user = holders.get(role) or next(iter(owners.get(role, [])), None)
            seat = {"role": role, "user": user, "max_minutes": None, "waiting": draft.network}
            if approval is None and seat not in stalled:
                stalled.append(seat)
    return stalled


def _gdpr(desk: Desk, incident: Incident) -> dict[str, Any] | None:
    """A breach's notification duty: recorded after how long (detection → notified), against its deadline."""
    found = gdpr.duty(desk, incident)
    if found is None:
        return None
    hours = (found.deadline - incident.detected_at) / timedelta(hours=1)
    took = minutes_between(incident.detected_at, found.notified_at) if found.notified_at else None
    return {"notified_minutes": took, "deadline_hours": round(hours)}
