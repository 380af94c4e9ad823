"""The GDPR/AVG duty of a data breach: notify the data-protection authority within 72 hours of detection.

The duty is the company's towards its regulator, not part of the social-media crisis: it outlives the
resolve. Resolving records whether the authority was notified (and when), or that it was not yet; the
reminders to legal then continue until `/crisis gdpr notified`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import parse_iso
from bot.errors import UsageError
from bot.incidents.desk import Desk
from bot.incidents.roles import require_role
from bot.models import ChecklistMark, Incident

CHECKLIST_ITEM = "notify_authority"
FUTURE_SLACK = timedelta(minutes=1)  # a picked time this close to now is "now", not the future


@dataclass(frozen=True)
class Duty:
    """Where an incident's notification duty stands."""

    deadline: datetime
    notified_at: datetime | None  # when the authority was notified, as recorded
    open_at_resolve: bool  # the resolver recorded "not yet"

    @property
    def late(self) -> bool:
        return self.notified_at is not None and self.notified_at > self.deadline

    def missed(self, now: datetime) -> bool:
        """Not notified, and the deadline has passed."""
        return self.notified_at is None and now > self.deadline


@dataclass(frozen=True)
class Answer:
    """The resolve form's answer: notified (at `at`), or not yet."""

    notified: bool
    at: datetime | None = None


def check_may_stop_clock(desk: Desk, incident: Incident, user: str) -> None:
    """Recording the authority as notified stops the 72-hour clock, a legal statement: legal and the crisis lead
    (or the playbook's `gdpr_notified_by`), however it is recorded — the command, the checklist item, the resolve."""
    require_role(desk, incident, user, desk.playbook(incident.scenario).gdpr_notified_by, "gdpr_notified")


def duty(desk: Desk, incident: Incident) -> Duty | None:
    """The incident's notification duty; None when its scenario has none."""
    book = desk.playbooks.get(incident.scenario)
    hours = book.deadlines.authority_notification_hours if book else None
    if not hours:
        return None
    events = desk.store.events(incident.id)
    notified = next((e for e in events if e.kind == "gdpr_notified"), None)
    at = None
    if notified is not None:
        said = notified.data.get("notified_at")
        at = parse_iso(said) if isinstance(said, str) else notified.at
    return Duty(
        deadline=incident.detected_at + timedelta(hours=hours),
        notified_at=at,
        open_at_resolve=any(e.kind == "gdpr_not_notified" for e in events),
    )


def record_at_resolve(desk: Desk, incident: Incident, user: str, answer: Answer | None, now: datetime) -> bool:
    """Record the resolve form's answer; True when the duty stays open. The caller holds the transaction.

    No answer counts as "not yet": a duty is never closed by default.
    """
    found = duty(desk, incident)
    if found is None or found.notified_at is not None:
        return False
    if answer is None or not answer.notified:
        desk.store.add_event(incident.id, now, user, "gdpr_not_notified", deadline=found.deadline)
        return True
    if answer.at is None:
        raise UsageError("gdpr_duty.when_needed")
    if answer.at > now + FUTURE_SLACK:
        raise UsageError("gdpr_duty.when_future")
    check_may_stop_clock(desk, incident, user)  # a playbook may let more roles resolve than stop the clock
    desk.store.add_event(incident.id, now, user, "gdpr_notified", notified_at=answer.at.isoformat(), via="resolve")
    if CHECKLIST_ITEM in {i.id for i in desk.playbook(incident.scenario).checklist.all_items()}:
        desk.store.mark_checklist(
            ChecklistMark(incident_id=incident.id, item_id=CHECKLIST_ITEM, done_by=user, done_at=now)
        )
    return False
