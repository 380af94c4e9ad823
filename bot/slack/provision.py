"""What bot/slack/deliver.py still imports from the declare plan, until it moves onto the port (bot/chat/outbox.py).

The plan itself is bot/chat/setup.py; invites are SlackPort.invite (bot/slack/port.py). Delete this module when
nothing imports it.
"""

from __future__ import annotations

from slack_sdk import WebClient

from bot.chat.setup import channel_name, uninvited_text
from bot.chat.steps import one_run_at_a_time
from bot.slack.port import SlackPort
from bot.slack.text import SLACK

__all__ = ["channel_name", "channel_url", "invite_people", "one_run_at_a_time", "uninvited_text"]
channel_url = SLACK.room_url


def invite_people(client: WebClient, channel: str, users: list[str]) -> dict[str, str]:
    """Bring `users` into `channel`; returns who could not be brought in, with Slack's reason (SlackPort.invite)."""
    return SlackPort(client).invite(channel, users)
