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

from markupsafe import Markup

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


class SlackDialect:
    """Slack's mrkdwn, as the application layer's Wording and messages need it (bot/chat/port.py's Dialect).

    Stateless, with static methods: one instance (`SLACK`) so the escaped template variant is compiled once."""

    platform = "Slack"
    command = "/crisis"
    escape = staticmethod(escape)
    mention = staticmethod(mention)
    room_link = staticmethod(channel_link)
    fit = staticmethod(fit)

    @staticmethod
    def room_url(room: str | None) -> str | None:
        return f"https://slack.com/app_redirect?channel={room}" if room else None

    @staticmethod
    def code(text: str) -> Markup:
        return Markup(f"`{escape_entities(text)}`")

    @staticmethod
    def space(room: str | None) -> str:
        return "channel"  # an incident is always a channel of its own in Slack


SLACK = SlackDialect()
