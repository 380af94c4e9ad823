"""Emulated auth.*, conversations.* and users.* Web API methods."""

from __future__ import annotations

import copy
import re
import time
from typing import Any

from bot.sandbox.api_base import ApiError, arg, int_arg, method, page, str_list, truthy
from bot.sandbox.model import BOT_ID, BOT_NAME, BOT_USER_ID, PERMALINK_BASE, TEAM_NAME, Channel
from bot.sandbox.workspace import Workspace

_NAME_RE = re.compile(r"^[a-z0-9_-]+$")
MAX_TOPIC = 250
MAX_LIST = 1000  # conversations.list: `limit` "must be an integer under 1000"


@method("auth.test")
def auth_test(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Identify the bot token's owner."""
    return {
        "url": f"{PERMALINK_BASE}/",
        "team": TEAM_NAME,
        "user": BOT_NAME,
        "team_id": ws.team_id,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": False,
    }


@method("conversations.create")
def conversations_create(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Create a channel with Slack's naming rules; the bot becomes its creator and member."""
    name = str(args.get("name") or "")
    if not name:
        raise ApiError("invalid_name_required")
    if len(name) > 80:
        raise ApiError("invalid_name_maxlength")
    if not _NAME_RE.match(name):
        raise ApiError("invalid_name_specials")
    with ws.lock:
        if ws.channel_named(name) is not None:
            raise ApiError("name_taken")
        channel = ws.create_channel(name, BOT_USER_ID, truthy(args.get("is_private")))
        return {"channel": channel.to_api(ws.team_id)}


def _member_channel(ws: Workspace, args: dict[str, Any]) -> Channel:
    channel = ws.visible_channel(args.get("channel"))
    if BOT_USER_ID not in channel.members:
        raise ApiError("not_in_channel")
    return channel


def _set_text(ws: Workspace, args: dict[str, Any], key: str, kind: str) -> dict[str, Any]:
    channel = _member_channel(ws, args)
    value = str(args.get(key) or "")
    if len(value) > MAX_TOPIC:
        raise ApiError("too_long")
    setattr(channel, key, {"value": value, "creator": BOT_USER_ID, "last_set": int(time.time())})
    ws.emit(kind, channel, user=BOT_USER_ID, text=value)
    return {"channel": channel.to_api(ws.team_id)}


@method("conversations.setTopic")
def conversations_set_topic(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Set a channel topic (≤ 250 characters)."""
    with ws.lock:
        return _set_text(ws, args, "topic", "topic_set")


@method("conversations.setPurpose")
def conversations_set_purpose(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Set a channel purpose (≤ 250 characters)."""
    with ws.lock:
        return _set_text(ws, args, "purpose", "purpose_set")


MAX_INVITES = 1000
# Slack's docs say inviting a deactivated ("removed") account fails on its own without failing the others, but name
# no error code for it; `cant_invite` ("User cannot be invited to this channel") is the documented one that fits.
DEACTIVATED = "cant_invite"


def _invite_problem(ws: Workspace, channel: Channel, user_id: str) -> str | None:
    """Why `user_id` cannot be added to `channel`, as Slack names it; None when they can."""
    if user_id == BOT_USER_ID:
        return "cant_invite_self"
    user = ws.users.get(user_id)
    if user is None:
        return "user_not_found"
    if user.deleted:
        return DEACTIVATED
    if user_id in channel.members:
        return "already_in_channel"
    return None


@method("conversations.invite")
def conversations_invite(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Add people to a channel, partial failures as Slack documents them.

    Without `force`, one person who cannot be added fails the whole call and nobody is added: an unknown id, and
    also `already_in_channel` when the list mixes members and non-members. Only a deactivated account fails on its
    own ("silently"): the others are added and the answer is still that error. With `force=true` everyone who can
    be added is, and the answer names each one who could not in `errors` (`{"user", "ok": false, "error"}`).
    """
    with ws.lock:
        channel = ws.visible_channel(args.get("channel"))
        if channel.is_im:
            raise ApiError("method_not_supported_for_channel_type")
        if BOT_USER_ID not in channel.members:
            raise ApiError("not_in_channel")
        users = list(dict.fromkeys(str_list(args.get("users"))))
        if not users:
            raise ApiError("no_user")
        if len(users) > MAX_INVITES:
            raise ApiError("too_many_users")
        problems = {u: _invite_problem(ws, channel, u) for u in users}
        failed = {u: error for u, error in problems.items() if error}
        force = truthy(args.get("force"))
        blocking = [error for error in failed.values() if error != DEACTIVATED]
        if blocking and not force:
            raise ApiError(blocking[0])
        new = [u for u in users if not problems[u]]
        if new:
            channel.members.extend(new)
            ws.emit("invited", channel, user=BOT_USER_ID, data={"users": new})
        if failed:
            extra: dict[str, Any] = (
                {"errors": [{"user": u, "ok": False, "error": e} for u, e in failed.items()]} if force else {}
            )
            raise ApiError(next(iter(failed.values())), **extra)
        return {"channel": channel.to_api(ws.team_id)}


@method("conversations.join")
def conversations_join(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Join a public channel."""
    with ws.lock:
        channel = ws.visible_channel(args.get("channel"))
        if channel.is_im or channel.is_private:
            raise ApiError("method_not_supported_for_channel_type")
        result: dict[str, Any] = {}
        if BOT_USER_ID in channel.members:
            result = {"warning": "already_in_channel", "response_metadata": {"warnings": ["already_in_channel"]}}
        else:
            channel.members.append(BOT_USER_ID)
            ws.emit("invited", channel, user=BOT_USER_ID, data={"users": [BOT_USER_ID], "joined": True})
        return {"channel": channel.to_api(ws.team_id), **result}


@method("conversations.info")
def conversations_info(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Describe a channel or DM."""
    with ws.lock:
        return {"channel": ws.visible_channel(args.get("channel")).to_api(ws.team_id)}


@method("conversations.members")
def conversations_members(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """List member ids of a channel (paginated)."""
    with ws.lock:
        channel = ws.visible_channel(args.get("channel"))
        members, cursor = page(list(channel.members), args)
        return {"members": members, "response_metadata": {"next_cursor": cursor}}


@method("conversations.list")
def conversations_list(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """List channels the bot can see, filtered by `types`."""
    types = set(str_list(args.get("types")) or ["public_channel"])
    if int_arg(args, "limit", 100) >= MAX_LIST:  # "an integer under 1000"
        raise ApiError("invalid_limit")
    with ws.lock:
        found = []
        for channel in ws.channels.values():
            if channel.is_im:
                wanted = "im" in types
            elif channel.is_private:
                wanted = "private_channel" in types and BOT_USER_ID in channel.members
            else:
                wanted = "public_channel" in types
            if wanted:
                found.append(channel.to_api(ws.team_id))
        chunk, cursor = page(found, args)
        return {"channels": chunk, "response_metadata": {"next_cursor": cursor}}


@method("conversations.open")
def conversations_open(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Open (or find) the bot's DM with one user."""
    with ws.lock:
        if args.get("channel"):
            channel = ws.visible_channel(args.get("channel"))
            return {"no_op": True, "already_open": True, "channel": {"id": channel.id}}
        users = str_list(args.get("users"))
        if not users:
            raise ApiError("users_list_not_supplied")
        if len(users) > 1:
            raise ApiError("invalid_arguments", ["[ERROR] multi-person DMs are not emulated by the sandbox"])
        user_id = users[0]
        if user_id not in ws.users:
            raise ApiError("user_not_found")
        if user_id == BOT_USER_ID:
            raise ApiError("cannot_dm_bot")
        existed = user_id in ws.dm_of
        channel = ws.ensure_dm(user_id)
        body = channel.to_api(ws.team_id) if truthy(args.get("return_im")) else {"id": channel.id}
        extra = {"no_op": True, "already_open": True} if existed else {}
        return {**extra, "channel": body}


def _ts_arg(args: dict[str, Any], name: str, default: float) -> float:
    try:
        return float(args.get(name) or default)
    except (TypeError, ValueError):
        raise ApiError(f"invalid_ts_{name}") from None


def _top_level(channel: Channel) -> list[dict[str, Any]]:
    return [
        m.data
        for m in channel.messages
        if m.data.get("thread_ts") in (None, m.ts) or m.data.get("subtype") == "thread_broadcast"
    ]


def _without_metadata(messages: list[dict[str, Any]], args: dict[str, Any]) -> list[dict[str, Any]]:
    """Slack returns message metadata from history and replies only when asked with `include_all_metadata`."""
    if not truthy(args.get("include_all_metadata")):
        for message in messages:
            message.pop("metadata", None)
    return messages


@method("conversations.history")
def conversations_history(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Return top-level messages newest first, honouring latest/oldest/inclusive/limit/cursor."""
    with ws.lock:
        channel = _member_channel(ws, args)
        latest = _ts_arg(args, "latest", float("inf"))
        oldest = _ts_arg(args, "oldest", 0.0)
        inclusive = truthy(args.get("inclusive"))
        messages = [
            m
            for m in reversed(_top_level(channel))
            if (oldest <= float(m["ts"]) <= latest if inclusive else oldest < float(m["ts"]) < latest)
        ]
        chunk, cursor = page(messages, args)
        return {
            "messages": _without_metadata(copy.deepcopy(chunk), args),
            "has_more": bool(cursor),
            "pin_count": len(channel.pins),
            "response_metadata": {"next_cursor": cursor},
        }


@method("conversations.replies")
def conversations_replies(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Return a thread: the parent, then its replies oldest first."""
    with ws.lock:
        channel = _member_channel(ws, args)
        parent = channel.by_ts.get(str(args.get("ts") or ""))
        if parent is None:
            raise ApiError("thread_not_found")
        root = parent.data.get("thread_ts") or parent.ts
        thread = [m.data for m in channel.messages if m.ts == root or m.data.get("thread_ts") == root]
        chunk, cursor = page(thread, args, default_limit=1000)
        return {
            "messages": _without_metadata(copy.deepcopy(chunk), args),
            "has_more": bool(cursor),
            "response_metadata": {"next_cursor": cursor},
        }


@method("users.info")
def users_info(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Describe one user."""
    user = ws.users.get(str(arg(args, "user", "user_not_found")))
    if user is None:
        raise ApiError("user_not_found")
    return {"user": user.to_api(ws.team_id, include_locale=truthy(args.get("include_locale")))}


@method("users.list")
def users_list(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """List every user, the bot included (paginated)."""
    with ws.lock:
        members = [u.to_api(ws.team_id, include_locale=truthy(args.get("include_locale"))) for u in ws.users.values()]
    chunk, cursor = page(members, args, default_limit=200)
    return {"members": chunk, "cache_ts": int(time.time()), "response_metadata": {"next_cursor": cursor}}
