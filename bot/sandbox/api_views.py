"""Emulated views.* Web API methods (modals with a push stack, and App Home tabs)."""

from __future__ import annotations

import copy
from typing import Any

from bot.sandbox.api_base import ApiError, json_arg, method
from bot.sandbox.model import StoredView
from bot.sandbox.validate import validate_view
from bot.sandbox.workspace import Workspace


def _view_arg(args: dict[str, Any], kind: str | None) -> dict[str, Any]:
    """Return the decoded `view` argument after Slack's validation (invalid_arguments otherwise)."""
    view = json_arg(args, "view")
    if not isinstance(view, dict):
        raise ApiError("invalid_arguments", ["[ERROR] missing required field: view [json-pointer:/view]"])
    problems = validate_view(view)
    if kind and view.get("type") != kind and not problems:
        problems = [f"[ERROR] must be {kind} [json-pointer:/view/type]"]
    if problems:
        raise ApiError("invalid_arguments", problems)
    return view


def _answer(view: StoredView) -> dict[str, Any]:
    return {"view": copy.deepcopy(view.data)}


def _trigger_arg(args: dict[str, Any]) -> Any:
    return args.get("trigger_id") or args.get("interactivity_pointer")


@method("views.open")
def views_open(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Open a modal for the user a fresh trigger_id belongs to."""
    view = _view_arg(args, "modal")
    with ws.lock:
        trigger = ws.exchange_trigger(_trigger_arg(args))
        try:
            return _answer(ws.open_modal(trigger.user_id, view))
        except ApiError:
            trigger.used = False  # a refused call leaves the trigger usable, like any failed call
            raise


@method("views.push")
def views_push(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Push a modal onto the trigger user's open modal stack (max 3 views)."""
    view = _view_arg(args, "modal")
    with ws.lock:
        trigger = ws.exchange_trigger(_trigger_arg(args))
        try:
            return _answer(ws.push_modal(trigger.user_id, view))
        except ApiError:
            trigger.used = False
            raise


@method("views.update")
def views_update(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Replace an open view found by view_id or external_id; `hash` guards against races."""
    if not args.get("view_id") and not args.get("external_id"):
        raise ApiError("invalid_arguments", ["[ERROR] either view_id or external_id is required"])
    view = _view_arg(args, None)
    with ws.lock:
        stored = ws.view_for_update(args.get("view_id"), args.get("external_id"))
        if args.get("hash") and args["hash"] != stored.data.get("hash"):
            raise ApiError("hash_conflict")
        if view.get("type") != stored.data.get("type"):
            raise ApiError(
                "invalid_arguments", [f"[ERROR] must be {stored.data.get('type')} [json-pointer:/view/type]"]
            )
        ws.update_view(stored, view)
        return _answer(stored)


@method("views.publish")
def views_publish(ws: Workspace, args: dict[str, Any]) -> dict[str, Any]:
    """Publish a user's App Home tab."""
    user_id = str(args.get("user_id") or "")
    view = _view_arg(args, "home")
    with ws.lock:
        if user_id not in ws.users:
            raise ApiError("user_not_found")
        current = ws.views.get(ws.homes.get(user_id, ""))
        if args.get("hash") and current is not None and args["hash"] != current.data.get("hash"):
            raise ApiError("hash_conflict")
        return _answer(ws.publish_home(user_id, view))
