"""`crisisbot serve`: the composition root. One process serves Slack, Teams or both over one desk and one timer
runner, whose outbox deliverer routes each row to its incident's platform (bot/chat/platforms.py).

Each platform is a `PlatformBot`: Slack's is bot/slack/server.py's `SlackServing`; Teams' is whatever
`bot.teams.server.build(desk, runner)` returns (imported only when Teams is served, so a Slack-only process never
loads the Agents SDK).
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import Literal, Protocol

from bot.chat.platforms import Platforms
from bot.config import Settings, describe_start
from bot.errors import ConfigError
from bot.incidents.desk import Desk
from bot.intake.server import IntakeServing
from bot.scheduler import Deliverer, TimerRunner

log = logging.getLogger("crisisbot")
PLATFORMS = ("slack", "teams")
Choice = Literal["slack", "teams", "both"]


class PlatformBot(Protocol):
    """One chat platform served by this process."""

    @property
    def name(self) -> str:
        """The platform, as `Incident.platform` names it: "slack" or "teams"."""
        ...

    @property
    def deliverer(self) -> Deliverer:
        """Delivers this platform's outbox rows (bot/chat/outbox.py's Deliverer on its port)."""
        ...

    def start(self) -> None:
        """Start listening in the background and return at once (the runner is already running)."""
        ...

    def stop(self) -> None:
        """Stop listening; idempotent."""
        ...


def chosen(settings: Settings, platform: Choice | None) -> list[str]:
    """The platforms to serve: as asked, else each whose credentials are set; a clear error when none is."""
    if platform == "both":
        wanted = list(PLATFORMS)
    elif platform is not None:
        wanted = [platform]
    else:
        # a platform with any of its credentials set is wanted: its own start then names what is still missing
        slack = settings.slack_bot_token or settings.slack_signing_secret or settings.slack_app_token
        teams = settings.teams_app_id or settings.teams_app_password or settings.teams_anonymous
        wanted = [name for name, given in (("slack", slack), ("teams", teams)) if given]
        if not wanted:
            raise ConfigError(
                [
                    "environment: neither Slack nor Teams is configured — set SLACK_BOT_TOKEN and "
                    "SLACK_SIGNING_SECRET for Slack, CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID and "
                    "…__CLIENTSECRET for Teams (see the README), or run `crisisbot demo` to try it without either"
                ]
            )
    return wanted


def build(desk: Desk, runner: TimerRunner, platform: str, host: str) -> PlatformBot:
    """The PlatformBot for `platform`, on the shared runner (raises ConfigError when it cannot be served)."""
    if platform == "slack":
        from bot.slack.server import SlackServing

        return SlackServing(desk, runner, host=host)
    return _teams(desk, runner)


def _teams(desk: Desk, runner: TimerRunner) -> PlatformBot:
    try:
        server = importlib.import_module("bot.teams.server")
    except ModuleNotFoundError as exc:
        if exc.name not in ("bot.teams.server", "bot.teams"):
            raise
        raise ConfigError(
            ["--platform teams: Teams is not available in this build of Crisis Desk (bot/teams/server.py is missing)"]
        ) from None
    bot: PlatformBot = server.build(desk, runner)
    return bot


def serve(
    desk: Desk, platform: Choice | None = None, host: str = "0.0.0.0", stop: threading.Event | None = None
) -> None:
    """Serve the chosen platforms until interrupted (Ctrl-C) or `stop` is set; the timers run meanwhile."""
    log.info("Crisis Desk starting — %s", describe_start(desk.settings))
    names = chosen(desk.settings, platform)
    desk.store.sync_in_background()  # commits no longer wait for the disk; see Store.sync_in_background
    routes = Platforms(desk)
    runner = TimerRunner(desk, routes)
    bots: list[PlatformBot] = []
    intake = None
    try:
        for name in names:
            bot = build(desk, runner, name, host)
            routes.serve(bot.name, bot.deliverer)
            bots.append(bot)
        runner.start()  # timers that came due while the bot was down fire on the scheduler's thread
        for bot in bots:
            bot.start()
        intake = _intake(desk, runner, host)
        log.info("serving %s", " and ".join(bot.name for bot in bots))
        (stop or threading.Event()).wait()
    finally:
        if intake is not None:
            intake.stop()
        for bot in reversed(bots):
            bot.stop()
        runner.stop()


def _intake(desk: Desk, runner: TimerRunner, host: str) -> IntakeServing | None:
    """The alert intake on INTAKE_PORT when a source is configured (bot/intake/server.py says why its own port)."""
    if not desk.settings.intake.sources:
        log.info("intake: off (no monitoring sources in crisisbot.yaml's intake.sources)")
        return None
    intake = IntakeServing(desk, runner, host=host)
    intake.start()
    return intake
