"""The emulated tenant: one team (General + a crisis channel), its people, conversations and activities.

Everything here runs under `Tenant.lock`. The Connector endpoints (connector_api.py) and the people's side
(people.py) both change this state; what the bot may not do raises a ConnectorError with Teams' answer.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.sandbox.teams import errors
from bot.sandbox.teams.model import (
    BOT_NAME,
    CARD_TYPE,
    CHANNEL_ID,
    ActivityIds,
    Conversation,
    Event,
    Member,
    StoredActivity,
    guid,
    personal_conversation_id,
    thread_conversation,
    thread_id,
    user_mri,
)


def now_iso() -> str:
    """Return the current time as Teams writes activity timestamps."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Tenant:
    """The state behind the emulator: people, the team's channels and threads, 1:1 chats, every activity."""

    def __init__(self, *, app_id: str, tenant_id: str, installed: bool = True) -> None:
        self.lock = threading.RLock()
        self.app_id = app_id
        self.bot_id = f"28:{app_id}"
        self.bot_name = BOT_NAME
        self.tenant_id = tenant_id
        self.team_id = thread_id()  # the General channel's id is the team's id, as in Teams
        self.team_name = "Crisis Team"
        self.team_aad_group_id = guid()
        self.crisis_channel = thread_id()
        self.channel_names = {self.team_id: "General", self.crisis_channel: "crisis"}
        self.installed = installed
        self.service_url = ""
        self.members: dict[str, Member] = {}
        self.conversations: dict[str, Conversation] = {cid: Conversation(cid, "channel") for cid in self.channel_names}
        self.activities: dict[str, StoredActivity] = {}
        self.personal: dict[str, str] = {}  # a person's 29: id -> their 1:1 conversation id with the bot
        self.inbound: dict[str, str] = {}  # id of an activity a person's client sent (invokes too) -> its conversation
        self.events: list[Event] = []
        self.problems: list[str] = []
        self.listeners: list[Callable[[Event], None]] = []
        self.ids = ActivityIds()

    # ----- people ---------------------------------------------------------------------------
    def add_member(self, name: str, aad_id: str | None, locale: str, guest: bool, in_team: bool) -> Member:
        """Add a person to the tenant (and the team unless `in_team` is false)."""
        member = Member(user_mri(), aad_id or guid(), name, locale, guest, in_team)
        local = "".join(ch for ch in name.lower() if ch.isalnum()) or "user"
        member.email = f"{local}@{'guest.example' if guest else 'contoso.example'}"
        with self.lock:
            self.members[member.id] = member
        return member

    def find_member(self, key: str) -> Member | None:
        """Return the person with this 29: id or Entra object id."""
        with self.lock:
            found = self.members.get(key)
            if found is None:
                found = next((m for m in self.members.values() if m.aad_id.lower() == key.lower()), None)
            return found

    def bot_account(self) -> dict[str, Any]:
        """Return the bot's ChannelAccount."""
        return {"id": self.bot_id, "name": self.bot_name}

    # ----- events ---------------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        """Record a visible happening and tell the listeners (a demo's live transcript)."""
        with self.lock:
            self.events.append(event)
            listeners = list(self.listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception as exc:  # a transcript printer must not break the emulator
                self.problems.append(f"event listener failed: {exc!r}")

    def label(self, conversation_id: str) -> str:
        """Return a readable name: "#crisis", "#crisis › 1700…", "@Anna"."""
        conv = self.conversations.get(conversation_id)
        if conv is None:
            return conversation_id
        if conv.kind == "personal":
            member = self.members.get(conv.user_id or "")
            return f"@{member.name}" if member else conversation_id
        if conv.kind == "thread":
            return f"#{self.channel_names.get(conv.channel_id or '', '?')} › {conv.root_id}"
        return f"#{self.channel_names.get(conv.id, '?')}"

    # ----- conversations ----------------------------------------------------------------------
    def conversation(self, conversation_id: str) -> Conversation:
        """Return a conversation the bot may act in, or raise Teams' error."""
        conv = self.conversations.get(conversation_id)
        if conv is None:
            raise errors.conversation_not_found()
        if conv.kind != "personal" and not self.installed:
            raise errors.not_in_roster()
        return conv

    def conversation_json(self, conv: Conversation) -> dict[str, Any]:
        """Return the ConversationAccount an activity in `conv` carries."""
        if conv.kind == "personal":
            return {"conversationType": "personal", "tenantId": self.tenant_id, "id": conv.id}
        return {"isGroup": True, "conversationType": "channel", "tenantId": self.tenant_id, "id": conv.id}

    def channel_data(self, conv: Conversation) -> dict[str, Any]:
        """Return the Teams channelData of an activity in `conv`."""
        if conv.kind == "personal":
            return {"tenant": {"id": self.tenant_id}}
        channel = conv.channel_id or conv.id
        return {
            "teamsChannelId": channel,
            "teamsTeamId": self.team_id,
            "channel": {"id": channel, "name": self.channel_names.get(channel)},
            "team": {"id": self.team_id, "name": self.team_name, "aadGroupId": self.team_aad_group_id},
            "tenant": {"id": self.tenant_id},
        }

    def personal_chat(self, member: Member) -> Conversation:
        """Return (opening if needed) a person's 1:1 conversation with the bot; Teams keeps one per person."""
        with self.lock:
            cid = self.personal.get(member.id)
            if cid is None:
                cid = personal_conversation_id()
                self.personal[member.id] = cid
                self.conversations[cid] = Conversation(cid, "personal", user_id=member.id)
            return self.conversations[cid]

    def new_thread(self, channel: str, root_id: str) -> Conversation:
        """Open the conversation of a new channel post's thread."""
        cid = thread_conversation(channel, root_id)
        conv = Conversation(cid, "thread", channel_id=channel, root_id=root_id)
        self.conversations[cid] = conv
        return conv

    def thread_of(self, conv: Conversation, reply_to: str | None) -> Conversation | None:
        """Return the thread a post lands in: the conversation itself, or the thread of `reply_to` in a channel."""
        if conv.kind != "channel":
            return conv
        if reply_to is None:
            return None  # a new post: it starts a thread
        thread = self.conversations.get(thread_conversation(conv.id, reply_to))
        if thread is None:
            raise errors.activity_not_found()
        return thread

    # ----- activities ---------------------------------------------------------------------------
    def store(self, conv: Conversation, data: dict[str, Any], *, from_bot: bool, sender: str | None) -> StoredActivity:
        """Keep an activity in `conv` (data already carries its id)."""
        stored = StoredActivity(str(data["id"]), conv.id, data, from_bot, sender=sender)
        self.activities[stored.id] = stored
        conv.activity_ids.append(stored.id)
        return stored

    def stamp(self, activity: dict[str, Any], conv: Conversation, activity_id: str) -> dict[str, Any]:
        """Return the bot's activity as Teams stores it: its id, sender, conversation and time filled in."""
        data = copy.deepcopy(activity)
        data.update(
            {
                "id": activity_id,
                "timestamp": now_iso(),
                "channelId": CHANNEL_ID,
                "serviceUrl": self.service_url,
                "from": self.bot_account(),
                "conversation": self.conversation_json(conv),
            }
        )
        data.setdefault("type", "message")
        return data

    def find_activity(self, conv: Conversation, activity_id: str) -> StoredActivity:
        """Return an activity of `conv` (a channel holds its threads' roots), or raise 404."""
        stored = self.activities.get(activity_id)
        if stored is None or stored.deleted:
            raise errors.activity_not_found()
        if stored.conversation_id == conv.id:
            return stored
        if conv.kind == "channel" and stored.conversation_id == thread_conversation(conv.id, activity_id):
            return stored
        raise errors.activity_not_found()

    def visible(self, conversation_id: str) -> list[StoredActivity]:
        """Return the live activities of a conversation (a channel: its threads' roots), oldest first."""
        with self.lock:
            conv = self.conversations.get(conversation_id)
            if conv is None:
                return []
            if conv.kind == "channel":
                roots = [
                    c.root_id for c in self.conversations.values() if c.kind == "thread" and c.channel_id == conv.id
                ]
                found = [self.activities[r] for r in roots if r]
            else:
                found = [self.activities[a] for a in conv.activity_ids]
            return [a for a in found if not a.deleted]

    def team_members(self) -> list[Member]:
        """Return the members of the team (who is in every channel and thread)."""
        return [m for m in self.members.values() if m.in_team]

    def conversation_members(self, conv: Conversation) -> list[Member]:
        """Return who is in a conversation."""
        if conv.kind == "personal":
            member = self.members.get(conv.user_id or "")
            return [member] if member else []
        return self.team_members()


def timestamp_ms() -> int:
    """Return the epoch time in milliseconds."""
    return int(time.time() * 1000)


def card_attachments(activity: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the Adaptive Cards (contents) an activity carries."""
    return [
        a["content"]
        for a in activity.get("attachments") or []
        if isinstance(a, dict) and a.get("contentType") == CARD_TYPE and isinstance(a.get("content"), dict)
    ]
