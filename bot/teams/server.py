"""Serving Teams: the aiohttp app on its own thread and event loop, at `TEAMS_PORT` (bot/serving.py's PlatformBot).

One process, one loop for inbound activities (bot/teams/app.py): the SDK's JWT check and the adapter run on it,
each activity's work on the agent's worker threads (bot/teams/agent.py). Outbound calls go through
bot/teams/connector.py's own loop thread. The outbox runner is the one every platform of the process shares;
this platform's part of it is `deliverer` (bot/chat/outbox.py on the TeamsPort).
"""

from __future__ import annotations

import asyncio
import logging
import threading

from aiohttp import web

from bot.chat.after import Outbox
from bot.chat.outbox import Deliverer
from bot.chat.warmup import compile_wording
from bot.errors import ConfigError
from bot.incidents.desk import Desk
from bot.models import Incident
from bot.teams import auth
from bot.teams.agent import Bot, TeamsAgent
from bot.teams.app import make_app
from bot.teams.connector import Connector
from bot.teams.port import TeamsPort
from bot.teams.refs import Refs
from bot.teams.text import TEAMS

log = logging.getLogger("crisisbot")
START_SECONDS = 10.0
WARM_SECONDS = 20.0  # at most this long for the start-up compile; after it, requests compile what they need


class TeamsServing:
    """Teams in `crisisbot serve`: the listener for activities, and the deliverer of Teams incidents' outbox."""

    name = "teams"

    def __init__(
        self,
        desk: Desk,
        runner: Outbox,
        host: str = "0.0.0.0",
        port: int | None = None,
        warm: threading.Thread | None = None,
    ) -> None:
        settings = desk.settings
        if not settings.teams_app_id or not (settings.teams_app_password or settings.teams_anonymous):
            raise ConfigError(
                [
                    "environment: CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID and …__CLIENTSECRET not set — "
                    "copy them from the bot's Entra app registration (see the README's Microsoft Teams section)"
                ]
            )
        self.desk, self.host, self._warm = desk, host, warm
        self.listen_port = settings.teams_port if port is None else port
        auth.use_signing_keys(settings)
        self.connector = Connector(settings, desk.store)
        self.port = TeamsPort(desk, self.connector, settings)
        self.bot = Bot(desk, self.port, runner)
        self.agent = TeamsAgent(self.bot)
        self.deliverer = Deliverer(desk, self.port, self._redraw_header)
        files = Refs(desk.store, desk.now).file
        self.app = make_app(self.agent, auth.configuration(settings), files)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    def _redraw_header(self, incident: Incident) -> None:
        self.bot.flow().after().refresh_header(incident, strict=True)  # raises when refused: the runner retries

    @property
    def url(self) -> str:
        """Where Teams (or the emulator) posts activities."""
        return f"http://127.0.0.1:{self.bound_port}/api/messages"

    def start(self) -> None:
        """Listen in the background; returns once the port is bound (raises if it could not be)."""
        auth.warn_if_local(self.desk.settings)
        if self._warm is not None:
            # Listen (and so answer /healthz) once the wording is compiled: compiling it holds the GIL and every
            # request's wording for a second or more, and Teams waits for an invoke's answer meanwhile. A load
            # balancer sends nothing to a process before it is healthy; a few seconds of start-up cost nobody that.
            self._warm.join(WARM_SECONDS)
        started = threading.Event()
        failure: list[BaseException] = []
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._listen())
            except BaseException as exc:  # the port is taken, say: start() reports it
                failure.append(exc)
                started.set()
                return
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="crisisbot-teams-http", daemon=True)
        self._thread.start()
        started.wait(START_SECONDS)
        if failure:
            raise failure[0]
        log.info("Teams: listening on http://%s:%s/api/messages (health: /healthz)", self.host, self.bound_port)
        self.agent.finish_unfinished()  # answered by a process that died before it was done: finished now

    async def _listen(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.listen_port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.listen_port

    def stop(self) -> None:
        """Stop listening, let the work behind answered activities finish, close the Connector; idempotent."""
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and thread is not None:
            if self._runner is not None:
                asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(START_SECONDS)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(START_SECONDS)
            loop.close()
        self.bot.workers.wait_idle(START_SECONDS)
        self.bot.workers.stop()
        self.connector.close()


def build(desk: Desk, runner: Outbox) -> TeamsServing:
    """bot/serving.py's entry point for Teams: the app, warmed up before it listens (see TeamsServing.start)."""
    return TeamsServing(desk, runner, warm=compile_wording(desk, TEAMS))
