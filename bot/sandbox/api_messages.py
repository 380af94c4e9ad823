"""Emulated chat.*, pins.*, reactions.* and files.* Web API methods."""

from __future__ import annotations

import copy
import re
import time
from typing import Any

from bot.sandbox.api_base import ApiError, arg, int_arg, json_arg, method, str_list, truthy
from bot.sandbox.model import BOT_ID, BOT_USER_ID, PERMALINK_BASE, Channel, StoredFile, StoredMessage
from bot.sandbox.validate import validate_message_blocks, validate_message_text
from bot.sandbox.workspace import Workspace


def _content(args: dict[str, Any], *, required: bool = True) -> tuple[str | None, Any, Any]:
    """Return (text, blocks, attachments) after the checks Slack makes on message content."""
    blocks = json_arg(args, "blocks", "invalid_blocks_format")
    attachments = json_arg(args, "attachments", "invalid_attachments")
    text = args.get("text")
    if text is not None and not isinstance(text, str):
        text = str(text)
    if required and not text and not blocks and not attachments:
        raise ApiError("no_text")
    if validate_message_text(text):
        raise ApiError("msg_too_long")
    problems = validate_message_blocks(blocks)
    if problems:
        raise ApiError("invalid_blocks", problems)
    return text, blocks, attachments


def _postable(channel: Channel) -> None:
    if not channel.is_im and BOT_USER_ID not in channel.members:
        raise ApiError("not_in_channel")


def permalink(channel: Channel, stored: StoredMessage) -> str:
    """Return the message's permalink in Slack's format (threads carry thread_ts and cid)."""
    link = f"{PERMALINK_BASE}/archives/{channel.id}/p{stored.ts.replace('.', '')}"
    thread_ts = stored.data.get("thread_ts")
    if thread_ts and thread_ts != stored.ts:
        link += f"?thread_ts={thread_ts}&cid={channel.id}"
    return link


_EVENT_TYPE_RE = re.compile(r"^[a-zA-Z0-9_]+$")


def _metadata(args: dict[str, Any]) -> dict[str, Any] | None:
    """Message metadata as Slack checks it: an object with an `event_type` and an object `event_payload`."""
    metadata = json_arg(args, "metadata", "invalid_metadata_format")
    if not metadata:
        return None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("event_payload", {}), dict):
        raise ApiError("invalid_metadata_format")
    if not _EVENT_TYPE_RE.match(str(metadata.get("event_type") or "")):
        raise ApiError("invalid_metadata_schema")
    return {"event_type": metadata["event_type"], "event_payload": metadata.get("event_payload", {})}


@method("chat.postMessage")
def chat_post_message(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Post a bot message to a channel id, DM id, user id (→ DM) or channel name."""
    with ws.lock:
        channel = ws.post_target(args.get("channel"))
        _postable(channel)
        text, blocks, attachments = _content(args)
        extra: dict[str, Any] = {}
        if attachments:
            extra["attachments"] = attachments
        metadata = _metadata(args)
        if metadata:
            extra["metadata"] = metadata
        thread_ts = args.get("thread_ts") or None
        if thread_ts and truthy(args.get("reply_broadcast")):
            extra["subtype"] = "thread_broadcast"
        stored = ws.post_bot_message(channel, text or "", blocks, thread_ts, **extra)
        return {"channel": channel.id, "ts": stored.ts, "message": copy.deepcopy(stored.data)}


def _own_message(ws: Workspace, args: dict[str, Any], ts_key: str, error: str) -> tuple[Channel, StoredMessage]:
    channel = ws.visible_channel(args.get("channel"))
    stored = ws.find_message(channel, args.get(ts_key))
    if stored.data.get("bot_id") != BOT_ID:
        raise ApiError(error)
    return channel, stored


@method("chat.update")
def chat_update(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Edit one of the bot's messages (omitted blocks are kept, `[]` removes them)."""
    with ws.lock:
        channel, stored = _own_message(ws, args, "ts", "cant_update_message")
        text, blocks, attachments = _content(args)
        ws.update_message(stored, text, blocks)
        if attachments is not None:
            stored.data["attachments"] = attachments
        return {
            "channel": channel.id,
            "ts": stored.ts,
            "text": stored.data.get("text", ""),
            "message": copy.deepcopy(stored.data),
        }


@method("chat.delete")
def chat_delete(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Delete one of the bot's messages."""
    with ws.lock:
        channel, stored = _own_message(ws, args, "ts", "cant_delete_message")
        ws.delete_message(stored)
        return {"channel": channel.id, "ts": stored.ts}


@method("chat.postEphemeral")
def chat_post_ephemeral(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Show a message to one member of a channel."""
    with ws.lock:
        channel = ws.visible_channel(args.get("channel"))
        user_id = str(args.get("user") or "")
        if user_id not in ws.users:
            raise ApiError("user_not_found")
        if user_id not in channel.members:
            raise ApiError("user_not_in_channel")
        _postable(channel)
        text, blocks, _ = _content(args)
        eph = ws.add_ephemeral(
            channel.id, user_id, text or "", blocks, source="api", thread_ts=args.get("thread_ts") or None
        )
        return {"message_ts": eph.ts}


@method("chat.getPermalink")
def chat_get_permalink(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Return a message's permalink."""
    with ws.lock:
        channel = ws.visible_channel(args.get("channel"))
        stored = ws.find_message(channel, args.get("message_ts"))
        return {"channel": channel.id, "permalink": permalink(channel, stored)}


@method("pins.add")
def pins_add(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Pin a message."""
    with ws.lock:
        channel = ws.visible_channel(args.get("channel"))
        if not args.get("timestamp"):
            raise ApiError("no_item_specified")
        stored = ws.find_message(channel, args.get("timestamp"))
        if any(ts == stored.ts for ts, _ in channel.pins):
            raise ApiError("already_pinned")
        channel.pins.append((stored.ts, int(time.time())))
        ws.emit("pinned", channel, user=BOT_USER_ID, ts=stored.ts, text=stored.data.get("text", ""))
        return {}


@method("pins.remove")
def pins_remove(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Unpin a message."""
    with ws.lock:
        channel = ws.visible_channel(args.get("channel"))
        ts = str(args.get("timestamp") or "")
        if not any(p == ts for p, _ in channel.pins):
            raise ApiError("no_pin")
        channel.pins = [p for p in channel.pins if p[0] != ts]
        return {}


@method("pins.list")
def pins_list(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """List pinned messages, most recently pinned first."""
    with ws.lock:
        channel = ws.visible_channel(args.get("channel"))
        items = []
        for ts, created in reversed(channel.pins):
            stored = channel.by_ts[ts]
            message = {**copy.deepcopy(stored.data), "permalink": permalink(channel, stored)}
            items.append(
                {
                    "type": "message",
                    "created": created,
                    "created_by": BOT_USER_ID,
                    "channel": channel.id,
                    "message": message,
                }
            )
        return {"items": items}


@method("reactions.add")
def reactions_add(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Add the bot's emoji reaction to a message (`name` without colons)."""
    with ws.lock:
        channel = ws.visible_channel(args.get("channel"))
        if not args.get("timestamp"):
            raise ApiError("no_item_specified")
        stored = ws.find_message(channel, args.get("timestamp"))
        name = str(args.get("name") or "")
        if not name or ":" in name or " " in name:
            raise ApiError("invalid_name")
        reactions = stored.data.setdefault("reactions", [])
        entry = next((r for r in reactions if r["name"] == name), None)
        if entry and BOT_USER_ID in entry["users"]:
            raise ApiError("already_reacted")
        if entry is None:
            entry = {"name": name, "users": [], "count": 0}
            reactions.append(entry)
        entry["users"].append(BOT_USER_ID)
        entry["count"] += 1
        ws.emit("reaction_added", channel, user=BOT_USER_ID, ts=stored.ts, text=name)
        return {}


@method("files.upload")
def files_upload(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Reject the retired v1 upload method, as Slack does; use files_upload_v2."""
    raise ApiError("method_deprecated")


@method("files.getUploadURLExternal")
def files_get_upload_url(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Reserve a file id and return the emulator URL to send the bytes to."""
    filename = str(arg(args, "filename"))
    length = int_arg(args, "length", -1)
    if length < 0:
        raise ApiError("invalid_arguments", ["[ERROR] missing required field: length"])
    with ws.lock:
        stored = StoredFile(ws.new_id("F"), filename, length)
        ws.files[stored.id] = stored
    return {"upload_url": f"{ws.base_url}upload/{stored.id}", "file_id": stored.id}


@method("files.completeUploadExternal")
def files_complete_upload(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Finish uploads and share them, with `initial_comment`, to `channel_id`/`channels`."""
    entries = json_arg(args, "files")
    if not isinstance(entries, list) or not entries:
        raise ApiError("invalid_arguments", ["[ERROR] missing required field: files"])
    with ws.lock:
        files = []
        for entry in entries:
            stored = ws.files.get(str(entry.get("id") if isinstance(entry, dict) else ""))
            if stored is None or stored.content is None:
                raise ApiError("file_not_found")
            files.append((stored, entry))
        targets = [ws.post_target(c) for c in str_list(args.get("channels")) or str_list(args.get("channel_id"))]
        for channel in targets:
            _postable(channel)
        for stored, entry in files:
            stored.title = str(entry.get("title") or stored.name)
            stored.channels.extend(c.id for c in targets)
        comment = str(args.get("initial_comment") or "")
        for channel in targets:
            data = ws.bot_message(comment, None, ws.next_ts())
            data.update({"files": [f.to_api() for f, _ in files], "upload": True, "display_as_bot": False})
            if args.get("thread_ts"):
                data["thread_ts"] = str(args["thread_ts"])
            ws.store_message(channel, data, kind="file_shared", event_data={"files": [f.title for f, _ in files]})
        return {"files": [{"id": f.id, "title": f.title} for f, _ in files]}
