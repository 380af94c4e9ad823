"""The playbook checklist of an incident: which items are done, by whom."""

from __future__ import annotations

from bot.errors import NotFound, WrongState
from bot.incidents.desk import Desk
from bot.models import ChecklistMark, Incident


def complete_item(desk: Desk, incident: Incident, item_id: str, user: str) -> bool:
    """Tick an item off; False when it was already done (a double click)."""
    if not incident.active:
        raise WrongState("error.incident_resolved", code=incident.code)
    items = {i.id for i in desk.playbook(incident.scenario).checklist.all_items()}
    if item_id not in items:
        raise NotFound("error.checklist_item_unknown")
    with desk.store.transaction():
        mark = ChecklistMark(incident_id=incident.id, item_id=item_id, done_by=user, done_at=desk.now())
        done = desk.store.mark_checklist(mark)
        if done:
            desk.store.add_event(incident.id, mark.done_at, user, "checklist_done", item=item_id)
    return done
