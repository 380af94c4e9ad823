"""The playbook checklist of an incident: which items are done, by whom."""

from __future__ import annotations

from bot.errors import NotFound, WrongState
from bot.incidents.desk import Desk, require_active
from bot.incidents.roles import require_role
from bot.models import ChecklistMark, Incident

GDPR_ITEM = "notify_authority"  # ticking it stops the 72-hour clock, like `/crisis gdpr notified`


def check_may_stop_gdpr_clock(desk: Desk, incident: Incident, user: str) -> None:
    """Stopping the 72-hour clock is a legal statement: legal and the crisis lead (or the playbook's list)."""
    require_role(desk, incident, user, desk.playbook(incident.scenario).gdpr_notified_by, "gdpr_notified")


def complete_item(desk: Desk, incident: Incident, item_id: str, user: str) -> bool:
    """Tick an item off; False when it was already done (a double click)."""
    items = {i.id for i in desk.playbook(incident.scenario).checklist.all_items()}
    if item_id not in items:
        raise NotFound("error.checklist_item_unknown")
    with desk.deciding():
        incident = require_active(desk.store.incident(incident.id))  # a resolve may have come since the click
        if item_id == GDPR_ITEM:  # the right too, on the role owners as they are now
            check_may_stop_gdpr_clock(desk, incident, user)
        mark = ChecklistMark(incident_id=incident.id, item_id=item_id, done_by=user, done_at=desk.now())
        done = desk.store.mark_checklist(mark)
        if done:
            desk.store.add_event(incident.id, mark.done_at, user, "checklist_done", item=item_id)
            if item_id == GDPR_ITEM:  # the GDPR clock stops with the checklist item too
                desk.store.add_event(incident.id, mark.done_at, user, "gdpr_notified")
                desk.store.cancel_timers(incident.id, mark.done_at, kinds=("gdpr",))
    desk.timers_changed()
    return done


def gdpr_notified(desk: Desk, incident: Incident, user: str) -> bool:
    """The authority was notified: tick the item, record it, stop the 72-hour reminders."""
    if desk.playbook(incident.scenario).deadlines.authority_notification_hours is None:
        raise WrongState("error.no_gdpr_clock")
    with desk.deciding():
        incident = require_active(desk.store.incident(incident.id))  # a resolve may have come since the command
        check_may_stop_gdpr_clock(desk, incident, user)
        now = desk.now()
        if desk.store.events(incident.id, "gdpr_notified"):
            return False
        desk.store.add_event(incident.id, now, user, "gdpr_notified")
        if GDPR_ITEM in {i.id for i in desk.playbook(incident.scenario).checklist.all_items()}:
            desk.store.mark_checklist(
                ChecklistMark(incident_id=incident.id, item_id=GDPR_ITEM, done_by=user, done_at=now)
            )
        desk.store.cancel_timers(incident.id, now, kinds=("gdpr",))
    desk.timers_changed()
    return True
