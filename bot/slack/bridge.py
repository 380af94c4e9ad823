"""Slack under the application layer's redraw policy and notices, until the port and the renderer land.

`bot/chat/after.py` redraws through a `Port` and `Cards`; `bot/chat/notices.py` says what a notice is as neutral
messages. Until `bot/slack/port.py` (SlackPort) and the neutral cards with their Block Kit renderer exist, this
module is the small adapter between them: the cards are today's Block Kit builders wrapped in a message, the port
is the two calls the redraws need, and a notice goes through the deliverer's crash-exact step. It goes once they do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ButtonElement, PlainTextObject

from bot.chat.message import Message
from bot.chat.notices import NoticeMaker, buttons_of
from bot.chat.port import Refused
from bot.chat.wording import Wording
from bot.incidents.desk import Desk
from bot.models import Draft, Incident, OutboxMessage
from bot.slack.blocks import MESSAGE_LIMIT, draft_blocks, header_blocks, role_dm_blocks, text_with_buttons
from bot.slack.provision import channel_url
from bot.slack.text import SLACK, fit

if TYPE_CHECKING:
    from bot.slack.deliver import SlackDeliverer

log = logging.getLogger("crisisbot.slack")


@dataclass(frozen=True)
class BlockKit(Message):
    """A message already drawn in Block Kit (today's builders), carried through the neutral layer as it is."""

    blocks: list[dict[str, Any]] = field(default_factory=list)


def slack_buttons(message: Message) -> list[ButtonElement]:
    """The message's buttons as Block Kit elements."""
    return [
        ButtonElement(
            text=PlainTextObject(text=b.label), action_id=b.id, value=b.value or None, style=b.style, url=b.url
        )
        for b in buttons_of(message)
    ]


def blocks_of(message: Message) -> list[dict[str, Any]]:
    """Block Kit for a message: as drawn, or a paragraph with its buttons."""
    if isinstance(message, BlockKit):
        return message.blocks
    return text_with_buttons(message.text, slack_buttons(message) or None)


class SlackCards:
    """The header, a draft and a role DM, drawn by bot/slack/blocks.py."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def header(self, incident: Incident, say: Wording) -> Message:
        text = say("header.fallback", code=incident.code, title=incident.title)
        return BlockKit(text, blocks=header_blocks(self.desk, incident, say))

    def draft(self, incident: Incident, draft: Draft, say: Wording) -> Message:
        text = say("draft.fallback", network=say.network(draft.network))
        return BlockKit(text, blocks=draft_blocks(self.desk, incident, draft, say))

    def role_dm(self, incident: Incident, user: str, roles: list[str], say: Wording) -> Message:
        text = say("dm.fallback", code=incident.code, title=incident.title)
        url = channel_url(incident.channel_id)
        return BlockKit(text, blocks=role_dm_blocks(self.desk, incident, user, roles, say, url))


class RedrawPort:
    """The port calls a redraw makes (update, tell), on the request's Web API client; Slack's refusal is Refused."""

    dialect = SLACK

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def update(self, room: str, ref: str, message: Message) -> None:
        try:
            self.client.chat_update(channel=room, ts=ref, blocks=blocks_of(message), text=message.text)
        except SlackApiError as exc:
            raise Refused(str(exc.response.get("error")), "chat.update") from exc

    def tell(self, person: str, room: str | None, message: Message) -> None:
        """Ephemeral in `room`, else (not a member, or Slack did not answer) by DM; a failure is logged."""
        text, blocks = fit(message.text, MESSAGE_LIMIT), blocks_of(message)
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


def notice(deliverer: SlackDeliverer, make: NoticeMaker) -> Callable[[Incident, OutboxMessage, Wording], None]:
    """The deliverer's handler for a notice kind: each of its messages one step, recorded once Slack took it."""

    def send(incident: Incident, row: OutboxMessage, say: Wording) -> None:
        for each in make(deliverer.desk, incident, row, say):
            where = each.to or incident.channel_id or ""
            deliverer._once(where, each.message.text, slack_buttons(each.message) or None)

    return send
