"""Drills through the front door: scripted injects at their minutes, the scorecard of a run with known times,
the improvement plan, the drill mark on what the bot says, and a real crisis declared while a drill runs."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import ID, START, Crisis

from bot.clock import ManualClock
from bot.config import default_dir
from bot.localdesk import start_local
from bot.models import Incident

# The test's own script for data-breach: the numbers below follow from it, not from the shipped one.
SCRIPT = """
injects:
  - at_minutes: 5
    text: {en: "A screenshot of the leaked file has 2,000 reposts on X.", nl: "Een screenshot staat 2.000 keer op X."}
    expect: {kind: draft_approved, network: x, within_minutes: 20}
  - at_minutes: 10
    text: {en: "The tech lead cannot be reached.", nl: "De technisch verantwoordelijke is onbereikbaar."}
    effect: {make_unavailable: tech_lead}
    expect: {kind: role_acknowledged, role: tech_lead, within_minutes: 15}
  - at_minutes: 20
    text: {en: "A journalist asks for a comment.", nl: "Een journalist vraagt om een reactie."}
    expect: {kind: reply_posted, network: x, within_minutes: 30}
  - at_minutes: 30
    text: {en: "National press picks it up.", nl: "De landelijke pers pikt het op."}
    effect: {raise_level: 3}
    expect: {kind: role_acknowledged, role: spokesperson, within_minutes: 10}
  - at_minutes: 40
    text: {en: "The authority's helpdesk calls.", nl: "De toezichthouder belt."}
    expect: {kind: gdpr_recorded, within_minutes: 10}
"""


def playbooks_with(folder: Path, scripts: dict[str, str | None]) -> Path:
    """A copy of the shipped playbooks and drill scripts; `scripts` replaces (or, None, removes) some scripts."""
    target = folder / "playbooks"
    shutil.copytree(default_dir("playbooks"), target)
    for scenario, text in scripts.items():
        path = target / "drills" / f"{scenario}.yaml"
        if text is None:
            path.unlink()
        else:
            path.write_text(text, encoding="utf-8")
    return target


@pytest.fixture
def drills(tmp_path: Path) -> Iterator[Crisis]:
    """A staffed desk on the test's drill script; the tech lead's backup is dewi."""
    books = playbooks_with(tmp_path, {"data-breach": SCRIPT, "other": None})
    clock = ManualClock(START)
    local = start_local(db_path=tmp_path / "crisis.db", clock=clock, environ={"CRISISBOT_PLAYBOOKS": str(books)})
    try:
        crisis = Crisis(local, clock)
        crisis.set_roles()
        crisis.cmd("anna", "roles set tech_lead <@U0ELI|eli> <@U0DEWI|dewi>")
        yield crisis
    finally:
        local.stop()


def at(crisis: Crisis, minutes: float) -> None:
    """Crisis time `minutes` after the drill's declare, with every timer due by then fired."""
    crisis.clock.set(START + timedelta(minutes=minutes))
    crisis.local.tick()


def acknowledge(crisis: Crisis, who: str, minutes: float) -> None:
    at(crisis, minutes)
    crisis.click(who, "acknowledge", channel_id=crisis.emu.dm_channel_of(ID[who]))


def room_texts(crisis: Crisis, incident: Incident) -> list[str]:
    return [m.get("text", "") for m in crisis.emu.messages(incident.room_ref)]


def injects_posted(crisis: Crisis, incident: Incident) -> list[str]:
    return [t for t in room_texts(crisis, incident) if "Inject " in t]


def declare_drill(crisis: Crisis, text: str = "drill data-breach 2") -> Incident:
    crisis.cmd("gijs", text)  # gijs holds no role: every role owner acknowledges when the test says
    incident = crisis.store.incidents()[-1]
    assert incident.drill, crisis.last_ephemeral("gijs")
    return incident


# ==== injects ===========================================================================================
def test_injects_post_at_their_minutes_in_the_drill_room(drills: Crisis) -> None:
    incident = declare_drill(drills)
    at(drills, 4.9)
    assert injects_posted(drills, incident) == []
    at(drills, 5)
    posted = injects_posted(drills, incident)
    assert len(posted) == 1 and "Inject 1/5" in posted[0] and "2,000 reposts on X" in posted[0]
    assert "Expected: a draft fully approved for X within 20 min" in posted[0]
    at(drills, 10)
    second = injects_posted(drills, incident)[-1]
    assert "Inject 2/5" in second and "<@U0ELI> is unavailable for this drill" in second
    # the backup is paged as the acknowledge escalation pages backups: invited, and a DM with the button
    assert any("backup" in t.lower() for t in room_texts(drills, incident))
    dm = drills.emu.messages(drills.emu.dm_channel_of(ID["dewi"]))[-1]
    assert dm["text"].startswith("🧪 *DRILL* —") and "acknowledge" in str(dm["blocks"])
    # the one who was made unavailable may not take the role back: that is the exercise
    drills.click("eli", "acknowledge", channel_id=drills.emu.dm_channel_of(ID["eli"]))
    assert "made you unavailable" in drills.last_ephemeral("eli")
    assert "tech_lead" not in drills.store.acks(incident.id)


def test_an_inject_raising_the_level_pulls_in_the_new_roles(drills: Crisis) -> None:
    incident = declare_drill(drills)
    at(drills, 30)
    assert drills.store.incident(incident.id).level == 3
    raised = injects_posted(drills, incident)[-1]
    assert "now at level 3" in raised and "<@U0FLEUR> (Spokesperson)" in raised
    assert ID["fleur"] in drills.emu.channel(incident.room_ref)["members"]
    acknowledge(drills, "fleur", 31)
    assert drills.store.acks(incident.id)["spokesperson"].user == ID["fleur"]
    assert [e.actor for e in drills.events(incident, "escalated")] == ["bot"]


# ==== the scorecard of a run with known times ===========================================================
def test_the_scorecard_of_a_scripted_run_has_exactly_its_numbers(drills: Crisis) -> None:
    incident = declare_drill(drills)
    acknowledge(drills, "anna", 3)  # crisis lead: 3 min
    acknowledge(drills, "bram", 4)  # social media manager: 4
    at(drills, 5)  # inject 1
    acknowledge(drills, "chen", 6)  # legal: 6
    acknowledge(drills, "eli", 8)  # tech lead: 8, then made unavailable at 10
    acknowledge(drills, "dewi", 9)  # communications: 9
    at(drills, 10)  # inject 2
    at(drills, 12)
    drills.click_draft("anna", incident, "x", "draft_approve")
    at(drills, 14)
    drills.click_draft("chen", incident, "x", "draft_approve")  # X fully approved at 14: inject 1 in 9 min
    acknowledge(drills, "dewi", 16)  # the tech lead's backup takes over: inject 2 in 6 min
    at(drills, 20)  # inject 3
    at(drills, 25)
    drills.click_draft("bram", incident, "x", "draft_mark_posted")  # first reply at 25: inject 3 in 5 min
    at(drills, 30)  # level 3: the spokesperson is pulled in
    at(drills, 40)  # inject 5
    acknowledge(drills, "fleur", 45)  # 15 min: outside the level's 10-minute window, inject 4 five minutes late
    at(drills, 55)
    drills.cmd("anna", "resolve", channel_id=incident.room_ref)
    when = START + timedelta(minutes=55)
    drills.submit(
        "anna",
        {
            "summary": {"value": {"type": "plain_text_input", "value": "Drill over"}},
            "authority": {"value": {"type": "radio_buttons", "selected_option": {"value": "notified"}}},
            "authority_at": {"value": {"type": "datetimepicker", "selected_date_time": int(when.timestamp())}},
        },
    )
    [scored] = drills.events(incident, "drill_scored")
    card = scored.data
    assert card["roles"] == {
        "crisis_lead": {"ack_minutes": 3.0, "user": ID["anna"], "within": True},
        "social_media_manager": {"ack_minutes": 4.0, "user": ID["bram"], "within": True},
        "communications": {"ack_minutes": 9.0, "user": ID["dewi"], "within": True},
        "tech_lead": {"ack_minutes": 8.0, "user": ID["eli"], "within": True},
        "legal": {"ack_minutes": 6.0, "user": ID["chen"], "within": True},
        "spokesperson": {"ack_minutes": 15.0, "user": ID["fleur"], "within": False},
    }
    assert (card["assemble_minutes"], card["first_approved_minutes"], card["first_posted_minutes"]) == (
        45.0,
        14.0,
        25.0,
    )
    assert card["networks"] == {"x": {"approved_minutes": 14.0, "posted_minutes": 25.0}}
    assert [(i["on_time"], i["answered_minutes"], i["late_minutes"]) for i in card["injects"]] == [
        (True, 9.0, None),
        (True, 6.0, None),
        (True, 5.0, None),
        (False, 15.0, 5.0),
        (False, 15.0, 5.0),  # the authority recorded as notified with the resolve, at 55
    ]
    assert (card["injects_on_time"], card["injects_total"]) == (3, 5)
    assert card["checklist"] == {"done": 0, "total": 4}
    assert card["gdpr"] == {"notified_minutes": 55.0, "deadline_hours": 72}
    # 20 × 5/6 roles in their window + 30 (first reply within the hour) + 30 × 3/5 injects + 0 checklist + 10 cadence
    assert card["parts"] == {"assemble": 16.7, "first_reply": 30.0, "injects": 18.0, "checklist": 0.0, "cadence": 10.0}
    assert card["score"] == 75 and card["level"] == 3 and card["scenario"] == "data-breach"
    # posted in the drill room: the score, its rule, each inject's answer
    [posted] = [m for m in drills.emu.messages(incident.room_ref) if "scorecard" in str(m.get("blocks", ""))]
    blocks = str(posted["blocks"])
    for expected in (
        "75/100",
        "3 of 5 answered in time",
        "⏰ 5 min late",
        "20 × roles acknowledged",
        "Spokesperson: 15 min",
    ):
        assert expected in blocks, expected
