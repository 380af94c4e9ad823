"""The drill mark: every message about a drill says so in its first line, on every platform.

The layer's card builders (bot/chat/cards.py) and senders (set-up, outbox, closing, private notices) apply it, so
no exercise can be read as a crisis, whichever message a person sees first (a DM, a notification, a redraw).
"""

from __future__ import annotations

import dataclasses

from bot.chat.message import Heading, Message, Note, Text
from bot.chat.wording import Wording
from bot.incidents.desk import Desk
from bot.models import Incident


def marked(message: Message, incident: Incident | None, say: Wording) -> Message:
    """`message` with the drill mark in its first line when it is about a drill (unchanged otherwise, and when
    marked already: a heading that names the drill, or a first paragraph that starts with the mark)."""
    if incident is None or not incident.drill:
        return message
    mark = say("exercise.marker")
    text = message.text if message.text.startswith(mark) else f"{mark} {message.text}"
    parts = message.parts
    first = parts[0] if parts else None
    if isinstance(first, Text) and not first.text.startswith(mark):
        parts = (dataclasses.replace(first, text=f"{mark} {first.text}"), *parts[1:])
    elif parts and not isinstance(first, Heading | Text):
        parts = (Note(mark), *parts)
    return Message(text, parts)


def marked_text(text: str, incident: Incident | None, say: Wording) -> str:
    """A plain text (an upload's comment) with the drill mark in front when it is about a drill."""
    if incident is None or not incident.drill:
        return text
    mark = say("exercise.marker")
    return text if text.startswith(mark) else f"{mark} {text}"


def answer_in(desk: Desk, room: str | None, text: str, say: Wording) -> str:
    """A private answer to someone who typed or clicked in `room`: marked when `room` is a drill's (what a
    person is told in an exercise's room reads as the exercise it is, like everything else the bot says there)."""
    incident = desk.store.incident_by_room(room) if room else None
    return marked_text(text, incident, say)
