"""The triage card on Teams, through the front door: a signed alert to the real intake, the card in the watch
channel of the Bot Connector emulator (a valid Adaptive Card), Declare opening the declare dialog filled in from
the card, and the incident counting from the alert's time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import INTAKE_CONFIG, INTAKE_SECRET, START
from test_intake import alert

from bot.clock import ManualClock
from bot.intake.server import IntakeServing
from bot.sandbox.monitor import Monitor
from bot.sandbox.teams.people import response_card
from tests.teams_harness import TeamsDesk, start_teams


@pytest.fixture
def teams(tmp_path: Path) -> Iterator[tuple[TeamsDesk, Monitor]]:
    config = tmp_path / "crisisbot.yaml"
    config.write_text(INTAKE_CONFIG.format(secret=INTAKE_SECRET), encoding="utf-8")
    environ = {"CRISISBOT_CONFIG": str(config)}
    desk = start_teams(db_path=tmp_path / "crisis.db", clock=ManualClock(START), environ=environ, watch=True)
    intake = IntakeServing(desk.desk, desk.runner, host="127.0.0.1", port=0)
    intake.start()
    try:
        yield desk, Monitor(f"http://127.0.0.1:{intake.port}/intake/", "coosto", INTAKE_SECRET)
    finally:
        intake.stop()
        desk.stop()


def nodes(card: Any) -> list[dict[str, Any]]:
    if isinstance(card, list):
        return [n for item in card for n in nodes(item)]
    if isinstance(card, dict):
        return [card, *[n for value in card.values() for n in nodes(value)]]
    return []


def test_a_triage_card_on_teams_declares_from_its_dialog_with_the_alerts_time(
    teams: tuple[TeamsDesk, Monitor],
) -> None:
    desk, monitor = teams
    assert monitor.send(alert()).status == 202
    desk.tick()
    [triage] = desk.store.triages()
    assert triage.platform == "teams" and triage.card_ref
    card = desk.emulator.card_of(triage.card_ref)
    assert card is not None and "Possible crisis" in json.dumps(card)
    opener = desk.click("bram", triage.card_ref, "triage_declare")
    bram = desk.people["bram"]
    submit = next(n["data"] for n in nodes(response_card(opener.json)) if n.get("type") == "Action.Submit")
    bram.fetch_task(submit, where=desk.emulator.crisis_channel)
    desk.settle()
    form = bram.open_dialog
    inputs = {n["id"]: n.get("value") for n in nodes(form) if str(n.get("type", "")).startswith("Input.")}
    assert inputs["scenario"] == "data-breach" and inputs["title"].startswith("Customers say our portal")
    send = next(n["data"] for n in nodes(form) if n.get("type") == "Action.Submit")
    bram.submit_task({**send, **{k: v for k, v in inputs.items() if v is not None}}, where=desk.emulator.crisis_channel)
    desk.settle()
    [incident] = desk.store.incidents()
    assert incident.detected_at == START - timedelta(minutes=4)
    assert [e.kind for e in desk.store.events(incident.id)][:3] == ["alert_received", "triaged", "declared"]
    desk.tick()
    assert incident.code in json.dumps(desk.emulator.card_of(triage.card_ref))
    desk.emulator.assert_clean()  # every card valid, nothing refused


def test_dismiss_on_teams_asks_why_and_keeps_the_reason(teams: tuple[TeamsDesk, Monitor]) -> None:
    desk, monitor = teams
    assert monitor.send(alert()).status == 202
    desk.tick()
    [triage] = desk.store.triages()
    assert triage.card_ref
    opener = desk.click("eli", triage.card_ref, "triage_dismiss")
    eli = desk.people["eli"]
    eli.fetch_task(next(n["data"] for n in nodes(response_card(opener.json)) if n.get("type") == "Action.Submit"))
    desk.settle()
    send = next(n["data"] for n in nodes(eli.open_dialog) if n.get("type") == "Action.Submit")
    eli.submit_task({**send, "reason": "   "}, where=desk.emulator.crisis_channel)  # refused: the dialog stays
    desk.settle()
    assert desk.store.triage(triage.id).status == "open"
    eli.submit_task({**send, "reason": "A parody account"}, where=desk.emulator.crisis_channel)
    desk.settle()
    decided = desk.store.triage(triage.id)
    assert (decided.status, decided.reason, decided.decided_by) == ("dismissed", "A parody account", eli.aad_id)
    desk.tick()
    assert "A parody account" in json.dumps(desk.emulator.card_of(triage.card_ref))
    desk.emulator.assert_clean()
