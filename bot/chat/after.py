"""What the bot redraws after each verb, and when the notices the verb queued go out.

A verb changes the store in one transaction and queues the notices people must hear of it (`bot/chat/notices.py`);
this layer then redraws what shows the change (the pinned header, a draft's message, a person's page) through
the port, and delivers the incident's queued rows right after, through the outbox (`Outbox.holding`): retried
and crash-exact like a timer's reminder, yet as prompt as the post the listener used to make itself.

A redraw that fails is logged, not raised: the state is saved, and the next redraw of that message shows it. Only
the outbox's own header redraw is `strict`, so its runner retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

from bot.chat import cards
from bot.chat.message import Button, Message, text_with_buttons
from bot.chat.port import Port, Refused
from bot.chat.wording import Wording
from bot.incidents.desk import Desk
from bot.incidents.drafts import DraftOutcome
from bot.incidents.escalate import Escalated, escalate
from bot.models import Draft, Incident

log = logging.getLogger("crisisbot.chat")


class Outbox(Protocol):
    """The outbox runner, as a request uses it: hold an incident's new rows, deliver them when done."""

    def holding(self, incident_id: int) -> AbstractContextManager[None]: ...


class Unheld:
    """No runner (a one-shot tool): the rows wait for the next tick."""

    def holding(self, incident_id: int) -> AbstractContextManager[None]:
        return nullcontext()


class After:
    """The after-verb policy of one request, on one port."""

    def __init__(self, desk: Desk, port: Port, outbox: Outbox, wording: Callable[[str], Wording]) -> None:
        self.desk, self.port, self.outbox = desk, port, outbox
        self.wording = wording  # the incident's wording in a language

    # ---- after a verb ----------------------------------------------------------------------------------------
    def after_draft_change(self, outcome: DraftOutcome) -> None:
        """Redraw the draft; when this was the first public response, the header too (its note is a notice)."""
        with self.outbox.holding(outcome.incident.id):
            self.refresh_draft(outcome.incident, outcome.draft)
            if not outcome.changed:  # a repeat click: the redraw repairs a message a refused update left stale
                return
            if outcome.draft.status == "posted":  # the header lists what is out where, and stops the countdown
                self.refresh_header(outcome.incident)

    def escalate(
        self,
        incident: Incident,
        level: int | None,
        user: str,
        step: int = 0,
        provision: Callable[[Incident], object] = lambda incident: None,
    ) -> Escalated:
        """Change the level (to `level`, or `step` from where it is), then page whoever it pulls in (`provision`)
        and redraw everything the rule touches; the notice the verb queued goes out after the redraws."""
        with self.outbox.holding(incident.id):
            outcome = escalate(self.desk, incident, level, user, step)
            provision(outcome.incident)
            self.refresh_header(outcome.incident)
            for draft in outcome.changed_drafts:
                self.refresh_draft(outcome.incident, draft)
        return outcome

    def delivered(self, incident: Incident) -> None:
        """A verb that redraws nothing queued a notice: deliver it now rather than at the next wake-up."""
        with self.outbox.holding(incident.id):
            pass

    # ---- redraws ---------------------------------------------------------------------------------------------
    def refresh_header(self, incident: Incident, strict: bool = False) -> None:
        """Redraw the pinned header; `strict` raises when the platform refuses (for the outbox to retry)."""
        ref = self.desk.store.delivery(f"{incident.id}:header")
        if not (ref and incident.room_ref):
            return
        self._update(
            incident.room_ref, ref, cards.header_card(self.desk, incident, self.wording(incident.language)), strict
        )

    def refresh_draft(self, incident: Incident, draft: Draft, strict: bool = False) -> None:
        """Redraw a draft's message; `strict` raises when the platform refuses (for a step that is re-run)."""
        if not (draft.message_ref and incident.room_ref):
            return
        message = cards.draft_card(self.desk, incident, draft, self.wording(incident.language))
        self._update(incident.room_ref, draft.message_ref, message, strict)

    def refresh_dm(self, incident: Incident, user: str) -> None:
        """Redraw the page a person got for their roles (their Acknowledge buttons)."""
        ref = self.desk.store.delivery(f"{incident.id}:dm:{user}")
        if not ref:
            return
        room, message_ref = ref.split(":", 1)
        roles = [r for r, who in owners_in(self.desk, incident).items() if who == user]
        url = self.port.dialect.room_url(incident.room_ref)
        card = cards.role_dm_card(self.desk, incident, user, roles, self.wording(incident.language), url)
        self._update(room, message_ref, card)

    def _update(self, room: str, ref: str, message: Message, strict: bool = False) -> None:
        if strict:
            self.port.update(room, ref, message)
            return
        try:
            self.port.update(room, ref, message)
        except (Refused, OSError) as exc:  # a timeout too: what follows a redraw must still happen
            # The state is already saved; the next redraw of this message shows it.
            log.warning("update %s/%s failed: %s", room, ref, exc)


def owners_in(desk: Desk, incident: Incident) -> dict[str, str | None]:
    """Who owns each role of the incident's level now (the first owner), None for a role nobody owns."""
    owners = desk.store.role_owners()
    level = desk.playbook(incident.scenario).level(incident.level)
    return {role: next(iter(owners.get(role) or []), None) for role in level.roles}


def promise_warning(text: str, value: str, say: Wording) -> Message:
    """The text promises an update that is (nearly) due: `text` says so, with a redraft and a post-anyway button."""
    buttons = [
        Button("draft_redraft_time", say("promise.button_redraft"), value, style="primary"),
        Button("draft_post_anyway", say("promise.button_anyway"), value),
    ]
    return text_with_buttons(text, buttons)
