"""One outbox for every chat platform this process serves: each row goes out on its incident's platform.

The scheduler's runner (bot/scheduler.py) holds one `Deliverer`; with Slack and Teams in one process that is a
`Platforms`, which looks up the incident's platform (`Incident.platform`) and hands the row to that platform's own
deliverer (bot/chat/outbox.py on the platform's port). A row for a platform this process does not serve (a Teams
incident while only Slack is served) is not attempted: it waits, logged once, for a process that serves it.
"""

from __future__ import annotations

import logging

from bot.incidents.desk import Desk
from bot.models import OutboxMessage
from bot.scheduler import Deliverer, Waiting

log = logging.getLogger("crisisbot.chat")


class Platforms:
    """bot/scheduler.py's Deliverer over the platforms served here, by name (`slack`, `teams`)."""

    def __init__(self, desk: Desk, deliverers: dict[str, Deliverer] | None = None) -> None:
        self.desk = desk
        self.deliverers: dict[str, Deliverer] = dict(deliverers or {})

    def serve(self, platform: str, deliverer: Deliverer) -> None:
        """Deliver `platform`'s rows through `deliverer` from now on."""
        self.deliverers[platform] = deliverer

    def deliver(self, message: OutboxMessage) -> None:
        self._for(message).deliver(message)

    def report_failure(self, message: OutboxMessage, error: str) -> None:
        self._for(message).report_failure(message, error)

    def _for(self, message: OutboxMessage) -> Deliverer:
        if message.triage_id is not None:  # a triage card goes to the watch channel's platform
            triage = self.desk.store.triage(message.triage_id)
            what, platform = f"triage {triage.id}", triage.platform or ""
        elif message.incident_id == 0:  # drills: schedules (a heads-up of no incident yet names its platform)
            what, platform = "a drill heads-up", str(message.data.get("platform", "slack"))
        else:
            incident = self.desk.store.incident(message.incident_id or 0)
            what, platform = incident.code, incident.platform
        deliverer = self.deliverers.get(platform)
        if deliverer is None:
            served = ", ".join(sorted(self.deliverers)) or "none"
            raise Waiting(
                f"{what} lives on {platform}, which this process does not serve (served: {served}); "
                f"it goes out once `crisisbot serve --platform {platform}` (or both) runs on this database"
            )
        return deliverer
