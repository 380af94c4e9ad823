"""Records of the emulated tenant: people, conversations, stored activities, events; ids as Teams forms them."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

CHANNEL_ID = "msteams"
BOT_NAME = "Crisis Desk"
# What the Bot Connector service puts in `iss` of the tokens it signs for bots (Bot Framework authentication doc).
CHANNEL_ISSUER = "https://api.botframework.com"
# The audience a bot asks tokens for when it calls the Bot Connector (client-credentials scope without /.default).
CONNECTOR_AUDIENCE = "https://api.botframework.com"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"


def guid() -> str:
    """Return a random GUID (tenant, app and Entra object ids)."""
    return str(uuid.uuid4())


def thread_id() -> str:
    """Return a team or channel id in the form Teams uses: `19:<hex>@thread.tacv2`."""
    return f"19:{secrets.token_hex(16)}@thread.tacv2"


def user_mri() -> str:
    """Return a Bot Framework user id (`29:1…`), what activities carry in `from.id`."""
    return "29:1" + secrets.token_urlsafe(33).replace("-", "a").replace("_", "b")


def personal_conversation_id() -> str:
    """Return a 1:1 conversation id (`a:1…`)."""
    return "a:1" + secrets.token_urlsafe(40).replace("-", "c").replace("_", "d")


def thread_conversation(channel: str, root_id: str) -> str:
    """Return the conversation id of a channel thread, as Teams sends it: `<channel>;messageid=<root id>`."""
    return f"{channel};messageid={root_id}"


class ActivityIds:
    """Message ids as Teams makes them for channel posts: epoch milliseconds, strictly increasing."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> str:
        """Return a fresh id."""
        with self._lock:
            self._last = max(self._last + 1, int(time.time() * 1000))
            return str(self._last)


_counter = itertools.count(1)


@dataclass
class Member:
    """A person in the tenant (a member of the team unless `in_team` is false)."""

    id: str  # 29:… (Bot Framework id)
    aad_id: str  # Entra object id (GUID)
    name: str
    locale: str = "en-US"
    guest: bool = False
    in_team: bool = True
    in_tenant: bool = True
    given_name: str = ""
    surname: str = ""
    email: str = ""

    def to_api(self, tenant_id: str) -> dict[str, Any]:
        """Return the TeamsChannelAccount shape the members endpoints answer."""
        return {
            "id": self.id,
            "name": self.name,
            "aadObjectId": self.aad_id,
            "givenName": self.given_name or self.name.split(" ")[0],
            "surname": self.surname or " ".join(self.name.split(" ")[1:]) or None,
            "email": self.email,
            "userPrincipalName": self.email,
            "tenantId": tenant_id,
            "userRole": "anonymous" if not self.in_tenant else ("guest" if self.guest else "user"),
        }

    def account(self) -> dict[str, Any]:
        """Return the ChannelAccount an activity's `from` carries."""
        return {"id": self.id, "name": self.name, "aadObjectId": self.aad_id}


@dataclass
class StoredActivity:
    """An activity as Teams keeps it: current state, earlier versions, who sent it, where."""

    id: str
    conversation_id: str  # the thread's id for channel posts, the 1:1 id for personal chats
    data: dict[str, Any]
    from_bot: bool
    history: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    sender: str | None = None  # a person's 29: id when a person posted it


@dataclass
class Conversation:
    """A place messages live: a channel, one of its threads, or a person's 1:1 chat with the bot."""

    id: str
    kind: str  # "channel" | "thread" | "personal"
    channel_id: str | None = None  # the channel a thread belongs to
    root_id: str | None = None  # a thread's root post
    user_id: str | None = None  # personal: the person's 29: id
    activity_ids: list[str] = field(default_factory=list)


@dataclass
class Event:
    """One visible thing that happened, for transcripts (the Slack emulator's `Event`, in Teams terms).

    kind is one of: thread_started, message_posted, message_updated, message_deleted, dm, user_message,
    card_action, task_opened, task_submitted, installed, refused.
    `conversation` is a label: "#crisis", "#crisis › thread 1", "@Anna"; `user` is who acted or who sees it.
    """

    kind: str
    conversation_id: str | None = None
    conversation: str | None = None
    user: str | None = None
    text: str = ""
    cards: list[dict[str, Any]] = field(default_factory=list)
    activity_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)
    seq: int = field(default_factory=lambda: next(_counter))


@dataclass
class Refusal:
    """A send or update the emulator refused for its content (bad card, too big): what a test asserts never happens."""

    endpoint: str
    status: int
    code: str
    message: str
    activity: dict[str, Any]
    at: float = field(default_factory=time.time)
