"""The Bot Connector, synchronously: the SDK's own async ConnectorClient on one asyncio loop thread per process.

The application layer is synchronous (request worker threads, the scheduler thread), the SDK is asyncio: each call
here runs the SDK's coroutine on the connector's loop (`run_coroutine_threadsafe(...).result(timeout)`), with
retries like the Slack client's: a 429 waits out Retry-After, a 5xx, a timeout or a dropped connection is tried
again with backoff, all within a bounded total time. What Teams refuses comes out as `Refused(code, method)` (its
error body `{"error": {"code", "message"}}`, else `http_<status>`); no usable answer as an OSError.

A lost answer to a POST is retried like Slack's client retries it: Teams has no idempotency key, so that can
post a message twice; not retrying would not help (the layer's re-run re-sends it, with no history to read).

Tokens: the SDK's MSAL client credentials in production; with `teams_login_url` set (the emulator, tests, the
demo) the same client-credentials request to `<teams_login_url>/oauth2/v2.0/token`; no app id: anonymous.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import aiohttp
from microsoft_agents.activity import Activity, ConversationParameters
from microsoft_agents.hosting.core.connector.client import ConnectorClient
from pydantic import ValidationError

from bot.chat.port import Refused
from bot.config import Settings
from bot.store import Store

log = logging.getLogger("crisisbot.teams")
T = TypeVar("T")
PLATFORM = "teams"
SERVICE_URL_KEY = "service_url"
DEFAULT_SERVICE_URL = "https://smba.trafficmanager.net/teams/"
BOT_SCOPE = "https://api.botframework.com/.default"
BOT_RESOURCE = "https://api.botframework.com"
CALL_TIMEOUT = 10.0  # seconds for one HTTP call
TOTAL_TIME = 30.0  # seconds for a call and its retries
MAX_ATTEMPTS = 6
MAX_RETRY_AFTER = 20.0  # a longer Retry-After than this is not waited out: the layer's own retries take over
SERVICE_URL_SECONDS = 1.0  # how long a service URL read from the store is used before it is read again
TOKEN_MARGIN = 120  # seconds before a token's expiry it is renewed


class Tokens(Protocol):
    async def token(self) -> str: ...


class Anonymous:
    """No credentials (local mode): the connector sends no Authorization header."""

    async def token(self) -> str:
        return ""


class MsalTokens:
    """The SDK's MSAL client credentials (it caches the token itself), for one resource: the Bot Connector's by
    default, Microsoft Graph's for bot/teams/graph.py (an app-only token, `https://graph.microsoft.com/.default`)."""

    def __init__(
        self, app_id: str, secret: str, tenant_id: str | None, resource: str = BOT_RESOURCE, scope: str = BOT_SCOPE
    ) -> None:
        from microsoft_agents.authentication.msal import MsalAuth
        from microsoft_agents.hosting.core.authorization import AgentAuthConfiguration

        self._auth = MsalAuth(AgentAuthConfiguration(client_id=app_id, tenant_id=tenant_id, client_secret=secret))
        self.resource, self.scope = resource, scope

    async def token(self) -> str:
        return await self._auth.get_access_token(self.resource, [self.scope])


class LoginUrlTokens:
    """The client-credentials request to a local token endpoint (`<login_url>/oauth2/v2.0/token`), cached."""

    def __init__(self, login_url: str, app_id: str, secret: str, scope: str = BOT_SCOPE) -> None:
        self.url = login_url.rstrip("/") + "/oauth2/v2.0/token"
        self.form = {"grant_type": "client_credentials", "client_id": app_id, "client_secret": secret}
        self.form["scope"] = scope
        self._token, self._until = "", 0.0
        self._lock: asyncio.Lock | None = None  # made on the loop: calls at once ask for one token, not one each

    async def token(self) -> str:
        if self._token and time.monotonic() < self._until:
            return self._token
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self._token and time.monotonic() < self._until:
                return self._token
            return await self._fetch()

    async def _fetch(self) -> str:
        timeout = aiohttp.ClientTimeout(total=CALL_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.post(self.url, data=self.form) as answer:
            body = await answer.json(content_type=None)
            if answer.status != 200 or not isinstance(body, dict) or not body.get("access_token"):
                error = body.get("error") if isinstance(body, dict) else None
                raise Refused(str(error or f"http_{answer.status}"), "token")
        self._token = str(body["access_token"])
        self._until = time.monotonic() + max(int(body.get("expires_in", 3600)) - TOKEN_MARGIN, 30)
        return self._token


def tokens_for(settings: Settings, resource: str = BOT_RESOURCE, scope: str = BOT_SCOPE) -> Tokens:
    """The login the settings call for: none without an app id, the local token endpoint, else MSAL."""
    app_id = settings.teams_app_id
    secret = settings.teams_app_password.get_secret_value() if settings.teams_app_password else ""
    if not app_id:
        return Anonymous()
    if settings.teams_login_url:
        return LoginUrlTokens(settings.teams_login_url, app_id, secret, scope)
    return MsalTokens(app_id, secret, settings.teams_tenant_id, resource, scope)


@dataclass
class Failed(Exception):
    """Teams (or Graph) answered with an error: its status, its code, how long it asked us to wait, its message."""

    status: int
    code: str
    retry_after: float | None = None
    message: str = ""


Refusal = Callable[[Failed, str], Refused]  # an error answer (not 429/5xx) as the port's Refused


async def check_answer(response: aiohttp.ClientResponse) -> None:
    """The session's answer check, before the SDK reads it: an error answer becomes Failed with Teams' code."""
    if response.status < 400:
        return
    text = await response.text(errors="replace")
    try:
        error = json.loads(text).get("error") or {}
        code = str(error.get("code") or "") if isinstance(error, dict) else str(error)
        message = str(error.get("message") or "") if isinstance(error, dict) else ""
    except (ValueError, AttributeError):
        code, message = "", ""
    wait = response.headers.get("Retry-After")
    try:
        retry_after = float(wait) if wait else None
    except ValueError:
        retry_after = None
    raise Failed(response.status, code or f"http_{response.status}", retry_after, message[:300])


class Connector:
    """The Bot Connector calls the Teams port makes, as blocking calls (see the module's docstring)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        tokens: Tokens | None = None,
        *,
        call_timeout: float = CALL_TIMEOUT,
        total_time: float = TOTAL_TIME,
    ) -> None:
        self.settings, self.store = settings, store
        self.tokens = tokens or tokens_for(settings)
        self.call_timeout, self.total_time = call_timeout, total_time
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="crisisbot-teams-loop", daemon=True)
        self._thread.start()
        self._clients: dict[str, ConnectorClient] = {}
        self._service_url: tuple[float, str] = (-SERVICE_URL_SECONDS, "")  # (read at, url): see service_url
        self.on_close: list[Callable[[], Awaitable[None]]] = []  # what else lives on the loop (graph.py's session)

    # ---- where ------------------------------------------------------------------------------------
    @property
    def service_url(self) -> str:
        """The last service URL an activity brought (refs), else the configured one. Read from the store at most
        every SERVICE_URL_SECONDS: every call asks, on the loop that sends them all, and Teams moves a tenant's
        service URL rarely (a call to the old one still answers meanwhile)."""
        now = time.monotonic()
        read_at, url = self._service_url
        if now - read_at >= SERVICE_URL_SECONDS:
            remembered = self.store.platform_ref(PLATFORM, SERVICE_URL_KEY)
            url = str(remembered or self.settings.teams_service_url or DEFAULT_SERVICE_URL)
            self._service_url = (now, url)
        return url

    async def _client(self) -> ConnectorClient:
        url = self.service_url
        url = url if url.endswith("/") else url + "/"
        client = self._clients.get(url)
        if client is None:
            timeout = aiohttp.ClientTimeout(total=self.call_timeout)
            session = aiohttp.ClientSession(
                base_url=url, timeout=timeout, raise_for_status=check_answer, trace_configs=[_sent_trace()]
            )
            client = self._clients[url] = ConnectorClient(url, "", session=session)
        token = await self.tokens.token()
        if token:
            client.client.headers["Authorization"] = f"Bearer {token}"
        return client

    # ---- the calls ----------------------------------------------------------------------------------
    def create_conversation(
        self, params: dict[str, Any], meanwhile: Callable[[], None] | None = None
    ) -> dict[str, Any]:
        """POST v3/conversations: a new thread in a channel, or a 1:1 chat; the answer (id, activityId). See run for
        `meanwhile`."""
        body = ConversationParameters.model_validate(params)

        async def call() -> dict[str, Any]:
            answer = await (await self._client()).conversations.create_conversation(body)
            return answer.model_dump(by_alias=True, exclude_none=True)

        return self.run("create_conversation", call, meanwhile=meanwhile)

    def send(self, conversation: str, activity: dict[str, Any]) -> str:
        body = Activity.model_validate(activity)

        async def call() -> str:
            answer = await (await self._client()).conversations.send_to_conversation(conversation, body)
            return str(answer.id or "")

        return self.run("send_to_conversation", call)

    def reply(self, conversation: str, activity_id: str, activity: dict[str, Any]) -> str:
        body = Activity.model_validate(activity)

        async def call() -> str:
            answer = await (await self._client()).conversations.reply_to_activity(conversation, activity_id, body)
            return str(answer.id or "")

        return self.run("reply_to_activity", call)

    def update(self, conversation: str, activity_id: str, activity: dict[str, Any]) -> None:
        body = Activity.model_validate({**activity, "id": activity_id})

        async def call() -> None:
            await (await self._client()).conversations.update_activity(conversation, activity_id, body)

        self.run("update_activity", call)

    def _object(self, method: str, path: str) -> dict[str, Any]:
        """GET `path` (after the service URL), whose answer must be a JSON object."""

        async def call() -> dict[str, Any]:
            client = await self._client()
            async with client.client.get(path) as answer:
                found = await answer.json(content_type=None)
            if not isinstance(found, dict):
                raise ValueError(f"{method}: the answer is not an object")
            return found

        return self.run(method, call)

    def member(self, conversation: str, member: str) -> dict[str, Any]:
        """One member of a conversation (a team: by 29: id or Entra object id), as Teams describes them."""
        return self._object("get_conversation_member", f"v3/conversations/{conversation}/members/{member}")

    def channels(self, team: str) -> list[dict[str, Any]]:
        """The team's channels (`{id, name}`; the General channel has no name)."""

        async def call() -> list[dict[str, Any]]:
            client = await self._client()
            async with client.client.get(f"v3/teams/{team}/conversations") as answer:
                found = await answer.json(content_type=None)
            return [c for c in (found or {}).get("conversations", []) if isinstance(c, dict)]

        return self.run("fetch_channel_list", call)

    def team(self, team: str) -> dict[str, Any]:
        """The team's details (`{id, name, aadGroupId}`): Graph names a team by its group id, the Connector by 19:."""
        return self._object("fetch_team_details", f"v3/teams/{team}")

    def later(self, seconds: float, work: Callable[[], None]) -> None:
        """Run `work` on the loop in `seconds` (it must not block: hand anything slow to a thread). Cheaper than a
        threading.Timer, a thread of its own each (over half a millisecond to start, on a declare's first steps)."""
        self._loop.call_soon_threadsafe(self._loop.call_later, seconds, work)

    def close(self) -> None:
        async def close_all() -> None:
            for client in self._clients.values():
                await client.close()
            for closing in self.on_close:
                await closing()

        if self._loop.is_closed():
            return
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._clients.clear()
        self._loop.close()

    # ---- retries ------------------------------------------------------------------------------------
    def run(
        self,
        method: str,
        call: Callable[[], Awaitable[T]],
        refuse: Refusal | None = None,
        meanwhile: Callable[[], None] | None = None,
    ) -> T:
        """`call` on the loop, retried within the total time; Teams' refusal as Refused (`refuse` maps a refusal
        to the port's reason; bot/teams/graph.py's), no answer as OSError.

        `meanwhile` runs once on this thread when the first try's request has left (or the try ended): work that
        needs the interpreter while Teams answers. Started any earlier it would hold the interpreter while the loop
        thread builds and writes the request, and the call would leave that much later."""
        deadline = time.monotonic() + self.total_time
        for attempt in range(MAX_ATTEMPTS):
            wait: float | None
            sent = threading.Event()
            future: Future[T] = asyncio.run_coroutine_threadsafe(_coroutine(call, sent), self._loop)
            if meanwhile is not None:
                sent.wait(self.call_timeout)
                meanwhile()
                meanwhile = None
            try:
                return future.result(self.call_timeout + 5)
            except Failed as exc:
                if exc.status == 429 or exc.status >= 500:
                    wait = exc.retry_after if exc.retry_after is not None else _backoff(attempt)
                    if exc.retry_after is not None and exc.retry_after > MAX_RETRY_AFTER:
                        raise OSError(f"{method}: throttled for {exc.retry_after:.0f} s") from exc
                    reason = f"{exc.status} {exc.code}"
                else:
                    raise (refuse(exc, method) if refuse else Refused(exc.code, method)) from exc
            except Refused:
                raise
            except (TimeoutError, aiohttp.ClientError, FutureTimeout, ConnectionError) as exc:
                future.cancel()  # a call the loop still runs past its time is abandoned, not left to land later
                wait, reason = _backoff(attempt), type(exc).__name__
            except (ValidationError, ValueError, UnicodeDecodeError) as exc:
                raise OSError(f"{method}: unreadable answer ({type(exc).__name__})") from exc
            if time.monotonic() + wait > deadline or attempt == MAX_ATTEMPTS - 1:
                raise OSError(f"{method}: no answer after {attempt + 1} tries ({reason})")
            log.info("%s: %s, trying again in %.1f s", method, reason, wait)
            time.sleep(wait)
        raise OSError(f"{method}: no answer")  # not reached: the loop returns or raises


_SENT: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("crisisbot_sent", default=None)


async def _coroutine(call: Callable[[], Awaitable[T]], sent: threading.Event | None = None) -> T:
    """Run `call`; `sent` is set once its request's body has been written (see _sent_trace), or when it ended."""
    token = _SENT.set(sent)
    try:
        return await call()
    finally:
        _SENT.reset(token)
        if sent is not None:
            sent.set()


def _sent_trace() -> aiohttp.TraceConfig:
    """aiohttp's request tracing, telling Connector.run when a request is on its way (its body written)."""

    async def chunk_sent(session: aiohttp.ClientSession, context: Any, params: Any) -> None:
        sent = _SENT.get()
        if sent is not None:
            sent.set()

    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(chunk_sent)
    return trace


def _backoff(attempt: int) -> float:
    return float(min(0.25 * 2**attempt, 4.0) * (0.75 + random.random() / 2))
