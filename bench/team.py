"""Driving a local Crisis Desk the way people do: assign roles, declare, and read back what was made."""

from __future__ import annotations

from bot.localdesk import CAST, LocalCrisisDesk
from bot.models import Incident
from bot.sandbox.transport import BotResponse

ID = {person.name: person.id for person in CAST}
# Four roles with owners; tech_lead stays unassigned, so data-breach level 2 has four of its five roles owned.
STAFF = {"crisis_lead": "anna", "social_media_manager": "bram", "legal": "chen", "communications": "dewi"}
DECLARER = "bram"


def command(local: LocalCrisisDesk, who: str, text: str) -> BotResponse:
    response = local.emulator.slash_command(ID[who], text)
    local.settle(timeout=60)
    if response.status != 200:
        raise RuntimeError(f"/crisis {text} answered HTTP {response.status}: {response.body[:200]}")
    return response


def staff(local: LocalCrisisDesk) -> None:
    """Give the roles in STAFF their owners (anna, the first crisis lead, assigns them all)."""
    for role, who in STAFF.items():
        command(local, "anna", f"roles set {role} <@{ID[who]}|{who}>")


def declare(local: LocalCrisisDesk, scenario: str, title: str, level: int = 2) -> Incident:
    command(local, DECLARER, f"declare {scenario} {level} {title}")
    return latest(local)


def latest(local: LocalCrisisDesk) -> Incident:
    row = local.desk.store.db.execute("SELECT MAX(id) FROM incidents").fetchone()
    return local.desk.store.incident(int(row[0]))


def ready(local: LocalCrisisDesk, incident: Incident) -> bool:
    """Channel made, header pinned, every draft posted, and the bot marked the set-up complete."""
    store = local.desk.store
    incident = store.incident(incident.id)
    return bool(
        incident.room_ref
        and local.emulator.pins(incident.room_ref)
        and all(d.message_ref for d in store.drafts(incident.id))
        and incident.setup_done_at
    )
