"""The playbook checklist of an incident: which items are done, by whom."""

from __future__ import annotations

from bot.errors import NotFound, WrongState
from bot.incidents.desk import Desk, require_active
from bot.incidents.gdpr import CHECKLIST_ITEM, check_may_stop_clock
from bot.models import ChecklistMark, Incident


def complete_item(desk: Desk, incident: Incident, item_id: str, user: str) -> bool:
    """Tick an item off; False when it was already done (a double click)."""
    items = {i.id for i in desk.playbook(incident.scenario).checklist.all_items()}
    if item_id not in items:
        raise NotFound("error.checklist_item_unknown")
    with desk.deciding():
        incident = require_active(desk.store.incident(incident.id))  # a resolve may have come since the click
        if item_id == CHECKLIST_ITEM:  # the right too, on the role owners as they are now
            check_may_stop_clock(desk, incident, user)
        mark = ChecklistMark(incident_id=incident.id, item_id=item_id, done_by=user, done_at=desk.now())
        done = desk.store.mark_checklist(mark)
        if done:
            desk.store.add_event(incident.id, mark.done_at, user, "checklist_done", item=item_id)
            if item_id == CHECKLIST_ITEM:  # the GDPR clock stops with the checklist item too
                desk.store.add_event(incident.id, mark.done_at, user, "gdpr_notified")
                desk.store.cancel_timers(incident.id, mark.done_at, kinds=("gdpr",))
    desk.timers_changed()
    return done


def check_record_authority_notified(desk: Desk, incident: Incident, user: str) -> Incident:
    """What `record_authority_notified` refuses, decided without writing (answered in the command's ack); returns the
    incident as it is now (its level, for the right checked on it)."""
    if desk.playbook(incident.scenario).deadlines.authority_notification_hours is None:
        raise WrongState("error.no_gdpr_clock")
    with desk.checking():
        incident = desk.store.incident(incident.id)
        check_may_stop_clock(desk, incident, user)
    return incident


def record_authority_notified(desk: Desk, incident: Incident, user: str) -> bool:
    """The authority was notified: tick the item, record it, stop the 72-hour reminders.

    Also after the resolve: the duty towards the regulator outlives the social-media crisis.
    """
    with desk.deciding():  # no require_active: a resolve does not end this duty (bot/incidents/gdpr.py)
        incident = check_record_authority_notified(desk, incident, user)
        now = desk.now()
        if desk.store.events(incident.id, "gdpr_notified"):
            return False
        desk.store.add_event(incident.id, now, user, "gdpr_notified")
        desk.store.add_outbox(incident.id, "authority_notified", now, by=user)  # the channel hears it from the outbox
        if CHECKLIST_ITEM in {i.id for i in desk.playbook(incident.scenario).checklist.all_items()}:
            desk.store.mark_checklist(
                ChecklistMark(incident_id=incident.id, item_id=CHECKLIST_ITEM, done_by=user, done_at=now)
            )
        desk.store.cancel_timers(incident.id, now, kinds=("gdpr",))
    desk.timers_changed()
    return True
