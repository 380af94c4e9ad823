"""What people do in the fake workspace: slash commands, clicks, selects and modal submissions.

Each action is delivered to the bot as Slack would deliver it (signed HTTP request), and Slack's
handling of the bot's HTTP answer is applied (ack bodies, view_submission response_actions).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from bot.sandbox.api_base import ApiError
from bot.sandbox.model import APP_ID, GENERAL_ID, TEAM_DOMAIN, VERIFICATION_TOKEN, Channel, User
from bot.sandbox.payloads import (
    base_payload,
    build_state,
    button_action,
    find_element,
    select_action,
    team_obj,
    user_obj,
)
from bot.sandbox.responses import apply_message_response
from bot.sandbox.transport import BotResponse, events_url, send_signed
from bot.sandbox.validate import validate_view
from bot.sandbox.workspace import Workspace

FORM = "application/x-www-form-urlencoded"


@dataclass
class _Target:
    """Where a clicked element is shown: a message, an ephemeral message, or a view."""

    kind: str  # message | ephemeral | view
    blocks: list[dict[str, Any]]
    channel: Channel | None = None
    message: dict[str, Any] | None = None
    view_id: str | None = None


class UserActions:
    """Mixin for SlackEmulator: people acting in the workspace, delivered to the bot."""

    ws: Workspace
    signing_secret: str
    bot_url: str | None
    ack_timeout: float

    # ----- plumbing -------------------------------------------------------------------------
    def _user(self, user_id: str) -> User:
        user = self.ws.users.get(user_id)
        if user is None:
            raise LookupError(f"no user {user_id!r}; add_user() first")
        return user

    def _send(self, body: str, content_type: str, signing: dict[str, Any]) -> BotResponse:
        opts = dict(signing)
        secret = opts.pop("secret", None) or self.signing_secret
        return send_signed(events_url(self.bot_url), secret, body, content_type, **opts)

    def _send_payload(self, payload: dict[str, Any], signing: dict[str, Any]) -> BotResponse:
        return self._send(urlencode({"payload": json.dumps(payload)}), FORM, signing)

    def _acked(self, resp: BotResponse, what: str) -> bool:
        """Return whether Slack would count this as a timely acknowledgement (200 within 3 s)."""
        if resp.status == 200 and resp.elapsed <= self.ack_timeout:
            return True
        why = f"HTTP {resp.status}" if resp.status != 200 else f"took {resp.elapsed:.2f}s"
        self.ws.problems.append(f"{what}: not acknowledged ({why}): {resp.body[:200]}")
        return False

    def _hook_url(self, hook_id: str) -> str:
        return f"{self.ws.base_url}response/{hook_id}"

    def _can_see(self, user_id: str, channel: Channel) -> bool:
        return not (channel.is_private or channel.is_im) or user_id in channel.members

    # ----- slash commands -------------------------------------------------------------------
    def slash_command_fields(
        self, user_id: str, text: str, *, channel_id: str | None = None, command: str = "/crisis"
    ) -> dict[str, str]:
        """Build (without sending) a slash command's form fields, with a fresh trigger_id and response_url."""
        ws = self.ws
        with ws.lock:
            user = self._user(user_id)
            channel = ws.channels.get(channel_id or GENERAL_ID)
            if channel is None or not self._can_see(user_id, channel):
                raise LookupError(f"{user_id} cannot type in channel {channel_id!r}")
            return {
                "token": VERIFICATION_TOKEN,
                "team_id": ws.team_id,
                "team_domain": TEAM_DOMAIN,
                "channel_id": channel.id,
                "channel_name": "directmessage" if channel.is_im else channel.name,
                "user_id": user.id,
                "user_name": user.name,
                "command": command,
                "text": text,
                "api_app_id": APP_ID,
                "is_enterprise_install": "false",
                "response_url": self._hook_url(ws.issue_hook(user_id, channel.id)),
                "trigger_id": ws.issue_trigger(user_id),
            }

    def slash_command(
        self, user_id: str, text: str, *, channel_id: str | None = None, command: str = "/crisis", **signing: Any
    ) -> BotResponse:
        """Run `command text` as `user_id` in a channel (default #general); returns the bot's answer.

        Like Slack, a non-empty ack body is shown to the user (ephemeral, or in_channel if asked),
        and a late or failed ack shows the user a "failed with the error" notice.
        """
        ws = self.ws
        fields = self.slash_command_fields(user_id, text, channel_id=channel_id, command=command)
        channel_id = fields["channel_id"]
        resp = self._send(urlencode(fields), FORM, signing)
        if not self._acked(resp, f"{command} {text}"):
            error = "operation_timeout" if resp.status in (0, 200) else "dispatch_failed"
            ws.add_ephemeral(channel_id, user_id, f'{command} failed with the error "{error}"', None, source="slack")
        elif resp.body.strip():
            # Slack shows the ack body to the user: plain text, or a message payload.
            payload = resp.json if resp.json is not None else {"text": resp.body}
            refused = apply_message_response(
                ws,
                user_id=user_id,
                channel_id=channel_id,
                message_ts=None,
                is_ephemeral=False,
                payload=payload,
                source="ack",
            )
            if refused:
                ws.problems.append(f"{command} ack body refused: {refused}")
        return resp

    def deliver(self, body: str, content_type: str = FORM, **signing: Any) -> BotResponse:
        """Send a prepared request body to the bot, signed (e.g. the very same request twice, as a retry)."""
        return self._send(body, content_type, signing)

    # ----- clicks ---------------------------------------------------------------------------
    def _locate(
        self,
        user_id: str,
        action_id: str,
        block_id: str | None,
        channel_id: str | None,
        ts: str | None,
        view_id: str | None,
    ) -> _Target:
        """Find the surface showing the element, as the user sees the workspace."""
        ws = self.ws
        if view_id:
            view = ws.views.get(view_id)
            stack = ws.modal_stacks.get(user_id) or []
            if view is None or view.closed or view.user_id != user_id:
                raise LookupError(f"view {view_id} is not open for {user_id}")
            if view.data.get("type") == "modal" and stack[-1:] != [view_id]:
                raise LookupError(f"view {view_id} is covered by another modal")
            return _Target("view", view.data.get("blocks") or [], view_id=view_id)
        channels = [ws.channels[channel_id]] if channel_id in ws.channels else list(ws.channels.values())
        if channel_id and channel_id not in ws.channels:
            raise LookupError(f"no channel {channel_id}")
        channels = [c for c in channels if self._can_see(user_id, c)]
        if ts:
            eph = ws.find_ephemeral(user_id, ts)
            if eph is not None and (channel_id is None or eph.channel_id == channel_id):
                return _Target("ephemeral", eph.blocks, ws.channels.get(eph.channel_id), eph.to_dict())
            for channel in channels:
                if ts in channel.by_ts:
                    return _Target(
                        "message", channel.by_ts[ts].data.get("blocks") or [], channel, channel.by_ts[ts].data
                    )
            raise LookupError(f"{user_id} sees no message {ts} (channel {channel_id})")
        stack = ws.modal_stacks.get(user_id) or []
        if channel_id is None and stack:
            top = ws.views[stack[-1]]
            if find_element(top.data.get("blocks"), action_id, block_id):
                return _Target("view", top.data["blocks"], view_id=top.id)
        best: _Target | None = None
        best_ts = ""
        for eph in ws.ephemerals:
            if (
                eph.user_id == user_id
                and (channel_id is None or eph.channel_id == channel_id)
                and eph.ts > best_ts
                and find_element(eph.blocks, action_id, block_id)
            ):
                best, best_ts = _Target("ephemeral", eph.blocks, ws.channels.get(eph.channel_id), eph.to_dict()), eph.ts
        for channel in channels:
            for stored in reversed(channel.messages):
                if stored.ts <= best_ts:
                    break
                if find_element(stored.data.get("blocks"), action_id, block_id):
                    best, best_ts = _Target("message", stored.data["blocks"], channel, stored.data), stored.ts
                    break
        if best is None and channel_id is None and user_id in ws.homes:
            home = ws.views[ws.homes[user_id]]
            if find_element(home.data.get("blocks"), action_id, block_id):
                best = _Target("view", home.data["blocks"], view_id=home.id)
        if best is None:
            raise LookupError(f"{user_id} sees no element with action_id {action_id!r}")
        return best

    def _block_actions(
        self, user: User, target: _Target, action: dict[str, Any], values: dict[str, Any] | None
    ) -> dict[str, Any]:
        ws = self.ws
        payload = base_payload("block_actions", user, ws.team_id, ws.issue_trigger(user.id))
        trigger_id = payload.pop("trigger_id")
        if target.kind == "view":
            view = copy.deepcopy(ws.views[str(target.view_id)].data)
            if values is not None:
                view["state"] = {"values": copy.deepcopy(values)}
            payload["container"] = {"type": "view", "view_id": view["id"]}
            payload["trigger_id"] = trigger_id
            payload.update({"view": view, "state": view["state"]})
        else:
            channel = target.channel
            assert channel is not None and target.message is not None
            ts = str(target.message["ts"])
            container: dict[str, Any] = {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel.id,
                "is_ephemeral": target.kind == "ephemeral",
            }
            if target.message.get("thread_ts"):
                container["thread_ts"] = target.message["thread_ts"]
            payload["container"] = container
            payload["trigger_id"] = trigger_id
            payload["channel"] = {"id": channel.id, "name": "directmessage" if channel.is_im else channel.name}
            if target.kind == "message":
                payload["message"] = copy.deepcopy(target.message)
            payload["state"] = {"values": copy.deepcopy(values or {})}
            hook = ws.issue_hook(user.id, channel.id, ts, target.kind == "ephemeral")
            payload["response_url"] = self._hook_url(hook)
        payload["actions"] = [action]
        return payload

    def click_payload(
        self,
        user_id: str,
        action_id: str,
        *,
        value: str | None = None,
        channel_id: str | None = None,
        ts: str | None = None,
        view_id: str | None = None,
        block_id: str | None = None,
        values: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Build (without sending) the block_actions payload of a button click; see click()."""
        with self.ws.lock:
            user = self._user(user_id)
            target = self._locate(user_id, action_id, block_id, channel_id, ts, view_id)
            found = find_element(target.blocks, action_id, block_id)
            if found is None and (value is None or block_id is None):
                raise LookupError(f"no button {action_id!r} on that surface")
            found_block, element = found if found else (str(block_id), None)
            if element is not None and element.get("type") != "button":
                raise LookupError(f"{action_id!r} is a {element.get('type')}, use click_select()")
            action = button_action(element, action_id, block_id or found_block, value)
            return self._block_actions(user, target, action, values)

    def click(
        self,
        user_id: str,
        action_id: str,
        *,
        value: str | None = None,
        channel_id: str | None = None,
        ts: str | None = None,
        view_id: str | None = None,
        block_id: str | None = None,
        values: dict[str, Any] | None = None,
        **signing: Any,
    ) -> BotResponse:
        """Click the button `action_id` the user can see (newest match unless ts/view_id narrow it).

        Raises LookupError when no such button is on screen, unless both `value` and `block_id`
        are given with `ts`/`view_id` (simulating a click on a stale copy of the message).
        `values` is the surface's state (block_id → action_id → value) sent along.
        """
        payload = self.click_payload(
            user_id,
            action_id,
            value=value,
            channel_id=channel_id,
            ts=ts,
            view_id=view_id,
            block_id=block_id,
            values=values,
        )
        resp = self._send_payload(payload, signing)
        self._acked(resp, f"block_actions {action_id}")
        return resp

    def message_shortcut(
        self, user_id: str, callback_id: str, *, channel_id: str, ts: str, **signing: Any
    ) -> BotResponse:
        """Run a message shortcut (the ⋯ menu on a message) as `user_id`: a `message_action` payload."""
        ws = self.ws
        with ws.lock:
            user = self._user(user_id)
            channel = ws.channels.get(channel_id)
            if channel is None or not self._can_see(user_id, channel):
                raise LookupError(f"{user_id} cannot see channel {channel_id!r}")
            message = copy.deepcopy(ws.find_message(channel, ts).data)
            payload = base_payload("message_action", user, ws.team_id, ws.issue_trigger(user_id))
            payload.update(
                {
                    "callback_id": callback_id,
                    "action_ts": f"{time.time():.6f}",
                    "message_ts": ts,
                    "channel": {"id": channel.id, "name": "directmessage" if channel.is_im else channel.name},
                    "message": message,
                    "response_url": self._hook_url(ws.issue_hook(user_id, channel.id, ts)),
                }
            )
        resp = self._send_payload(payload, signing)
        self._acked(resp, f"message_action {callback_id}")
        return resp

    def click_select(
        self,
        user_id: str,
        action_id: str,
        value: str,
        *,
        channel_id: str | None = None,
        ts: str | None = None,
        view_id: str | None = None,
        block_id: str | None = None,
        values: dict[str, Any] | None = None,
        **signing: Any,
    ) -> BotResponse:
        """Choose the option `value` in a static select the user can see (block_actions)."""
        with self.ws.lock:
            user = self._user(user_id)
            target = self._locate(user_id, action_id, block_id, channel_id, ts, view_id)
            found = find_element(target.blocks, action_id, block_id)
            if found is None:
                raise LookupError(f"no select {action_id!r} on that surface")
            action = select_action(found[1], action_id, found[0], value)
            payload = self._block_actions(user, target, action, values)
        resp = self._send_payload(payload, signing)
        self._acked(resp, f"block_actions {action_id}")
        return resp

    # ----- modals ---------------------------------------------------------------------------
    def submit_view(
        self, user_id: str, view_id: str, values: dict[str, dict[str, dict[str, Any]]] | None = None, **signing: Any
    ) -> BotResponse:
        """Press Submit on the user's top modal; `values` is block_id → action_id → state value."""
        ws = self.ws
        with ws.lock:
            user = self._user(user_id)
            stack = ws.modal_stacks.get(user_id) or []
            if stack[-1:] != [view_id]:
                raise LookupError(f"view {view_id} is not the modal {user_id} has on screen")
            view = ws.views[view_id]
            if not view.data.get("submit") and not any(b.get("type") == "input" for b in view.data["blocks"]):
                raise LookupError(f"view {view_id} has no submit button")
            view.data["state"] = build_state(view.data.get("blocks"), values or {})
            payload = base_payload("view_submission", user, ws.team_id, ws.issue_trigger(user_id))
            payload.update({"view": copy.deepcopy(view.data), "response_urls": []})
        resp = self._send_payload(payload, signing)
        if self._acked(resp, f"view_submission {view.data.get('callback_id')}"):
            self._apply_submission(user_id, view_id, resp)
        return resp

    def _apply_submission(self, user_id: str, view_id: str, resp: BotResponse) -> None:
        """Apply the bot's answer to a view_submission the way Slack does."""
        ws = self.ws
        body = resp.json
        if not resp.body.strip() or (body is not None and "response_action" not in body):
            ws.close_view(view_id, "submitted")
            return
        if body is None:
            ws.problems.append(f"view_submission: answer is not JSON: {resp.body[:200]}")
            return
        action = body.get("response_action")
        with ws.lock:
            view = ws.views[view_id]
            if action == "errors":
                errors = body.get("errors")
                inputs = {b.get("block_id") for b in view.data["blocks"] if b.get("type") == "input"}
                if not isinstance(errors, dict) or not errors or not set(errors) <= inputs:
                    ws.problems.append(f"view_submission: errors must name input blocks {sorted(inputs)}: {errors}")
                    return
                view.errors = {str(k): str(v) for k, v in errors.items()}
                ws.emit("view_errors", user=user_id, view_id=view_id, data={"errors": dict(view.errors)})
            elif action in ("update", "push"):
                problems = validate_view(body.get("view"))
                if problems:
                    ws.problems.append(f"view_submission {action}: invalid view: {'; '.join(problems)}")
                elif action == "update":
                    ws.update_view(view, body["view"])
                else:
                    try:
                        ws.push_modal(user_id, body["view"])
                    except ApiError as exc:
                        ws.problems.append(f"view_submission push: {exc.error}")
            elif action == "clear":
                ws.clear_stack(user_id, "cleared")
            else:
                ws.problems.append(f"view_submission: unknown response_action {action!r}")

    def close_view(self, user_id: str, view_id: str | None = None, **signing: Any) -> BotResponse | None:
        """Press Close on the user's top modal; sends view_closed when the view asked to be notified."""
        ws = self.ws
        with ws.lock:
            user = self._user(user_id)
            stack = ws.modal_stacks.get(user_id) or []
            if not stack or (view_id and stack[-1] != view_id):
                raise LookupError(f"{user_id} has no modal {view_id or ''} on top")
            view = ws.views[stack[-1]]
            data = copy.deepcopy(view.data)
            if data.get("clear_on_close"):
                ws.clear_stack(user_id, "closed")
            else:
                ws.close_view(view.id, "closed")
            if not data.get("notify_on_close"):
                return None
            payload = {
                "type": "view_closed",
                "team": team_obj(ws.team_id),
                "user": user_obj(user, ws.team_id),
                "api_app_id": APP_ID,
                "token": VERIFICATION_TOKEN,
                "view": data,
                "is_cleared": bool(data.get("clear_on_close")),
                "is_enterprise_install": False,
                "enterprise": None,
            }
        resp = self._send_payload(payload, signing)
        self._acked(resp, "view_closed")
        return resp
