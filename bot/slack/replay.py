"""Requests that were acknowledged but never finished because the process died: finished at start-up.

The `once_per_request` middleware stores what each request asks for (its body, the signature verified, every
token dropped) with its key, in the one write that happens before the ack anyway, and the request is marked
finished once its listener returns. A kill -9 in between leaves it unfinished, and Slack, having had its 200,
never sends it again: at the next start each is dispatched through the Bolt app once more, in-process, the way
Bolt takes a Socket Mode request (authenticated when it arrived; no signature to check now). The core's verbs
are idempotent, so what was half done is finished and what was done is only redrawn from the database.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.listener.listener_completion_handler import ListenerCompletionHandler
from slack_bolt.request import BoltRequest

from bot.incidents.desk import Desk

log = logging.getLogger("crisisbot.slack")
REQUEST_KEY = "crisisbot_request_key"  # BoltContext keys: the request's idempotency key, and "this is a replay"
REPLAYED = "crisisbot_replayed"


def recordable(body: dict[str, Any]) -> str:
    """The request body as JSON without tokens: Slack's legacy verification `token` and any `*_token` field."""
    return json.dumps(_without_tokens(body), ensure_ascii=False, separators=(",", ":"))


def _without_tokens(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_tokens(v)
            for k, v in value.items()
            if not (isinstance(k, str) and (k == "token" or k.endswith("_token")))
        }
    if isinstance(value, list):
        return [_without_tokens(v) for v in value]
    return value


class FinishRequest(ListenerCompletionHandler):
    """Marks the request finished once its listener returned (or raised: a replay would fail the same way)."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def handle(self, request: BoltRequest, response: BoltResponse | None) -> None:
        key = request.context.get(REQUEST_KEY)
        if key:
            self.desk.store.finish_request(str(key), self.desk.now())


def finish_unfinished(app: App, desk: Desk) -> int:
    """Dispatch every unfinished request again; returns how many. Their listeners run on Bolt's threads."""
    pending = desk.store.unfinished_requests()
    for key, body in pending:
        payload = json.loads(body)
        what = payload.get("command") or payload.get("type") or "request"
        log.info("finishing a %s acknowledged before a restart", what)
        try:
            response = app.dispatch(
                BoltRequest(body=payload, mode="socket_mode", context={REQUEST_KEY: key, REPLAYED: True})
            )
        except Exception as exc:  # one broken record must not keep the others from being finished
            log.warning("could not finish a %s after a restart: %s", what, type(exc).__name__)
            response = None
        if response is None or response.status == 404:  # no listener took it: nothing is left to do
            desk.store.finish_request(key, desk.now())
    return len(pending)
