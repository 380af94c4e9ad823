"""Short posts for leadership in the announcements channel, queued in the outbox with the change they report."""

from __future__ import annotations

from bot.incidents.desk import Desk
from bot.models import Incident


def announce(desk: Desk, incident: Incident, what: str) -> None:
    """Queue `what` (declared, escalated, deescalated, resolved) if the company has an announcements channel.

    The caller holds the transaction, so the post exists exactly when the change does. A drill is never
    announced: leadership must not read an exercise as a crisis.
    """
    if desk.settings.announcements_channel and not incident.drill:
        desk.store.add_outbox(
            incident.id,
            "announce",
            desk.now(),
            what=what,
            level=incident.level,
            channel=desk.settings.announcements_channel,
        )
