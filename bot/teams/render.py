"""Adaptive Cards 1.5 for neutral messages (`bot/chat/message.py`), within Teams' 28 KB message cap.

The parts' text is already in the Teams dialect (bot/teams/text.py: user values escaped, mentions as tokens);
drawing arranges it, turns our own UI strings' Slack-style marks (`*bold*`) into card markdown (`**bold**`:
user text has no `*` left to turn), makes each mention token `<at>Name</at>` with its `msteams.entities`
entry, and cuts what is too long with the dialect's `fit`. A draft's text (Verbatim) is a RichTextBlock's
TextRun, which Teams never reads as markdown: it is shown, and copied, exactly as typed.

User-specific views (Universal Actions): a message whose buttons not everyone may press (`Restricted`, from
bot/chat/audience.py) is drawn without them for everyone, with a `refresh` naming the people who may press
them; their client asks the bot for their own view, which is `card(message, viewer=them, ...)`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.chat.audience import Restricted
from bot.chat.message import Actions, Button, Divider, Fields, Heading, Message, Note, Part, Text, Verbatim
from bot.teams.text import MENTION, TEAMS, fit

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
MESSAGE_BYTES = 28_000  # Teams refuses a message over ~28 KB (the payload as sent): stay under it
TEXT_LIMITS = (6000, 2500, 1000, 400, 150)  # characters per text, tried in turn until the message fits
LABEL_LIMIT = 60
MAX_REFRESH_USERS = 60  # Teams runs a card's refresh automatically for at most 60 users
REFRESH_VERB = "refresh"
STYLES = {"primary": "positive", "danger": "destructive"}
_BOLD = re.compile(r"(?<![*\w])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![*\w])")
_AT = re.compile(r"<(/?at)", re.IGNORECASE)
_LINES = re.compile(r"\n+")
# Slack's ~strike~ (a done checklist item): card markdown has no strikethrough, and the ✅ already says it.
_STRIKE = re.compile(r"(?<![~\w])~(?!\s)([^~\n]+?)(?<!\s)~(?![~\w])")


class People(Protocol):
    """Who a mention names: the person's display name, and their Teams user id (29:…) when known (the entity
    then carries it; else the Entra object id, which Teams takes in a card's mentions)."""

    def display_name(self, person: str) -> str | None: ...

    def teams_id(self, person: str) -> str | None: ...


@dataclass
class _Drawing:
    """One drawing's settings and what it collected (the people it mentions)."""

    limit: int
    people: People | None
    viewer: str | None
    restricted: Restricted | None
    mentions: dict[str, tuple[str, str]] = field(default_factory=dict)  # person → (entity id, name)

    def name(self, person: str) -> str:
        if person not in self.mentions:
            found = self.people.display_name(person) if self.people else None
            teams_id = (self.people.teams_id(person) if self.people else None) or person
            self.mentions[person] = (teams_id, re.sub(r"[<>\n]", "", found or "")[:100] or person)
        return self.mentions[person][1]

    def entities(self) -> list[dict[str, Any]]:
        return [
            {"type": "mention", "text": f"<at>{name}</at>", "mentioned": {"id": teams_id, "name": name}}
            for teams_id, name in self.mentions.values()
        ]

    def md(self, text: str) -> str:
        """Card markdown for a part's text: cut, our marks translated, line breaks kept, mentions drawn."""
        # Each pattern only where its mark is: most of a header's texts have none, and a search costs what a match does.
        text = fit(text, self.limit)
        if "*" in text:
            text = _BOLD.sub(r"**\1**", text)
        if "~" in text:
            text = _STRIKE.sub(r"\1", text)
        if "\n" in text:
            text = _LINES.sub("\n\n", text)  # a single \n is no line break in a TextBlock outside a list
        return MENTION.sub(lambda m: f"<at>{self.name(m.group(1))}</at>", text) if "<at:" in text else text

    def shown(self, button: Button) -> bool:
        return self.restricted is None or self.restricted.may_press(self.viewer, button)


@dataclass(frozen=True)
class _Names:
    """People known by name only (a `display_name` function)."""

    display_name: Callable[[str], str | None]

    def teams_id(self, person: str) -> str | None:
        return None


def plain(text: str, people: People | Callable[[str], str | None] | None = None) -> str:
    """`text` without markup: for a notification's summary, an invoke's message, the card's fallback text.
    `people` names the mentioned (a People, or just a function from a person to their display name)."""
    known = _Names(people) if callable(people) else people
    drawing = _Drawing(len(text) + 1, known, None, None)
    text = _BOLD.sub(r"\1", text)
    return MENTION.sub(lambda m: drawing.name(m.group(1)), text)


def block(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text or " ", "wrap": True, **style}


def button(b: Button) -> dict[str, Any]:
    """A neutral button as a card action: a link opens (Action.OpenUrl), any other is a Universal Action."""
    title = fit(b.label, LABEL_LIMIT) or "—"
    if b.url:
        return {"type": "Action.OpenUrl", "title": title, "url": b.url}
    action: dict[str, Any] = {"type": "Action.Execute", "title": title, "verb": b.id, "data": {"value": b.value}}
    if b.style:
        action["style"] = STYLES[b.style]
    return action


def _text(part: Text, d: _Drawing) -> dict[str, Any]:
    text = block(d.md(part.text))
    if part.button is None or not d.shown(part.button):
        return text
    row = {"type": "ActionSet", "actions": [button(part.button)]}
    return {
        "type": "ColumnSet",
        "columns": [
            {"type": "Column", "width": "stretch", "items": [text]},
            {"type": "Column", "width": "auto", "items": [row], "verticalContentAlignment": "Center"},
        ],
    }


def _fields(part: Fields, d: _Drawing) -> list[dict[str, Any]]:
    """Facts (`*Title*\\nvalue`) as a FactSet; facts without a title line side by side, two to a row."""
    out = [block(d.md(part.text))] if part.text is not None else []
    if all("\n" in item for item in part.items):
        facts = []
        for item in part.items:
            title, _, value = item.partition("\n")
            facts.append({"title": d.md(title.strip().strip("*")), "value": d.md(value)})
        return [*out, {"type": "FactSet", "facts": facts}]
    for i in range(0, len(part.items), 2):
        pair = part.items[i : i + 2]
        columns = [{"type": "Column", "width": "stretch", "items": [block(d.md(item))]} for item in pair]
        out.append({"type": "ColumnSet", "columns": columns})
    return out


def _verbatim(part: Verbatim, d: _Drawing) -> dict[str, Any]:
    """Exactly as typed: a TextRun is never markdown; `<at` gets an invisible break so no card entity binds it."""
    text = _AT.sub("<\u200b\\1", part.text[: d.limit])
    run: dict[str, Any] = {"type": "TextRun", "text": text or " "}
    if part.monospace:
        run["fontType"] = "Monospace"
    return {"type": "RichTextBlock", "inlines": [run]}


def _elements(part: Part, d: _Drawing) -> list[dict[str, Any]]:
    match part:
        case Heading(text):
            return [block(d.md(text), weight="Bolder", size="Medium")]
        case Text():
            return [_text(part, d)]
        case Fields():
            return _fields(part, d)
        case Verbatim():
            return [_verbatim(part, d)]
        case Note(text):
            return [block(d.md(text), size="Small", isSubtle=True)]
        case Divider():
            return []
        case Actions(buttons):
            actions = [button(b) for b in buttons if d.shown(b)]
            return [{"type": "ActionSet", "actions": actions}] if actions else []
    raise TypeError(f"not a message part: {part!r}")


def _body(message: Message, d: _Drawing) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = []
    separate = False
    for part in message.parts:
        if isinstance(part, Divider):
            separate = bool(body)
            continue
        elements = _elements(part, d)
        if elements and separate:
            elements[0]["separator"] = True
            separate = False
        body += elements
    return body or [block(d.md(message.text))]


def _card(message: Message, d: _Drawing, user_ids: Sequence[str]) -> dict[str, Any]:
    body = _body(message, d)
    fallback = plain(fit(message.text, d.limit), d.people)
    content: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": VERSION,
        "body": body,
        "fallbackText": fallback,
        "msteams": {"width": "Full", "entities": d.entities()},
    }
    if d.restricted is not None:
        content["refresh"] = {
            "action": {"type": "Action.Execute", "verb": REFRESH_VERB, "data": {"value": d.restricted.key}},
            "userIds": list(dict.fromkeys(user_ids))[:MAX_REFRESH_USERS],
        }
    return content


def _wrap(content: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "summary": content["fallbackText"],
        "attachments": [{"contentType": CARD_TYPE, "content": content}],
    }


def size(activity: dict[str, Any]) -> int:
    """The bytes Teams counts: the activity as JSON, UTF-8."""
    return len(json.dumps(activity, ensure_ascii=False).encode())


def activity(
    message: Message,
    viewer: str | None = None,
    *,
    restricted: Restricted | None = None,
    user_ids: Sequence[str] = (),
    people: People | None = None,
) -> dict[str, Any]:
    """A message activity with the message's card (or, without parts, its text with its mentions), drawn with
    ever shorter texts until it fits the 28 KB cap."""
    for limit in TEXT_LIMITS:
        d = _Drawing(limit, people, viewer, restricted)
        drawn = _wrap(_card(message, d, user_ids)) if message.parts else _text_activity(message.text, d)
        if size(drawn) <= MESSAGE_BYTES:
            return drawn
    return drawn  # 150 characters per text: only a message of hundreds of parts gets here, and none does


def card(
    message: Message,
    viewer: str | None = None,
    *,
    restricted: Restricted | None = None,
    user_ids: Sequence[str] = (),
    people: People | None = None,
) -> dict[str, Any]:
    """The message as an Adaptive Card 1.5 (the content of `activity`'s attachment): what `viewer` sees when
    given (the buttons they may press), else what everyone sees."""
    with_parts = message if message.parts else Message(message.text, (Text(message.text),))
    drawn = activity(with_parts, viewer, restricted=restricted, user_ids=user_ids, people=people)
    content: dict[str, Any] = drawn["attachments"][0]["content"]
    return content


def files_activity(
    comment: str, images: Sequence[str], documents: Sequence[tuple[str, str]], people: People | None = None
) -> dict[str, Any]:
    """A report's share: the comment, each chart as an Image (by URL: a data URI would break the cap), and a
    button opening each document."""
    d = _Drawing(TEXT_LIMITS[0], people, None, None)
    body: list[dict[str, Any]] = [block(d.md(comment))]
    body += [
        {"type": "Image", "url": url, "altText": plain(comment, people)[:200], "size": "Stretch"} for url in images
    ]
    links = [button(Button("open_file", title, url=url)) for title, url in documents]
    if links:
        body.append({"type": "ActionSet", "actions": links})
    content = _card(Message(comment, (Text(comment),)), d, ())
    content["body"] = body
    return _wrap(content)


def _text_activity(text: str, d: _Drawing) -> dict[str, Any]:
    drawn = d.md(text)
    return {"type": "message", "text": drawn, "textFormat": "markdown", "entities": d.entities()}


__all__ = ["TEAMS", "activity", "card", "plain", "size"]
