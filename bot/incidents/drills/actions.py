"""After-action items: the drill's improvement plan, each with an owner and a due date, tracked until done.

An item is a `drill_action` event (numbered in the order they were added), done is a `drill_action_done` event:
the timeline is the plan, so the after-action report lists it as it stands. Each item arms a `drill_action` timer
at 09:00 (the company's time) on its due date; firing it reminds the owner and the crisis lead in the drill room
and re-arms a day later, like any deadline, until the item is done. These timers outlive the resolve: the
plan is made at the debrief, after the drill ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from bot.errors import NotAuthorized, UsageError, WrongState
from bot.incidents.desk import Desk
from bot.incidents.roles import refuse
from bot.models import Incident, Timer

TIMER_KIND = "drill_action"
REMIND_AT = time(9, 0)  # on the due date, in the company's timezone
REMIND_AGAIN = timedelta(days=1)
MAX_ACTION = 500


@dataclass(frozen=True)
class ActionItem:
    number: int
    text: str
    owner: str
    due: date
    added_by: str
    done_by: str | None = None
    done_at: datetime | None = None


def items(desk: Desk, incident: Incident) -> list[ActionItem]:
    """The drill's improvement plan as it stands, in the order the items were added."""
    done = {int(e.data["number"]): e for e in desk.store.events(incident.id, "drill_action_done")}
    plan = []
    for number, event in enumerate(desk.store.events(incident.id, "drill_action"), start=1):
        finished = done.get(number)
        plan.append(
            ActionItem(
                number=number,
                text=str(event.data["text"]),
                owner=str(event.data["owner"]),
                due=date.fromisoformat(str(event.data["due"])),
                added_by=event.actor,
                done_by=finished.actor if finished else None,
                done_at=finished.at if finished else None,
            )
        )
    return plan


def add_action(desk: Desk, incident: Incident, user: str, text: str, owner: str, due: date) -> ActionItem:
    """Add an item to the drill's improvement plan and arm its reminder."""
    text = " ".join(text.split())
    if not text:
        raise UsageError("exercise.error.action_usage")
    if len(text) > MAX_ACTION:
        raise UsageError("exercise.error.action_too_long", limit=MAX_ACTION)
    with desk.deciding():
        incident = _drill(desk, incident)
        today = desk.now().astimezone(desk.settings.tz).date()
        if due < today:
            raise UsageError("exercise.error.action_past", date=due.isoformat(), today=today.isoformat())
        desk.store.add_event(incident.id, desk.now(), user, "drill_action", text=text, owner=owner, due=due.isoformat())
        number = len(desk.store.events(incident.id, "drill_action"))
        # stored in UTC, as every timer is: the due times compare as text
        at = datetime.combine(due, REMIND_AT, tzinfo=desk.settings.tz).astimezone(UTC)
        at = at if at > desk.now() else desk.now() + REMIND_AGAIN  # due today, after the hour: tomorrow, overdue
        desk.store.add_timers(
            [{"incident_id": incident.id, "kind": TIMER_KIND, "due_at": at, "data": {"number": number}}]
        )
    desk.timers_changed()
    return ActionItem(number, text, owner, due, user)


def finish_action(desk: Desk, incident: Incident, user: str, number: int) -> ActionItem:
    """Mark item `number` done (its owner, or the crisis lead); its reminders stop."""
    with desk.deciding():
        incident = _drill(desk, incident)
        plan = items(desk, incident)
        if not 1 <= number <= len(plan):
            raise UsageError("exercise.error.action_unknown", number=number, count=len(plan))
        item = plan[number - 1]
        if item.done_by is not None:
            raise WrongState("exercise.error.action_already_done", number=number, user=item.done_by)
        leads = desk.store.role_owners().get("crisis_lead", [])
        if user != item.owner and user not in leads:
            error = NotAuthorized("exercise.error.action_not_owner", number=number)
            raise refuse(desk, incident, user, error, action="drill_action_done", number=number)
        event = desk.store.add_event(incident.id, desk.now(), user, "drill_action_done", number=number)
    return ActionItem(item.number, item.text, item.owner, item.due, item.added_by, user, event.at)


def remind(desk: Desk, incident: Incident, timer: Timer) -> bool:
    """An open item's due date came: remind its owner and the crisis lead, and again a day later until done."""
    number = int(timer.data["number"])
    plan = items(desk, incident)
    if not incident.drill or not 1 <= number <= len(plan) or plan[number - 1].done_by is not None:
        return False
    item = plan[number - 1]
    now = desk.now()
    desk.store.add_event(incident.id, now, "bot", "drill_action_reminder", number=number)
    desk.store.add_outbox(
        incident.id,
        "drill_action_reminder",
        now,
        number=number,
        text=item.text,
        owner=item.owner,
        due=item.due.isoformat(),
        roles=["crisis_lead"],
    )
    again = {"incident_id": incident.id, "kind": TIMER_KIND, "due_at": timer.due_at + REMIND_AGAIN}
    desk.store.add_timers([{**again, "data": {"number": number}}])
    return True


def _drill(desk: Desk, incident: Incident) -> Incident:
    incident = desk.store.incident(incident.id)
    if not incident.drill:
        raise UsageError("exercise.error.not_drill")
    return incident
