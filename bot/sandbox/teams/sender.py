"""Delivery of activities to the bot's messaging endpoint, as the Bot Connector service does it."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from bot.sandbox.transport import BotResponse, exchange

BOT_TIMEOUT = 15.0  # Teams gives a bot 15 s to answer an activity


def post_activity(
    url: str | None, activity: dict[str, Any], token: str | None, *, timeout: float = BOT_TIMEOUT
) -> BotResponse:
    """POST one activity to the bot (Bearer `token` unless None: anonymous) and return its answer."""
    if not url:
        raise RuntimeError("TeamsEmulator.bot_url is not set: where should Teams send activities?")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Microsoft-SkypeBotApi (Microsoft-BotFramework 3.0)",
    }
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(activity).encode("utf-8"), headers=headers, method="POST")
    return exchange(request, timeout)
