"""Microsoft Graph's channel endpoints, as far as a bot making a channel per incident meets them (`<base>/graph/v1.0/`).

`POST teams/{group id}/channels` (Create channel: a standard channel; 201 and the channel) and `GET
teams/{group id}/channels[?$filter=displayName eq '…']` (List channels). Tokens are app-only, from the emulator's
own token endpoint with scope `https://graph.microsoft.com/.default` (audience Graph: a Connector token is refused
with 401, as Graph refuses a token for another resource). Resource-specific consent is the tenant's `rsc` set: a
create without `Channel.Create.Group` (or a list without `ChannelSettings.Read.Group`) is 403 Forbidden with
Graph's "Missing role permissions" message; grants per test with `TeamsEmulator(rsc=…)`, `grant()`, `revoke()`.

Errors in Graph's shape `{"error": {"code", "message", "innerError"}}`: 400 BadRequest for a displayName over 50
characters, with a character or word Teams forbids, or starting with `_`/`.` or ending with `.` ("Limits and
specifications for Microsoft Teams"); a name in use (any case, deleted channels included) 400 BadRequest "Channel
name already existed, please use other name." (what Graph answers; `graph_duplicate_status=409` answers 409
Conflict instead); 400 past the team's channel limit (1,000 including deleted ones; `max_channels`); 404 NotFound
for an unknown team. 429 with Retry-After, 5xx and lost answers come from the fault book (`fail("graph_create_channel",
…)`, `fail("graph_list_channels", …)`). A new channel becomes a conversation the Connector accepts posts in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.sandbox.teams.model import Conversation, Event, thread_id
from bot.sandbox.teams.tenant import Tenant

GRAPH_AUDIENCE = "https://graph.microsoft.com"
CREATE_PERMISSION = "Channel.Create.Group"
READ_PERMISSION = "ChannelSettings.Read.Group"
MAX_NAME = 50
MAX_CHANNELS = 1000
TAKEN_MESSAGE = "Channel name already existed, please use other name."
_BAD_CHARS = re.compile(r"[~#%&*{}+/\\:<>?|'\",\x00-\x1f\x80-\x9f]|\.\.")
_BAD_WORDS = re.compile(r"^(forms|con|conin\$|conout\$|prn|aux|nul|com[1-9]|lpt[1-9]|desktop\.ini)$|_vti_", re.I)
_FILTER = re.compile(r"^\s*displayName\s+eq\s+'((?:[^']|'')*)'\s*$")


class GraphError(Exception):
    """An error answer of Microsoft Graph."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after

    def body(self) -> dict[str, Any]:
        inner = {"code": self.code, "date": datetime.now(UTC).isoformat(timespec="seconds")[:19]}
        return {"error": {"code": self.code, "message": self.message, "innerError": inner}}


@dataclass
class GraphApi:
    """The channel endpoints on the tenant; the server (server.py) does auth, faults and the call log around them."""

    tenant: Tenant
    rsc: set[str] = field(default_factory=lambda: {CREATE_PERMISSION, READ_PERMISSION})
    max_channels: int = MAX_CHANNELS
    duplicate_status: int = 400
    deleted: dict[str, str] = field(default_factory=dict)  # id -> name of channels deleted (they still count)
    descriptions: dict[str, str] = field(default_factory=dict)  # id -> description given at creation

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[str, int, Any]:
        """(endpoint name, status, answer) of one call; raises GraphError."""
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "teams" or parts[2] != "channels" or method not in ("GET", "POST"):
            raise GraphError(400, "BadRequest", f"Resource not found for the segment '{parts[-1]}'.")
        group = parts[1]
        if method == "POST":
            return "graph_create_channel", *self._create(group, body)
        return "graph_list_channels", *self._list(group, query)

    @staticmethod
    def endpoint(method: str) -> str:
        return "graph_create_channel" if method == "POST" else "graph_list_channels"

    # ---- endpoints ------------------------------------------------------------------------------------
    def _create(self, group: str, body: Any) -> tuple[int, Any]:
        t = self.tenant
        self._team(group)
        self._require(CREATE_PERMISSION)
        if not isinstance(body, dict) or not isinstance(body.get("displayName"), str):
            raise GraphError(400, "BadRequest", "Invalid request body: displayName is required.")
        if body.get("membershipType", "standard") != "standard":
            raise GraphError(400, "BadRequest", "Only standard channels are emulated.")
        name = str(body["displayName"])
        problem = name_problem(name)
        if problem:
            raise GraphError(400, "BadRequest", f"Channel name is invalid: {problem}.")
        with t.lock:
            names = [*t.channel_names.values(), *self.deleted.values()]
            if any(n.lower() == name.lower() for n in names):
                if self.duplicate_status == 409:
                    raise GraphError(409, "NameAlreadyExists", TAKEN_MESSAGE)
                raise GraphError(400, "BadRequest", TAKEN_MESSAGE)
            if len(names) >= self.max_channels:
                raise GraphError(400, "BadRequest", f"The team has reached its limit of {self.max_channels} channels.")
            channel = thread_id()
            t.channel_names[channel] = name
            t.conversations[channel] = Conversation(channel, "channel")
            self.descriptions[channel] = str(body.get("description") or "")
        t.emit(Event("channel_created", channel, f"#{name}", t.bot_name, f"channel #{name} created"))
        return 201, self._channel(channel, name)

    def _list(self, group: str, query: dict[str, str]) -> tuple[int, Any]:
        self._team(group)
        self._require(READ_PERMISSION)
        wanted: str | None = None
        if query.get("$filter"):
            match = _FILTER.match(query["$filter"])
            if not match:
                raise GraphError(400, "BadRequest", "Invalid filter clause.")
            wanted = match.group(1).replace("''", "'")
        with self.tenant.lock:
            channels = list(self.tenant.channel_names.items())
        found = [self._channel(c, n) for c, n in channels if wanted is None or n.lower() == wanted.lower()]
        return 200, {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#teams('{group}')/channels",
            "value": found,
        }

    # ---- helpers --------------------------------------------------------------------------------------
    def _team(self, group: str) -> None:
        if group.lower() != self.tenant.team_aad_group_id.lower():
            raise GraphError(404, "NotFound", f"No team found with Group Id {group}")

    def _require(self, permission: str) -> None:
        if permission not in self.rsc:
            granted = ", ".join(sorted(self.rsc))
            raise GraphError(
                403,
                "Forbidden",
                f"Missing role permissions on the request. API requires one of '{permission}'. Roles on the request ''. "
                f"Resource specific consent grants on the request '{granted}'.",
            )

    def _channel(self, channel: str, name: str) -> dict[str, Any]:
        t = self.tenant
        return {
            "id": channel,
            "displayName": name,
            "description": self.descriptions.get(channel) or None,
            "membershipType": "standard",
            "createdDateTime": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "webUrl": f"https://teams.microsoft.com/l/channel/{channel}/{name}?groupId={t.team_aad_group_id}"
            f"&tenantId={t.tenant_id}",
        }


def name_problem(name: str) -> str | None:
    """What Teams says is wrong with a channel name, None when nothing."""
    if not name.strip():
        return "it is empty"
    if len(name) > MAX_NAME:
        return f"it is longer than {MAX_NAME} characters"
    if _BAD_CHARS.search(name) or _BAD_WORDS.search(name):
        return "it contains a character or word that is not allowed"
    if name.startswith(("_", ".")) or name.endswith("."):
        return "it starts with an underscore or a period, or ends with a period"
    return None
