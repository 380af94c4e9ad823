"""Data records of the fake Slack workspace: users, channels, messages, views, events, calls."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

BOT_USER_ID = "U0BOT"
BOT_NAME = "crisisbot"
BOT_ID = "B0BOT"
APP_ID = "A0CRISIS"
GENERAL_ID = "C0GENERAL"
TEAM_DOMAIN = "sandbox"
TEAM_NAME = "Crisis Sandbox"
VERIFICATION_TOKEN = "sandbox-verification-token"
# The credentials the emulator and the bot it drives share (bot/localdesk.py, bot/sandbox/process.py).
SIGNING_SECRET = "sandbox-signing-secret"
BOT_TOKEN = "xoxb-sandbox-token"
PERMALINK_BASE = "https://sandbox.slack.com"

_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def b36(n: int) -> str:
    """Return n in upper-case base 36 (Slack ids are upper-case alphanumerics)."""
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if n == 0:
            return out


@dataclass
class User:
    """A workspace member (person or bot)."""

    id: str
    name: str
    real_name: str
    locale: str = "en-US"
    tz: str = "Europe/Amsterdam"
    is_bot: bool = False
    bot_id: str | None = None
    deleted: bool = False  # a deactivated account: users.info still answers it, with `deleted: true`
    is_admin: bool = False  # a workspace admin (an owner is an admin too, as in Slack)
    is_owner: bool = False

    def to_api(self, team_id: str, *, include_locale: bool = True) -> dict[str, Any]:
        """Return the user object as users.info / users.list answer it."""
        offset, label = _tz_info(self.tz)
        data: dict[str, Any] = {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": label,
            "tz_offset": offset,
            "profile": {
                "real_name": self.real_name,
                "real_name_normalized": self.real_name,
                "display_name": self.name,
                "display_name_normalized": self.name,
                "team": team_id,
            },
            "is_admin": self.is_admin or self.is_owner,
            "is_owner": self.is_owner,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": 1700000000,
        }
        if self.bot_id:
            data["profile"]["bot_id"] = self.bot_id
        if include_locale:
            data["locale"] = self.locale
        return data


def _tz_info(tz: str) -> tuple[int, str]:
    """Return (offset seconds, label) for an IANA zone; UTC when the zone database is missing."""
    try:
        from datetime import datetime
        from zoneinfo import ZoneInfo

        now = datetime.now(ZoneInfo(tz))
        delta = now.utcoffset()
        return (int(delta.total_seconds()) if delta else 0), (now.tzname() or tz)
    except Exception:
        return 0, "UTC"


@dataclass
class StoredMessage:
    """A message as Slack stores it (`data`), plus the versions it had before each edit."""

    channel_id: str
    data: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ts(self) -> str:
        """Return the message timestamp (its id within the channel)."""
        return str(self.data["ts"])


@dataclass
class Channel:
    """A public/private channel or a bot<->user DM ("D…", is_im)."""

    id: str
    name: str
    creator: str
    created: int
    is_private: bool = False
    is_im: bool = False
    im_user: str | None = None
    members: list[str] = field(default_factory=list)
    topic: dict[str, Any] = field(default_factory=lambda: {"value": "", "creator": "", "last_set": 0})
    purpose: dict[str, Any] = field(default_factory=lambda: {"value": "", "creator": "", "last_set": 0})
    messages: list[StoredMessage] = field(default_factory=list)
    by_ts: dict[str, StoredMessage] = field(default_factory=dict)
    pins: list[tuple[str, int]] = field(default_factory=list)  # (message ts, pinned at)

    def to_api(self, team_id: str, viewer: str = BOT_USER_ID) -> dict[str, Any]:
        """Return the conversation object as conversations.info answers it."""
        if self.is_im:
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_org_shared": False,
                "user": self.im_user,
                "is_user_deleted": False,
                "priority": 0,
            }
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "created": self.created,
            "creator": self.creator,
            "is_archived": False,
            "is_general": self.id == GENERAL_ID,
            "unlinked": 0,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "context_team_id": team_id,
            "is_member": viewer in self.members,
            "topic": dict(self.topic),
            "purpose": dict(self.purpose),
            "previous_names": [],
            "num_members": len(self.members),
        }


@dataclass
class Ephemeral:
    """A message only one user sees (chat.postEphemeral, response_url, slash-command ack)."""

    channel_id: str
    user_id: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    source: str = "api"  # api | response_url | ack | slack

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict copy (the shape tests and transcripts read)."""
        return {
            "channel": self.channel_id,
            "user": self.user_id,
            "ts": self.ts,
            "text": self.text,
            "blocks": self.blocks,
            "thread_ts": self.thread_ts,
            "source": self.source,
        }


@dataclass
class StoredView:
    """A modal or home view; `data` is the view object Slack returns and sends in payloads."""

    user_id: str
    data: dict[str, Any]
    closed: bool = False
    errors: dict[str, str] = field(default_factory=dict)  # last response_action=errors

    @property
    def id(self) -> str:
        """Return the view id ("V…")."""
        return str(self.data["id"])


@dataclass
class Trigger:
    """A trigger_id the emulator handed to the bot; exchangeable once within 3 seconds."""

    id: str
    user_id: str
    issued: float
    used: bool = False


@dataclass
class ResponseHook:
    """A response_url: who triggered it, where, and which message (if any) it can replace."""

    id: str
    user_id: str
    channel_id: str
    message_ts: str | None
    is_ephemeral: bool
    created: float
    uses: int = 0


@dataclass
class StoredFile:
    """An uploaded file (files.getUploadURLExternal → upload → files.completeUploadExternal)."""

    id: str
    name: str
    length: int
    content: bytes | None = None
    title: str = ""
    channels: list[str] = field(default_factory=list)
    created: int = field(default_factory=lambda: int(time.time()))

    def to_api(self) -> dict[str, Any]:
        """Return the file object shape files.completeUploadExternal answers."""
        return {
            "id": self.id,
            "created": self.created,
            "timestamp": self.created,
            "name": self.name,
            "title": self.title or self.name,
            "mimetype": "application/octet-stream",
            "filetype": self.name.rsplit(".", 1)[-1] if "." in self.name else "binary",
            "user": BOT_USER_ID,
            "size": len(self.content) if self.content is not None else self.length,
            "channels": [c for c in self.channels if not c.startswith("D")],
            "ims": [c for c in self.channels if c.startswith("D")],
            "permalink": f"{PERMALINK_BASE}/files/{BOT_USER_ID}/{self.id}/{self.name}",
        }


@dataclass
class Event:
    """One visible thing that happened in the workspace, for demo transcripts.

    kind is one of: channel_created, message_posted, message_updated, message_deleted, ephemeral,
    dm, pinned, topic_set, purpose_set, invited, view_opened, view_updated, view_pushed,
    view_closed, home_published, file_shared, reaction_added, user_message.
    `channel` is the channel name, or "@name" for a DM; `user` is who acted or who sees it.
    """

    kind: str
    channel_id: str | None = None
    channel: str | None = None
    user: str | None = None
    text: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    ts: str | None = None
    view_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


@dataclass
class Call:
    """One Web API call the bot made, including failed and fault-injected ones."""

    method: str
    args: dict[str, Any]
    status: int
    response: dict[str, Any]
    at: float


@dataclass
class Fault:
    """A scheduled failure for the next `times` calls matching `method` after skipping `after`."""

    method: str | None
    error: str
    times: int
    after: int
    retry_after: int
    hang_seconds: float

    def matches(self, method: str) -> bool:
        """Return whether this fault applies to calls of `method`."""
        return self.method is None or self.method == method
