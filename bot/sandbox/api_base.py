"""Shared plumbing for the emulated Web API methods: the registry, errors and argument helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

METHODS: dict[str, Callable[..., dict[str, Any]]] = {}


class ApiError(Exception):
    """An `{"ok": false, "error": ...}` answer; `extra` adds fields such as response_metadata."""

    def __init__(self, error: str, messages: list[str] | None = None, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = dict(extra)
        if messages:
            self.extra["response_metadata"] = {"messages": list(messages)}

    def to_response(self) -> dict[str, Any]:
        """Return the JSON body Slack answers for this error."""
        return {"ok": False, "error": self.error, **self.extra}


def method(name: str) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Register a handler `(workspace, args) -> result fields` for Web API method `name`."""

    def register(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        METHODS[name] = fn
        return fn

    return register


def truthy(value: Any) -> bool:
    """Interpret a Slack boolean argument (JSON true, "true", "1", 1)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def arg(args: dict[str, Any], name: str, error: str = "invalid_arguments") -> Any:
    """Return a required argument or raise the error Slack gives when it is missing."""
    value = args.get(name)
    if value is None or value == "":
        raise ApiError(error, [f"[ERROR] missing required field: {name}"] if error == "invalid_arguments" else None)
    return value


def json_arg(args: dict[str, Any], name: str, error: str = "invalid_arguments") -> Any:
    """Return an argument that may arrive as a JSON-encoded string (form bodies) or as JSON."""
    value = args.get(name)
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(error, [f"[ERROR] failed to parse {name} as JSON"]) from None
    return value


def str_list(value: Any) -> list[str]:
    """Split a comma-separated id list (form style) or accept a JSON list."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def int_arg(args: dict[str, Any], name: str, default: int) -> int:
    """Return an integer argument, falling back to `default` when absent or malformed."""
    try:
        return int(args.get(name, default))
    except (TypeError, ValueError):
        return default


def page(items: list[Any], args: dict[str, Any], default_limit: int = 100) -> tuple[list[Any], str]:
    """Slice `items` by Slack's cursor/limit arguments; return the page and the next cursor."""
    import base64

    limit = int_arg(args, "limit", default_limit) or default_limit
    start = 0
    cursor = args.get("cursor")
    if cursor:
        try:
            start = int(base64.b64decode(str(cursor)).decode().split(":", 1)[1])
        except (ValueError, IndexError):
            raise ApiError("invalid_cursor") from None
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    next_cursor = base64.b64encode(f"next:{start + limit}".encode()).decode() if more else ""
    return chunk, next_cursor
