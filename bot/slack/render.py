"""Block Kit for neutral messages (`bot/chat/message.py`): each part drawn with slack_sdk's models, within
Slack's documented limits. The parts' text is mrkdwn already (the Wording escaped user values), so drawing
only arranges it and cuts what escaping made too long, without splitting an entity or a mention."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.chat.message import Actions, Button, Divider, Fields, Heading, Message, Note, Part, Text, Verbatim
from bot.chat.message import text_with_buttons as _text_with_buttons
from bot.slack.text import escape_entities, fit, pieces

# Slack's documented limits for the fields the bot fills (Block Kit reference)
SECTION_LIMIT = 3000  # a section's text, a context element's text
FIELD_LIMIT = 2000  # each of a section's fields
HEADER_LIMIT = 150
BUTTON_LIMIT = 75
MESSAGE_LIMIT = 40_000  # a message's top-level text (Slack answers msg_too_long past it)
CODE_FENCE = 8  # "```" on both sides, with room to spare: a code block's piece plus its fences fits a section


def blocks(message: Message) -> list[dict[str, Any]]:
    """The message's parts as Block Kit blocks (a message without parts has none: its text is all)."""
    return as_dicts([block for part in message.parts for block in part_blocks(part)])


def plain(text: str) -> list[dict[str, Any]]:
    """A single mrkdwn section: for ephemeral replies."""
    return blocks(_text_with_buttons(text))


def part_blocks(part: Part) -> list[Block]:
    """One part as the blocks that draw it (a long verbatim text takes several sections)."""
    match part:
        case Heading(text):
            return [HeaderBlock(text=pt(text, HEADER_LIMIT))]
        case Text(text, accessory, block_id):
            return [SectionBlock(block_id=block_id, text=md(text), accessory=button(accessory) if accessory else None)]
        case Fields(items, text):
            fields = [md(item, FIELD_LIMIT) for item in items]
            return [SectionBlock(text=md(text) if text is not None else None, fields=fields)]
        case Verbatim(text, monospace):
            return _verbatim(text) if monospace else _plain_sections(text)
        case Note(text):
            return [ContextBlock(elements=[md(text)])]
        case Divider():
            return [DividerBlock()]
        case Actions(buttons, block_id):
            return [ActionsBlock(block_id=block_id, elements=[button(b) for b in buttons])]
    raise TypeError(f"not a message part: {part!r}")


def _verbatim(text: str) -> list[Block]:
    """Text as typed in code blocks: only `& < >` escaped, cut where no entity splits, each piece fenced."""
    return [
        SectionBlock(text=md(f"```{piece}```")) for piece in pieces(escape_entities(text), SECTION_LIMIT - CODE_FENCE)
    ]


def _plain_sections(text: str) -> list[Block]:
    """Text as typed in plain-text sections (no mrkdwn, no emoji codes), in as many as its length needs."""
    chunks = [text[i : i + SECTION_LIMIT] for i in range(0, len(text), SECTION_LIMIT)] or [""]
    return [SectionBlock(text=PlainTextObject(text=chunk, emoji=False)) for chunk in chunks]


def button(b: Button) -> ButtonElement:
    """A neutral button as Block Kit's: a link button (`url`) carries no value."""
    return ButtonElement(
        text=pt(b.label, BUTTON_LIMIT), action_id=b.id, value=b.value or None, style=b.style, url=b.url
    )


def as_dicts(blocks: list[Block]) -> list[dict[str, Any]]:
    return [b.to_dict() for b in blocks]


def md(text: str, limit: int = SECTION_LIMIT) -> MarkdownTextObject:
    """A mrkdwn text object that fits Slack's limit for where it goes, however long escaping made it."""
    return MarkdownTextObject(text=fit(text, limit))


def pt(text: str, limit: int, emoji: bool = True) -> PlainTextObject:
    return PlainTextObject(text=fit(text, limit) or "—", emoji=emoji)
