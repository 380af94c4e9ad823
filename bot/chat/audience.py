"""Who may press a button of a message: the people the core's rules let do what it does, or everyone.

A platform that can show a message differently to different people (Teams' user-specific views) draws the
buttons only for them; one that cannot (Slack) shows them to all, and the verb refuses the others. Either way
the rule is the core's: `roles_of` (bot/incidents/roles.py) decides who holds a role, the approval rule and the
drafts' POSTERS/WRITERS decide which roles a button needs. Nothing here is copied from them.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat.message import Actions, Button, Message
from bot.incidents.approvals import approvers_for
from bot.incidents.desk import Desk
from bot.incidents.drafts import POSTERS, WRITERS
from bot.incidents.roles import held_roles
from bot.models import Ack, Incident

DRAFT_ROW = "draft-"  # the id bot/chat/cards.py gives a draft's row of buttons: `draft-<id>`


def _roles_for(desk: Desk, incident: Incident, button: str) -> list[str] | None:
    """The roles a draft button's verb requires (as bot/incidents/drafts.py checks them), None for any other."""
    approvers = approvers_for(desk, incident)
    return {
        "draft_approve": approvers,
        "draft_reject": approvers,
        "draft_edit": sorted({*approvers, *WRITERS}),
        "draft_redraft_time": sorted({*approvers, *WRITERS}),
        "draft_mark_posted": list(POSTERS),
        "draft_post_anyway": list(POSTERS),
    }.get(button)


def who_may_press(desk: Desk, incident: Incident, button: Button | str) -> list[str] | None:
    """The people the core would let press `button` on `incident` (sorted), None when anyone may.

    The candidates are everyone who owns, backs up or acknowledged a role; each is kept when the core's own
    rule (`roles_of`, here as `held_roles` on one read of the owners and acknowledgements) gives them one of the
    roles the verb requires."""
    return _may_press(desk, incident, button, desk.store.role_owners(), desk.store.acks(incident.id))


def _may_press(
    desk: Desk, incident: Incident, button: Button | str, owners: dict[str, list[str]], acks: dict[str, Ack]
) -> list[str] | None:
    roles = _roles_for(desk, incident, button.id if isinstance(button, Button) else button)
    if roles is None:
        return None
    wanted = set(roles)
    candidates = {u for users in owners.values() for u in users} | {ack.user for ack in acks.values()}
    return sorted(u for u in candidates if u and held_roles(owners, acks, u) & wanted)


@dataclass(frozen=True)
class Restricted:
    """A message whose buttons not everyone may press: `key` names it for a refresh (`draft:<id>`), `who` gives,
    per restricted button id, the people who may press it (buttons not named: everyone)."""

    key: str
    who: dict[str, tuple[str, ...]]

    def may_press(self, person: str | None, button: Button) -> bool:
        people = self.who.get(button.id)
        return people is None or (person is not None and person in people)

    @property
    def people(self) -> tuple[str, ...]:
        """Everyone who may press at least one restricted button, in a stable order."""
        return tuple(sorted({p for people in self.who.values() for p in people}))


def restricted(desk: Desk, message: Message) -> Restricted | None:
    """The restriction of a draft card (its row of buttons is `draft-<id>`), None for any other message."""
    for part in message.parts:
        if isinstance(part, Actions) and part.id and part.id.startswith(DRAFT_ROW):
            draft_id = part.id.removeprefix(DRAFT_ROW)
            if not draft_id.isdigit():
                return None
            incident = desk.store.incident(desk.store.draft(int(draft_id)).incident_id)
            owners, acks = desk.store.role_owners(), desk.store.acks(incident.id)  # one read for all its buttons
            who: dict[str, tuple[str, ...]] = {}
            for button in part.buttons:
                people = _may_press(desk, incident, button, owners, acks)
                if people is not None:
                    who[button.id] = tuple(people)
            return Restricted(f"draft:{draft_id}", who) if who else None
    return None
