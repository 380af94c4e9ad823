"""A drill in Teams through the front door: the same injects, drill mark, refusal and scorecard as in Slack,
drawn as Adaptive Cards the emulator checks against the schema."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import ManualClock
from tests.teams_harness import TeamsDesk, start_teams
from tests.test_teams_flow import _submit_of, replies, resolve_by_dialog

START = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


@pytest.fixture
def teams() -> Iterator[TeamsDesk]:
    with start_teams(clock=ManualClock(START)) as local:
        yield local
        assert local.emulator.problems == []  # every card valid, nothing refused for its content


def test_a_drill_in_teams_posts_its_injects_refuses_a_real_declare_in_its_thread_and_scores(teams: TeamsDesk) -> None:
    teams.say("gijs", "crisis drill data-breach 2", teams.emulator.crisis_channel)
    drill = teams.store.incidents()[-1]
    room = drill.room_ref or ""
    assert drill.drill and drill.code == "DR-2026-001"
    assert all(text.startswith("🧪") for text in replies(teams, room)), replies(teams, room)
    teams.desk.clock.set(START + timedelta(minutes=5))
    teams.tick()
    assert "Inject 1/7" in replies(teams, room)[-1] and "2,000 reposts on X" in replies(teams, room)[-1]

    teams.say("anna", "crisis declare data-breach 3 A real leak", room)
    assert "This is the drill room of DR-2026-001; nothing was changed" in replies(teams, room)[-1]
    assert len(teams.store.incidents()) == 1

    resolve_by_dialog(teams, drill, "Drill over")
    [scored] = teams.store.events(drill.id, "drill_scored")
    card = [text for text in replies(teams, room) if "scorecard" in text]
    assert len(card) == 1 and f"{scored.data['score']}/100" in card[0] and "0 of 1 answered in time" in card[0]


def test_the_declare_dialogs_drill_choice_declares_a_drill(teams: TeamsDesk) -> None:
    teams.say("anna", "crisis", teams.emulator.crisis_channel)
    thread = teams.emulator.threads()[-1]
    anna = teams.people["anna"]
    anna.fetch_task(_submit_of(teams.emulator.card_of(teams.emulator.activities(thread)[-1]["id"])), where=thread)
    submit = {**_submit_of(anna.open_dialog), "scenario": "service-outage", "level": "2", "title": "Rehearsal"}
    anna.submit_task({**submit, "drill": "true"}, where=thread)
    teams.settle()
    incident = teams.store.incidents()[-1]
    assert incident.drill and incident.code == "DR-2026-001" and incident.platform == "teams"
