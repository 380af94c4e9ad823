"""The application layer on the in-memory port: a whole incident with no Slack at all (no HTTP, no emulator).

declare → acknowledge → edit → approve → posted → escalate → resolve: the core's verbs, the outbox's notices
(bot/chat/outbox.py through the scheduler's runner) and resolve's closing steps (bot/chat/closing.py) on
tests/memory_port.py. Declare's set-up is still Slack's (bot/slack/provision.py) until bot/chat/setup.py lands: here `Setup`
stands in for it (a room, invites, the header and draft cards of bot/chat/cards.py, recorded as the Provisioner
records them) and for the redraws, which are Requests's (bot/slack/requests.py) in the Slack adapter.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import ID, START
from memory_port import MemoryPort

from bot.chat import cards
from bot.chat.closing import Closer, outcome
from bot.chat.message import Actions, Message
from bot.chat.outbox import Deliverer
from bot.chat.port import Refused, Tag
from bot.chat.wording import Wording
from bot.clock import ManualClock
from bot.config import load_settings
from bot.incidents import Desk, facts, open_desk
from bot.incidents.approvals import approvers_for
from bot.incidents.declare import DeclareRequest, declare
from bot.incidents.drafts import approve_draft, edit_draft, mark_posted
from bot.incidents.escalate import escalate
from bot.incidents.lifecycle import resolve
from bot.incidents.roles import acknowledge
from bot.localdesk import CAST
from bot.models import Draft, Incident
from bot.scheduler import TimerRunner


class Setup:
    """Stand-in for declare's set-up and the redraws (bot/chat/setup.py and cards.py once they land): a room,
    its members, a header and one message per draft, recorded the way the Provisioner records them; and
    bot/chat/closing.py's Surroundings."""

    def __init__(self, desk: Desk, port: MemoryPort) -> None:
        self.desk, self.port = desk, port

    def say(self, incident: Incident) -> Wording:
        return Wording(self.desk.messages, incident.language, self.port.dialect)

    def provision(self, incident: Incident) -> list[str]:
        store, now = self.desk.store, self.desk.now()
        if incident.room_ref is None:
            room = self.port.create_room(incident.code.lower(), private=False)
            incident = facts.record(self.desk, incident, facts.RoomCreated(room.ref, room.name))
        room = str(incident.room_ref)
        level = self.desk.playbook(incident.scenario).level(incident.level)
        owners = store.role_owners()
        self.port.invite(room, [p for role in level.roles for p in owners.get(role, [])[:1]])
        if store.delivery(f"{incident.id}:header") is None:
            ref = self.port.post(room, self._header(incident), Tag(incident.code, "header"))
            store.record_deliveries(incident.id, {"header": ref}, now)
        for draft in store.drafts(incident.id):
            if draft.message_ref is None:
                ref = self.port.post(room, self._draft(incident, draft), Tag(incident.code, f"draft:{draft.id}"))
                store.update_draft(draft.id, message_ref=ref)
                store.record_deliveries(incident.id, {f"draft:{draft.id}": ref}, now)
        facts.record(self.desk, incident, facts.SetupDone())
        return []

    def redraw_header(self, incident: Incident) -> None:
        ref = str(self.desk.store.delivery(f"{incident.id}:header"))
        self.port.update(str(incident.room_ref), ref, self._header(self.desk.store.incident(incident.id)))

    def redraw_draft(self, incident: Incident, draft: Draft) -> None:
        self.port.update(str(incident.room_ref), str(draft.message_ref), self._draft(incident, draft))

    def wording_for(self, person: str) -> Wording:
        locale = self.port.locale(person) or ""
        return Wording(self.desk.messages, locale[:2] or self.desk.language, self.port.dialect)

    def _header(self, incident: Incident) -> Message:
        return cards.header_card(self.desk, incident, self.say(incident))

    def _draft(self, incident: Incident, draft: Draft) -> Message:
        return cards.draft_card(self.desk, incident, draft, self.say(incident))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Desk, MemoryPort, Setup, TimerRunner]]:
    clock = ManualClock(START)
    desk = open_desk(load_settings(environ={"CRISISBOT_DB": str(tmp_path / "crisis.db")}), clock=clock)
    port = MemoryPort()
    for person in CAST:
        port.add_person(person.id, person.real_name, "en-GB")
        if person.role:
            desk.store.set_role_owners(person.role, [person.id])
    setup = Setup(desk, port)
    yield desk, port, setup, TimerRunner(desk, Deliverer(desk, port, setup.redraw_header))


def advance(desk: Desk, runner: TimerRunner, minutes: float) -> None:
    assert isinstance(desk.clock, ManualClock)
    desk.clock.advance(minutes=minutes)
    runner.tick()


def declared(desk: Desk, setup: Setup) -> Incident:
    request = DeclareRequest(scenario="data-breach", title="Customer emails <@U0ANNA> exposed", declared_by=ID["bram"])
    incident = declare(desk, request).incident
    setup.provision(incident)
    return desk.store.incident(incident.id)


def approved(desk: Desk, incident: Incident, draft: Draft) -> Draft:
    """Approved by the owner of each role the approval rule names."""
    owners = desk.store.role_owners()
    for role in approvers_for(desk, incident):
        draft = approve_draft(desk, draft.id, draft.version, owners[role][0]).draft
    return draft


def test_a_whole_incident_runs_on_the_memory_port(world: tuple[Desk, MemoryPort, Setup, TimerRunner]) -> None:
    desk, port, setup, runner = world
    incident = declared(desk, setup)
    room = str(incident.room_ref)
    assert port.room(room).members >= {ID["anna"], ID["chen"]}

    for role, person in [("crisis_lead", "anna"), ("legal", "chen")]:
        acknowledge(desk, incident, role, ID[person])
    advance(desk, runner, 30)  # the first-response reminder, addressed from the row's roles
    reminder = next(t for t in port.texts(room) if "30 minutes left" in t)
    assert f"@{ID['anna']}" in reminder and f"@{ID['bram']}" in reminder

    draft = next(d for d in desk.store.drafts(incident.id) if d.network == "x")
    draft = edit_draft(desk, draft.id, ID["bram"], "We are looking into it.", draft.version).draft
    setup.redraw_draft(incident, draft)
    draft = approved(desk, incident, draft)
    posted = mark_posted(desk, draft.id, draft.version, ID["bram"])
    assert posted.first_response

    escalate(desk, incident, 3, ID["anna"])
    setup.provision(desk.store.incident(incident.id))
    advance(desk, runner, 5)

    resolved = resolve(desk, desk.store.incident(incident.id), ID["anna"], "Contained", lessons="Rotate keys")
    closer = Closer(desk, port, setup.wording_for)
    result = closer.run(resolved.incident)
    assert result.complete, result.failed
    closing = port.tagged(room, "closing")
    assert len(closing) == 1 and "Contained" in closing[0].text and f"@{ID['anna']}" in closing[0].text
    assert [u.filename for u in port.room(room).uploads] == [
        f"report-{incident.code}.md",
        f"report-{incident.code}.png",
    ]
    surveyed = {ref.split(":", 1)[0] for key, ref in desk.store.deliveries(incident.id).items() if ":survey:" in key}
    assert f"D{ID['anna']}" in surveyed and f"D{ID['bram']}" in surveyed
    header = port.message(room, str(desk.store.delivery(f"{incident.id}:header")))
    assert header.edits and not any(isinstance(p, Actions) for p in header.message.parts)  # no buttons left
    assert "＠U0ANNA" in header.message.text or "＠U0ANNA" in str(header.message.parts)  # the title stays inert
    assert not closer.pending(desk.store.incident(incident.id))


def test_a_refused_closing_step_is_named_and_a_rerun_does_only_it(
    world: tuple[Desk, MemoryPort, Setup, TimerRunner],
) -> None:
    desk, port, setup, _ = world
    incident = declared(desk, setup)
    resolve(desk, incident, ID["anna"], "Contained")
    port.fail("upload", Refused("ratelimited"))
    closer = Closer(desk, port, setup.wording_for)
    first = closer.run(incident)
    assert first.failed == ["report"]
    told = outcome(first.incident, first, setup.say(incident), rerun=False)
    assert "resolve_retry" in [b.id for part in told.parts if hasattr(part, "buttons") for b in part.buttons]

    again = closer.run(incident)
    assert again.complete and again.did == ["report"]
    assert len(port.tagged(str(incident.room_ref), "closing")) == 1


def test_a_closing_message_whose_answer_was_lost_is_found_by_its_tag_not_posted_again(
    world: tuple[Desk, MemoryPort, Setup, TimerRunner],
) -> None:
    desk, port, setup, _ = world
    incident = declared(desk, setup)
    resolve(desk, incident, ID["anna"], "Contained")
    port.fail("post", OSError("timed out"), lost=True)  # the platform posted it; the bot never heard
    closer = Closer(desk, port, setup.wording_for)
    assert "closing" in closer.run(incident).failed
    assert closer.run(incident).complete
    assert len(port.tagged(str(incident.room_ref), "closing")) == 1


def test_an_outbox_post_whose_answer_was_lost_goes_out_once(
    world: tuple[Desk, MemoryPort, Setup, TimerRunner],
) -> None:
    desk, port, setup, runner = world
    incident = declared(desk, setup)
    room = str(incident.room_ref)
    port.fail("post", OSError("timed out"), lost=True)
    advance(desk, runner, 30)
    advance(desk, runner, timedelta(minutes=1).total_seconds() / 60)  # the runner's retry, 20 s later
    assert sum("30 minutes left" in t for t in port.texts(room)) == 1


def test_the_update_reminder_names_every_role_the_core_addressed(
    world: tuple[Desk, MemoryPort, Setup, TimerRunner],
) -> None:
    desk, port, setup, runner = world
    incident = declared(desk, setup)
    draft = next(d for d in desk.store.drafts(incident.id) if d.network == "x")
    draft = approved(desk, incident, draft)
    mark_posted(desk, draft.id, draft.version, ID["bram"])
    advance(desk, runner, 24 * 60)
    reminders = [t for t in port.texts(str(incident.room_ref)) if "update" in t.lower() and "due" in t.lower()]
    row = next(m for m in desk.store.outbox(incident.id) if m.kind == "update_reminder")
    assert row.data["roles"] == ["communications", "social_media_manager"]
    assert reminders and f"@{ID['bram']}" in reminders[0]  # the social media manager, not only communications
