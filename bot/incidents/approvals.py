"""The approval rule: which roles must approve a public draft, and who already did for its version."""

from __future__ import annotations

from bot.incidents.desk import Desk
from bot.models import Approval, Draft, Incident


def approvers_for(desk: Desk, incident: Incident) -> list[str]:
    return list(desk.playbook(incident.scenario).level(incident.level).approvers)


def approval_state(desk: Desk, incident: Incident, draft: Draft) -> dict[str, Approval | None]:
    """Each required approver role → its approval of the draft's current version (or None)."""
    given = {a.role: a for a in desk.store.approvals(draft.id, draft.version) if a.decision == "approved"}
    return {role: given.get(role) for role in approvers_for(desk, incident)}
