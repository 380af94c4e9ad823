"""A built-in fake Slack workspace: Web API server plus a driver that acts like Slack towards the bot.

Generic by design: nothing here knows what the bot does.
"""

from __future__ import annotations

from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.model import APP_ID, BOT_ID, BOT_USER_ID, GENERAL_ID, Call, Event
from bot.sandbox.payloads import select_value, text_value
from bot.sandbox.transport import BotResponse
from bot.sandbox.validate import validate_message_blocks, validate_view

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "GENERAL_ID",
    "BotResponse",
    "Call",
    "Event",
    "SlackEmulator",
    "select_value",
    "text_value",
    "validate_message_blocks",
    "validate_view",
]
