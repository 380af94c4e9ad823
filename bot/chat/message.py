"""Neutral messages: what the bot says, in parts every chat platform can draw (Slack's Block Kit, Teams' cards).

Text in a part is already in the platform's markup dialect (user values escaped by the Wording that made it,
mentions built by the dialect), so a renderer only arranges it and applies the platform's own limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Style = Literal["primary", "danger"]


@dataclass(frozen=True)
class Button:
    """A button: `id` names what it does (the listener), `value` what it does it to (`<incident>:<role>`).
    A button with a `url` opens the link instead (the platform still reports the click)."""

    id: str
    label: str
    value: str = ""
    style: Style | None = None
    url: str | None = None


@dataclass(frozen=True)
class Heading:
    """A title line, plain text (no markup)."""

    text: str


@dataclass(frozen=True)
class Text:
    """A paragraph of markup, with at most one button beside it (a checklist item's Done); `id` lets a platform
    address it (Slack's block_id)."""

    text: str
    button: Button | None = None
    id: str | None = None


@dataclass(frozen=True)
class Fields:
    """Short facts side by side (level, declared by, countdown…), each a markup string; `text`, when given, is
    a paragraph above them that belongs with them (one Home tab incident: its line, then its facts)."""

    items: tuple[str, ...]
    text: str | None = None


@dataclass(frozen=True)
class Verbatim:
    """Text shown exactly as typed (a draft's public text): no markup, no formatting."""

    text: str
    monospace: bool = False


@dataclass(frozen=True)
class Note:
    """A small secondary line (a hint, "updated at …"), markup."""

    text: str


@dataclass(frozen=True)
class Divider:
    pass


@dataclass(frozen=True)
class Actions:
    """A row of buttons; `id` lets a platform address the row (Slack's block_id)."""

    buttons: tuple[Button, ...]
    id: str | None = None


Part = Heading | Text | Fields | Verbatim | Note | Divider | Actions


@dataclass(frozen=True)
class Message:
    """`text` is what a notification, a screen reader or a platform without rich parts shows; `parts`, when
    given, are what people see in the conversation."""

    text: str
    parts: tuple[Part, ...] = field(default_factory=tuple)


def text_with_buttons(text: str, buttons: list[Button] | tuple[Button, ...] | None = None) -> Message:
    """A paragraph and, when given, a row of buttons under it."""
    parts: list[Part] = [Text(text)]
    if buttons:
        parts.append(Actions(tuple(buttons)))
    return Message(text, tuple(parts))
