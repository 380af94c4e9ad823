"""What the bot says on its own initiative after a person's action: one handler per notice kind.

A verb queues its notice as an outbox row in its own transaction (`bot/incidents/escalate.py`, `drafts.mark_posted`,
`lifecycle.post_status_update`, `checklist.gdpr_notified`), so the notice exists exactly when the change does; the
outbox delivers it with the retries and the crash-exactness of a timer's reminder, flushed right after the request
(`bot/chat/after.py`). Before, these were best-effort posts from the listener: a refusal or a crash lost them.

Each handler says what the row's notice is, to whom, with which buttons, as neutral messages; the deliverer sends
them. Answers to the person who acted (a refusal, "recorded") are not notices: the listener gives them directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.chat.cards import first_response_rule
from bot.chat.message import Actions, Button, Message, Text
from bot.chat.wording import Wording
from bot.incidents.desk import Desk
from bot.messages import duration
from bot.models import Incident, OutboxMessage

SECTION_LIMIT = 3000  # a notification's text is cut where a section's would be


@dataclass(frozen=True)
class Notice:
    """One message of a notice: `to` a person (privately), or None for the incident's room."""

    message: Message
    to: str | None = None


NoticeMaker = Callable[[Desk, Incident, OutboxMessage, Wording], list[Notice]]


def buttons_of(message: Message) -> list[Button]:
    """A notice's buttons (it is a paragraph with at most one row of them), for a deliverer that posts text and
    buttons."""
    return [button for part in message.parts if isinstance(part, Actions) for button in part.buttons]


def escalation(desk: Desk, incident: Incident, row: OutboxMessage, say: Wording) -> list[Notice]:
    """The level changed: who did it, and which roles the new level pulls in."""
    level = row.data["level"]
    key = "escalate.up" if level > row.data["previous"] else "escalate.down"
    text = say(
        key,
        user=say.mention(row.data["by"]),
        code=incident.code,
        level=level,
        roles=", ".join(say.role(r) for r in row.data.get("new_roles", [])),
    )
    return [Notice(Message(text, (Text(text),)))]


def first_response(desk: Desk, incident: Incident, row: OutboxMessage, say: Wording) -> list[Notice]:
    """The first public response is out: how long it took, against the playbook's rule."""
    responded = incident.first_response_at or row.created_at
    key = "posted.first_late" if responded > incident.first_response_due else "posted.first"
    minutes = desk.playbook(incident.scenario).deadlines.first_response_minutes
    text = say(
        key,
        rule=first_response_rule(say, minutes),
        network=say.network(row.data["network"]),
        user=say.mention(row.data["by"]),
        took=duration(responded - incident.detected_at, say.language),
    )
    return [Notice(Message(text, (Text(text),)))]


def internal_update(desk: Desk, incident: Incident, row: OutboxMessage, say: Wording) -> list[Notice]:
    """The internal update in the room, with a button that turns it into public update drafts."""
    body = say("update.posted", user=say.mention(row.data["by"]), text=row.data["text"])
    button = Button("draft_update", say("button.public_update"), f"{incident.id}:{row.data['event_id']}")
    return [Notice(Message(say.dialect.fit(body, SECTION_LIMIT), (Text(body), Actions((button,)))))]


def authority_notified(desk: Desk, incident: Incident, row: OutboxMessage, say: Wording) -> list[Notice]:
    """The data-protection authority was recorded as notified: the 72-hour clock stopped."""
    text = say("gdpr.notified", user=say.mention(row.data["by"]))
    return [Notice(Message(text, (Text(text),)))]


# Kind → handler: the kinds `bot/incidents/` queues after a person's action (the timers' kinds are the deliverer's).
NOTICES: dict[str, NoticeMaker] = {
    "escalation": escalation,
    "first_response": first_response,
    "internal_update": internal_update,
    "authority_notified": authority_notified,
}
