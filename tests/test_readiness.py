"""Readiness over time: drills run through the front door and resolved are scored (`drill_scored`), and
`crisisbot drills` prints their history per scenario and per role with the trend (and draws it); App Home shows the
last drill, its score and the next scheduled one."""

from __future__ import annotations

from pathlib import Path

from conftest import ID, Crisis, declare
from typer.testing import CliRunner

from bot.cli import app
from bot.models import Incident

RESOLUTION = {
    "summary": {"value": {"type": "plain_text_input", "value": "Drill over"}},
    "impact": {"value": {"type": "plain_text_input", "value": "none"}},
    "lessons": {"value": {"type": "plain_text_input", "value": "Answer faster"}},
}


def ack(crisis: Crisis, who: str) -> None:
    crisis.click(who, "acknowledge", channel_id=crisis.emu.dm_channel_of(ID[who]))


def resolve(crisis: Crisis, incident: Incident) -> None:
    crisis.cmd("anna", "resolve", channel_id=incident.room_ref)
    crisis.submit("anna", RESOLUTION)
    assert crisis.store.incident(incident.id).status == "resolved", crisis.last_ephemeral("anna")


def drill(crisis: Crisis, acks: dict[str, int], posted_at: int) -> Incident:
    """anna runs a data-breach drill (level 2): who acknowledges when, the first reply posted at `posted_at`
    minutes; resolved ten minutes later."""
    crisis.clock.advance(days=1)
    crisis.cmd("anna", "drill data-breach")
    incident = crisis.store.incidents()[-1]
    assert incident.drill
    elapsed = 0
    for who, minute in sorted(acks.items(), key=lambda item: item[1]):
        crisis.clock.advance(minutes=minute - elapsed)
        elapsed = minute
        ack(crisis, who)
    crisis.clock.advance(minutes=posted_at - 5 - elapsed)
    for who in ("anna", "chen"):  # level 2: the crisis lead and legal approve
        crisis.click_draft(who, incident, "x", "draft_approve")
    crisis.clock.advance(minutes=5)
    crisis.click_draft("bram", incident, "x", "draft_mark_posted")
    crisis.clock.advance(minutes=10)
    resolve(crisis, incident)
    return incident


def test_drills_are_scored_and_their_history_printed_with_the_trend(staffed: Crisis, tmp_path: Path) -> None:
    # The score is the scorecard's (tests/test_drills.py checks its numbers against a scripted run); here what
    # matters is that readiness reads it back. 1st: legal late, two roles never, the first reply 10 minutes late.
    first = drill(staffed, {"bram": 5, "chen": 20}, posted_at=70)
    # 2nd: everyone within 5 minutes, the reply posted at 30 minutes: a better drill on every count.
    second = drill(staffed, {"bram": 2, "chen": 3, "dewi": 4, "eli": 5}, posted_at=30)
    real = declare(staffed, "A real one")  # a real incident is never scored as a drill
    resolve(staffed, real)

    [scored_first] = staffed.events(first, "drill_scored")
    low, high = scored_first.data["score"], staffed.events(second, "drill_scored")[0].data["score"]
    assert scored_first.data["first_posted_minutes"] == 70.0 and 0 <= low < high <= 100
    assert scored_first.data["roles"]["legal"]["ack_minutes"] == 20.0
    assert scored_first.data["roles"]["tech_lead"]["ack_minutes"] is None
    assert staffed.events(real, "drill_scored") == []

    chart = tmp_path / "readiness.png"
    result = CliRunner().invoke(app, ["drills", "--chart", str(chart)], env={"CRISISBOT_DB": str(staffed.store.path)})
    assert result.exit_code == 0, result.output
    text = result.output
    assert "2 scored drills" in text
    assert f"Data breach: 2 drills · last {high}/100 ({second.code}" in text
    assert f"↑ +{high - low} since the one before" in text and f"• scores: {low} → {high}" in text
    assert "• Legal: 20.0 min → 3.0 min · ↑ 17.0 min faster" in text, text
    assert "Tech lead: — → 5.0 min" in text
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 5_000

    dutch = CliRunner().invoke(app, ["drills", "--language", "nl"], env={"CRISISBOT_DB": str(staffed.store.path)})
    assert dutch.exit_code == 0 and "2 gescoorde oefeningen" in dutch.output and "sneller" in dutch.output


def test_no_drills_yet_and_no_database(crisis: Crisis, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["drills"], env={"CRISISBOT_DB": str(crisis.store.path)})
    assert result.exit_code == 0 and "No drill has been scored yet" in result.output
    missing = CliRunner().invoke(app, ["drills"], env={"CRISISBOT_DB": str(tmp_path / "nothing.db")})
    assert missing.exit_code == 2 and "no database here" in missing.output and "Traceback" not in missing.output


def home_text(crisis: Crisis, who: str) -> str:
    from bot.slack.home import register_home

    register_home(crisis.local.bot.app, crisis.local.bot.slack)
    crisis.emu.open_home(ID[who])
    crisis.local.settle()
    view = crisis.emu.home(ID[who])
    assert view is not None
    return str(view["blocks"])


def test_app_home_shows_the_last_drill_its_score_and_the_next_one(staffed: Crisis) -> None:
    assert "No drill scored yet" in home_text(staffed, "bram")
    done = drill(staffed, {"bram": 5, "chen": 20}, posted_at=70)
    staffed.cmd("anna", "drill schedule negative-reviews every 2 weeks on friday at 11:00 unannounced")
    lead = home_text(staffed, "anna")
    score = staffed.events(done, "drill_scored")[0].data["score"]
    assert f"Last drill: *{done.code}*" in lead and f"score *{score}/100*" in lead
    assert "Next scheduled: Negative reviews, level 2" in lead and "11:00 (unannounced)" in lead
    team = home_text(staffed, "bram")  # the rest of the team is not told of an unannounced drill
    assert f"score *{score}/100*" in team and "No drill scheduled" in team
