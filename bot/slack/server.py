"""Serving the Bolt app: HTTP on a production WSGI server (waitress), or Socket Mode."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress.server import create_server

from bot.chat.outbox import Deliverer
from bot.chat.warmup import compile_wording
from bot.errors import ConfigError
from bot.incidents.desk import Desk
from bot.scheduler import TimerRunner
from bot.slack.activity import Activity
from bot.slack.app import build_app
from bot.slack.port import SlackPort
from bot.slack.replay import finish_unfinished
from bot.slack.requests import Requests
from bot.slack.text import SLACK
from bot.slack.warmup import warm_up
from bot.wsgi import stop_http_server

log = logging.getLogger("crisisbot")
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def wsgi_app(app: App) -> WSGIApp:
    """Bolt at POST /slack/events, a liveness answer at GET /healthz."""
    slack = SlackRequestHandler(app, path="/slack/events")

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            body = json.dumps({"ok": True}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        stamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
        if stamp is not None and not re.fullmatch(r"[0-9]{1,12}", stamp):
            # slack_sdk's signature check would raise on it (a 500 for anyone who asks): not from Slack
            return _refuse(start_response, "401 Unauthorized", b"invalid request")
        if _malformed_payload(environ):
            log.warning("refused an interaction payload shaped unlike anything Slack sends")
            return _refuse(start_response, "400 Bad Request", b"bad request")
        return slack(environ, start_response)

    return application


def _refuse(start_response: Callable[..., Any], status: str, body: bytes) -> Iterable[bytes]:
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


# Fields Bolt (and our listeners) index without checking, with the JSON type Slack always sends.
_PAYLOAD_FIELDS: dict[str, Any] = {
    "type": str,
    "user": dict,
    "team": dict,
    "channel": dict,
    "container": dict,
    "view": dict,
    "message": dict,
    "state": dict,
    "actions": list,
    "authorizations": list,
    "enterprise": (dict, type(None)),
}
_VIEW_FIELDS: dict[str, Any] = {"type": str, "id": str, "callback_id": str, "private_metadata": str, "state": dict}
_ACTION_FIELDS: dict[str, Any] = {"type": str, "action_id": str, "block_id": str, "value": str}


def _malformed_payload(environ: dict[str, Any]) -> bool:
    """An interaction `payload` Slack never sends: not a JSON object, or a field of the wrong type.

    Bolt would answer it with a 500 and a traceback in the log (parsing happens even before the signature
    check), so it is refused here with a 400. Other bodies pass through untouched.
    """
    try:
        size = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    if size <= 0:
        return False
    raw = environ["wsgi.input"].read(size)
    environ["wsgi.input"] = io.BytesIO(raw)  # Bolt reads the body again
    if not (raw.startswith(b"payload=") or b"&payload=" in raw):
        return False
    try:
        payload = json.loads(parse_qs(raw.decode("utf-8", "replace")).get("payload", [""])[-1])
    except ValueError:
        return True
    if not isinstance(payload, dict) or _wrong_types(payload, _PAYLOAD_FIELDS):
        return True
    view, actions, user = payload.get("view"), payload.get("actions"), payload.get("user", {})
    if view is not None and ("type" not in view or _wrong_types(view, _VIEW_FIELDS)):
        return True
    if actions is not None and not (
        actions and all(isinstance(a, dict) and not _wrong_types(a, _ACTION_FIELDS) for a in actions)
    ):
        return True
    if not all(isinstance(a, dict) for a in payload.get("authorizations", [])):
        return True
    return not isinstance(user.get("id", ""), str)


def _wrong_types(data: dict[str, Any], fields: dict[str, Any]) -> bool:
    return any(key in data and not isinstance(data[key], kind) for key, kind in fields.items())


@dataclass
class Bot:
    """The running parts of one bot process: the Bolt app, its Slack view of the desk, the timer runner."""

    app: App
    slack: Requests
    runner: TimerRunner
    authorized: threading.Event  # set once the start-up token check is over (bot/slack/warmup.py)
    deliverer: Deliverer  # Slack's outbox deliverer (the runner's, or one of bot/chat/platforms.py's)


def build_bot(desk: Desk, activity: Activity | None = None, runner: TimerRunner | None = None) -> Bot:
    """The Bolt app and its outbox deliverer; with `runner` (bot/serving.py's, shared by every platform served) the
    requests deliver through it, else through a runner of Slack's own."""
    settings = desk.settings
    missing = [
        name
        for name, value in (
            ("SLACK_BOT_TOKEN", settings.slack_bot_token),
            ("SLACK_SIGNING_SECRET", settings.slack_signing_secret),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            [
                f"environment: {' and '.join(missing)} not set — copy them from your Slack app's "
                "settings (or run `crisisbot demo` to try it without Slack)"
            ]
        )
    assert settings.slack_bot_token and settings.slack_signing_secret
    activity = activity or Activity()
    slack = Requests(desk, activity)
    app = build_app(
        slack,
        token=settings.slack_bot_token.get_secret_value(),
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        api_url=settings.slack_api_url,
    )
    redraw = lambda incident: slack.flow(app.client).after().refresh_header(incident, strict=True)  # noqa: E731
    deliverer = Deliverer(desk, SlackPort(app.client), redraw)
    runner = runner or TimerRunner(desk, deliverer, guard=activity.working)
    slack.outbox = runner  # a request delivers the notices its verb queued right after it (bot/chat/after.py)
    return Bot(app, slack, runner, warm_up(app), deliverer)


def http_server(bot: Bot, host: str = "0.0.0.0", port: int = 3000, threads: int = 16) -> Any:
    """A waitress server for the app, not yet running: call `.run()` (blocks) or `.close()`."""
    return create_server(wsgi_app(bot.app), host=host, port=port, threads=threads, ident="crisisbot")


class SlackServing:
    """Slack in `crisisbot serve` (bot/serving.py's PlatformBot): HTTP on PORT, or Socket Mode when SLACK_APP_TOKEN
    is set; the outbox runner is the one every platform of the process shares."""

    name = "slack"

    def __init__(self, desk: Desk, runner: TimerRunner, host: str = "0.0.0.0") -> None:
        self.desk, self.host = desk, host
        self.bot = build_bot(desk, runner=runner)
        self.deliverer = self.bot.deliverer
        self._close: Callable[[], None] | None = None

    def start(self) -> None:
        """Listen (in the background) and finish what a dead process acknowledged; returns at once."""
        desk = self.desk
        compile_wording(desk, SLACK)  # in the background: the server starts at once, first requests find it done
        # requests acknowledged but not finished by a process that died: finished while the server starts
        threading.Thread(
            target=finish_unfinished, args=(self.bot.app, desk), name="crisisbot-replay", daemon=True
        ).start()
        if desk.settings.slack_app_token:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            log.info("Socket Mode")
            handler = SocketModeHandler(self.bot.app, desk.settings.slack_app_token.get_secret_value())
            handler.connect()  # type: ignore[no-untyped-call]
            self._close = handler.close
            return
        server = http_server(self.bot, host=self.host, port=desk.settings.port)
        log.info("listening on http://%s:%s/slack/events (health: /healthz)", self.host, server.effective_port)
        thread = threading.Thread(target=server.run, name="crisisbot-slack-http", daemon=True)
        thread.start()
        self._close = lambda: stop_http_server(server, thread)

    def stop(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None
