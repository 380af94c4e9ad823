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
from jsonschema.exceptions import ValidationError, best_match

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


def _explain(error: ValidationError) -> ValidationError:
    """Descend an anyOf over element types to the branch of the instance's own `type` (its errors say what is wrong)."""
    while error.validator == "anyOf" and error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        own = [errs for errs in branches.values() if not any(list(e.relative_path) == ["type"] for e in errs)]
        if len(own) != 1:
            break
        error = best_match(own[0]) or error
    return error


def _msteams_problems(card: dict[str, Any]) -> list[str]:
    """Check Teams' own card property (`msteams`: mention entities, width), which the 1.5 schema does not know."""
    extra = card.get("msteams")
    if extra is None:
        return []
    if not isinstance(extra, dict):
        return ['"msteams" must be an object']
    problems: list[str] = []
    text = json.dumps(card.get("body") or [], ensure_ascii=False)
    for entity in extra.get("entities") or []:
        mentioned = entity.get("mentioned") if isinstance(entity, dict) else None
        if not isinstance(mentioned, dict) or entity.get("type") != "mention" or not mentioned.get("id"):
            problems.append("msteams.entities: each needs type mention, text and mentioned.id")
        elif str(entity.get("text") or "") not in text:
            problems.append(f"msteams.entities: {entity.get('text')!r} does not appear in the card's text")
    return problems


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
    problems.extend(_msteams_problems(card))
    # Teams accepts its `msteams` property on the card; the schema (additionalProperties: false) would not.
    plain = {k: v for k, v in card.items() if k != "msteams"}
    error = best_match(_validator().iter_errors(plain))
    if error is not None:
        error = _explain(error)
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
