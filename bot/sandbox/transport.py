"""Signed HTTP delivery of Slack requests to the bot (what Slack's servers do)."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from slack_sdk.signature import SignatureVerifier

BOT_TIMEOUT = 10.0
# Loopback traffic must never go through a proxy configured in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class BotResponse:
    """What the bot answered to one request the platform sent it."""

    status: int  # 0 when the bot could not be reached or timed out
    body: str
    json: dict[str, Any] | None
    elapsed: float
    received: float = 0.0  # time.perf_counter() when the answer was in (what the emulator did after it is not)


def events_url(bot_url: str | None) -> str:
    """Return the URL to POST to; a bare "http://host:port" gets Bolt's default "/slack/events"."""
    if not bot_url:
        raise RuntimeError("SlackEmulator.bot_url is not set: where should Slack send requests?")
    if urlsplit(bot_url).path in ("", "/"):
        return bot_url.rstrip("/") + "/slack/events"
    return bot_url


def send_signed(
    url: str,
    secret: str,
    body: str,
    content_type: str,
    *,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
    timestamp: int | None = None,
    timeout: float = BOT_TIMEOUT,
) -> BotResponse:
    """POST `body` with Slack's v0 signature headers and return the bot's answer."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body) or "",
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason
    request = urllib.request.Request(url, data=body.encode("utf-8"), headers=headers, method="POST")
    return exchange(request, timeout)


def exchange(request: urllib.request.Request, timeout: float) -> BotResponse:
    """Send one request to the bot and return its answer (status 0: unreachable, too slow, or gone mid-answer)."""
    started = time.perf_counter()
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            status, text = resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as exc:
        # unreachable, too slow, or gone mid-answer (a killed bot): for the platform, no answer at all
        status, text = 0, f"{type(exc).__name__}: {exc}"
    received = time.perf_counter()
    elapsed = received - started
    parsed: dict[str, Any] | None = None
    if text.lstrip().startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
    return BotResponse(status, text, parsed, elapsed, received)
