"""Public drafts: rendering from templates, edits as new versions, approvals per version, posting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.errors import NotFound, PromiseLapsing, StaleDraft, UsageError, WrongState
from bot.incidents import timers
from bot.incidents.approvals import approval_state, approvers_for
from bot.incidents.desk import Desk, require_active
from bot.incidents.roles import require_role
from bot.messages import DraftValues, fits, limit_of, measured_length, public_time
from bot.models import Approval, Draft, Event, Incident

MAX_REASON = 1000  # characters of a reject reason (the reject form's own limit)

POSTERS = ["social_media_manager", "crisis_lead"]
WRITERS = ["social_media_manager", "communications", "crisis_lead"]
PROMISE_STEP = timedelta(minutes=5)  # a public "next update at" time is a round one: 22:05, not 22:03


@dataclass(frozen=True)
class DraftOutcome:
    draft: Draft
    incident: Incident
    changed: bool  # False: nothing new happened (a double click, an approval already given)
    first_response: bool = False  # this posting was the incident's first public response


def networks_for(desk: Desk, incident: Incident) -> list[str]:
    """The company's social channels that this scenario drafts for, in the company's order."""
    book = desk.playbook(incident.scenario)
    return [n for n in desk.settings.company.channels if n in book.channels]


def promised_update(desk: Desk, incident: Incident) -> datetime:
    """The next update a text drafted now promises: the level's cadence from now, rounded up to 5 minutes."""
    cadence = desk.playbook(incident.scenario).level(incident.level).update_every_minutes
    due = desk.now() + timedelta(minutes=cadence)
    step = PROMISE_STEP.total_seconds()
    return datetime.fromtimestamp(-(-due.timestamp() // step) * step, due.tzinfo)


def draft_values(
    desk: Desk, incident: Incident, update: str = "", summary: str = "", promise: datetime | None = None
) -> DraftValues:
    company = desk.settings.company
    when = promise or promised_update(desk, incident)
    next_update = public_time(when, incident.language, desk.settings.tz, desk.now(), desk.messages)
    return DraftValues(
        company=company.name,
        hashtag=company.hashtag,
        faq_url=company.faq_url,
        next_update=next_update,
        update=update,
        summary=summary,
        authority_notified=timers.authority_notified(desk, incident),
        done=tuple(desk.store.checklist(incident.id)),
    )


def _promise(text: str, values: DraftValues, when: datetime) -> dict[str, Any]:
    """The promise a text makes: the moment and its words, when the text does say it (a template may not)."""
    said = bool(values.next_update) and values.next_update in text
    return {"promised_at": when if said else None, "promise_text": values.next_update if said else None}


def render_drafts(
    desk: Desk,
    incident: Incident,
    kind: str,
    actor: str,
    update: str = "",
    summary: str = "",
    source: int | None = None,
) -> list[Draft]:
    """Render and store one draft of `kind` per network; the caller holds the transaction.

    `source`: the event the set is drafted for (an internal update, a reminder), noted so it is drafted once.
    """
    promise = promised_update(desk, incident)
    values = draft_values(desk, incident, update=update, summary=summary, promise=promise)
    now = desk.now()
    drafts = []
    for network in networks_for(desk, incident):
        text = desk.messages.draft(incident.language, incident.scenario, kind, network, values)
        draft = desk.store.insert_draft(
            incident_id=incident.id,
            network=network,
            language=incident.language,
            kind=kind,
            text=text,
            version=1,
            status="pending",
            created_at=now,
            updated_at=now,
            **_promise(text, values, promise),
        )
        noted = {"source": source} if source is not None else {}
        desk.store.add_event(
            incident.id,
            now,
            actor,
            "drafted",
            draft_id=draft.id,
            network=network,
            kind=kind,
            promised=draft.promised_at,
            **noted,
        )
        drafts.append(draft)
    return drafts


def _load(desk: Desk, draft_id: int, version: int | None) -> tuple[Draft, Incident]:
    try:
        draft = desk.store.draft(draft_id)
    except Exception as exc:  # sqlite-utils raises NotFoundError; the user only needs to know it's gone
        raise NotFound("error.draft_not_found") from exc
    incident = desk.store.incident(draft.incident_id)
    closing = draft.kind == desk.playbook(incident.scenario).drafts.resolve
    if not incident.active and not closing:  # the closing posts are approved after the incident is resolved
        raise WrongState("error.incident_resolved", code=incident.code)
    if version is not None and version != draft.version:
        raise StaleDraft(seen=version, current=draft.version, network=draft.network)
    return draft, incident


def check_may_edit(desk: Desk, draft_id: int, version: int, user: str) -> tuple[Draft, Incident]:
    """Refuse before the edit form opens, not after someone typed into it; and again when it is saved."""
    draft, incident = _load(desk, draft_id, version)
    if draft.status == "posted":  # public already: a correction is a new post, not another version of this one
        raise WrongState("error.posted_no_edit")
    require_role(desk, incident, user, sorted({*approvers_for(desk, incident), *WRITERS}), "edit")
    return draft, incident


def check_may_decide(desk: Desk, draft_id: int, version: int, user: str) -> tuple[Draft, Incident]:
    """Refuse before the reject form opens when `user` is no approver or the draft moved on."""
    draft, incident, _ = _decider(desk, draft_id, version, user)
    return draft, incident


def _decider(desk: Desk, draft_id: int, version: int, user: str) -> tuple[Draft, Incident, set[str]]:
    """The draft, its incident and the approver roles `user` may reject it in."""
    draft, incident = _load(desk, draft_id, version)
    if draft.status == "posted":
        raise WrongState("error.draft_already_posted")
    return draft, incident, require_role(desk, incident, user, approvers_for(desk, incident), "reject")


def _not_rejected(draft: Draft) -> None:
    """A rejected version is done with: only a new version (an edit) collects approvals and can be posted."""
    if draft.status == "rejected":
        raise WrongState("error.draft_rejected", network=draft.network, version=draft.version)


def check_edit(desk: Desk, draft_id: int, user: str, text: str, version: int) -> tuple[Draft, Incident]:
    """Everything `edit_draft` refuses, decided without writing (the edit form's errors, before its ack)."""
    text = text.strip()
    with desk.checking():
        draft, incident = check_may_edit(desk, draft_id, version, user)
        if not text:
            raise UsageError("error.empty_draft")
        if not fits(draft.network, text):
            raise UsageError(
                "error.over_limit", length=measured_length(draft.network, text), limit=limit_of(draft.network)
            )
    return draft, incident


def edit_draft(desk: Desk, draft_id: int, user: str, text: str, version: int) -> DraftOutcome:
    """Save `text` as the draft's next version; earlier approvals no longer count."""
    text = text.strip()
    with desk.deciding():  # checked on the draft as it is now: a concurrent click may have posted or edited it
        draft, incident = check_edit(desk, draft_id, user, text, version)
        if text == draft.text:
            return DraftOutcome(draft, incident, changed=False)
        kept = bool(draft.promise_text) and str(draft.promise_text) in text  # an edit may drop or change the time
        promise = {"promised_at": draft.promised_at, "promise_text": draft.promise_text} if kept else {}
        draft = _save_version(desk, incident, draft, user, text, promise)
    return DraftOutcome(draft, incident, changed=True)


def _save_version(
    desk: Desk, incident: Incident, draft: Draft, user: str, text: str, promise: dict[str, Any], **note: Any
) -> Draft:
    """Store `text` as the draft's next version, waiting for approval; the caller holds the transaction."""
    now = desk.now()
    draft = desk.store.update_draft(
        draft.id,
        text=text,
        version=draft.version + 1,
        status="pending",
        reject_reason=None,
        updated_at=now,
        promised_at=promise.get("promised_at"),
        promise_text=promise.get("promise_text"),
    )
    desk.store.add_event(
        incident.id, now, user, "edited", draft_id=draft.id, network=draft.network, version=draft.version, **note
    )
    return draft


def approve_draft(desk: Desk, draft_id: int, version: int, user: str) -> DraftOutcome:
    """Approve the version in every required role `user` holds; complete when all roles have."""
    with desk.deciding():  # on the draft, level and roles as they are now: a reject, edit or level change may
        draft, incident = _load(desk, draft_id, version)  # have come between the click and here
        if draft.status in ("approved", "posted"):
            return DraftOutcome(draft, incident, changed=False)
        _not_rejected(draft)
        held = require_role(desk, incident, user, approvers_for(desk, incident), "approve")
        now = desk.now()
        added = [
            role
            for role in sorted(held)
            if desk.store.add_approval(
                Approval(draft_id=draft.id, version=version, approver=user, role=role, decision="approved", at=now)
            )
        ]
        for role in added:
            desk.store.add_event(
                incident.id, now, user, "approved", draft_id=draft.id, network=draft.network, version=version, role=role
            )
        if all(approval_state(desk, incident, draft).values()):
            draft = desk.store.update_draft(draft.id, status="approved", updated_at=now)
            desk.store.add_event(
                incident.id, now, user, "draft_ready", draft_id=draft.id, network=draft.network, version=version
            )
    return DraftOutcome(draft, incident, changed=bool(added))


def _reason(reason: str) -> str:
    reason = " ".join(reason.split())
    if not reason:
        raise UsageError("error.reject_needs_reason")
    if len(reason) > MAX_REASON:  # the form stops at it; a hand-made request must not get past it either
        raise UsageError("error.text_too_long", limit=MAX_REASON)
    return reason


def check_reject(desk: Desk, draft_id: int, version: int, user: str, reason: str) -> tuple[Draft, Incident]:
    """Everything `reject_draft` refuses, decided without writing (the reject form's errors, before its ack)."""
    _reason(reason)
    with desk.checking():
        return check_may_decide(desk, draft_id, version, user)


def reject_draft(desk: Desk, draft_id: int, version: int, user: str, reason: str) -> DraftOutcome:
    """Send the version back with a reason; an edit makes a new version to approve."""
    reason = _reason(reason)
    with desk.deciding():  # on the draft as it is now: it may have been posted or edited since the form opened
        draft, incident, held = _decider(desk, draft_id, version, user)
        if draft.status == "rejected":
            return DraftOutcome(draft, incident, changed=False)
        now = desk.now()
        role = sorted(held)[0]
        desk.store.add_approval(
            Approval(
                draft_id=draft.id, version=version, approver=user, role=role, decision="rejected", at=now, reason=reason
            )
        )
        draft = desk.store.update_draft(draft.id, status="rejected", reject_reason=reason, updated_at=now)
        desk.store.add_event(
            incident.id,
            now,
            user,
            "rejected",
            draft_id=draft.id,
            network=draft.network,
            version=version,
            role=role,
            reason=reason,
        )
    return DraftOutcome(draft, incident, changed=True)


def mark_posted(desk: Desk, draft_id: int, version: int, user: str, anyway: bool = False) -> DraftOutcome:
    """Record that the approved text is live; the first one stops the first-response countdown.

    A text whose promised update is (nearly) due is refused with PromiseLapsing unless `anyway`: the
    poster is offered a redraft with a new time first. The next-update timer is armed at the promise.
    """
    with desk.deciding():  # on the draft as it is now: a reject or a level change may have come since the click
        draft, incident = _load(desk, draft_id, version)
        if draft.status == "posted":
            return DraftOutcome(draft, incident, changed=False)
        _not_rejected(draft)
        if draft.status != "approved":
            raise WrongState("error.draft_not_approved")
        require_role(desk, incident, user, POSTERS, "mark_posted")
        now = desk.now()
        if not anyway:
            check_promise(desk, incident, draft)
        draft = desk.store.update_draft(draft.id, status="posted", posted_at=now, posted_by=user, updated_at=now)
        desk.store.add_event(
            incident.id,
            now,
            user,
            "posted",
            draft_id=draft.id,
            network=draft.network,
            version=draft.version,
            **({"promised": draft.promised_at, "anyway": True} if anyway and draft.promised_at else {}),
        )
        first = incident.first_response_at is None
        if first:
            incident = desk.store.update_incident(incident.id, first_response_at=now)
            late = now > incident.first_response_due
            desk.store.add_event(
                incident.id,
                now,
                user,
                "first_response",
                network=draft.network,
                minutes=round((now - incident.detected_at).total_seconds() / 60, 1),
                late=late,
            )
            # the channel's note is queued with the fact it reports (delivered and retried by the outbox)
            desk.store.add_outbox(incident.id, "first_response", now, draft_id=draft.id, network=draft.network, by=user)
            timers.after_first_response(desk, incident, now, promised=draft.promised_at)
        elif draft.kind == "status_update" and not _update_posted_since(desk, incident, draft):
            timers.after_public_update(desk, incident, now, promised=draft.promised_at)
        elif draft.promised_at is not None:  # another network's copy: its promise may be the earlier one
            timers.hold_to_promise(desk, incident, now, draft.promised_at)
    desk.timers_changed()
    return DraftOutcome(draft, incident, changed=True, first_response=first)


def check_promise(desk: Desk, incident: Incident, draft: Draft) -> None:
    """Refuse to post a text whose promised update is less than the reminder lead away (or already past)."""
    if draft.promised_at is None:
        return
    left = draft.promised_at - desk.now()
    if left < timers.update_reminder_lead(desk, incident):
        raise PromiseLapsing(
            network=draft.network,
            promised=draft.promise_text or "",
            minutes=max(0, round(left.total_seconds() / 60)),
            past=left <= timedelta(0),
        )


def redraft_with_new_time(desk: Desk, draft_id: int, version: int, user: str) -> DraftOutcome:
    """A new version of the draft promising a fresh next-update time; it needs approval like any version.

    The old time's words are replaced in the text as it stands, so the edits people made are kept.
    """
    with desk.deciding():  # on the draft as it is now: a concurrent click may have posted or edited it
        draft, incident = check_may_edit(desk, draft_id, version, user)
        if not (draft.promise_text and draft.promise_text in draft.text):
            raise WrongState("promise.none")
        promise = promised_update(desk, incident)
        values = draft_values(desk, incident, promise=promise)
        text = draft.text.replace(draft.promise_text, values.next_update)
        if not fits(draft.network, text):
            raise UsageError(
                "error.over_limit", length=measured_length(draft.network, text), limit=limit_of(draft.network)
            )
        made = _promise(text, values, promise)
        draft = _save_version(desk, incident, draft, user, text, made, promised=made["promised_at"], new_time=True)
    return DraftOutcome(draft, incident, changed=True)


def _update_posted_since(desk: Desk, incident: Incident, draft: Draft) -> bool:
    """True when another network's copy of the same update round was already posted (one cadence tick)."""
    return any(
        d.id != draft.id and d.kind == draft.kind and d.status == "posted" and d.created_at == draft.created_at
        for d in desk.store.drafts(incident.id, draft.kind)
    )


@dataclass(frozen=True)
class UpdateDrafted:
    incident: Incident
    drafts: list[Draft]  # the set drafted for this intent: now, or by an earlier click
    changed: bool  # False: an earlier click (or someone else's) had drafted it already
    by: str  # who drafted the set


def draft_update(desk: Desk, incident: Incident, user: str, source: int | None = None) -> UpdateDrafted:
    """Render the playbook's status-update drafts for every network, for the same approval flow.

    One set per intent, however many clicks and whoever clicks: `source` is the internal update (a
    `status_update` event) the drafts are made from; None is the latest update reminder's Draft update button.
    """
    book = desk.playbook(incident.scenario)
    with desk.deciding():  # read and decided under the write lock: concurrent clicks make one set
        incident = require_active(desk.store.incident(incident.id))
        require_role(desk, incident, user, sorted({*approvers_for(desk, incident), *WRITERS}), "draft_update")
        event = _update_source(desk, incident, source)
        done = [e for e in desk.store.events(incident.id, "drafted") if event and e.data.get("source") == event.id]
        if done:
            drafts = [desk.store.draft(e.data["draft_id"]) for e in done]
            return UpdateDrafted(incident, drafts, changed=False, by=done[0].actor)
        update = event.data.get("text", "") if event and event.kind == "status_update" else ""
        source_id = event.id if event else None
        drafts = render_drafts(desk, incident, book.drafts.update, actor=user, update=update, source=source_id)
    return UpdateDrafted(incident, drafts, changed=True, by=user)


def _update_source(desk: Desk, incident: Incident, source: int | None) -> Event | None:
    """The event a Draft update click drafts from: the internal update it names, else the latest reminder."""
    if source is None:
        reminders = desk.store.events(incident.id, "update_reminder")
        return reminders[-1] if reminders else None
    found = [e for e in desk.store.events(incident.id, "status_update") if e.id == source]
    if not found:
        raise NotFound("error.not_found")
    return found[0]
