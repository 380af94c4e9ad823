"""The bot's HTTP face for Teams: the aiohttp app around the Agents SDK's CloudAdapter.

`POST /api/messages` is the SDK's: the bearer token checked by its JWT validation (bot/teams/auth.py), the
activity parsed and run through the adapter's pipeline into our agent (bot/teams/agent.py), an invoke answered in
the HTTP response. `GET /healthz` says the listener is up. `GET /api/files/<token>` serves a report file the
port kept under an unguessable, expiring token (bot/teams/refs.py): a bot in a channel cannot use
Teams' file-consent flow, and a card links the file instead. Every other path is a 404.

The turn's own Connector clients are not used: every outbound call goes through bot/teams/connector.py (one token
cache, retries, the crash points), so the adapter is given a factory that asks for no token per activity (two
token requests per turn would cost an invoke's 100 ms budget for clients nobody calls).
"""

from __future__ import annotations

import asyncio
import logging
import re
import warnings
from collections.abc import Callable
from typing import Any

from aiohttp import web
from microsoft_agents.hosting.aiohttp import CloudAdapter, jwt_authorization_decorator
from microsoft_agents.hosting.core import Agent, TurnContext
from microsoft_agents.hosting.core.authorization import AgentAuthConfiguration, ClaimsIdentity
from microsoft_agents.hosting.core.connector import ConnectorClientBase, UserTokenClientBase
from microsoft_agents.hosting.core.connector.client import UserTokenClient
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient
from pydantic import ValidationError

from bot.teams import auth

log = logging.getLogger("crisisbot.teams")
# The SDK's JWT check stores its claims under a plain string request key: aiohttp's advice is not ours to follow.
warnings.filterwarnings("ignore", "It is recommended to use web.RequestKey", web.NotAppKeyWarning)
FILE_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")
UNUSED_URL = "https://service-url.invalid/"  # the turns' own clients' endpoint: nothing is ever sent there


class InboundOnly:
    """The adapter's client factory for a bot whose outbound calls are all bot/teams/connector.py's: every turn
    gets the same two clients, without a token (the SDK's own anonymous shape), so no activity waits for a token
    request, and none pays for two HTTP sessions made and closed around it (~0.7 ms of a declare's first steps,
    measured). Never called, so never sent anywhere: their endpoints are invalid on purpose."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id  # the bot's own (the SDK warns of a token client without one)
        self._connector: _KeptConnector | None = None
        self._user_tokens: _KeptTokens | None = None

    async def create_connector_client(
        self,
        context: TurnContext | None,
        claims_identity: ClaimsIdentity,
        service_url: str,
        audience: str,
        scopes: list[str] | None = None,
        use_anonymous: bool = False,
    ) -> ConnectorClientBase:
        if self._connector is None:  # made on the listener's loop, where its session lives
            self._connector = _KeptConnector(endpoint=UNUSED_URL, token="")
        return self._connector

    async def create_user_token_client(
        self, context: TurnContext, claims_identity: ClaimsIdentity, use_anonymous: bool = False
    ) -> UserTokenClientBase:
        if self._user_tokens is None:
            self._user_tokens = _KeptTokens(app_id=self.app_id, endpoint="https://token.invalid", token="")
        return self._user_tokens

    async def close(self, app: web.Application | None = None) -> None:
        """With the app (its cleanup): the sessions the turns shared."""
        for client in (self._connector, self._user_tokens):
            if client is not None:
                await client.close_kept()
        self._connector = self._user_tokens = None


class _Kept:
    """A turn's client that outlives the turn (mixed into the SDK's client classes): the SDK closes a turn's
    clients when it ends; InboundOnly.close closes these with the app."""

    async def close(self) -> None:
        """Kept for the next turn."""

    async def close_kept(self) -> None:
        await super().close()  # type: ignore[misc]  # the SDK client's, next in the MRO


class _KeptConnector(_Kept, TeamsConnectorClient):
    pass


class _KeptTokens(_Kept, UserTokenClient):
    pass


async def _turn_failed(context: TurnContext, error: Exception) -> None:
    """The SDK's default answers a failed turn with the exception's text in the chat: ours only logs it."""
    log.error("a Teams activity failed (%s)", type(error).__name__, exc_info=error)


def make_adapter(inbound: InboundOnly) -> CloudAdapter:
    adapter = CloudAdapter(channel_service_client_factory=inbound)
    adapter.on_turn_error = _turn_failed
    return adapter


def make_app(agent: Agent, config: AgentAuthConfiguration, files: Files) -> web.Application:
    """The aiohttp application: messages (token-checked by the SDK), health, report files."""
    app = web.Application(client_max_size=1024 * 1024)  # activities are small; Teams' own cap is ~28 KB a card
    inbound = InboundOnly(config.CLIENT_ID or "")
    adapter = make_adapter(inbound)
    app.on_cleanup.append(inbound.close)
    with warnings.catch_warnings():  # the SDK's JWT check reads this plain string key, not an aiohttp AppKey
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        app["agent_configuration"] = config

    @jwt_authorization_decorator  # type: ignore[untyped-decorator]  # the SDK's decorator has no annotations
    async def messages(request: web.Request) -> web.StreamResponse:
        try:
            response = await adapter.process(request, agent)
        except ValidationError:  # a body shaped unlike any activity (the SDK parses it into its model)
            log.warning("refused a body that is no activity")
            return web.json_response({"error": "not an activity"}, status=400)
        return response if response is not None else web.Response(status=202)

    async def healthz(request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True})

    async def checked(request: web.Request) -> web.StreamResponse:
        if auth.unverifiable(request.headers.get("Authorization")):
            log.warning("refused a token that names no signing key we could check")
            return web.json_response({"error": "Invalid token or authentication failed."}, status=401)
        answered: web.StreamResponse = await messages(request)
        return answered

    app.router.add_post("/api/messages", checked)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/files/{token}", file_handler(files))
    return app


Files = Callable[[str], tuple[str, str, bytes] | None]  # token → (name, content type, bytes): bot/teams/refs.py


def file_handler(files: Files) -> Callable[[web.Request], Any]:
    async def serve_file(request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        found = await asyncio.to_thread(files, token) if FILE_TOKEN.fullmatch(token) else None  # SQLite: off the loop
        if found is None:
            raise web.HTTPNotFound(text="not found")
        name, kind, data = found
        inline = kind.startswith("image/")  # the chart shows in the card; the Markdown downloads
        disposition = "inline" if inline else f'attachment; filename="{_ascii(name)}"'
        return web.Response(body=data, content_type=kind, headers={"Content-Disposition": disposition})

    return serve_file


def _ascii(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "file"
