"""Text for Teams: escaping user text for an Adaptive Card's TextBlock markdown, mentions, links to a thread.

Teams' card markdown (TextBlock and Fact text) knows `**bold**`, `_italic_`, lists (`- `, `1. `), links
`[title](url)` and, with an entity in `msteams.entities`, mentions `<at>Name</at>`; it has no escape character
that every client honours. So a value a person typed has its marks turned into look-alikes, as for Slack: a
title cannot become bold, a link, a list or a mention. Mentions the bot makes itself are a token (`<at:ID>`,
whose `<` no escaped text can contain) that the renderer turns into `<at>Name</at>` and its entity.

`fit` is the one place that cuts card text: never inside a token or a link the bot built.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

from markupsafe import Markup

# What a person typed must not become markup: each mark becomes a character that looks like it.
_MARKS = str.maketrans(
    {
        "*": "∗",
        "_": "ˍ",
        "~": "∼",
        "`": "ˋ",
        "#": "＃",
        "[": "［",
        "]": "］",
        "<": "‹",
        ">": "›",
        "{": "｛",  # `{{DATE(…)}}` and `{{TIME(…)}}` are functions in a TextBlock
        "}": "｝",
        "\r": "",
    }
)
_LIST_START = re.compile(r"^(\s*)(?:([-+])|(\d+)\.)(?=\s|$)", re.MULTILINE)  # a line that would start a list
PERSON = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}|29:[A-Za-z0-9_\-]{1,200}")
MENTION = re.compile(r"<at:([^<>\s]{1,210})>")  # the token `mention` makes; only the dialect writes a `<`
ELLIPSIS = "…"
# What a cut must not split: a mention token, or a link the bot built.
_WHOLE = re.compile(r"<at:[^<>\s]{1,210}>|\[[^\[\]\n]{0,300}\]\([^()\s]{1,2000}\)")
TEAMS_WEB = "https://teams.microsoft.com/l/message"


def _unlist(match: re.Match[str]) -> str:
    indent, bullet, number = match.groups()
    return f"{indent}{'‐' if bullet == '-' else '＋'}" if bullet else f"{indent}{number}․"


def escape(text: str) -> str:
    """User text made inert for card markdown: no bold, italic, link, list, mention or date function."""
    return _LIST_START.sub(_unlist, str(text).translate(_MARKS))


def mention(person: str | None) -> Markup:
    """A token for the renderer (`<at>Name</at>` plus its entity); "—" for nobody or an id that is no person's."""
    if person and PERSON.fullmatch(person):
        return Markup(f"<at:{person}>")
    return Markup("—")


def mentioned(text: str) -> list[str]:
    """The people `text`'s mention tokens name, in order, each once."""
    return list(dict.fromkeys(MENTION.findall(text)))


def _safe_cut(text: str, limit: int) -> int:
    """The longest prefix length ≤ `limit` that ends outside every token and link."""
    for match in _WHOLE.finditer(text, max(limit - 2400, 0)):
        if match.start() >= limit:
            break
        if match.end() > limit:
            return match.start()
    return limit


def fit(text: str, limit: int) -> str:
    """`text` within `limit` characters: whole, or cut before the first token or link it would split, with an
    ellipsis."""
    text = str(text)
    if len(text) <= limit:
        return text
    return text[: _safe_cut(text, max(limit - len(ELLIPSIS), 0))].rstrip() + ELLIPSIS


def thread_url(room: str | None, tenant_id: str | None = None) -> str | None:
    """The deep link to an incident's thread (`<channel>;messageid=<root>`), None for anything else."""
    channel, sep, root = (room or "").partition(";messageid=")
    if not (sep and channel and root):
        return None
    query = {"parentMessageId": root, **({"tenantId": tenant_id} if tenant_id else {})}
    return f"{TEAMS_WEB}/{quote(channel, safe='')}/{quote(root, safe='')}?{urlencode(query)}"


class TeamsDialect:
    """Teams' card markdown, as the application layer's Wording and messages need it (bot/chat/port.py)."""

    platform = "Teams"
    command = "@Crisis Desk"  # in a channel the bot hears only what mentions it; in its 1:1 chat this works too

    def __init__(self, tenant_id: str | None = None, crisis_channel: str | None = None, space: str = "thread") -> None:
        self.tenant_id = tenant_id
        self.crisis_channel, self.configured_space = crisis_channel, space

    escape = staticmethod(escape)
    mention = staticmethod(mention)
    fit = staticmethod(fit)

    def room_url(self, room: str | None) -> str | None:
        return thread_url(room, self.tenant_id)

    def space(self, room: str | None) -> str:
        """A thread in the crisis channel is "thread"; a thread in a channel of its own is that "channel"; no room (or
        no crisis channel known): what TEAMS_INCIDENT_SPACE gives new incidents."""
        channel, sep, _ = (room or "").partition(";messageid=")
        if sep and self.crisis_channel:
            return "thread" if channel == self.crisis_channel else "channel"
        return self.configured_space

    def room_link(self, room: str | None) -> Markup:
        url = self.room_url(room)
        return Markup(f"[Teams ↗]({url})") if url else Markup("—")

    @staticmethod
    def code(text: str) -> Markup:
        """Shown as typed between backticks (Teams' card markdown draws no inline code: the marks stay visible)."""
        return Markup(f"`{escape(text)}`")


TEAMS = TeamsDialect()
