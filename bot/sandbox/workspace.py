"""The fake workspace's state and the state changes shared by the Web API and the user side.

Every public method expects the caller to hold `lock` (an RLock) when it needs several steps to be
atomic; single calls take it themselves.
"""

from __future__ import annotations

import copy
import random
import secrets
import threading
import time
from typing import Any

from bot.sandbox.api_base import ApiError
from bot.sandbox.model import (
    APP_ID,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    GENERAL_ID,
    Channel,
    Ephemeral,
    Event,
    ResponseHook,
    StoredFile,
    StoredMessage,
    StoredView,
    Trigger,
    User,
    b36,
)
from bot.sandbox.views_state import ViewsMixin

TRIGGER_TTL = 3.0
HOOK_TTL = 30 * 60.0
HOOK_MAX_USES = 5
_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class Workspace(ViewsMixin):
    """All channels, users, messages, views and files of one fake Slack team."""

    def __init__(self, team_id: str) -> None:
        self.lock = threading.RLock()
        self.team_id = team_id
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.dm_of: dict[str, str] = {}
        self.ephemerals: list[Ephemeral] = []
        self.views: dict[str, StoredView] = {}
        self.modal_stacks: dict[str, list[str]] = {}
        self.homes: dict[str, str] = {}
        self.triggers: dict[str, Trigger] = {}
        self.hooks: dict[str, ResponseHook] = {}
        self.files: dict[str, StoredFile] = {}
        self.events: list[Event] = []
        self.problems: list[str] = []
        self.base_url = ""  # "http://127.0.0.1:PORT/", set once the server listens
        self._counters: dict[str, int] = {}
        self._last_us = 0
        # Seeded so auto-generated block_ids/action_ids are the same on every run.
        self._rand = random.Random(20240601)
        bot = User(BOT_USER_ID, BOT_NAME, "Crisis Desk", is_bot=True, bot_id=BOT_ID)
        self.users[bot.id] = bot
        general = Channel(GENERAL_ID, "general", creator=BOT_USER_ID, created=int(time.time()))
        general.members.append(BOT_USER_ID)
        self.channels[general.id] = general

    # ----- ids and timestamps -------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        """Return a fresh Slack-looking id such as "C000000001"."""
        with self.lock:
            n = self._counters.get(prefix, 0) + 1
            self._counters[prefix] = n
            return f"{prefix}{b36(n).rjust(9, '0')}"

    def next_ts(self) -> str:
        """Return a unique, increasing message ts ("1700000000.000100") close to wall-clock time."""
        with self.lock:
            us = max(int(time.time() * 1_000_000), self._last_us + 1)
            self._last_us = us
            return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def short_id(self, used: set[str]) -> str:
        """Return a random 5-char id like the block_ids Slack invents for blocks without one."""
        while True:
            candidate = "".join(self._rand.choice(_ID_CHARS) for _ in range(5))
            if candidate not in used:
                used.add(candidate)
                return candidate

    # ----- users and channels -------------------------------------------------------------
    def add_user(self, user: User) -> None:
        """Add a person; like a fresh Slack member they are in #general."""
        with self.lock:
            self.users[user.id] = user
            general = self.channels[GENERAL_ID]
            if user.id not in general.members:
                general.members.append(user.id)

    def label(self, channel: Channel) -> str:
        """Return how a transcript names a channel: "#"-less name, or "@user" for a DM."""
        if channel.is_im and channel.im_user:
            user = self.users.get(channel.im_user)
            return f"@{user.name if user else channel.im_user}"
        return channel.name

    def emit(self, kind: str, channel: Channel | None = None, **fields: Any) -> None:
        """Append a transcript event.

        Events share block lists with the stored messages and views: those lists are replaced on
        every edit and never mutated in place, so sharing is safe and spares a copy per call.
        """
        with self.lock:
            if channel is not None:
                fields.setdefault("channel_id", channel.id)
                fields.setdefault("channel", self.label(channel))
            self.events.append(Event(kind=kind, **fields))

    def create_channel(self, name: str, creator: str, is_private: bool) -> Channel:
        """Create a channel whose creator is its first member."""
        with self.lock:
            channel = Channel(
                self.new_id("C"),
                name,
                creator=creator,
                created=int(time.time()),
                is_private=is_private,
                members=[creator],
            )
            self.channels[channel.id] = channel
            self.emit("channel_created", channel, user=creator, data={"is_private": is_private})
            return channel

    def channel_named(self, name: str) -> Channel | None:
        """Return the non-DM channel called `name` (a leading "#" is ignored)."""
        name = name.lstrip("#")
        with self.lock:
            return next((c for c in self.channels.values() if not c.is_im and c.name == name), None)

    def ensure_dm(self, user_id: str) -> Channel:
        """Return the bot's DM channel with a user, creating it on first use."""
        with self.lock:
            if user_id in self.dm_of:
                return self.channels[self.dm_of[user_id]]
            channel = Channel(
                self.new_id("D"),
                "",
                creator=BOT_USER_ID,
                created=int(time.time()),
                is_private=True,
                is_im=True,
                im_user=user_id,
                members=[BOT_USER_ID, user_id],
            )
            self.channels[channel.id] = channel
            self.dm_of[user_id] = channel.id
            return channel

    def visible_channel(self, channel_id: Any) -> Channel:
        """Return a channel the bot may see; private ones it is not in do not exist for it."""
        channel = self.channels.get(str(channel_id or ""))
        if channel is None or (channel.is_private and BOT_USER_ID not in channel.members):
            raise ApiError("channel_not_found")
        return channel

    def post_target(self, ref: Any) -> Channel:
        """Resolve chat.postMessage's `channel`: a C/D id, a user id (→ DM) or a channel name."""
        ref = str(ref or "").strip()
        if not ref:
            raise ApiError("channel_not_found")
        if ref in self.users and ref != BOT_USER_ID:
            return self.ensure_dm(ref)
        if ref in self.channels:
            return self.visible_channel(ref)
        named = self.channel_named(ref)
        if named is None or (named.is_private and BOT_USER_ID not in named.members):
            raise ApiError("channel_not_found")
        return named

    # ----- messages -----------------------------------------------------------------------
    def normalize_blocks(self, blocks: Any) -> Any:
        """Copy blocks, adding the block_id/action_id Slack invents when the app sent none."""
        if not isinstance(blocks, list):
            return blocks
        blocks = copy.deepcopy(blocks)
        used = {b["block_id"] for b in blocks if isinstance(b, dict) and isinstance(b.get("block_id"), str)}
        for block in blocks:
            if not isinstance(block, dict):
                continue
            if "block_id" not in block:
                block["block_id"] = self.short_id(used)
            elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
            elements += [block[k] for k in ("accessory", "element") if isinstance(block.get(k), dict)]
            taken = {e["action_id"] for e in elements if isinstance(e, dict) and "action_id" in e}
            for element in elements:
                if isinstance(element, dict) and "action_id" not in element and element.get("type") != "image":
                    element["action_id"] = self.short_id(taken)
        return blocks

    def bot_message(self, text: str, blocks: Any, ts: str) -> dict[str, Any]:
        """Return the stored shape of a message the bot posts."""
        data: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "text": text,
            "ts": ts,
            "team": self.team_id,
            "bot_profile": {
                "id": BOT_ID,
                "app_id": APP_ID,
                "name": BOT_NAME,
                "deleted": False,
                "team_id": self.team_id,
            },
        }
        if blocks is not None:
            data["blocks"] = self.normalize_blocks(blocks)
        return data

    def store_message(
        self,
        channel: Channel,
        data: dict[str, Any],
        *,
        kind: str | None = None,
        event_data: dict[str, Any] | None = None,
    ) -> StoredMessage:
        """Add a message (bot or user) to a channel, maintain thread metadata, emit an event."""
        with self.lock:
            thread_ts = data.get("thread_ts")
            parent = channel.by_ts.get(thread_ts) if thread_ts else None
            if parent is not None:
                parent.data["thread_ts"] = parent.ts
                parent.data["reply_count"] = parent.data.get("reply_count", 0) + 1
                users = parent.data.setdefault("reply_users", [])
                if data.get("user") not in users:
                    users.append(data.get("user"))
                parent.data["latest_reply"] = data["ts"]
                data.setdefault("parent_user_id", parent.data.get("user"))
            stored = StoredMessage(channel.id, data)
            channel.messages.append(stored)
            channel.by_ts[stored.ts] = stored
            event_kind = kind or ("dm" if channel.is_im else "message_posted")
            self.emit(
                event_kind,
                channel,
                user=data.get("user") if not channel.is_im else channel.im_user,
                text=data.get("text", ""),
                blocks=data.get("blocks") or [],
                ts=stored.ts,
                data={"author": data.get("user"), "thread_ts": thread_ts, **(event_data or {})},
            )
            return stored

    def post_bot_message(
        self, channel: Channel, text: str, blocks: Any, thread_ts: str | None = None, **extra: Any
    ) -> StoredMessage:
        """Post a message as the bot into `channel`."""
        with self.lock:
            data = self.bot_message(text, blocks, self.next_ts())
            if thread_ts:
                data["thread_ts"] = str(thread_ts)
            data.update(extra)
            return self.store_message(channel, data)

    def find_message(self, channel: Channel, ts: Any) -> StoredMessage:
        """Return a message of `channel` by ts or raise message_not_found."""
        stored = channel.by_ts.get(str(ts or ""))
        if stored is None:
            raise ApiError("message_not_found")
        return stored

    def update_message(self, stored: StoredMessage, text: str | None, blocks: Any) -> None:
        """Edit a message: keep the old version in its history, mark it edited."""
        with self.lock:
            stored.history.append(dict(stored.data))  # blocks lists are replaced, never mutated
            if text is not None:
                stored.data["text"] = text
            if blocks is not None:
                stored.data["blocks"] = self.normalize_blocks(blocks)
            stored.data["edited"] = {"user": BOT_USER_ID, "ts": self.next_ts()}
            channel = self.channels[stored.channel_id]
            self.emit(
                "message_updated",
                channel,
                user=stored.data.get("user"),
                ts=stored.ts,
                text=stored.data.get("text", ""),
                blocks=stored.data.get("blocks") or [],
            )

    def delete_message(self, stored: StoredMessage) -> None:
        """Remove a message from its channel (and its pins)."""
        with self.lock:
            channel = self.channels[stored.channel_id]
            channel.messages.remove(stored)
            channel.by_ts.pop(stored.ts, None)
            channel.pins = [p for p in channel.pins if p[0] != stored.ts]
            self.emit(
                "message_deleted", channel, user=stored.data.get("user"), ts=stored.ts, text=stored.data.get("text", "")
            )

    def add_ephemeral(
        self, channel_id: str, user_id: str, text: str, blocks: Any, *, source: str, thread_ts: str | None = None
    ) -> Ephemeral:
        """Record a message only `user_id` sees in `channel_id`."""
        with self.lock:
            eph = Ephemeral(
                channel_id,
                user_id,
                self.next_ts(),
                text or "",
                self.normalize_blocks(blocks) if blocks else [],
                thread_ts,
                source,
            )
            self.ephemerals.append(eph)
            channel = self.channels.get(channel_id)
            self.emit(
                "ephemeral",
                channel,
                channel_id=channel_id,
                user=user_id,
                text=eph.text,
                blocks=eph.blocks,
                ts=eph.ts,
                data={"source": source},
            )
            return eph

    def find_ephemeral(self, user_id: str, ts: str) -> Ephemeral | None:
        """Return the ephemeral message with `ts` shown to `user_id`, if any."""
        return next((e for e in self.ephemerals if e.user_id == user_id and e.ts == ts), None)

    # ----- triggers and response_urls -----------------------------------------------------
    def issue_trigger(self, user_id: str, issued_ago: float = 0.0) -> str:
        """Hand out a trigger_id for an interaction by `user_id` (backdated by `issued_ago` s)."""
        with self.lock:
            n = self._counters.get("trigger", 0) + 1
            self._counters["trigger"] = n
            trigger_id = f"{int(time.time() * 1000)}{n:04d}.{self.team_id[1:]}.{secrets.token_hex(16)}"
            self.triggers[trigger_id] = Trigger(trigger_id, user_id, time.monotonic() - issued_ago)
            return trigger_id

    def exchange_trigger(self, trigger_id: Any) -> Trigger:
        """Use up a trigger_id; Slack accepts each once and only within 3 seconds."""
        with self.lock:
            trigger = self.triggers.get(str(trigger_id or ""))
            if trigger is None:
                raise ApiError("invalid_trigger_id")
            if trigger.used:
                raise ApiError("exchanged_trigger_id")
            if time.monotonic() - trigger.issued > TRIGGER_TTL:
                raise ApiError("expired_trigger_id")
            trigger.used = True
            return trigger

    def issue_hook(
        self, user_id: str, channel_id: str, message_ts: str | None = None, is_ephemeral: bool = False
    ) -> str:
        """Create a response_url target and return its id."""
        with self.lock:
            hook = ResponseHook(secrets.token_hex(12), user_id, channel_id, message_ts, is_ephemeral, time.monotonic())
            self.hooks[hook.id] = hook
            return hook.id
