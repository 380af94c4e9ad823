"""Scheduled drills on Teams: scheduled by a message to the bot, the heads-up in the lead's 1:1 chat, and the drill
started by its timer set up as a thread of the crisis channel, like a typed drill."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import ManualClock
from tests.teams_harness import TeamsDesk, start_teams

START = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)  # a Saturday, 10:00 in Amsterdam
MONDAY_10 = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)


@pytest.fixture
def teams() -> Iterator[TeamsDesk]:
    with start_teams(clock=ManualClock(START)) as local:
        yield local
        assert local.emulator.problems == []


def chat_text(teams: TeamsDesk, who: str) -> str:
    return json.dumps(teams.emulator.chat(teams.people[who]), ensure_ascii=False)


def said(teams: TeamsDesk) -> str:
    """Everything the bot posted (threads, replies, 1:1 chats), as the emulator saw it."""
    return "\n".join(e.text for e in teams.emulator.events if e.user == teams.emulator.bot_name)


def test_a_drill_scheduled_in_teams_starts_there_by_itself(teams: TeamsDesk) -> None:
    typed = "crisis drill schedule data-breach every 2 weeks on monday at 10:00"
    teams.say("anna", typed, teams.emulator.crisis_channel)
    [made] = teams.store.schedules()
    assert made.platform == "teams" and made.next_start_at == MONDAY_10
    assert "Drill scheduled: **1**" in said(teams), said(teams)  # Teams' markdown, not Slack's

    teams.desk.clock.set(MONDAY_10 - timedelta(days=1))
    teams.tick()
    assert "DRILL heads-up" in chat_text(teams, "anna")
    assert "drill (level 2) starts on Monday 16 Mar, 10:00" in chat_text(teams, "bram")

    teams.desk.clock.set(MONDAY_10)
    teams.tick()
    [drill] = teams.store.incidents()
    assert drill.drill and drill.platform == "teams" and drill.declared_by == "bot"
    assert drill.setup_done_at is not None and drill.room_ref
    assert "🧪 DRILL" in json.dumps(teams.emulator.card_of(teams.header_id(drill)), ensure_ascii=False)
