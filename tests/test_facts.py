"""Facts a chat adapter learns reach the incident's history through bot/incidents/facts.py, with no platform."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import START

from bot.clock import ManualClock
from bot.config import load_settings
from bot.incidents import Desk, facts, open_desk
from bot.incidents.declare import DUPLICATE_WINDOW, DeclareRequest, declare, find_repeat

REQUEST = DeclareRequest(scenario="data-breach", level=2, title="Customer emails exposed", declared_by="U1")


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    desk = open_desk(load_settings(environ={"CRISISBOT_DB": str(tmp_path / "crisis.db")}), clock=ManualClock(START))
    try:
        yield desk
    finally:
        desk.store.close()


def test_the_room_created_is_on_the_timeline_and_on_the_incident(desk: Desk) -> None:
    incident = declare(desk, REQUEST).incident
    incident = facts.record(desk, incident, facts.RoomCreated("C1", "crisis-customer-emails"))
    assert (incident.room_ref, incident.room_name) == ("C1", "crisis-customer-emails")
    [created] = desk.store.events(incident.id, "channel_created")
    assert created.data == {"channel": "C1", "name": "crisis-customer-emails"}


def test_paging_and_refused_steps_are_on_the_timeline(desk: Desk) -> None:
    incident = declare(desk, REQUEST).incident
    facts.record(desk, incident, facts.PersonPaged("U2", ["legal"]))
    facts.record(desk, incident, facts.SetupFailed(["pin"]))
    facts.record(desk, incident, facts.ClosingFailed(["archive"]))
    kinds = [(e.kind, e.data) for e in desk.store.events(incident.id)][-3:]
    assert kinds == [
        ("pinged", {"user": "U2", "roles": ["legal"]}),
        ("setup_failed", {"steps": ["pin"]}),
        ("closing_failed", {"steps": ["archive"]}),
    ]


def test_a_declare_not_fully_set_up_is_resumed_after_the_window_one_set_up_is_not(desk: Desk) -> None:
    clock = desk.clock
    assert isinstance(clock, ManualClock)
    incident = declare(desk, REQUEST).incident
    clock.advance(seconds=DUPLICATE_WINDOW.total_seconds() + 1)
    assert find_repeat(desk, REQUEST) == incident  # never set up: the same declare finishes it
    timeline = desk.store.events(incident.id)
    done = facts.record(desk, incident, facts.SetupDone())
    assert done.setup_done_at == desk.now()
    clock.advance(minutes=1)
    assert facts.record(desk, done, facts.SetupDone()).setup_done_at == done.setup_done_at  # the first one counts
    assert find_repeat(desk, REQUEST) is None
    assert desk.store.events(incident.id) == timeline  # a marker on the incident, not a timeline entry
