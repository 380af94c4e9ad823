"""Other tools' payloads as generic alerts: a Meltwater-style streaming webhook, or a source's YAML `mapping`.

A mapping names, for each field of the generic alert, a dotted path into the tool's JSON (`source.reach`); `items`
names the list of documents when one request carries several (a streaming webhook's batch). Missing paths are
simply not given; the generic alert's validation then says what a document lacks.
"""

from __future__ import annotations

from typing import Any

from bot.config import IntakeSource, Mapping

# The Meltwater Streaming API pushes a hook's new documents in batches; each document becomes one alert.
MELTWATER = Mapping(
    items="documents",
    fields={
        "alert_key": "id",
        "title": "title",
        "text": "content.opening_text",
        "url": "url",
        "network": "source.name",
        "author": "author.name",
        "reach": "source.reach",
        "sentiment": "enrichments.sentiment",
        "matched_keywords": "matched.keywords",
        "detected_at": "published_date",
    },
)
MAX_ITEMS = 100  # documents in one request


class NotMapped(ValueError):
    """The payload lacks what the mapping needs (its list of documents); said to the sender with a 400."""


def documents(source: IntakeSource, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The generic alerts (as dicts, validated by the caller) a request carries, in its order."""
    mapping = MELTWATER if source.format == "meltwater" else source.mapping
    if mapping is None:
        return [payload]
    items: Any = [payload]
    if mapping.items:
        items = _at(payload, mapping.items)
        if not isinstance(items, list) or not items:
            raise NotMapped(f"{mapping.items}: expected a list of documents")
        if len(items) > MAX_ITEMS:
            raise NotMapped(f"{mapping.items}: at most {MAX_ITEMS} documents per request")
    return [_mapped(item, mapping) for item in items]


def _mapped(item: Any, mapping: Mapping) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise NotMapped("each document must be a JSON object")
    alert: dict[str, Any] = {}
    for field, path in mapping.fields.items():
        value = _at(item, path)
        if value is None:
            continue
        if field == "alert_key" and isinstance(value, int | float):
            value = str(value)
        alert[field] = value
    return alert


def _at(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data
