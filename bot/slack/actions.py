"""Buttons and the message shortcut on Slack: what each button does is bot/chat/buttons.py's; here is how a Slack
click becomes a `Clicked` (body parsing, ack, response_url, views_open) and how Slack is told what went wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.chat import buttons, forms
from bot.chat.buttons import FormKind, Verb, press
from bot.chat.drillmark import answer_in
from bot.chat.message import Message
from bot.errors import CrisisError, UsageError
from bot.incidents import lifecycle
from bot.slack import views
from bot.slack.home import from_home, publish_home
from bot.slack.port import drawn
from bot.slack.requests import Requests, why

log = logging.getLogger("crisisbot.slack")


class SlackClick:
    """bot/chat/buttons.py's `Clicked` for one Slack block action."""

    def __init__(self, slack: Requests, client: WebClient, body: dict[str, Any], respond: Respond) -> None:
        self.slack, self.client, self.body, self.respond = slack, client, body, respond
        self.desk = slack.desk
        self.user: str = body.get("user", {}).get("id", "")
        # acked already: we may wait for the clicker's language
        self.say = slack.wording_for(client, self.user, wait=True) if self.user else slack.wording()
        self.value: str | None = (body.get("actions") or [{}])[0].get("value")
        self.flow = slack.flow(client)

    def answer(self, text: str) -> None:
        room = (self.body.get("channel") or {}).get("id")
        tell(self.client, self.body, self.respond, answer_in(self.desk, room, text, self.say))

    def show(self, message: Message) -> None:
        """Ephemeral where the button was, else by DM (SlackPort.tell)."""
        self.flow.tell(self.user, self.body.get("channel", {}).get("id"), message)

    def open_form(self, kind: FormKind, **what: Any) -> None:
        if kind == "survey":
            view = views.survey_modal(what["incident"].id, what["incident"].code, self.say)
        elif kind == "declare":
            view = views.declare_modal(self.desk, self.say, self.body.get("channel", {}).get("id"), what["prefill"])
        elif kind == "dismiss":
            view = views.dismiss_modal(what["triage"], self.say)
        else:
            modal = views.edit_modal if kind == "edit" else views.reject_modal
            view = modal(what["draft"], self.slack.wording(what["incident"].language))
        self.client.views_open(trigger_id=self.body["trigger_id"], view=view)

    def replace_notice(self, message: Message) -> None:
        """By response_url: the ephemeral notice (or the bot's DM) whose button was clicked becomes `message`."""
        url = self.body.get("response_url")
        if not url:
            return
        try:
            self.respond(text=message.text, blocks=drawn(message), response_type="ephemeral", replace_original=True)
        except (SlackApiError, OSError) as exc:
            log.warning("%s: could not replace the notice for %s: %s", self.action_id, self.user, why(exc))

    @property
    def action_id(self) -> str:
        return str((self.body.get("actions") or [{}])[0].get("action_id"))


def button(slack: Requests, work: Verb) -> Callable[..., None]:
    """The Bolt listener for a button: ack() at once, do the work, tell the clicker ephemerally what went wrong."""

    def listener(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        clicked = SlackClick(slack, client, body, respond)
        try:
            press(work, clicked)
        except (SlackApiError, OSError) as exc:  # refused, or no answer in time
            log.warning("action %s: Slack refused %s", clicked.action_id, why(exc))
            clicked.answer(clicked.say("error.slack_failed"))
        if from_home(body):  # redraw the clicker's Home, whether the click worked or not
            publish_home(slack, client, clicked.user)

    listener.__name__ = work.__name__
    return listener


# Registered by bot/slack/app.py: every button but Retry in one loop, Retry by `resolve_retry`.
BUTTONS: dict[str, Verb] = {name: verb for name, verb in buttons.BUTTONS.items() if name != "resolve_retry"}


def resolve_retry(slack: Requests) -> Callable[..., None]:
    """The Retry button on the notice about refused closing steps (bot/chat/buttons.py)."""
    return button(slack, buttons.resolve_retry)


def open_channel(ack: Ack) -> None:
    ack()  # a link button (to the channel, to an alert's post): Slack opens the URL, we only confirm receipt


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


def declare_from_message(slack: Requests) -> Callable[..., None]:
    """The message shortcut "Declare crisis from this message": the declare form, filled in from the message, with
    detection at the message's time (Slack's `ts`), so the first-response hour counts from when it was said."""

    def listener(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        user = body.get("user", {}).get("id", "")
        say = slack.wording_for(client, user, wait=True)
        message = body.get("message") or {}
        channel = body.get("channel", {}).get("id")
        at = _message_time(message.get("ts"), slack.desk.now())
        link = _permalink(client, channel, message.get("ts"))
        prefill = forms.message_prefill(str(message.get("text") or ""), at, link, slack.desk.playbooks)
        try:
            client.views_open(
                trigger_id=body["trigger_id"], view=views.declare_modal(slack.desk, say, channel, prefill)
            )
        except (SlackApiError, OSError) as exc:
            log.warning("declare from a message: Slack refused the form: %s", why(exc))
            tell(client, body, respond, say("error.slack_failed"))

    return listener


def _message_time(ts: object, now: datetime) -> datetime:
    """A Slack ts as a moment (never later than now); a malformed one is now."""
    try:
        return min(datetime.fromtimestamp(float(str(ts)), UTC), now)
    except (TypeError, ValueError, OverflowError, OSError):
        return now


def _permalink(client: WebClient, channel: str | None, ts: object) -> str | None:
    """The message's link, for the incident's description; without it the form still opens."""
    if not channel or not isinstance(ts, str):
        return None
    try:
        return str(client.chat_getPermalink(channel=channel, message_ts=ts).get("permalink") or "") or None
    except (SlackApiError, OSError) as exc:
        log.info("no permalink for the message: %s", why(exc))
        return None


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
