"""Serving the Bolt app: HTTP on a production WSGI server (waitress), or Socket Mode."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress.server import create_server

from bot.config import Settings
from bot.errors import ConfigError
from bot.incidents.desk import Desk
from bot.scheduler import TimerRunner
from bot.slack.activity import Activity
from bot.slack.app import build_app
from bot.slack.deliver import SlackDeliverer
from bot.slack.flows import SlackDesk

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
        return slack(environ, start_response)

    return application


@dataclass
class Bot:
    """The running parts of one bot process: the Bolt app, its Slack view of the desk, the timer runner."""

    app: App
    slack: SlackDesk
    runner: TimerRunner


def build_bot(desk: Desk, activity: Activity | None = None) -> Bot:
    settings = desk.settings
    missing = [name for name, value in (("SLACK_BOT_TOKEN", settings.slack_bot_token),
                                        ("SLACK_SIGNING_SECRET", settings.slack_signing_secret)) if not value]
    if missing:
        raise ConfigError([f"environment: {' and '.join(missing)} not set — copy them from your Slack app's "
                           "settings (or run `crisisbot demo` to try it without Slack)"])
    assert settings.slack_bot_token and settings.slack_signing_secret
    activity = activity or Activity()
    slack = SlackDesk(desk, activity)
    app = build_app(slack, token=settings.slack_bot_token.get_secret_value(),
                    signing_secret=settings.slack_signing_secret.get_secret_value(), api_url=settings.slack_api_url)
    runner = TimerRunner(desk, SlackDeliverer(slack, app.client), guard=activity.working)
    return Bot(app, slack, runner)


def http_server(bot: Bot, host: str = "0.0.0.0", port: int = 3000, threads: int = 16) -> Any:
    """A waitress server for the app, not yet running: call `.run()` (blocks) or `.close()`."""
    return create_server(wsgi_app(bot.app), host=host, port=port, threads=threads, ident="crisisbot")


def describe_start(settings: Settings) -> str:
    """One start-up line: where config comes from, never a token."""
    source = str(settings.config_path) if settings.config_path else "built-in defaults (no crisisbot.yaml found)"
    return (f"config: {source}; playbooks: {settings.playbooks_dir}; database: {settings.db_path}; "
            f"language: {settings.language}; Slack API: {settings.slack_api_url}; clock speed: {settings.clock_speed}")


def serve(desk: Desk, host: str = "0.0.0.0") -> None:
    """Run until interrupted: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on PORT."""
    log.info("Crisis Desk starting — %s", describe_start(desk.settings))
    bot = build_bot(desk)
    bot.runner.start()  # timers that came due while the bot was down fire on the scheduler's thread
    try:
        if desk.settings.slack_app_token:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            log.info("Socket Mode")
            SocketModeHandler(bot.app, desk.settings.slack_app_token.get_secret_value()).start()
            return
        server = http_server(bot, host=host, port=desk.settings.port)
        log.info("listening on http://%s:%s/slack/events (health: /healthz)", host, server.effective_port)
        server.run()
    finally:
        bot.runner.stop()
