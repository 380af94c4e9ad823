"""Microsoft Graph, the little of it the Teams port needs: a dedicated channel per incident, and finding it again.

Synchronous like bot/teams/connector.py, whose loop thread and retries it shares (a 429 waits out Retry-After, a
5xx or a dropped connection is tried again with backoff). The token is app-only: the client-credentials grant for
`https://graph.microsoft.com/.default` through the SDK's MSAL auth (the emulator's token endpoint with
TEAMS_LOGIN_URL). What this module relies on, from Microsoft's documentation:

- "Create channel" (graph/api/channel-post): `POST /teams/{team-id}/channels` with `displayName`, `description`,
  `membershipType: standard`; 201 and the channel (`id` `19:…@thread.tacv2`). Application permission, least
  privileged: `Channel.Create.Group`, which is resource-specific consent (RSC): granted per team when the app is
  installed there, no tenant-wide permission. Without the grant Graph answers 403. `{team-id}` is the team's group
  id (a GUID), which the Bot Connector's team details give as `aadGroupId`.
- displayName at most 50 characters (channel-post); "Limits and specifications for Microsoft Teams": channel names
  cannot contain `~ # % & * { } + / \\ : < > ? | ' " , ..`, characters 0x00-0x1F and 0x80-0x9F, the words forms,
  CON, CONIN$, CONOUT$, PRN, AUX, NUL, COM1-9, LPT1-9, desktop.ini, _vti_; cannot start with `_` or `.`, nor end
  with `.`; at most 1,000 channels per team, deleted ones included for 30 days (older versions of the page: 200).
- A name already in use: Graph answers 400 BadRequest "Channel name already existed, please use other name." (the
  message, not a code, says it; what published code matches on); 409 Conflict is taken the same way.
- "List channels" (graph/api/channel-list): `GET /teams/{team-id}/channels?$filter=displayName eq '…'`, RSC
  `ChannelSettings.Read.Group` (the read-back after a crash between Graph's answer and our note of it).
- "channel: archive" needs `ChannelSettings.ReadWrite.All`, a tenant-wide application permission, not RSC: so a
  resolved incident's channel is left as it is (its closing post says it is resolved).
- Posting in the new channel is the Bot Connector's (bot/teams/port.py): `create_conversation` with
  `channelData.channel.id` = the new channel's id starts its first thread, as for the crisis channel ("Send
  proactive messages"); Graph's channel-message POST is delegated-only and not for bots.
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from bot.chat.port import NAME_TAKEN, Refused
from bot.config import Settings
from bot.teams.connector import Connector, Failed, Tokens, check_answer, tokens_for

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
FORBIDDEN = "graph_forbidden"  # the app lacks the permission (the RSC grant) in this team
BAD_NAME = "bad_channel_name"
MAX_CHANNEL_NAME = 50
_FORBIDDEN_CHARS = re.compile(r"[~#%&*{}+/\\:<>?|'\",\x00-\x1f\x80-\x9f]|\.\.")
_RESERVED = re.compile(r"^(forms|con|conin\$|conout\$|prn|aux|nul|com[1-9]|lpt[1-9]|desktop\.ini)$|_vti_", re.I)
TAKEN_WORDS = ("already existed", "already exists")


def channel_name_problem(name: str) -> str | None:
    """Why Teams would refuse `name` as a channel's display name (the rules above), None when it is fine."""
    if not name.strip():
        return "empty"
    if len(name) > MAX_CHANNEL_NAME:
        return f"longer than {MAX_CHANNEL_NAME} characters"
    if _FORBIDDEN_CHARS.search(name):
        return "a character Teams does not allow"
    if _RESERVED.search(name):
        return "a reserved word"
    if name.startswith(("_", ".")) or name.endswith("."):
        return "starts with _ or . or ends with ."
    return None


def _refusal(exc: Failed, method: str) -> Refused:
    """Graph's error as the port's reason: no permission, the name is taken, or Graph's own code."""
    if exc.status in (401, 403):
        return Refused(FORBIDDEN, method)
    if exc.status == 409 or (exc.status == 400 and any(w in exc.message.lower() for w in TAKEN_WORDS)):
        return Refused(NAME_TAKEN, method)
    return Refused(exc.code, method)


def _odata_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Graph:
    """The Graph calls of dedicated-channel mode, as blocking calls on the connector's loop."""

    def __init__(self, settings: Settings, connector: Connector, tokens: Tokens | None = None) -> None:
        self.base = settings.teams_graph_url
        self.connector = connector
        self.tokens = tokens or tokens_for(settings, GRAPH_RESOURCE, GRAPH_SCOPE)
        self._session: aiohttp.ClientSession | None = None
        connector.on_close.append(self._close)

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # the connector's per-call timeout, which its owner may have shortened
            timeout = aiohttp.ClientTimeout(total=self.connector.call_timeout)
            self._session = aiohttp.ClientSession(base_url=self.base, timeout=timeout, raise_for_status=check_answer)
        return self._session

    async def _headers(self) -> dict[str, str]:
        token = await self.tokens.token()
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def _close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def create_channel(self, team: str, name: str, description: str) -> dict[str, Any]:
        """A standard channel in the team (by group id); its `{id, displayName}`. Refused(NAME_TAKEN) when the name
        is in use, Refused(FORBIDDEN) without the grant, Refused(BAD_NAME) for a name Teams does not allow."""
        problem = channel_name_problem(name)
        if problem:
            raise Refused(BAD_NAME, f"create_channel: {problem}")
        body = {"displayName": name, "description": description[:1024], "membershipType": "standard"}

        async def call() -> dict[str, Any]:
            session = await self._client()
            async with session.post(f"teams/{team}/channels", json=body, headers=await self._headers()) as answer:
                made = await answer.json(content_type=None)
            if not isinstance(made, dict) or not made.get("id"):
                raise ValueError("a channel has an id")
            return made

        return self.connector.run("graph_create_channel", call, _refusal)

    def channel_named(self, team: str, name: str) -> dict[str, Any] | None:
        """The team's channel called `name` (`{id, displayName, description}`; Teams compares names without case),
        None when there is none."""
        query = {"$filter": f"displayName eq {_odata_string(name)}", "$select": "id,displayName,description"}

        async def call() -> list[dict[str, Any]]:
            session = await self._client()
            async with session.get(f"teams/{team}/channels", params=query, headers=await self._headers()) as answer:
                found = await answer.json(content_type=None)
            return [c for c in (found or {}).get("value", []) if isinstance(c, dict)]

        channels = self.connector.run("graph_list_channels", call, _refusal)
        return next((c for c in channels if str(c.get("displayName", "")).lower() == name.lower()), None)
