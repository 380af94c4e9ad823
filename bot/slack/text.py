"""Text for Slack: escaping user text for mrkdwn, mentions, and the UI strings in the right language.

Every value a person typed (titles, reasons, update text) is escaped before it reaches mrkdwn: `&`, `<`
and `>` become entities, which defuses `<!channel>`, `<@U…>` and `<url|links>`; the formatting marks
`* _ ~ \\`` become look-alikes, because Slack's mrkdwn has no escape for them. Mentions the bot builds
itself are wrapped in `Markup` so the escaping leaves them intact.

Escaping makes text longer (`&` becomes `&amp;`), so a text that fit when typed may not fit Slack's limits
once escaped: `fit` is the one place that cuts text for a Block Kit field or a message, at a boundary that
keeps every entity and every `<…>` the bot built whole, with an ellipsis.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

from bot.messages import Messages

_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_MARKS = str.maketrans({"*": "∗", "_": "ˍ", "~": "∼", "`": "ˋ"})
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
ELLIPSIS = "…"
# What a cut must not split: an entity escaping made, or a mention, channel link or broadcast the bot built.
_WHOLE = re.compile(r"&(?:amp|lt|gt);|<[^<>]{0,300}>")


def escape(text: str) -> str:
    """User text made inert for mrkdwn (no mentions, links, broadcasts or formatting)."""
    return str(text).translate(_ENTITIES).translate(_MARKS)


def _safe_cut(text: str, limit: int) -> int:
    """The longest prefix length ≤ `limit` that ends outside every entity and every `<…>`."""
    cut = limit
    for match in _WHOLE.finditer(text, max(cut - 310, 0)):  # both are short
        if match.start() >= cut:
            break
        if match.end() > cut:
            return match.start()
    return cut


def fit(text: str, limit: int) -> str:
    """`text` (user values in it already escaped) within `limit` characters: whole, or cut before the first
    entity or `<…>` it would split, with an ellipsis. Every block and message text passes through here."""
    text = str(text)
    if len(text) <= limit:
        return text
    return text[: _safe_cut(text, max(limit - len(ELLIPSIS), 0))].rstrip() + ELLIPSIS


def pieces(text: str, size: int) -> list[str]:
    """`text` in consecutive pieces of at most `size` characters, none splitting an entity or a `<…>`."""
    out: list[str] = []
    while len(text) > size:
        cut = _safe_cut(text, size) or size
        out.append(text[:cut])
        text = text[cut:]
    return [*out, text] if text or not out else out


def escape_entities(text: str) -> str:
    """Only `& < >`: for text inside a code block, where formatting marks are shown as typed."""
    return str(text).translate(_ENTITIES).replace("```", "ˋˋˋ")


def mention(user: str | None) -> Markup:
    if user and USER_ID.match(user):
        return Markup(f"<@{user}>")
    return Markup("—")


def channel_link(channel_id: str | None) -> Markup:
    return Markup(f"<#{channel_id}>") if channel_id else Markup("—")


class Wording:
    """UI strings for Slack in one language, with user values escaped."""

    def __init__(self, messages: Messages, language: str) -> None:
        self.messages = messages.with_escape(escape)
        self.language = language

    def __call__(self, key: str, /, **params: Any) -> str:
        return self.messages.ui(self.language, key, **params)

    def role(self, role: str) -> str:
        return self(f"role.{role}")

    def network(self, network: str) -> str:
        return self(f"network.{network}")
