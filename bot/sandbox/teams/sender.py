"""Delivery of activities to the bot's messaging endpoint, as the Bot Connector service does it."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from typing import Any

from bot.sandbox.transport import BotResponse

BOT_TIMEOUT = 15.0  # Teams gives a bot 15 s to answer an activity (and 5 s for an invoke to feel responsive)
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never goes through a proxy


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
    started = time.perf_counter()
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            status, text = resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as exc:
        status, text = 0, f"{type(exc).__name__}: {exc}"  # unreachable, too slow or gone: no answer at all
    elapsed = time.perf_counter() - started
    parsed: dict[str, Any] | None = None
    if text.lstrip().startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
    return BotResponse(status, text, parsed, elapsed)
