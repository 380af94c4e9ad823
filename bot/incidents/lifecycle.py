"""Living with an incident after declare: internal updates, notes, resolving, and the survey after."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.errors import AlreadyDone, UsageError, WrongState
from bot.incidents import gdpr, timers
from bot.incidents.announce import announce
from bot.incidents.desk import Desk, require_active
from bot.incidents.drafts import render_drafts
from bot.incidents.drills.score_minimal import score_drill
from bot.incidents.roles import require_role
from bot.models import Draft, Event, Incident, NoticeKind

MAX_TEXT = 3000
SURVEY_SCALE = (1, 2, 3, 4, 5)


def _text(text: str, empty_key: str) -> str:
    text = text.strip()
    if not text:
        raise UsageError(empty_key)
    if len(text) > MAX_TEXT:
        raise UsageError("error.text_too_long", limit=MAX_TEXT)
    return text


def post_status_update(desk: Desk, incident: Incident, user: str, text: str) -> Event:
    """An internal status update: on the timeline, and the seed of the next public update."""
    require_active(incident)
    text = _text(text, "error.empty_update")
    with desk.deciding():  # active as it is now: a resolve may have come since the command was read
        require_active(desk.store.incident(incident.id))
        event = desk.store.add_event(incident.id, desk.now(), user, "status_update", text=text)
        # posted in the channel (with the button that drafts public updates from it) by the outbox
        desk.store.add_outbox(incident.id, "internal_update", desk.now(), by=user, text=text, event_id=event.id)
        return event


def add_note(desk: Desk, incident: Incident, user: str, text: str, **source: Any) -> Event:
    """A note on the timeline (also from the "Add to crisis timeline" message shortcut)."""
    text = _text(text, "error.empty_note")
    with desk.store.transaction():
        return desk.store.add_event(incident.id, desk.now(), user, "note", text=text, **source)


def check_may_resolve(desk: Desk, incident: Incident, user: str) -> None:
    require_active(incident)
    require_role(desk, incident, user, desk.playbook(incident.scenario).resolve_by, "resolve")


def check_may_finish_resolve(desk: Desk, incident: Incident, user: str) -> None:
    """Re-running the closing steps of a resolved incident is for those who may resolve it.

    Resolving twice stays impossible; this only lets the closing steps the chat platform refused be done again.
    """
    if incident.active:
        raise WrongState("error.incident_not_resolved", code=incident.code)
    require_role(desk, incident, user, desk.playbook(incident.scenario).resolve_by, "resolve")


def check_resolve(desk: Desk, incident: Incident, user: str, summary: str) -> Incident:
    """Everything `resolve` refuses, decided without writing (the resolve form's errors, before its ack);
    returns the incident as it is now."""
    _text(summary, "error.empty_summary")
    with desk.checking():
        incident = desk.store.incident(incident.id)
        if not incident.active:  # a backup lead (or a double submit) came first: nothing to correct in the form
            resolved = desk.store.events(incident.id, "resolved")
            raise AlreadyDone("error.already_resolved", code=incident.code, user=resolved[0].actor if resolved else "")
        check_may_resolve(desk, incident, user)
    return incident


@dataclass(frozen=True)
class Resolved:
    incident: Incident
    drafts: list[Draft]  # the "resolved" public drafts, for the usual approval flow


def resolve(
    desk: Desk,
    incident: Incident,
    user: str,
    summary: str,
    impact: str = "",
    lessons: str = "",
    authority: gdpr.Answer | None = None,
) -> Resolved:
    """Close the incident: stop the timers, record the summary, draft the closing public posts.

    A data breach's notification duty is not the crisis's: unless `authority` says the authority was
    notified, the GDPR reminders keep running after the resolve (see bot/incidents/gdpr.py).
    """
    summary = _text(summary, "error.empty_summary")
    book = desk.playbook(incident.scenario)
    with desk.deciding():  # decided on the incident as it is now: one resolve, however many submit at once
        incident = check_resolve(desk, incident, user, summary)
        now = desk.now()
        # The form's answer first: a closing draft may say the authority was notified only once that is recorded.
        duty_open = gdpr.record_at_resolve(desk, incident, user, authority, now)
        drafts = render_drafts(desk, incident, book.drafts.resolve, actor=user, summary=summary)
        incident = desk.store.update_incident(incident.id, status="resolved", resolved_at=now)
        desk.store.add_event(
            incident.id, now, user, "resolved", summary=summary, impact=impact.strip(), lessons=lessons.strip()
        )
        desk.store.cancel_timers(incident.id, now, kinds=timers.ENDED_BY_RESOLVE if duty_open else None)
        # What Slack could not take before the resolve (reminders, pages, redraws) is moot now and must not land
        # after the closing message; queued announcements stay (they go out before the "resolved" one), and so do
        # GDPR reminders while that duty outlives the resolve.
        keep: tuple[NoticeKind, ...] = ("announce", "gdpr_reminder") if duty_open else ("announce",)
        dropped = desk.store.drop_pending_outbox(incident.id, now, keep=keep)
        if dropped:
            desk.store.add_event(incident.id, now, "bot", "outbox_dropped", kinds=dropped)
        announce(desk, incident, "resolved")
        if incident.drill:  # drills: readiness (the minimal score, until the full scorecard replaces it)
            score_drill(desk, incident, now)
    desk.timers_changed()
    return Resolved(incident, drafts)


def participants(desk: Desk, incident: Incident, until_resolved: bool = False) -> list[str]:
    """Everyone who acted in the incident, in order of first appearance.

    `until_resolved` counts only who acted up to the resolve (the survey's recipients): a re-run of the closing
    steps later must not send the survey to someone who only approved a closing draft or answered the survey.
    """
    events = desk.store.events(incident.id)
    if until_resolved:
        ends = [i for i, e in enumerate(events) if e.kind == "resolved"]
        events = events[: ends[0] + 1] if ends else events
    people = [incident.declared_by] + [e.actor for e in events]
    people += [ack.user for ack in desk.store.acks(incident.id).values()]
    return [p for p in dict.fromkeys(people) if p and p != "bot"]


def check_survey(process: int, role_clarity: int) -> None:
    """What `answer_survey` refuses (the survey form's error, before its ack)."""
    if process not in SURVEY_SCALE or role_clarity not in SURVEY_SCALE:
        raise UsageError("error.survey_scale")


def answer_survey(desk: Desk, incident: Incident, user: str, process: int, role_clarity: int, improve: str) -> Event:
    """One participant's answers; a later answer from the same person replaces the earlier one in reports."""
    check_survey(process, role_clarity)
    with desk.store.transaction():
        return desk.store.add_event(
            incident.id,
            desk.now(),
            user,
            "survey_answer",
            questions={"q1": process, "q2": role_clarity, "q3": improve.strip()[:MAX_TEXT]},
        )
