"""Slack under the application layer's redraw policy and notices, until SlackPort lands.

`bot/chat/after.py` redraws through a `Port`; `bot/chat/notices.py` says what a notice is as neutral messages.
Until `bot/slack/port.py` (SlackPort) exists, this module is the small adapter between them: the two port calls
the redraws need, on the request's Web API client (notices are the deliverer's: bot/chat/outbox.py). It goes
once SlackPort is the one port.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.chat.message import Message
from bot.chat.port import Refused
from bot.slack import render
from bot.slack.text import SLACK, fit

log = logging.getLogger("crisisbot.slack")


class RedrawPort:
    """The port calls a redraw makes (update, tell), on the request's Web API client; Slack's refusal is Refused."""

    dialect = SLACK

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def update(self, room: str, ref: str, message: Message) -> None:
        try:
            self.client.chat_update(channel=room, ts=ref, blocks=render.blocks(message), text=message.text)
        except SlackApiError as exc:
            raise Refused(str(exc.response.get("error")), "chat.update") from exc

    def tell(self, person: str, room: str | None, message: Message) -> None:
        """Ephemeral in `room`, else (not a member, or Slack did not answer) by DM; a failure is logged."""
        text, blocks = fit(message.text, render.MESSAGE_LIMIT), render.blocks(message)
        try:
            if room:
                self.client.chat_postEphemeral(channel=room, user=person, text=text, blocks=blocks)
                return
        except (SlackApiError, OSError):
            pass  # the bot or the person is not in that channel, or Slack did not answer: a DM instead
        try:
            self.client.chat_postMessage(channel=person, text=text, blocks=blocks)
        except (SlackApiError, OSError) as exc:
            log.warning("could not notify %s: %s", person, _why(exc))


def _why(exc: Exception) -> str:
    return str(exc.response.get("error")) if isinstance(exc, SlackApiError) else type(exc).__name__
