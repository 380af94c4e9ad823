"""Builders for the interaction payloads Slack sends to an app, and Block Kit element lookup."""

from __future__ import annotations

import time
from typing import Any

from bot.sandbox.model import APP_ID, TEAM_DOMAIN, VERIFICATION_TOKEN, User

# Values a user can set, by element type: (state key, key of the element's initial value).
_STATE_KEYS: dict[str, tuple[str, str]] = {
    "plain_text_input": ("value", "initial_value"),
    "email_text_input": ("value", "initial_value"),
    "url_text_input": ("value", "initial_value"),
    "number_input": ("value", "initial_value"),
    "static_select": ("selected_option", "initial_option"),
    "external_select": ("selected_option", "initial_option"),
    "radio_buttons": ("selected_option", "initial_option"),
    "multi_static_select": ("selected_options", "initial_options"),
    "multi_external_select": ("selected_options", "initial_options"),
    "checkboxes": ("selected_options", "initial_options"),
    "users_select": ("selected_user", "initial_user"),
    "multi_users_select": ("selected_users", "initial_users"),
    "conversations_select": ("selected_conversation", "initial_conversation"),
    "multi_conversations_select": ("selected_conversations", "initial_conversations"),
    "channels_select": ("selected_channel", "initial_channel"),
    "multi_channels_select": ("selected_channels", "initial_channels"),
    "datepicker": ("selected_date", "initial_date"),
    "timepicker": ("selected_time", "initial_time"),
    "datetimepicker": ("selected_date_time", "initial_date_time"),
    "rich_text_input": ("rich_text_value", "initial_value"),
}


def text_value(value: str | None) -> dict[str, Any]:
    """Return a plain_text_input state value, as in `view.state.values[block][action]`."""
    return {"type": "plain_text_input", "value": value}


def select_value(value: str, text: str | None = None) -> dict[str, Any]:
    """Return a static_select state value choosing the option with `value`.

    The option's text is taken from the view when submitted; `text` is only a fallback.
    """
    option = {"text": {"type": "plain_text", "text": text or value, "emoji": True}, "value": value}
    return {"type": "static_select", "selected_option": option}


def action_ts() -> str:
    """Return a Slack-style action timestamp."""
    return f"{time.time():.6f}"


def user_obj(user: User, team_id: str) -> dict[str, Any]:
    """Return the `user` field of interaction payloads."""
    return {"id": user.id, "username": user.name, "name": user.name, "team_id": team_id}


def team_obj(team_id: str) -> dict[str, Any]:
    """Return the `team` field of interaction payloads."""
    return {"id": team_id, "domain": TEAM_DOMAIN}


def base_payload(kind: str, user: User, team_id: str, trigger_id: str) -> dict[str, Any]:
    """Return the fields every interaction payload carries."""
    return {
        "type": kind,
        "user": user_obj(user, team_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "team": team_obj(team_id),
        "enterprise": None,
        "is_enterprise_install": False,
    }


def iter_elements(blocks: Any) -> list[tuple[str, dict[str, Any]]]:
    """Return (block_id, element) for every interactive element in the blocks, in display order."""
    found: list[tuple[str, dict[str, Any]]] = []
    for block in blocks or []:
        if not isinstance(block, dict):
            continue
        block_id = str(block.get("block_id", ""))
        candidates: list[Any] = []
        if block.get("type") in ("actions", "context"):
            candidates.extend(block.get("elements") or [])
        candidates.extend(block[k] for k in ("accessory", "element") if k in block)
        found.extend((block_id, el) for el in candidates if isinstance(el, dict) and "action_id" in el)
    return found


def find_element(blocks: Any, action_id: str, block_id: str | None = None) -> tuple[str, dict[str, Any]] | None:
    """Return the (block_id, element) with `action_id` (and `block_id` if given), or None."""
    for found_block, element in iter_elements(blocks):
        if element.get("action_id") == action_id and (block_id is None or found_block == block_id):
            return found_block, element
    return None


def options_of(element: dict[str, Any]) -> list[dict[str, Any]]:
    """Return an element's options, flattening option_groups."""
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return [o for o in options if isinstance(o, dict)]


def button_action(element: dict[str, Any] | None, action_id: str, block_id: str, value: str | None) -> dict[str, Any]:
    """Return the `actions[0]` entry for a button click."""
    element = element or {}
    label = element.get("text") or {"type": "plain_text", "text": action_id}
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": label.get("text", ""), "emoji": True},
        "type": "button",
        "action_ts": action_ts(),
    }
    chosen = value if value is not None else element.get("value")
    if chosen is not None:
        action["value"] = chosen
    if "style" in element:
        action["style"] = element["style"]
    return action


def select_action(element: dict[str, Any], action_id: str, block_id: str, value: str) -> dict[str, Any]:
    """Return the `actions[0]` entry for choosing `value` in a static select (LookupError if absent)."""
    option = next((o for o in options_of(element) if o.get("value") == value), None)
    if option is None:
        raise LookupError(f"select {action_id!r} has no option with value {value!r}")
    action: dict[str, Any] = {
        "type": element.get("type", "static_select"),
        "action_id": action_id,
        "block_id": block_id,
        "selected_option": option,
        "action_ts": action_ts(),
    }
    if "placeholder" in element:
        action["placeholder"] = element["placeholder"]
    return action


def _is_empty(state: dict[str, Any]) -> bool:
    return all(v in (None, "", [], {}) for k, v in state.items() if k != "type")


def build_state(blocks: Any, values: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Return `view.state.values` for a submission: given values plus defaults of every input.

    Raises LookupError for a block/action the view does not show, and ValueError when a required
    input is empty (Slack's client refuses to submit such a form).
    """
    inputs = {str(b.get("block_id")): b for b in blocks or [] if isinstance(b, dict) and b.get("type") == "input"}
    for block_id, actions in values.items():
        block = inputs.get(block_id)
        if block is None:
            raise LookupError(f"the view has no input block {block_id!r} (inputs: {sorted(inputs)})")
        action_id = block.get("element", {}).get("action_id")
        unknown = set(actions) - {action_id}
        if unknown:
            raise LookupError(f"input block {block_id!r} has action_id {action_id!r}, not {sorted(unknown)}")
    state: dict[str, Any] = {}
    for block_id, block in inputs.items():
        element = block.get("element") or {}
        kind = str(element.get("type", ""))
        action_id = str(element.get("action_id", ""))
        key, initial = _STATE_KEYS.get(kind, ("value", "initial_value"))
        given = values.get(block_id, {}).get(action_id)
        if given is None:
            entry: dict[str, Any] = {"type": kind, key: element.get(initial)}
            if key.endswith("s") and entry[key] is None:
                entry[key] = []
        else:
            entry = {**given, "type": kind}
            if key == "selected_option" and isinstance(given.get("selected_option"), dict) and options_of(element):
                wanted = given["selected_option"].get("value")
                option = next((o for o in options_of(element) if o.get("value") == wanted), None)
                if option is None:
                    raise LookupError(f"select in block {block_id!r} has no option with value {wanted!r}")
                entry["selected_option"] = option
        if not block.get("optional", False) and _is_empty(entry):
            raise ValueError(f"required input {block_id!r} is empty; Slack would not submit the form")
        state[block_id] = {action_id: entry}
    return {"values": state}


def submitted_as_shown(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The `view_submission` state Slack sends for a modal nobody changed: each input's initial value."""
    state: dict[str, dict[str, Any]] = {}
    for block in view.get("blocks", []):
        element = block.get("element") or {}
        if block.get("type") != "input":
            continue
        value: dict[str, Any] = {"type": element.get("type")}
        for initial, key in (
            ("initial_option", "selected_option"),
            ("initial_value", "value"),
            ("initial_date_time", "selected_date_time"),
        ):
            if initial in element:
                value[key] = element[initial]
        state[block["block_id"]] = {element["action_id"]: value}
    return state
