"""SlackEmulator: a fake Slack workspace serving the Web API and driving the bot like Slack does.

Typical use::

    with SlackEmulator(bot_url="http://127.0.0.1:3000/slack/events") as emu:
        emu.add_user("U1", "alice")
        client = WebClient(token=emu.token, base_url=emu.api_url)
        emu.slash_command("U1", "start")
        emu.wait_for(lambda: emu.messages("C0GENERAL"))
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable
from typing import Any

from bot.sandbox.events_api import EventActions
from bot.sandbox.model import GENERAL_ID, Channel, Event, Fault, User
from bot.sandbox.server import ApiServer, serve
from bot.sandbox.serving import LoopbackServer, Recorded, Served
from bot.sandbox.workspace import Workspace


class SlackEmulator(EventActions, Recorded, Served):
    """A generic fake Slack workspace for tests, demos and benchmarks."""

    def __init__(
        self,
        *,
        token: str = "xoxb-sandbox-token",
        signing_secret: str = "sandbox-signing-secret",
        bot_url: str | None = None,
        team_id: str = "T0CRISIS",
        latency: float = 0.0,
        ack_timeout: float = 3.0,
        event_subscriptions: Iterable[str] | None = None,
        scopes: Iterable[str] | None = None,
    ) -> None:
        self.token = token
        self.signing_secret = signing_secret
        self.bot_url = bot_url
        self.team_id = team_id
        self.ack_timeout = ack_timeout  # Slack gives up on an ack after 3 s
        # Events API subscriptions as in the app manifest ("message.im", "app_mention", …); None = all.
        self.event_subscriptions = set(event_subscriptions) if event_subscriptions is not None else None
        self.ws = Workspace(team_id)
        # The bot token's OAuth scopes (as the manifest grants them); a call needing another gets missing_scope.
        self._api = ApiServer(self.ws, token=token, latency=latency, scopes=scopes)
        self._book = self._api  # calls, calls_to, reset_calls, clear_faults (Recorded)

    # ----- lifecycle ------------------------------------------------------------------------
    def _serve(self) -> tuple[LoopbackServer, threading.Thread]:
        served = serve(self._api)
        self.ws.base_url = f"http://127.0.0.1:{served[0].server_address[1]}/"
        return served

    @property
    def base_url(self) -> str:
        """Return "http://127.0.0.1:PORT/" (only after start())."""
        if not self.ws.base_url:
            raise RuntimeError("SlackEmulator is not started")
        return self.ws.base_url

    @property
    def api_url(self) -> str:
        """Return the WebClient base_url, ending with "/" ("http://127.0.0.1:PORT/api/")."""
        return f"{self.base_url}api/"

    @property
    def latency(self) -> float:
        """Return the seconds slept per Web API call."""
        return self._api.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._api.latency = seconds

    # ----- users and triggers ---------------------------------------------------------------
    def add_user(
        self,
        user_id: str,
        name: str,
        real_name: str | None = None,
        locale: str = "en-US",
        tz: str = "Europe/Amsterdam",
        is_bot: bool = False,
        *,
        is_admin: bool = False,
        is_owner: bool = False,
    ) -> dict[str, Any]:
        """Add a workspace member (also a member of #general); returns the users.info shape."""
        user = User(user_id, name, real_name or name.title(), locale, tz, is_bot, is_admin=is_admin, is_owner=is_owner)
        self.ws.add_user(user)
        return user.to_api(self.team_id)

    def deactivate_user(self, user_id: str) -> None:
        """An admin deactivates the account: Slack keeps answering users.info for it, with `deleted: true`."""
        with self.ws.lock:
            self.ws.users[user_id].deleted = True

    @property
    def users(self) -> list[dict[str, Any]]:
        """Return every user, the bot first."""
        with self.ws.lock:
            return [u.to_api(self.team_id) for u in self.ws.users.values()]

    def issue_trigger(self, user_id: str, *, issued_ago: float = 0.0) -> str:
        """Return a trigger_id for `user_id`, as if they had just interacted (backdate to expire it)."""
        return self.ws.issue_trigger(user_id, issued_ago)

    # ----- fault injection ------------------------------------------------------------------
    def fail(
        self,
        method: str | None = None,
        *,
        error: str = "internal_error",
        times: int = 1,
        after: int = 0,
        retry_after: int = 1,
        hang_seconds: float = 3.0,
    ) -> None:
        """Make the next `times` calls of `method` (None = any) fail, after `after` good ones.

        error: "ratelimited" → HTTP 429 + Retry-After; "internal_error" → HTTP 500; "timeout" →
        hang `hang_seconds` then 500; anything else → HTTP 200 {"ok": false, "error": error}.
        Failed calls change no state, except "lost_response": the call is done, then its answer is held
        `hang_seconds` (past the client's timeout), as when Slack did the work but the answer never arrived;
        the call log marks it with `lost_response`. Malformed answers, also after the call is done (the call log
        marks them with `malformed`): "truncated_json" (a complete HTTP answer whose JSON stops halfway),
        "cut_connection" (half the promised body, then the connection drops) and "missing_field" (`{"ok": true}`
        without the fields an ok answer carries, such as `channel` or `ts`).
        """
        self._api.add_fault(Fault(method, error, times, after, retry_after, hang_seconds))

    # ----- recording ------------------------------------------------------------------------
    @property
    def events(self) -> list[Event]:
        """Return the visible history (for transcripts), oldest first."""
        with self.ws.lock:
            return list(self.ws.events)

    @property
    def problems(self) -> list[str]:
        """Return things Slack would have refused outside the Web API (bad acks, response_url misuse)."""
        with self.ws.lock:
            return list(self.ws.problems)

    # ----- queries --------------------------------------------------------------------------
    def _channel_dict(self, channel: Channel | None) -> dict[str, Any] | None:
        if channel is None:
            return None
        data = channel.to_api(self.team_id)
        data.update(
            {
                "name": channel.name,
                "members": list(channel.members),
                "pins": [ts for ts, _ in channel.pins],
                "is_private": channel.is_private,
            }
        )
        return data

    def channel_by_name(self, name: str) -> dict[str, Any] | None:
        """Return a channel (conversations.info shape + members, pins) by name."""
        with self.ws.lock:
            return self._channel_dict(self.ws.channel_named(name))

    def channel(self, channel_id: str) -> dict[str, Any] | None:
        """Return a channel or DM by id."""
        with self.ws.lock:
            return self._channel_dict(self.ws.channels.get(channel_id))

    @property
    def general_id(self) -> str:
        """Return the id of #general (where slash commands run by default)."""
        return GENERAL_ID

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        """Return the current state of each message in a channel (thread replies too), newest last."""
        with self.ws.lock:
            channel = self.ws.channels.get(channel_id)
            return [copy.deepcopy(m.data) for m in channel.messages] if channel else []

    def message(self, channel_id: str, ts: str) -> dict[str, Any] | None:
        """Return one message's current state."""
        with self.ws.lock:
            channel = self.ws.channels.get(channel_id)
            stored = channel.by_ts.get(ts) if channel else None
            return copy.deepcopy(stored.data) if stored else None

    def message_history(self, channel_id: str, ts: str) -> list[dict[str, Any]]:
        """Return the earlier versions of an edited message, oldest first."""
        with self.ws.lock:
            channel = self.ws.channels.get(channel_id)
            stored = channel.by_ts.get(ts) if channel else None
            return copy.deepcopy(stored.history) if stored else []

    def dm_channel_of(self, user_id: str) -> str | None:
        """Return the id of the bot's DM with a user, if it was opened."""
        return self.ws.dm_of.get(user_id)

    def dms(self, user_id: str) -> list[dict[str, Any]]:
        """Return the messages in a user's DM with the bot, newest last."""
        dm = self.dm_channel_of(user_id)
        return self.messages(dm) if dm else []

    def ephemerals(self, user_id: str, channel_id: str | None = None) -> list[dict[str, Any]]:
        """Return ephemeral messages shown to a user (optionally in one channel), newest last."""
        with self.ws.lock:
            return [
                copy.deepcopy(e.to_dict())
                for e in self.ws.ephemerals
                if e.user_id == user_id and (channel_id is None or e.channel_id == channel_id)
            ]

    def pins(self, channel_id: str) -> list[dict[str, Any]]:
        """Return the pinned messages of a channel, in pin order."""
        with self.ws.lock:
            channel = self.ws.channels.get(channel_id)
            if channel is None:
                return []
            return [copy.deepcopy(channel.by_ts[ts].data) for ts, _ in channel.pins]

    def _view_dict(self, view_id: str | None) -> dict[str, Any] | None:
        view = self.ws.views.get(view_id or "")
        if view is None:
            return None
        return {**copy.deepcopy(view.data), "user": view.user_id, "closed": view.closed, "errors": dict(view.errors)}

    def views(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """Return every view ever opened (view object + user, closed, errors), oldest first."""
        with self.ws.lock:
            ids = [v.id for v in self.ws.views.values() if user_id in (None, v.user_id)]
            return [d for d in map(self._view_dict, ids) if d is not None]

    def view(self, view_id: str) -> dict[str, Any] | None:
        """Return one view by id."""
        with self.ws.lock:
            return self._view_dict(view_id)

    def open_view(self, user_id: str) -> dict[str, Any] | None:
        """Return the modal on top of a user's stack, or None."""
        with self.ws.lock:
            stack = self.ws.modal_stacks.get(user_id) or []
            return self._view_dict(stack[-1]) if stack else None

    def modal_stack(self, user_id: str) -> list[dict[str, Any]]:
        """Return a user's open modals, bottom first."""
        with self.ws.lock:
            ids = list(self.ws.modal_stacks.get(user_id) or [])
            return [d for d in map(self._view_dict, ids) if d is not None]

    def home(self, user_id: str) -> dict[str, Any] | None:
        """Return a user's published App Home view, or None."""
        with self.ws.lock:
            return self._view_dict(self.ws.homes.get(user_id))

    @property
    def files(self) -> list[dict[str, Any]]:
        """Return uploaded files: id, name, title, length, content (bytes or None), channels."""
        with self.ws.lock:
            return [
                {
                    "id": f.id,
                    "name": f.name,
                    "title": f.title,
                    "length": f.length,
                    "content": f.content,
                    "channels": list(f.channels),
                }
                for f in self.ws.files.values()
            ]

    def user_name(self, user_id: str) -> str:
        """Return a user's handle (for transcripts), or the id when unknown."""
        user = self.ws.users.get(user_id)
        return user.name if user else user_id

    def channel_name(self, channel_id: str) -> str:
        """Return a channel's name ("@user" for a DM), or the id when unknown."""
        channel = self.ws.channels.get(channel_id)
        return self.ws.label(channel) if channel else channel_id
