"""Modal submissions: declare, edit, reject, resolve, survey. Each acknowledges before anything is written.

The sequence every form follows (check, answer, verb, late refusal) is bot/chat/submits.py's; this module reads
Slack's payloads into it and answers in Slack's terms.

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

from bot.chat import submits
from bot.chat.buttons import number
from bot.chat.flow import Flow
from bot.chat.forms import scenario_problem
from bot.chat.message import Message
from bot.chat.wording import Wording
from bot.errors import CrisisError, UsageError
from bot.incidents import triage
from bot.incidents.declare import DeclareRequest
from bot.incidents.desk import Desk
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

    @property
    def desk(self) -> Desk:
        return self.slack.desk

    @property
    def say(self) -> Wording:
        return self.slack.wording_for(self.client, self.user)

    def text(self, block: str) -> str:
        return views.text_of(self.values, block)

    def choice(self, block: str) -> str:
        return views.selected_of(self.values, block)

    def hidden(self, key: str) -> object:
        return self.meta.get(key)

    def refused(self, field: str, exc: CrisisError) -> None:
        """The form stays open with the refusal under `field`; the refusal goes on the timeline after the ack."""
        self.ack(response_action="errors", errors={field: fit(self.slack.explain(exc, self.say), ERROR_LIMIT)})
        self.slack.desk.record_refusal(exc)

    def close(self) -> None:
        self.ack()

    def flow(self) -> Flow:
        return self.slack.flow(self.client)

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
    problem = scenario_problem(slack.desk, parsed, say)  # an unknown scenario, a drill without a script
    if problem:
        form.ack(response_action="errors", errors=problem)
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
    try:
        triage_id = number(form.meta.get("triage"))
        if not " ".join(form.text("reason").split()):
            raise UsageError("triage.reason_needed")
    except CrisisError as exc:
        form.refused("reason", exc)
        return
    form.ack()
    try:
        triage.dismiss(form.slack.desk, triage_id, form.user, form.text("reason"))
        text = form.say("triage.dismissed_ok")
    except CrisisError as exc:
        text = form.slack.explain(exc, form.say)
    form.slack.flow(form.client).tell(form.user, None, Message(text))


def resolve_submitted(form: Submission) -> None:
    authority, errors = views.parse_authority(form.values, form.desk.now(), form.say)
    if errors:
        form.ack(response_action="errors", errors=errors)
        return
    submits.resolve_submitted(form, authority)


FORMS: dict[str, Callable[[Submission], None]] = {
    "declare": declare_submitted,
    "triage_dismiss": triage_dismissed,
    "draft_edit": submits.edit_submitted,
    "draft_reject": submits.reject_submitted,
    "resolve": resolve_submitted,
    "survey": submits.survey_submitted,
}
