"""`crisisbot drill <scenario>`: a drill rehearsed offline against the emulator, with a slow and an absent role;
the transcript shows the bot chasing who is away, and the scorecard says what happened."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bot.cli import app
from bot.rehearsal import Responsiveness, responsiveness, run_rehearsal

SPEED = 600  # a crisis minute is a tenth of a second: the 90-minute exercise takes about ten


def test_a_rehearsal_with_a_slow_and_an_absent_role_prints_the_transcript_and_the_scorecard(tmp_path: Path) -> None:
    console = Console(record=True, width=120, file=io.StringIO())
    people = Responsiveness(default=2, slow={"legal": 20}, away=["spokesperson"])
    code = run_rehearsal("data-breach", level=3, speed=SPEED, people=people, until=60, console=console)
    text = console.export_text()
    assert code == 0, text
    assert "types /crisis drill data-breach 3" in text and "#drill-" in text  # the real flow, in a drill room
    scorecard = text[text.index("Scorecard of DR-") :]
    assert "• Spokesperson: did not acknowledge" in scorecard
    legal = next(line for line in scorecard.splitlines() if line.startswith("• Legal: acknowledged after"))
    assert float(legal.split("after ")[1].split(" min")[0]) >= 20  # slow: never before its delay
    # the spokesperson approves at level 3 and is away: nothing was approved fully, so nothing was posted
    assert "• First reply posted: never (target 60 min)" in scorecard
    assert "How it is scored:" in scorecard
    assert "Fleur" in text or "@fleur" in text  # the bot chased the absent spokesperson (reminder, backups, lead)
    assert "Traceback" not in text


@pytest.mark.slow  # a second emulator and bot for the same story: with --full
def test_a_rehearsal_on_teams_plays_in_a_thread_and_prints_the_scorecard() -> None:
    console = Console(record=True, width=120, file=io.StringIO())
    people = Responsiveness(default=1, slow={"legal": 5})
    code = run_rehearsal(
        "service-outage", level=1, speed=SPEED, people=people, until=40, console=console, platform="teams"
    )
    text = console.export_text()
    assert code == 0, text
    assert "#crisis › DR-" in text  # the drill's thread
    scorecard = text[text.index("Scorecard of DR-") :]
    assert "did not acknowledge" not in scorecard and "• First reply posted: after" in scorecard, scorecard


def test_bad_rehearsal_options_are_answered_without_a_traceback(tmp_path: Path) -> None:
    runner = CliRunner()
    wrong_role = runner.invoke(app, ["drill", "data-breach", "--slow", "lawyer=20"])
    assert wrong_role.exit_code == 2 and "'lawyer' is not a role" in wrong_role.output
    no_minutes = runner.invoke(app, ["drill", "data-breach", "--slow", "legal=soon"])
    assert no_minutes.exit_code == 2 and "--slow legal=20" in no_minutes.output
    people = tmp_path / "people.yaml"
    people.write_text("slow: {legal: 999}\n", encoding="utf-8")
    too_slow = runner.invoke(app, ["drill", "data-breach", "--people", str(people)])
    assert too_slow.exit_code == 2 and "0 to 240 minutes" in too_slow.output
    level = runner.invoke(app, ["drill", "data-breach", "--level", "7"])
    assert level.exit_code == 2 and "--level: 7 does not exist" in level.output
    platform = runner.invoke(app, ["drill", "data-breach", "--platform", "irc"])
    assert platform.exit_code == 2 and "valid: slack, teams" in platform.output
    scenario = runner.invoke(app, ["drill", "alien-invasion", "--speed", "600"])
    assert scenario.exit_code == 2 and "'alien-invasion' is not a scenario — valid: data-breach" in scenario.output
    for result in (wrong_role, no_minutes, too_slow, level, platform, scenario):
        assert "Traceback" not in result.output


def test_who_answers_how_fast_comes_from_a_yaml_file_and_the_options(tmp_path: Path) -> None:
    people = tmp_path / "people.yaml"
    people.write_text("default: 4\nslow: {legal: 20, tech_lead: 9}\naway: [spokesperson]\n", encoding="utf-8")
    cast = responsiveness(["tech_lead=12"], ["communications"], people, None)
    assert [cast.delay(r) for r in ("legal", "tech_lead", "crisis_lead")] == [20, 12, 4]  # the option wins
    assert cast.delay("spokesperson") is None and cast.delay("communications") is None
