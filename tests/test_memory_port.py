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

from bot.chat.after import Unheld
from bot.chat.closing import outcome
from bot.chat.flow import Flow
from bot.chat.message import Actions
from bot.chat.outbox import Deliverer
from bot.chat.people import Languages
from bot.chat.port import Refused
from bot.clock import ManualClock
from bot.config import load_settings
from bot.incidents import Desk, open_desk
from bot.incidents.approvals import approvers_for
from bot.incidents.declare import DeclareRequest
from bot.incidents.drafts import approve_draft, edit_draft, mark_posted
from bot.incidents.lifecycle import resolve
from bot.incidents.roles import acknowledge
from bot.localdesk import CAST
from bot.models import Draft, Incident
from bot.scheduler import TimerRunner


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Desk, MemoryPort, Flow, TimerRunner]]:
    clock = ManualClock(START)
    desk = open_desk(load_settings(environ={"CRISISBOT_DB": str(tmp_path / "crisis.db")}), clock=clock)
    port = MemoryPort()
    for person in CAST:
        port.add_person(person.id, person.real_name, "en-GB")
        if person.role:
            desk.store.set_role_owners(person.role, [person.id])
    flow = Flow(desk, port, Languages(desk, port.dialect), Unheld())
    runner = TimerRunner(desk, Deliverer(desk, port, lambda incident: flow.after().refresh_header(incident, True)))
    flow.outbox = runner  # the notices a verb queued go out right after its redraws, as in the Slack adapter
    yield desk, port, flow, runner


def advance(desk: Desk, runner: TimerRunner, minutes: float) -> None:
    assert isinstance(desk.clock, ManualClock)
    desk.clock.advance(minutes=minutes)
    runner.tick()


def declared(desk: Desk, flow: Flow) -> Incident:
    """Declared and set up by the application layer (bot/chat/setup.py), the declarer told how it went."""
    request = DeclareRequest(scenario="data-breach", title="Customer emails <@U0ANNA> exposed", declared_by=ID["bram"])
    answers: list[str] = []

    def told(text: str) -> bool:  # the platform took the answer
        answers.append(text)
        return True

    incident = flow.declare(request, answers.append, told)
    assert answers, "the declarer is told"
    return desk.store.incident(incident.id)


def approved(desk: Desk, incident: Incident, draft: Draft, flow: Flow | None = None) -> Draft:
    """Approved by the owner of each role the approval rule names (each approval redrawn, given a `flow`)."""
    owners = desk.store.role_owners()
    for role in approvers_for(desk, incident):
        outcome = approve_draft(desk, draft.id, draft.version, owners[role][0])
        if flow is not None:
            flow.after().after_draft_change(outcome)
        draft = outcome.draft
    return draft


def test_a_whole_incident_runs_on_the_memory_port(world: tuple[Desk, MemoryPort, Flow, TimerRunner]) -> None:
    desk, port, flow, runner = world
    incident = declared(desk, flow)
    room = str(incident.room_ref)
    assert port.room(room).members >= {ID["anna"], ID["chen"]}

    for role, person in [("crisis_lead", "anna"), ("legal", "chen")]:
        acknowledge(desk, incident, role, ID[person])
    advance(desk, runner, 30)  # the first-response reminder, addressed from the row's roles
    reminder = next(t for t in port.texts(room) if "30 minutes left" in t)
    assert f"@{ID['anna']}" in reminder and f"@{ID['bram']}" in reminder

    draft = next(d for d in desk.store.drafts(incident.id) if d.network == "x")
    edited = edit_draft(desk, draft.id, ID["bram"], "We are looking into it.", draft.version)
    flow.after().after_draft_change(edited)
    draft = approved(desk, incident, edited.draft, flow)
    posted = mark_posted(desk, draft.id, draft.version, ID["bram"])
    flow.after().after_draft_change(posted)
    assert posted.first_response

    flow.escalate(desk.store.incident(incident.id), 3, ID["anna"])
    advance(desk, runner, 5)

    resolved = resolve(desk, desk.store.incident(incident.id), ID["anna"], "Contained", lessons="Rotate keys")
    closer = flow.closer()
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
    world: tuple[Desk, MemoryPort, Flow, TimerRunner],
) -> None:
    desk, port, flow, _ = world
    incident = declared(desk, flow)
    resolve(desk, incident, ID["anna"], "Contained")
    port.fail("upload", Refused("ratelimited"))
    closer = flow.closer()
    first = closer.run(incident)
    assert first.failed == ["report"]
    told = outcome(first.incident, first, flow.languages.wording(incident.language), rerun=False)
    assert "resolve_retry" in [b.id for part in told.parts if hasattr(part, "buttons") for b in part.buttons]

    again = closer.run(incident)
    assert again.complete and again.did == ["report"]
    assert len(port.tagged(str(incident.room_ref), "closing")) == 1


def test_a_closing_message_whose_answer_was_lost_is_found_by_its_tag_not_posted_again(
    world: tuple[Desk, MemoryPort, Flow, TimerRunner],
) -> None:
    desk, port, flow, _ = world
    incident = declared(desk, flow)
    resolve(desk, incident, ID["anna"], "Contained")
    port.fail("post", OSError("timed out"), lost=True)  # the platform posted it; the bot never heard
    closer = flow.closer()
    assert "closing" in closer.run(incident).failed
    assert closer.run(incident).complete
    assert len(port.tagged(str(incident.room_ref), "closing")) == 1


def test_an_outbox_post_whose_answer_was_lost_goes_out_once(
    world: tuple[Desk, MemoryPort, Flow, TimerRunner],
) -> None:
    desk, port, flow, runner = world
    incident = declared(desk, flow)
    room = str(incident.room_ref)
    port.fail("post", OSError("timed out"), lost=True)
    advance(desk, runner, 30)
    advance(desk, runner, timedelta(minutes=1).total_seconds() / 60)  # the runner's retry, 20 s later
    assert sum("30 minutes left" in t for t in port.texts(room)) == 1


def test_the_update_reminder_names_every_role_the_core_addressed(
    world: tuple[Desk, MemoryPort, Flow, TimerRunner],
) -> None:
    desk, port, flow, runner = world
    incident = declared(desk, flow)
    draft = next(d for d in desk.store.drafts(incident.id) if d.network == "x")
    draft = approved(desk, incident, draft)
    mark_posted(desk, draft.id, draft.version, ID["bram"])
    advance(desk, runner, 24 * 60)
    reminders = [t for t in port.texts(str(incident.room_ref)) if "update" in t.lower() and "due" in t.lower()]
    row = next(m for m in desk.store.outbox(incident.id) if m.kind == "update_reminder")
    assert row.data["roles"] == ["communications", "social_media_manager"]
    assert reminders and f"@{ID['bram']}" in reminders[0]  # the social media manager, not only communications
