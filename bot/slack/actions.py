"""Buttons and the message shortcut: each a small function, acknowledged before it runs (see `button`).

A button's value names what it acts on (`<incident>:<role>`, `<draft>:<version>`); the core re-reads that under
its write lock, never trusting the message the button was drawn on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.chat import status
from bot.errors import AlreadyDone, CrisisError, NotAuthorized, PromiseLapsing, UsageError
from bot.incidents import checklist, drafts, lifecycle, roles
from bot.slack import views
from bot.slack.home import from_home, publish_home
from bot.slack.requests import Requests, why

log = logging.getLogger("crisisbot.slack")

# A button's work once it is acknowledged: (slack, client, body, clicker, the button's value).
ButtonWork = Callable[[Requests, WebClient, dict[str, Any], str, str | None], None]


def button(slack: Requests, work: ButtonWork) -> Callable[..., None]:
    """The Bolt listener for a button: ack() at once, do the work, tell the clicker ephemerally what went wrong."""

    def listener(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        user = body.get("user", {}).get("id", "")
        say = slack.wording_for(client, user, wait=True) if user else slack.wording()  # acked already: we may look
        action = (body.get("actions") or [{}])[0]
        try:
            work(slack, client, body, user, action.get("value"))
        except CrisisError as exc:
            tell(client, body, respond, slack.explain(exc, say))
        except (SlackApiError, OSError) as exc:  # refused, or no answer in time
            log.warning("action %s: Slack refused %s", action.get("action_id"), why(exc))
            tell(client, body, respond, say("error.slack_failed"))
        if from_home(body):  # redraw the clicker's Home, whether the click worked or not
            publish_home(slack, client, user)

    listener.__name__ = work.__name__
    return listener


def acknowledge(slack: Requests, client: WebClient, body: dict[str, Any], user: str, value: str | None) -> None:
    incident_id, role = ids(value)
    incident = slack.desk.store.incident(incident_id)
    roles.acknowledge(slack.desk, incident, role, user)
    slack.flow(client).after().refresh_header(incident)
    slack.flow(client).after().refresh_dm(incident, user)


def checklist_done(slack: Requests, client: WebClient, body: dict[str, Any], user: str, value: str | None) -> None:
    incident_id, item = ids(value)
    incident = slack.desk.store.incident(incident_id)
    if checklist.complete_item(slack.desk, incident, item, user):
        slack.flow(client).after().refresh_header(incident)


def draft_approve(slack: Requests, client: WebClient, body: dict[str, Any], user: str, value: str | None) -> None:
    draft_id, version = ids(value)
    slack.flow(client).after().after_draft_change(drafts.approve_draft(slack.desk, draft_id, number(version), user))


def draft_mark_posted(slack: Requests, client: WebClient, body: dict[str, Any], user: str, value: str | None) -> None:
    draft_id, version = ids(value)
    try:
        outcome = drafts.mark_posted(slack.desk, draft_id, number(version), user)
    except PromiseLapsing as exc:  # say so before it is public: offer a new time, or posting anyway
        slack.warn_promise(client, body.get("channel", {}).get("id"), user, exc, str(value))
        return
    slack.flow(client).after().after_draft_change(outcome)


def draft_post_anyway(slack: Requests, client: WebClient, body: dict[str, Any], user: str, value: str | None) -> None:
    """From the warning about a lapsing promise: the poster knows, and posts the text as it is."""
    draft_id, version = ids(value)
    outcome = drafts.mark_posted(slack.desk, draft_id, number(version), user, anyway=True)
    _replace_notice(body, slack.wording_for(client, user)("promise.posted_anyway"))
    slack.flow(client).after().after_draft_change(outcome)


def draft_redraft_time(slack: Requests, client: WebClient, body: dict[str, Any], user: str, value: str | None) -> None:
    """From the warning about a lapsing promise: a new version with a fresh next-update time."""
    draft_id, version = ids(value)
    outcome = drafts.redraft_with_new_time(slack.desk, draft_id, number(version), user)
    say = slack.wording_for(client, user)
    _replace_notice(body, say("promise.redrafted", version=outcome.draft.version, at=outcome.draft.promise_text))
    slack.flow(client).after().after_draft_change(outcome)


def draft_edit(slack: Requests, client: WebClient, body: dict[str, Any], user: str, value: str | None) -> None:
    draft_id, version = ids(value)
    draft, incident = drafts.check_may_edit(slack.desk, draft_id, number(version), user)
    client.views_open(trigger_id=body["trigger_id"], view=views.edit_modal(draft, slack.wording(incident.language)))


def draft_reject(slack: Requests, client: WebClient, body: dict[str, Any], user: str, value: str | None) -> None:
    draft_id, version = ids(value)
    draft, incident = drafts.check_may_decide(slack.desk, draft_id, number(version), user)
    client.views_open(trigger_id=body["trigger_id"], view=views.reject_modal(draft, slack.wording(incident.language)))


def escalate(slack: Requests, client: WebClient, body: dict[str, Any], user: str, value: str | None) -> None:
    incident_id, level = ids(value)
    slack.flow(client).escalate(slack.desk.store.incident(incident_id), number(level), user)


def draft_update(slack: Requests, client: WebClient, body: dict[str, Any], user: str, value: str | None) -> None:
    """From an update reminder (`<incident>`) or an internal update (`<incident>:<event>`): one set per intent."""
    head, _, event_id = (value or "").partition(":")
    incident = slack.desk.store.incident(number(head))
    made = drafts.draft_update(slack.desk, incident, user, number(event_id) if event_id else None)
    slack.flow(client).provision(made.incident)  # also posts what an earlier click could not (Slack refused it)
    if not made.changed:
        raise AlreadyDone("error.update_already_drafted", user=made.by)


def show_status(slack: Requests, client: WebClient, body: dict[str, Any], user: str, value: str | None) -> None:
    incident = slack.desk.store.incident(number(value or ""))
    if not roles.may_see(slack.desk, incident, user):  # a button from someone else's list, or a forged value
        raise NotAuthorized("error.private_incident")
    tell(client, body, None, status.status_text(slack.desk, incident, slack.wording_for(client, user)))


def survey_open(slack: Requests, client: WebClient, body: dict[str, Any], user: str, value: str | None) -> None:
    incident = slack.desk.store.incident(number(value or ""))
    client.views_open(
        trigger_id=body["trigger_id"],
        view=views.survey_modal(incident.id, incident.code, slack.wording_for(client, user)),
    )


BUTTONS: dict[str, ButtonWork] = {
    work.__name__: work
    for work in (
        acknowledge,
        checklist_done,
        draft_approve,
        draft_mark_posted,
        draft_post_anyway,
        draft_redraft_time,
        draft_edit,
        draft_reject,
        escalate,
        draft_update,
        show_status,
        survey_open,
    )
}


def resolve_retry(slack: Requests) -> Callable[..., None]:
    """The Retry button on the notice about refused closing steps: do the missing ones, once."""

    def listener(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        user = body.get("user", {}).get("id", "")
        say = slack.wording_for(client, user, wait=True)
        try:
            incident = slack.desk.store.incident(number((body.get("actions") or [{}])[0].get("value")))
            lifecycle.check_may_finish_resolve(slack.desk, incident, user)
            text, blocks = slack.finish_resolve(client, incident, say)
        except CrisisError as exc:
            tell(client, body, respond, slack.explain(exc, say))
            return
        try:  # the answer takes the notice's place, so a done Retry button does not linger
            respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=True)
        except (SlackApiError, OSError) as exc:
            log.warning("resolve_retry: could not answer %s: %s", user, why(exc))

    return listener


def open_channel(ack: Ack) -> None:
    ack()  # a link button: Slack opens the URL, we only confirm receipt


def add_to_timeline(slack: Requests) -> Callable[..., None]:
    """The message shortcut "Add to crisis timeline": the message becomes a note of the channel's incident."""

    def listener(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        user = body.get("user", {}).get("id", "")
        say = slack.wording_for(client, user)
        message = body.get("message") or {}
        try:
            incident = slack.desk.store.incident_by_room(body.get("channel", {}).get("id", ""))
            if incident is None:
                raise UsageError("error.shortcut_not_in_incident")
            lifecycle.add_note(
                slack.desk, incident, user, message.get("text", ""), author=message.get("user"), ts=message.get("ts")
            )
            text = say("note.recorded", code=incident.code)
        except CrisisError as exc:
            text = slack.explain(exc, say)
        tell(client, body, respond, text)

    return listener


def ids(value: str | None) -> tuple[int, str]:
    """Split a button value `123:rest`; a malformed one is a usage error, not a crash."""
    head, _, rest = (value or "").partition(":")
    if not rest:
        raise UsageError("error.bad_button")
    return number(head), rest


def number(text: object) -> int:
    """An id or number from a button value or form metadata: ASCII digits (`²`.isdigit() is true too)."""
    if not (isinstance(text, int | str) and re.fullmatch(r"[0-9]{1,18}", str(text))):
        raise UsageError("error.bad_button")
    return int(str(text))


def _replace_notice(body: dict[str, Any], text: str) -> None:
    """Replace the ephemeral notice whose button was clicked (its buttons are done) with `text`."""
    url = body.get("response_url")
    if not (url and body.get("container", {}).get("is_ephemeral")):
        return
    try:
        Respond(response_url=url)(text=text, response_type="ephemeral", replace_original=True)
    except (SlackApiError, OSError) as exc:
        log.warning("could not replace the notice: %s", type(exc).__name__)


def tell(client: WebClient, body: dict[str, Any], respond: Respond | None, text: str) -> None:
    """An ephemeral answer to whoever clicked, wherever the button was."""
    try:
        if body.get("response_url") and respond is not None:
            respond(text=text, response_type="ephemeral", replace_original=False)
        elif body.get("channel", {}).get("id") and body.get("container", {}).get("type") == "message":
            client.chat_postEphemeral(channel=body["channel"]["id"], user=body["user"]["id"], text=text)
        else:
            client.chat_postMessage(channel=body["user"]["id"], text=text)
    except (SlackApiError, OSError) as exc:
        log.warning("could not tell the user: %s", exc)
