"""A whole Crisis Desk in Teams terms for the tests: the Bot Connector emulator plus the real bot served over HTTP.

As bot/localdesk.py does for Slack: a real Desk on a real SQLite file, the real aiohttp app (the SDK's adapter and
JWT check) on a free port, the same TeamsServing `crisisbot serve` builds, one timer runner whose outbox routes to
it (bot/chat/platforms.py), and the emulator signing every activity and validating every card it is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bot.localteams import LocalTeamsDesk, start_local_teams
from bot.models import Draft, Incident
from bot.sandbox import local
from bot.sandbox.transport import BotResponse

# name → (display name, role): the demo company's cast (bot/sandbox/local.py), as Teams users
CAST: dict[str, tuple[str, str | None]] = {p.name: (p.real_name, p.role) for p in local.CAST}


def nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every object in a card, an activity or an invoke answer, depth first."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend(reversed(list(children)))


class TeamsDesk(LocalTeamsDesk):
    """bot/localteams.py's local desk with a person's-eye driver on top."""

    @property
    def store(self) -> Any:
        return self.desk.store

    # ---- driving -----------------------------------------------------------------------------------
    def say(self, who: str, text: str, where: str | None = None) -> BotResponse:
        response = self.people[who].say(text, where)
        self.settle()
        return response

    def click(self, who: str, activity_id: str, verb: str, **kwargs: Any) -> BotResponse:
        response = self.people[who].invoke_action(activity_id, verb, **kwargs)
        self.settle()
        return response

    def declare(
        self, text: str = "crisis declare data-breach 2 Customer emails exposed", who: str = "bram"
    ) -> Incident:
        self.say(who, text, self.emulator.crisis_channel)
        return self.store.incidents()[-1]

    def drafts(self, incident: Incident) -> dict[str, Draft]:
        return {d.network: d for d in self.store.drafts(incident.id)}

    def header_id(self, incident: Incident) -> str:
        ref = self.store.delivery(f"{incident.id}:header")
        assert ref, "no header"
        return str(ref)

    def dm_id(self, incident: Incident, who: str) -> str:
        ref = self.store.delivery(f"{incident.id}:dm:{self.people[who].aad_id}")
        assert ref, f"no DM to {who}"
        return str(ref).split(":", 1)[1] if ":" in str(ref) else str(ref)


def start_teams(*, locale: str = "en-US", roles: bool = True, public: bool = False, **options: Any) -> TeamsDesk:
    """Start the emulator, then the real bot against it, the cast's roles seeded; both on 127.0.0.1, free ports."""
    local = start_local_teams(factory=TeamsDesk, locale=locale, roles=roles, public=public, **options)
    assert isinstance(local, TeamsDesk)
    return local
