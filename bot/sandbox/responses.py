"""How Slack applies message responses: response_url posts and slash-command acknowledgements."""

from __future__ import annotations

import time
from typing import Any

from bot.sandbox.api_base import truthy
from bot.sandbox.validate import validate_message_blocks, validate_message_text
from bot.sandbox.workspace import HOOK_MAX_USES, HOOK_TTL, Workspace


def apply_message_response(
    ws: Workspace,
    *,
    user_id: str,
    channel_id: str,
    message_ts: str | None,
    is_ephemeral: bool,
    payload: dict[str, Any],
    source: str,
) -> str | None:
    """Apply `{text, blocks, response_type, replace_original, delete_original, thread_ts}`.

    Returns an error code when Slack would refuse the payload, else None.  Like Slack, the
    default is an ephemeral message to the user who triggered the interaction; `in_channel`
    posts a visible bot message; replace/delete act on the message the interaction came from.
    """
    text = payload.get("text")
    blocks = payload.get("blocks")
    problems = validate_message_blocks(blocks)
    if problems:
        ws.problems.append(f"{source}: invalid_blocks: {'; '.join(problems)}")
        return "invalid_blocks"
    if validate_message_text(text):
        return "msg_too_long"
    with ws.lock:
        channel = ws.channels.get(channel_id)
        if truthy(payload.get("delete_original")):
            _delete_original(ws, user_id, channel_id, message_ts, is_ephemeral)
            return None
        if not text and not blocks and not payload.get("attachments"):
            return "no_text"
        if truthy(payload.get("replace_original")) and message_ts:
            if is_ephemeral:
                eph = ws.find_ephemeral(user_id, message_ts)
                if eph is not None:
                    eph.text = str(text or "")
                    eph.blocks = ws.normalize_blocks(blocks) if blocks else []
                    ws.emit(
                        "ephemeral",
                        channel,
                        channel_id=channel_id,
                        user=user_id,
                        text=eph.text,
                        blocks=list(eph.blocks),
                        ts=eph.ts,
                        data={"source": source, "replaced": True},
                    )
                    return None
            elif channel is not None and message_ts in channel.by_ts:
                # replace_original swaps the whole message: blocks not sent are gone.
                ws.update_message(channel.by_ts[message_ts], str(text or ""), blocks or [])
                return None
        if payload.get("response_type") == "in_channel" and channel is not None:
            ws.post_bot_message(channel, str(text or ""), blocks, payload.get("thread_ts") or None)
        else:
            ws.add_ephemeral(
                channel_id, user_id, str(text or ""), blocks, source=source, thread_ts=payload.get("thread_ts") or None
            )
        return None


def _delete_original(ws: Workspace, user_id: str, channel_id: str, message_ts: str | None, is_ephemeral: bool) -> None:
    if not message_ts:
        return
    if is_ephemeral:
        eph = ws.find_ephemeral(user_id, message_ts)
        if eph is not None:
            ws.ephemerals.remove(eph)
            ws.emit(
                "message_deleted",
                ws.channels.get(channel_id),
                channel_id=channel_id,
                user=user_id,
                ts=message_ts,
                data={"ephemeral": True},
            )
        return
    channel = ws.channels.get(channel_id)
    if channel is not None and message_ts in channel.by_ts:
        ws.delete_message(channel.by_ts[message_ts])


def deliver_response_url(ws: Workspace, hook_id: str, payload: Any) -> tuple[int, dict[str, Any]]:
    """Handle `POST /response/<id>`; answer (HTTP status, JSON body) as Slack's hooks endpoint."""
    with ws.lock:
        hook = ws.hooks.get(hook_id)
        if hook is None:
            return 404, {"ok": False, "error": "no_active_hooks"}
        if time.monotonic() - hook.created > HOOK_TTL:
            return 404, {"ok": False, "error": "expired_url"}
        if hook.uses >= HOOK_MAX_USES:
            return 404, {"ok": False, "error": "used_url"}
        if not isinstance(payload, dict):
            return 400, {"ok": False, "error": "invalid_payload"}
        error = apply_message_response(
            ws,
            user_id=hook.user_id,
            channel_id=hook.channel_id,
            message_ts=hook.message_ts,
            is_ephemeral=hook.is_ephemeral,
            payload=payload,
            source="response_url",
        )
        if error:
            body: dict[str, Any] = {"ok": False, "error": error}
            if error == "invalid_blocks":
                body["response_metadata"] = {"messages": validate_message_blocks(payload.get("blocks"))}
            return 400, body
        hook.uses += 1
        return 200, {"ok": True}
