"""Events API deliveries: people's messages, mentions and App Home visits, as event_callback envelopes."""

from __future__ import annotations

import copy
import json
from typing import Any

from bot.sandbox.interact import UserActions
from bot.sandbox.model import APP_ID, BOT_USER_ID, VERIFICATION_TOKEN
from bot.sandbox.transport import BotResponse


class EventActions(UserActions):
    """UserActions plus what reaches the bot through the Events API (JSON, signed)."""

    event_subscriptions: set[str] | None  # manifest bot_events; None = the bot gets every event

    def send_event(self, event: dict[str, Any], **signing: Any) -> BotResponse:
        """Deliver an Events API `event_callback` envelope around `event` (JSON, signed)."""
        ws = self.ws
        envelope = {
            "token": VERIFICATION_TOKEN,
            "team_id": ws.team_id,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": ws.new_id("Ev"),
            "event_time": int(float(event.get("event_ts") or ws.next_ts())),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": ws.team_id,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        resp = self._send(json.dumps(envelope), "application/json", signing)
        self._acked(resp, f"event {event.get('type')}")
        return resp

    def user_message(
        self, user_id: str, channel_id: str | None, text: str, *, thread_ts: str | None = None, **signing: Any
    ) -> list[BotResponse]:
        """Post a message as a person (channel_id None = their DM with the bot); send the events."""
        ws = self.ws
        with ws.lock:
            self._user(user_id)
            channel = ws.ensure_dm(user_id) if channel_id is None else ws.channels.get(channel_id)
            if channel is None or not self._can_see(user_id, channel):
                raise LookupError(f"{user_id} cannot post in {channel_id!r}")
            ts = ws.next_ts()
            data: dict[str, Any] = {"type": "message", "user": user_id, "text": text, "ts": ts, "team": ws.team_id}
            if thread_ts:
                data["thread_ts"] = thread_ts
            ws.store_message(channel, data, kind="user_message")
            bot_member = BOT_USER_ID in channel.members
        if not bot_member:
            return []  # Slack only sends message events from conversations the bot is in
        kind = "im" if channel.is_im else ("group" if channel.is_private else "channel")
        responses = []
        if self.subscribed(f"message.{kind}s" if kind != "im" else "message.im"):
            event = {**copy.deepcopy(data), "channel": channel.id, "event_ts": ts, "channel_type": kind}
            responses.append(self.send_event(event, **signing))
        if f"<@{BOT_USER_ID}>" in text and not channel.is_im and self.subscribed("app_mention"):
            mention = {**copy.deepcopy(data), "type": "app_mention", "channel": channel.id, "event_ts": ts}
            responses.append(self.send_event(mention, **signing))
        return responses

    def subscribed(self, event_name: str) -> bool:
        """Return whether the bot subscribed to an event ("message.channels", "app_mention", …)."""
        return self.event_subscriptions is None or event_name in self.event_subscriptions

    def open_home(self, user_id: str, **signing: Any) -> BotResponse | None:
        """Open the App Home tab as `user_id` (app_home_opened event, if subscribed)."""
        ws = self.ws
        if not self.subscribed("app_home_opened"):
            return None
        with ws.lock:
            self._user(user_id)
            event: dict[str, Any] = {
                "type": "app_home_opened",
                "user": user_id,
                "channel": ws.ensure_dm(user_id).id,
                "tab": "home",
                "event_ts": ws.next_ts(),
            }
            if user_id in ws.homes:
                event["view"] = copy.deepcopy(ws.views[ws.homes[user_id]].data)
        return self.send_event(event, **signing)
