"""Adaptive Card checks Teams applies to what a bot sends: Microsoft's 1.5 schema, the version, refresh.userIds, size.

Each function returns a list of problems (an empty list: Teams would accept it). The schema is loaded and its
validator built once per process: validation runs on every send and update, the benchmarks included.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft6Validator
from jsonschema.exceptions import best_match

from bot.sandbox.teams.model import CARD_TYPE

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "adaptive-card-1.5.json"
MAX_VERSION = (1, 5)  # Teams renders Adaptive Cards up to 1.5
MAX_REFRESH_USERS = 60  # Universal Actions: refresh.userIds holds at most 60 users
# The card payload cap the issue names (Teams' Adaptive Card limit); "Format your bot messages" gives 413
# RequestEntityTooLarge with code MessageSizeTooBig as the answer when a message is over the limit.
MAX_BYTES = 28 * 1024


@cache
def _validator() -> Draft6Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return Draft6Validator(schema)


def _version(value: Any) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in str(value).split("."))
    except ValueError:
        return None


def card_problems(card: Any) -> list[str]:
    """Return why Teams would refuse this Adaptive Card (the attachment's `content`)."""
    if not isinstance(card, dict):
        return ["the card content is not a JSON object"]
    problems: list[str] = []
    if card.get("type") != "AdaptiveCard":
        problems.append('the card\'s "type" must be "AdaptiveCard"')
    version = _version(card.get("version"))
    if version is None:
        problems.append('the card has no valid "version"')
    elif version > MAX_VERSION:
        problems.append(f"card version {card.get('version')} is above 1.5, which Teams renders")
    refresh = card.get("refresh")
    if isinstance(refresh, dict) and len(refresh.get("userIds") or []) > MAX_REFRESH_USERS:
        problems.append(f"refresh.userIds has {len(refresh['userIds'])} users; at most {MAX_REFRESH_USERS}")
    # `msteams` (width, mention entities) is Teams' own root property ("Format cards in Teams"), which the
    # Adaptive Cards schema's root (additionalProperties: false) does not know: Teams reads it, so it is
    # checked apart rather than refused.
    teams = card.get("msteams")
    if teams is not None and not isinstance(teams, dict):
        problems.append('"msteams" must be an object')
    error = best_match(_validator().iter_errors({k: v for k, v in card.items() if k != "msteams"}))
    if error is not None:
        where = "/" + "/".join(str(p) for p in error.absolute_path)
        problems.append(f"schema: {error.message[:300]} at {where}")
    return problems


def activity_problems(activity: dict[str, Any]) -> list[str]:
    """Return the card problems of every Adaptive Card attachment of an activity (empty: all valid)."""
    problems: list[str] = []
    for index, attachment in enumerate(activity.get("attachments") or []):
        if isinstance(attachment, dict) and attachment.get("contentType") == CARD_TYPE:
            problems.extend(f"attachments[{index}]: {p}" for p in card_problems(attachment.get("content")))
    return problems


def payload_size(activity: dict[str, Any]) -> int:
    """Return the activity's size as Teams counts it, approximately: its compact JSON in UTF-8."""
    return len(json.dumps(activity, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
