"""Which OAuth scopes each emulated Web API method needs, so the sandbox answers `missing_scope` as Slack does.

Taken from each method's "Required scopes" (bot token) in Slack's reference; where the scope depends on the
kind of conversation (history of a public channel, a private one, a DM), any one of the listed scopes for that
kind is enough. Methods missing here need no scope (auth.test, views.*).
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.api_base import str_list
from bot.sandbox.workspace import Workspace

# method → scope needed for a public channel / a private channel / a DM (one string: the same for all)
BY_KIND: dict[str, tuple[str, str, str] | str] = {
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.getPermalink": "",
    "conversations.create": ("channels:manage", "groups:write", "im:write"),
    "conversations.setTopic": ("channels:manage", "groups:write", "im:write"),
    "conversations.setPurpose": ("channels:manage", "groups:write", "im:write"),
    "conversations.invite": ("channels:manage", "groups:write", "im:write"),
    "conversations.join": "channels:join",
    "conversations.info": ("channels:read", "groups:read", "im:read"),
    "conversations.members": ("channels:read", "groups:read", "im:read"),
    "conversations.history": ("channels:history", "groups:history", "im:history"),
    "conversations.replies": ("channels:history", "groups:history", "im:history"),
    "conversations.open": "im:write",
    "pins.add": "pins:write",
    "pins.list": "pins:read",
    "reactions.add": "reactions:write",
    "users.info": "users:read",
    "users.list": "users:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
}
LIST_TYPES = {"public_channel": "channels:read", "private_channel": "groups:read", "im": "im:read", "mpim": "mpim:read"}


def needed(ws: Workspace, method: str, args: dict[str, Any]) -> list[str]:
    """The scopes `method` needs with these arguments (all of them); [] when none."""
    if method == "conversations.list":
        return sorted({LIST_TYPES.get(t, "channels:read") for t in str_list(args.get("types")) or ["public_channel"]})
    rule = BY_KIND.get(method, "")
    if isinstance(rule, str):
        return [rule] if rule else []
    public, private, im = rule
    if method == "conversations.create":
        return [private if str(args.get("is_private", "")).lower() in ("1", "true") else public]
    channel = ws.channels.get(str(args.get("channel") or ""))
    if channel is None:  # unknown channel: the method answers channel_not_found itself
        return []
    return [im if channel.is_im else private if channel.is_private else public]


def missing(ws: Workspace, method: str, args: dict[str, Any], granted: set[str]) -> dict[str, Any] | None:
    """Slack's `missing_scope` answer, or None when the granted scopes cover the call."""
    want = [s for s in needed(ws, method, args) if s not in granted]
    if not want:
        return None
    return {"ok": False, "error": "missing_scope", "needed": ",".join(want), "provided": ",".join(sorted(granted))}
