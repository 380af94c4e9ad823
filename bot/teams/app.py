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


class InboundOnly:
    """The adapter's client factory for a bot whose outbound calls are all bot/teams/connector.py's: the turn
    gets clients without a token (the SDK's own anonymous shape), so no activity waits for a token request."""

    async def create_connector_client(
        self,
        context: TurnContext | None,
        claims_identity: ClaimsIdentity,
        service_url: str,
        audience: str,
        scopes: list[str] | None = None,
        use_anonymous: bool = False,
    ) -> ConnectorClientBase:
        # never called, so never sent anywhere; an activity without a usable serviceUrl is the agent's to refuse
        usable = isinstance(service_url, str) and service_url.startswith(("https://", "http://"))
        return TeamsConnectorClient(endpoint=service_url if usable else "https://service-url.invalid/", token="")

    async def create_user_token_client(
        self, context: TurnContext, claims_identity: ClaimsIdentity, use_anonymous: bool = False
    ) -> UserTokenClientBase:
        return UserTokenClient(app_id=claims_identity.get_app_id() or "", endpoint="https://token.invalid", token="")


async def _turn_failed(context: TurnContext, error: Exception) -> None:
    """The SDK's default answers a failed turn with the exception's text in the chat: ours only logs it."""
    log.error("a Teams activity failed (%s)", type(error).__name__, exc_info=error)


def make_adapter() -> CloudAdapter:
    adapter = CloudAdapter(channel_service_client_factory=InboundOnly())
    adapter.on_turn_error = _turn_failed
    return adapter


def make_app(agent: Agent, config: AgentAuthConfiguration, adapter: CloudAdapter, files: Files) -> web.Application:
    """The aiohttp application: messages (token-checked by the SDK), health, report files."""
    app = web.Application(client_max_size=1024 * 1024)  # activities are small; Teams' own cap is ~28 KB a card
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
