"""Modal submissions: declare, edit, reject, resolve, survey. Each acknowledges before anything is written.

Slack waits for the ack of a submission to close the form or show errors under its fields, and the ack is
also the promise that the request is taken: the only write before it is the request's own record (the
`once_per_request` middleware). So each form is checked first by the core's read-only check (Desk.checking),
whose refusal is the field error; then acknowledged; then the verb runs and checks again under the write lock.
What that second check refuses (someone else was a moment faster) can no longer go in the form, which has
closed: it reaches the person as an ephemeral notice in the incident's channel, or a DM.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot.chat.buttons import number
from bot.chat.message import Message
from bot.chat.wording import Wording
from bot.errors import AlreadyDone, CrisisError, UsageError
from bot.incidents import drafts, lifecycle, triage
from bot.incidents.declare import DeclareRequest
from bot.models import Incident
from bot.slack import replay, views
from bot.slack.requests import Requests
from bot.slack.text import fit

ERROR_LIMIT = 150  # a field error shown under a modal input: one short sentence


@dataclass(frozen=True)
class Submission:
    """One submitted form: who sent it, what it says, and the ways to answer them."""

    slack: Requests
    ack: Ack
    client: WebClient
    user: str
    values: dict[str, Any]
    meta: dict[str, Any]
    replayed: bool  # finished at start-up after a restart (bot/slack/replay.py)

    def text(self, block: str) -> str:
        return views.text_of(self.values, block)

    def refuse(self, field: str, exc: CrisisError, say: Wording) -> None:
        """The form stays open with the refusal under `field`; the refusal goes on the timeline after the ack."""
        self.ack(response_action="errors", errors={field: fit(self.slack.explain(exc, say), ERROR_LIMIT)})
        self.slack.desk.record_refusal(exc)

    def notify(self, channel: str | None, exc: CrisisError) -> None:
        """A refusal decided after the ack (the form has closed): an ephemeral notice in `channel`, else a DM."""
        say = self.slack.wording_for(self.client, self.user, wait=True)
        self.slack.flow(self.client).tell(self.user, channel, Message(self.slack.explain(exc, say)))


def form(slack: Requests, handle: Callable[[Submission], None]) -> Callable[..., None]:
    """The Bolt listener for a modal's submission, handing `handle` the submission."""

    def listener(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        user = (body.get("user") or {}).get("id", "")
        values = view.get("state", {}).get("values", {})
        handle(Submission(slack, ack, client, user, values, views.metadata(view), bool(context.get(replay.REPLAYED))))

    listener.__name__ = handle.__name__
    return listener


def declare_submitted(form: Submission) -> None:
    slack, say = form.slack, form.slack.wording()
    parsed, errors = views.parse_declare(form.values, slack.desk.now(), say)
    if parsed is None:
        form.ack(response_action="errors", errors=errors)
        return
    if parsed.scenario not in slack.desk.playbooks:
        form.ack(response_action="errors", errors={"scenario": say("modal.declare.need_scenario")})
        return
    form.ack()
    channel = form.meta.get("channel")
    triage_id = form.meta.get("triage")  # opened from a triage card: its alerts go on the timeline first
    request = DeclareRequest(
        declared_by=form.user, triage_id=number(triage_id) if triage_id is not None else None, **parsed.model_dump()
    )

    def tell(text: str) -> None:
        slack.flow(form.client).tell(form.user, channel, Message(text))

    try:
        slack.declare(form.client, request, tell)
    except CrisisError as exc:
        tell(slack.explain(exc, say))


def triage_dismissed(form: Submission) -> None:
    """Dismiss with a reason: an empty reason keeps the form open; a card decided meanwhile is said after."""
    say = form.slack.wording_for(form.client, form.user)
    try:
        triage_id = number(form.meta.get("triage"))
        if not " ".join(form.text("reason").split()):
            raise UsageError("triage.reason_needed")
    except CrisisError as exc:
        form.refuse("reason", exc, say)
        return
    form.ack()
    try:
        triage.dismiss(form.slack.desk, triage_id, form.user, form.text("reason"))
        text = say("triage.dismissed_ok")
    except CrisisError as exc:
        text = form.slack.explain(exc, say)
    form.slack.flow(form.client).tell(form.user, None, Message(text))


def edit_submitted(form: Submission) -> None:
    desk, text = form.slack.desk, form.text("text")
    try:
        draft_id, version = number(form.meta.get("draft")), number(form.meta.get("version"))
        _, incident = drafts.check_edit(desk, draft_id, form.user, text, version)
    except CrisisError as exc:
        form.refuse("text", exc, form.slack.wording())
        return
    form.ack()
    try:
        outcome = drafts.edit_draft(desk, draft_id, form.user, text, version)
    except CrisisError as exc:  # e.g. marked as posted between the check and the edit
        form.notify(incident.room_ref, exc)
        return
    form.slack.flow(form.client).after().after_draft_change(outcome)


def reject_submitted(form: Submission) -> None:
    desk, reason = form.slack.desk, form.text("reason")
    try:
        draft_id, version = number(form.meta.get("draft")), number(form.meta.get("version"))
        _, incident = drafts.check_reject(desk, draft_id, version, form.user, reason)
    except CrisisError as exc:
        form.refuse("reason", exc, form.slack.wording())
        return
    form.ack()
    try:
        outcome = drafts.reject_draft(desk, draft_id, version, form.user, reason)
    except CrisisError as exc:  # e.g. marked as posted between the check and the reject
        form.notify(incident.room_ref, exc)
        return
    form.slack.flow(form.client).after().after_draft_change(outcome)


def resolve_submitted(form: Submission) -> None:
    slack, desk = form.slack, form.slack.desk
    say = slack.wording_for(form.client, form.user)
    authority, errors = views.parse_authority(form.values, desk.now(), say)
    if errors:
        form.ack(response_action="errors", errors=errors)
        return
    summary = form.text("summary")
    try:
        incident = desk.store.incident(number(form.meta.get("incident")))
        if form.replayed and not incident.active:
            _finish_replayed_resolve(form, incident)
            return
        incident = lifecycle.check_resolve(desk, incident, form.user, summary)
    except AlreadyDone as exc:  # resolved by someone else a moment before: nothing to correct in this form
        form.ack()
        form.notify(incident.room_ref, exc)
        return
    except CrisisError as exc:
        form.refuse("summary", exc, say)
        return
    form.ack()
    try:
        resolved = lifecycle.resolve(
            desk, incident, form.user, summary, form.text("impact"), form.text("lessons"), authority=authority
        )
    except CrisisError as exc:  # e.g. a backup lead's resolve came between the check and this one
        form.notify(incident.room_ref, exc)
        return
    slack.flow(form.client).after_resolve(resolved, form.user)


def _finish_replayed_resolve(form: Submission, incident: Incident) -> None:
    """This form resolved the incident and was acknowledged, then the process died in the closing steps."""
    with form.slack.desk.checking():
        lifecycle.check_may_finish_resolve(form.slack.desk, incident, form.user)
    form.ack()
    form.slack.flow(form.client).after_resolve(lifecycle.Resolved(incident, []), form.user)


def survey_submitted(form: Submission) -> None:
    say = form.slack.wording_for(form.client, form.user)
    try:
        incident = form.slack.desk.store.incident(number(form.meta.get("incident")))
        process, role_clarity = (
            number(views.selected_of(form.values, "q1")),
            number(views.selected_of(form.values, "q2")),
        )
        lifecycle.check_survey(process, role_clarity)
    except CrisisError as exc:
        form.refuse("q1", exc, say)
        return
    form.ack()
    lifecycle.answer_survey(form.slack.desk, incident, form.user, process, role_clarity, form.text("q3"))
    form.slack.flow(form.client).tell(form.user, None, Message(say("survey.thanks", code=incident.code)))


FORMS: dict[str, Callable[[Submission], None]] = {
    "declare": declare_submitted,
    "triage_dismiss": triage_dismissed,
    "draft_edit": edit_submitted,
    "draft_reject": reject_submitted,
    "resolve": resolve_submitted,
    "survey": survey_submitted,
}
