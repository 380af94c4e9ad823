"""The one place that wires Slack input to the core: the Bolt app, its middleware and the table of its listeners.

Every listener (bot/slack/actions.py, submissions.py, commands.py) acknowledges first (Slack gives three
seconds) and does the work after `ack()`, writing nothing before it; Bolt then runs it on its worker threads. A Slack retry or a replayed request is dropped by the
`once_per_request` middleware; a double click is harmless because every core verb is idempotent and
decides under the write lock on the state it reads there (Desk.deciding), not on what the button was drawn from.
The same middleware records what each request asks for until its listener is done, so a process killed after an
ack finishes the request at its next start (bot/slack/replay.py).
"""

from __future__ import annotations

import http.client
import json
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.faults import crash_point
from bot.incidents.desk import Desk
from bot.slack import actions, commands, replay, submissions
from bot.slack.acking import prompt_ack
from bot.slack.home import register_home
from bot.slack.render import plain
from bot.slack.requests import Requests, why
from bot.store import disk_full

log = logging.getLogger("crisisbot.slack")
LISTENER_THREADS = 32


class BadAnswer(OSError):
    """Slack answered, but not usably: the body was cut off or is not JSON, or an `ok` answer lacks a field the
    bot needs. Slack may have done the call, so it is not retried blindly: like a lost answer (an OSError to every
    caller) the step is reported as refused, and a re-run reads Slack back before doing it again."""


# The fields each method's `ok` answer must carry for the bot (and slack_sdk's upload helper, which reads them
# with .get() and would fail later with a TypeError): dotted paths.
NEEDED: dict[str, tuple[str, ...]] = {
    "auth.test": ("user_id",),
    "conversations.create": ("channel.id", "channel.name"),
    "conversations.open": ("channel.id",),
    "chat.postMessage": ("channel", "ts"),
    "users.info": ("user",),
    "files.getUploadURLExternal": ("upload_url", "file_id"),
    "files.completeUploadExternal": ("files",),
}


class CrisisWebClient(WebClient):
    """slack_sdk's client with a crash point after every Web API call Slack answered (restart tests), and
    BadAnswer for an answer the bot cannot use."""

    def api_call(self, api_method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            response = super().api_call(api_method, *args, **kwargs)
        except (json.JSONDecodeError, UnicodeDecodeError, http.client.HTTPException) as exc:
            raise BadAnswer(f"{api_method}: unreadable answer ({type(exc).__name__})") from exc
        crash_point("web_api_call")
        missing = [path for path in NEEDED.get(api_method, ()) if _absent(response.data, path)]
        if missing:
            raise BadAnswer(f"{api_method}: answer without {', '.join(missing)}")
        return response


def _absent(data: Any, path: str) -> bool:
    for key in path.split("."):
        if not isinstance(data, dict) or data.get(key) in (None, ""):
            return True
        data = data[key]
    return False


def make_client(token: str, api_url: str, timeout: int = 10) -> WebClient:
    """A WebClient that retries 429 by Retry-After, 5xx and dropped connections (slack_sdk's own handlers)."""
    return CrisisWebClient(
        token=token,
        base_url=api_url,
        timeout=timeout,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=4),
            ServerErrorRetryHandler(max_retry_count=3),
            ConnectionErrorRetryHandler(max_retry_count=3),
        ],
    )


def build_app(slack: Requests, *, token: str, signing_secret: str, api_url: str) -> App:
    """The Bolt app for the desk, talking to the Web API at `api_url`."""
    desk = slack.desk
    app = App(
        signing_secret=signing_secret,
        client=make_client(token, api_url),
        token_verification_enabled=False,
        raise_error_for_unhandled_request=False,
        # Bolt's default is 5 workers: five declares or resolves at work after their ack held every other
        # request's listener, and so its ack, until one finished. One per HTTP thread and then some.
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="crisisbot-listener"),
    )
    app.middleware(prompt_ack)  # first: the ack leaves as soon as it is made (bot/slack/acking.py)

    @app.middleware
    def our_client(req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        """Bolt hands listeners a plain WebClient per request: use ours, so their calls pass the crash point."""
        if type(req.context.client) is WebClient:
            req.context.client.__class__ = CrisisWebClient  # same settings and retries; only adds the crash point
        return next()

    @app.middleware
    def once_per_request(req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        """Drop a repeat; record what a new request asks for (the one write before the ack), so that a process
        killed after acknowledging it finishes it at the next start (bot/slack/replay.py)."""
        key = req.body.get("trigger_id") or req.body.get("event_id")
        replayed = req.context.get(replay.REPLAYED)
        if key and not replayed and not _claim(desk, str(key), replay.recordable(req.body)):
            log.info("dropped a repeated request (Slack retry %s)", req.headers.get("x-slack-retry-num", ["-"])[0])
            return BoltResponse(status=200, body="")
        if key:
            req.context[replay.REQUEST_KEY] = str(key)
        return next()

    app.listener_runner.listener_completion_handler = replay.FinishRequest(desk)
    slack.activity.on_failure = lambda exc, kwargs: answer_failure(slack, exc, kwargs)

    @app.error
    def unexpected(error: Exception, body: dict[str, Any], response: BoltResponse | None) -> BoltResponse | None:
        """A failure outside the listeners (a middleware): logged, and a slash command still gets an answer."""
        log.error("a request failed outside its listener (a middleware)", exc_info=error)
        if response is not None and body.get("command"):
            text = slack.wording()("error.cannot_save" if disk_full(error) else "error.unexpected")
            return BoltResponse(status=200, body={"response_type": "ephemeral", "text": text})
        return None

    _register(app, slack)
    return app


def answer_failure(slack: Requests, exc: Exception, kwargs: dict[str, Any]) -> None:
    """A listener failed in a way nobody foresaw: the details go to the log, the person gets plain words.

    Before the ack the words are the ack itself; after it they go by response_url, else by DM.
    """
    log.error("a request failed", exc_info=exc)
    text = slack.wording()("error.cannot_save" if disk_full(exc) else "error.unexpected")
    ack, respond = kwargs.get("ack"), kwargs.get("respond")
    command = kwargs.get("command")
    body = kwargs.get("body") or command or {}
    try:
        if ack is not None and ack.response is None:
            if command is not None:
                ack(response_type="ephemeral", text=text)
                return
            ack()  # a form closes; the words follow by DM
        if respond is not None and body.get("response_url"):
            respond(text=text, response_type="ephemeral", replace_original=False)
            return
        user = body.get("user_id") or (body.get("user") or {}).get("id") or (kwargs.get("event") or {}).get("user")
        client = kwargs.get("client")
        if user and client is not None:
            client.chat_postMessage(channel=user, text=text)
    except (SlackApiError, OSError) as error:
        log.warning("could not tell the user about the failure: %s", why(error))


def _claim(desk: Desk, key: str, body: str) -> bool:
    """Claim the request's key; on a full disk let the request through unclaimed, so it is still answered (help
    needs no write; a verb that must save fails at its own write and says so) instead of Slack's dispatch_failed."""
    try:
        return desk.store.claim_request(key, desk.now(), body)
    except sqlite3.OperationalError as exc:
        if not disk_full(exc):
            raise
        log.error("the disk is full: request %s is handled without its idempotency key", key)
        return True


# ---- the listeners, in one table -----------------------------------------------------------------------
def _register(app: App, slack: Requests) -> None:
    """Every listener: what Slack calls the input → the small function that handles it (each acks first)."""
    track = slack.activity.track
    app.command("/crisis")(track(commands.crisis(slack)))
    for action_id, work in actions.BUTTONS.items():
        app.action(action_id)(track(actions.button(slack, work)))
    app.action("resolve_retry")(track(actions.resolve_retry(slack)))
    app.action("open_channel")(actions.open_channel)
    app.action("open_post")(actions.open_channel)
    for callback_id, handle in submissions.FORMS.items():
        app.view(callback_id)(track(submissions.form(slack, handle)))
    app.shortcut("add_to_timeline")(track(actions.add_to_timeline(slack)))
    app.shortcut("declare_from_message")(track(actions.declare_from_message(slack)))
    register_home(app, slack)


__all__ = ["build_app", "make_client", "plain"]
