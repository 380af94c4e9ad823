"""Modal stacks and App Home tabs: the view half of the fake workspace's state."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from bot.sandbox.api_base import ApiError
from bot.sandbox.model import APP_ID, BOT_ID, Event, StoredView

MAX_MODAL_STACK = 3


class ViewsMixin:
    """View operations of Workspace (which provides the attributes declared here)."""

    lock: threading.RLock
    team_id: str
    views: dict[str, StoredView]
    modal_stacks: dict[str, list[str]]
    homes: dict[str, str]
    events: list[Event]

    # Implemented by Workspace; declared so the type checker knows this mixin may call them.
    new_id: Callable[[str], str]
    normalize_blocks: Callable[[Any], Any]
    emit: Callable[..., None]

    def _view_data(
        self, payload: dict[str, Any], view_id: str, root: str | None, previous: str | None
    ) -> dict[str, Any]:
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": payload.get("type"),
            "blocks": self.normalize_blocks(payload.get("blocks") or []),
            "private_metadata": payload.get("private_metadata") or "",
            "callback_id": payload.get("callback_id") or "",
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": payload.get("title"),
            "clear_on_close": bool(payload.get("clear_on_close", False)),
            "notify_on_close": bool(payload.get("notify_on_close", False)),
            "close": payload.get("close"),
            "submit": payload.get("submit"),
            "previous_view_id": previous,
            "root_view_id": root or view_id,
            "app_id": APP_ID,
            "external_id": payload.get("external_id") or "",
            "app_installed_team_id": self.team_id,
            "bot_id": BOT_ID,
        }

    def _check_external_id(self, payload: dict[str, Any], own_id: str | None) -> None:
        ext = payload.get("external_id")
        if ext and any(
            v.data.get("external_id") == ext and not v.closed and v.id != own_id for v in self.views.values()
        ):
            raise ApiError("duplicate_external_id")

    def open_modal(self, user_id: str, payload: dict[str, Any]) -> StoredView:
        """Open a new modal for a user, replacing whatever modal they had open."""
        with self.lock:
            self._check_external_id(payload, None)
            self.clear_stack(user_id, reason="replaced")
            view_id = self.new_id("V")
            view = StoredView(user_id, self._view_data(payload, view_id, None, None))
            self.views[view_id] = view
            self.modal_stacks[user_id] = [view_id]
            self.emit(
                "view_opened",
                user=user_id,
                view_id=view_id,
                blocks=view.data["blocks"],
                text=_title(view.data),
                data={"callback_id": view.data["callback_id"]},
            )
            return view

    def push_modal(self, user_id: str, payload: dict[str, Any]) -> StoredView:
        """Push a modal on top of the user's open one (at most 3 deep)."""
        with self.lock:
            stack = self.modal_stacks.get(user_id) or []
            if not stack:
                raise ApiError("not_found")
            if len(stack) >= MAX_MODAL_STACK:
                raise ApiError("push_limit_reached")
            self._check_external_id(payload, None)
            view_id = self.new_id("V")
            view = StoredView(user_id, self._view_data(payload, view_id, stack[0], stack[-1]))
            self.views[view_id] = view
            stack.append(view_id)
            self.emit(
                "view_opened",
                user=user_id,
                view_id=view_id,
                blocks=view.data["blocks"],
                text=_title(view.data),
                data={"callback_id": view.data["callback_id"], "pushed": True},
            )
            return view

    def update_view(self, view: StoredView, payload: dict[str, Any]) -> None:
        """Replace an open view's content, keeping its id and place in the stack."""
        with self.lock:
            self._check_external_id(payload, view.id)
            old = view.data
            view.data = self._view_data(payload, view.id, old.get("root_view_id"), old.get("previous_view_id"))
            view.errors = {}
            self.emit(
                "view_updated",
                user=view.user_id,
                view_id=view.id,
                text=_title(view.data),
                blocks=view.data["blocks"],
                data={"type": view.data["type"]},
            )

    def close_top(self, user_id: str, reason: str = "submitted") -> StoredView | None:
        """Pop the top modal of a user's stack."""
        with self.lock:
            stack = self.modal_stacks.get(user_id) or []
            if not stack:
                return None
            view = self.views[stack.pop()]
            view.closed = True
            self.emit("view_closed", user=user_id, view_id=view.id, text=_title(view.data), data={"reason": reason})
            return view

    def close_view(self, view_id: str, reason: str) -> None:
        """Close one modal (e.g. the one just submitted) wherever it is in its user's stack."""
        with self.lock:
            view = self.views.get(view_id)
            if view is None or view.closed:
                return
            stack = self.modal_stacks.get(view.user_id) or []
            if view_id in stack:
                stack.remove(view_id)
            view.closed = True
            self.emit(
                "view_closed", user=view.user_id, view_id=view_id, text=_title(view.data), data={"reason": reason}
            )

    def clear_stack(self, user_id: str, reason: str = "cleared") -> None:
        """Close every modal a user has open."""
        with self.lock:
            while self.modal_stacks.get(user_id):
                self.close_top(user_id, reason)

    def publish_home(self, user_id: str, payload: dict[str, Any]) -> StoredView:
        """Set a user's App Home view; the view keeps its id across publishes."""
        with self.lock:
            view_id = self.homes.get(user_id) or self.new_id("V")
            self.homes[user_id] = view_id
            view = StoredView(user_id, self._view_data(payload, view_id, None, None))
            self.views[view_id] = view
            self.emit("home_published", user=user_id, view_id=view_id, blocks=view.data["blocks"])
            return view

    def view_for_update(self, view_id: Any, external_id: Any) -> StoredView:
        """Find an open view by id or external_id (views.update)."""
        with self.lock:
            view: StoredView | None = None
            if view_id:
                view = self.views.get(str(view_id))
            elif external_id:
                view = next(
                    (v for v in self.views.values() if v.data.get("external_id") == external_id and not v.closed), None
                )
            if view is None or view.closed:
                raise ApiError("not_found")
            return view


def _title(view: dict[str, Any]) -> str:
    title = view.get("title")
    return str(title.get("text", "")) if isinstance(title, dict) else ""
