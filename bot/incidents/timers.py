"""Deadlines as timers: what to schedule at declare and after a first response, and what firing one does.

Firing a timer marks it fired and records its effect (timeline events plus outbox rows that say what
to tell whom) in one transaction, so a crash or restart never fires a timer twice or loses one. Chat
adapters deliver the outbox rows; the core never calls Slack.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.clock import parse_iso
from bot.faults import crash_point
from bot.incidents.approvals import approval_state
from bot.incidents.desk import Desk
from bot.incidents.roles import unavailable
from bot.models import Incident, NoticeKind, Timer

log = logging.getLogger("crisisbot.timers")

# Header refreshes before the first-response deadline, in minutes left; reminders come from the playbook.
MILESTONES = (45, 30, 15, 10, 5)
# After a missed deadline the header keeps counting: refreshes at these minutes late.
OVERDUE_REFRESH = (5, 15, 30, 45, 60, 90, 120, 180, 240)
ACK_STAGES = ("remind_owner", "page_backups", "page_lead")
ACK_NOTICES: dict[str, NoticeKind] = {
    "remind_owner": "ack_remind_owner",
    "page_backups": "ack_page_backups",
    "page_lead": "ack_page_lead",
}
GDPR_REMINDERS_HOURS_LEFT = (48, 24, 4)
GDPR_OVERDUE_EVERY = timedelta(hours=24)  # past the deadline, legal is reminded daily until it is recorded
UPDATE_REMINDER_BEFORE = timedelta(minutes=10)
FIRST_RESPONSE_KINDS = ("countdown", "deadline", "overdue")


@dataclass(frozen=True)
class Fired:
    timer: Timer
    late: timedelta  # how long after due_at it fired (a restart after downtime makes this large)
    acted: bool  # False: the timer no longer mattered (resolved incident, reply already posted, …)


# ---- scheduling ----------------------------------------------------------------------------------------
def declare_timers(desk: Desk, incident: Incident) -> list[dict[str, Any]]:
    """Every timer a fresh incident needs: countdown, deadline, acknowledge escalation, GDPR clock."""
    book = desk.playbook(incident.scenario)
    due = incident.first_response_due
    reminders = set(book.deadlines.reminders_before_minutes)
    rows = [
        _row(incident, "countdown", due - timedelta(minutes=m), left=m, remind=m in reminders)
        for m in sorted(set(MILESTONES) | reminders, reverse=True)
    ]
    rows.append(_row(incident, "deadline", due))
    rows += [_row(incident, "overdue", due + timedelta(minutes=m), late=m) for m in OVERDUE_REFRESH]
    rows += ack_timers(desk, incident, desk.playbook(incident.scenario).level(incident.level).roles)
    hours = book.deadlines.authority_notification_hours
    if hours:
        deadline = incident.detected_at + timedelta(hours=hours)
        rows += [
            _row(incident, "gdpr", deadline - timedelta(hours=h), hours_left=h)
            for h in GDPR_REMINDERS_HOURS_LEFT
            if h < hours
        ]
        rows.append(_row(incident, "gdpr", deadline, hours_left=0))
    now = desk.now()
    return [r for r in rows if r["due_at"] > now - timedelta(minutes=1) or r["kind"] == "deadline"]


def ack_timers(desk: Desk, incident: Incident, roles: Sequence[str]) -> list[dict[str, Any]]:
    """Remind the owner, then page the backups, then the crisis lead, one window apart."""
    window = timedelta(minutes=desk.playbook(incident.scenario).level(incident.level).ack_within_minutes)
    start = desk.now()
    return [
        _row(incident, "ack", start + window * (i + 1), role=role, stage=stage)
        for role in roles
        for i, stage in enumerate(ACK_STAGES)
    ]


def update_reminder_lead(desk: Desk, incident: Incident) -> timedelta:
    """How long before a due public update the team is reminded: 10 minutes, or half a shorter cadence."""
    cadence = timedelta(minutes=desk.playbook(incident.scenario).level(incident.level).update_every_minutes)
    return min(UPDATE_REMINDER_BEFORE, cadence / 2)


def update_timer(desk: Desk, incident: Incident, after: datetime, promised: datetime | None = None) -> dict[str, Any]:
    """The reminder before the next public update is due: the time the posted text promised, or else
    (a text that names no time) the level's cadence after `after`."""
    cadence = timedelta(minutes=desk.playbook(incident.scenario).level(incident.level).update_every_minutes)
    due = promised or after + cadence
    return _row(incident, "update", due - update_reminder_lead(desk, incident), update_due=due.isoformat())


def _row(incident: Incident, kind: str, due_at: datetime, **data: Any) -> dict[str, Any]:
    return {"incident_id": incident.id, "kind": kind, "due_at": due_at, "data": data}


# ---- firing --------------------------------------------------------------------------------------------
def fire_due(desk: Desk, limit: int = 500) -> list[Fired]:
    """Fire every timer due by now, oldest first; each in its own transaction."""
    fired: list[Fired] = []
    while True:
        batch = desk.store.due_timers(desk.now(), limit)
        for timer in batch:
            result = fire(desk, timer)
            if result is not None:
                fired.append(result)
        if len(batch) < limit:
            return fired


def fire(desk: Desk, timer: Timer) -> Fired | None:
    """Fire one timer exactly once; None when another worker already did."""
    with desk.store.transaction():
        now = desk.now()
        if not desk.store.claim_timer(timer.id, now):
            return None
        late = now - timer.due_at
        if timer.kind in SCHEDULE_TIMERS:  # drills: schedules (a timer of no incident yet)
            acted = _schedule_timer(desk, timer)
            crash_point("timer_effect")
            return Fired(timer, late, acted)
        incident = desk.store.find_incident(timer.incident_id)
        if incident is None or not (incident.active or timer.kind in OUTLIVE_RESOLVE):
            log.info(
                "timer %s (%s) ignored: incident %s is %s",
                timer.id,
                timer.kind,
                timer.incident_id,
                "gone" if incident is None else incident.status,
            )
            return Fired(timer, late, acted=False)
        acted = EFFECTS[timer.kind](desk, incident, timer, late)
        crash_point("timer_effect")  # inside the transaction: a crash here rolls the firing back
    crash_point("timer_committed")
    if late > timedelta(minutes=1):
        log.warning("timer %s (%s) for %s fired %s late", timer.id, timer.kind, incident.code, late)
    return Fired(timer, late, acted)


def _late_note(late: timedelta) -> dict[str, Any]:
    return {"late_minutes": round(late.total_seconds() / 60)} if late > timedelta(minutes=1) else {}


# Who each notice addresses, in the order they are named: written into the row's `roles`, so the deliverer reads
# them from the data and keeps no list of its own (a row written before `roles` existed falls back to this table).
ADDRESSED: dict[str, tuple[str, ...]] = {
    "first_response_reminder": ("crisis_lead", "social_media_manager"),
    "deadline_missed": ("crisis_lead", "spokesperson"),
    "update_reminder": ("communications", "social_media_manager"),
    "gdpr_reminder": ("legal", "crisis_lead"),
    # drills: after-action items (the item's owner is named in the row; the crisis lead follows it up)
    "drill_action_reminder": ("crisis_lead",),
    # drills: schedules (an announced drill's heads-up names the level's roles in its row)
    "drill_heads_up": ("crisis_lead",),
}


def _countdown(desk: Desk, incident: Incident, timer: Timer, late: timedelta) -> bool:
    if incident.first_response_at is not None:
        return False
    desk.store.add_outbox_once(incident.id, "header_refresh", desk.now())
    if timer.data.get("remind"):
        waiting = pending_approvals(desk, incident)
        desk.store.add_outbox(
            incident.id,
            "first_response_reminder",
            desk.now(),
            left=timer.data["left"],
            waiting=waiting,
            roles=list(ADDRESSED["first_response_reminder"]),
            **_late_note(late),
        )
        desk.store.add_event(incident.id, desk.now(), "bot", "reminder_sent", left=timer.data["left"])
    return True


def _deadline(desk: Desk, incident: Incident, timer: Timer, late: timedelta) -> bool:
    if incident.first_response_at is not None:
        return False
    desk.store.add_event(incident.id, desk.now(), "bot", "deadline_missed", due=incident.first_response_due)
    desk.store.add_outbox_once(incident.id, "header_refresh", desk.now())
    desk.store.add_outbox(
        incident.id,
        "deadline_missed",
        desk.now(),
        roles=list(ADDRESSED["deadline_missed"]),
        level=incident.level,
        **_late_note(late),
    )
    return True


def _overdue(desk: Desk, incident: Incident, timer: Timer, late: timedelta) -> bool:
    if incident.first_response_at is not None:
        return False
    desk.store.add_outbox_once(incident.id, "header_refresh", desk.now())
    return True


def _ack(desk: Desk, incident: Incident, timer: Timer, late: timedelta) -> bool:
    role, stage = timer.data["role"], timer.data["stage"]
    if role in desk.store.acks(incident.id):
        return False
    if role not in desk.playbook(incident.scenario).level(incident.level).roles:
        return False  # de-escalated since: the role is no longer needed
    owners = desk.store.role_owners().get(role, [])
    if incident.drill:  # whoever the drill made unavailable is neither reminded nor paged again
        owners = [u for u in owners if u not in unavailable(desk, incident, role)]
    desk.store.add_event(incident.id, desk.now(), "bot", "ack_escalation", role=role, stage=stage)
    desk.store.add_outbox(
        incident.id,
        ACK_NOTICES[stage],
        desk.now(),
        role=role,
        owner=next(iter(owners), None),
        backups=owners[1:],
        **_late_note(late),
    )
    return True


def _update(desk: Desk, incident: Incident, timer: Timer, late: timedelta) -> bool:
    desk.store.add_event(incident.id, desk.now(), "bot", "update_reminder", due=timer.data["update_due"])
    desk.store.add_outbox(
        incident.id,
        "update_reminder",
        desk.now(),
        due=timer.data["update_due"],
        roles=list(ADDRESSED["update_reminder"]),
        **_late_note(late),
    )
    return True


def _gdpr(desk: Desk, incident: Incident, timer: Timer, late: timedelta) -> bool:
    if authority_notified(desk, incident):
        return False
    hours_left = timer.data["hours_left"]
    desk.store.add_event(incident.id, desk.now(), "bot", "gdpr_reminder", hours_left=hours_left)
    desk.store.add_outbox_once(incident.id, "header_refresh", desk.now())  # its "… to go" / "… late" moves on
    if hours_left <= 0:  # past the deadline the duty remains: the next reminder a day later
        later = round(GDPR_OVERDUE_EVERY.total_seconds() / 3600)
        desk.store.add_timers(
            [_row(incident, "gdpr", timer.due_at + GDPR_OVERDUE_EVERY, hours_left=hours_left - later)]
        )
    desk.store.add_outbox(
        incident.id,
        "gdpr_reminder",
        desk.now(),
        hours_left=hours_left,
        roles=list(ADDRESSED["gdpr_reminder"]),
        **_late_note(late),
    )
    return True


# drills: injects and after-action items (bot/incidents/drills/ imports this module, so it is imported on use)
def _drill_inject(desk: Desk, incident: Incident, timer: Timer, late: timedelta) -> bool:
    from bot.incidents.drills.injects import fire_inject

    return fire_inject(desk, incident, timer)


def _drill_action(desk: Desk, incident: Incident, timer: Timer, late: timedelta) -> bool:
    from bot.incidents.drills.actions import remind

    return remind(desk, incident, timer)


EFFECTS = {
    "countdown": _countdown,
    "deadline": _deadline,
    "overdue": _overdue,
    "ack": _ack,
    "update": _update,
    "gdpr": _gdpr,
    "drill_inject": _drill_inject,
    "drill_action": _drill_action,
}
# The GDPR duty is towards the regulator and outlives the resolve, as does a drill's improvement plan (its items
# are added at the debrief, after the resolve); everything else ends with it.
OUTLIVE_RESOLVE = ("gdpr", "drill_action")
ENDED_BY_RESOLVE = tuple(kind for kind in EFFECTS if kind not in OUTLIVE_RESOLVE)


# drills: schedules
SCHEDULE_TIMERS = ("drill_start", "drill_heads_up")


def _schedule_timer(desk: Desk, timer: Timer) -> bool:
    # Imported here: the schedule declares drills, and the declare imports this module.
    from bot.incidents.drills.schedule import fire_schedule_timer

    return fire_schedule_timer(desk, timer)


# ---- helpers -------------------------------------------------------------------------------------------
def pending_approvals(desk: Desk, incident: Incident) -> list[dict[str, Any]]:
    """For each draft still waiting: its network and the roles whose approval is missing."""
    waiting = []
    for draft in desk.store.drafts(incident.id):
        if draft.status in ("pending", "rejected"):
            missing = [role for role, ok in approval_state(desk, incident, draft).items() if ok is None]
            waiting.append({"network": draft.network, "missing": missing, "status": draft.status})
    return waiting


def authority_notified(desk: Desk, incident: Incident) -> bool:
    """Whether the data-protection authority is recorded as notified (the checklist item, the command or the resolve)."""
    return "notify_authority" in desk.store.checklist(incident.id) or bool(
        desk.store.events(incident.id, "gdpr_notified")
    )


def after_first_response(desk: Desk, incident: Incident, at: datetime, promised: datetime | None = None) -> None:
    """Stop the countdown; start the public-update cadence. The caller holds the transaction."""
    desk.store.cancel_timers(incident.id, at, kinds=FIRST_RESPONSE_KINDS)
    desk.store.add_timers([update_timer(desk, incident, at, promised)])


def after_public_update(desk: Desk, incident: Incident, at: datetime, promised: datetime | None = None) -> None:
    """A status update went out: the next one is due when it promised (else a cadence from now)."""
    desk.store.cancel_timers(incident.id, at, kinds=("update",))
    desk.store.add_timers([update_timer(desk, incident, at, promised)])


def hold_to_promise(desk: Desk, incident: Incident, at: datetime, promised: datetime) -> None:
    """Another network's copy went out promising `promised`: the team is held to the earliest public promise."""
    armed = [t for t in desk.store.timers(incident.id) if t.kind == "update" and t.cancelled_at is None]
    if armed and parse_iso(armed[-1].data["update_due"]) <= promised:
        return  # the team is already held to this moment or an earlier one (maybe reminded already)
    after_public_update(desk, incident, at, promised)
