"""Drills through the front door: scripted injects at their minutes, the scorecard of a run with known times,
the improvement plan, the drill mark on what the bot says, and a real crisis declared while a drill runs."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import ID, START, Crisis, db_rows, staffed_desk

from bot.clock import ManualClock
from bot.config import default_dir
from bot.localdesk import CAST, start_local
from bot.models import Incident
from bot.report import write_report
from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.model import GENERAL_ID
from bot.sandbox.process import serve_against
from bot.store import Store

# The test's own script for data-breach: the numbers below follow from it, not from the shipped one.
SPEED = 600  # the real process's crisis clock: a drill's first inject (minute 5) half a second after the declare
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
    expect: {kind: gdpr_recorded, within_minutes: 30}
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
    """A staffed desk on the test's drill script (and none for `other`), an announcements channel; the tech lead's
    backup is dewi."""
    books = playbooks_with(tmp_path, {"data-breach": SCRIPT, "other": None})
    clock = ManualClock(START)
    environ = {"CRISISBOT_PLAYBOOKS": str(books), "CRISISBOT_ANNOUNCEMENTS_CHANNEL": GENERAL_ID}
    local = start_local(db_path=tmp_path / "crisis.db", clock=clock, environ=environ)
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
    # nor is the acknowledge escalation's reminder at 15 minutes theirs: it goes to the backup
    dms_to_eli = len(drills.emu.messages(drills.emu.dm_channel_of(ID["eli"])))
    at(drills, 15)
    assert len(drills.emu.messages(drills.emu.dm_channel_of(ID["eli"]))) == dms_to_eli
    assert any("<@U0DEWI>" in t and "Tech lead" in t for t in room_texts(drills, incident)[-3:])


def test_an_inject_raising_the_level_pulls_in_the_new_roles(drills: Crisis) -> None:
    incident = declare_drill(drills)
    at(drills, 30)
    assert drills.store.incident(incident.id).level == 3
    raised = injects_posted(drills, incident)[-1]
    assert "now at level 3" in raised and "<@U0FLEUR> (Spokesperson)" in raised
    assert ID["fleur"] in drills.emu.channel(incident.room_ref)["members"]
    assert "Spokesperson" in str(drills.draft_message(incident, "x")["blocks"])  # the new approver, redrawn
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
        (True, 15.0, None),  # the authority recorded as notified with the resolve, at 55
    ]
    assert (card["injects_on_time"], card["injects_total"]) == (4, 5)
    assert card["checklist"] == {"done": 0, "total": 4}
    assert card["gdpr"] == {"notified_minutes": 55.0, "deadline_hours": 72}
    # 20 × 5/6 roles in their window + 30 (first reply within the hour) + 30 × 4/5 injects + 0 checklist + 10 cadence
    assert card["parts"] == {"assemble": 16.7, "first_reply": 30.0, "injects": 24.0, "checklist": 0.0, "cadence": 10.0}
    assert (
        card["ended"] == "resolve" and card["score"] == 81 and card["level"] == 3 and card["scenario"] == "data-breach"
    )
    # posted in the drill room: the score, its rule, each inject's answer
    [posted] = [m for m in drills.emu.messages(incident.room_ref) if "scorecard" in str(m.get("blocks", ""))]
    blocks = str(posted["blocks"])
    for expected in (
        "81/100",
        "4 of 5 answered in time",
        "⏰ 5 min late",
        "20 × roles acknowledged",
        "Spokesperson: 15 min",
    ):
        assert expected in blocks, expected


def resolve(crisis: Crisis, incident: Incident, who: str = "anna") -> None:
    crisis.cmd(who, "resolve", channel_id=incident.room_ref)
    crisis.submit(who, {"summary": {"value": {"type": "plain_text_input", "value": "Drill over"}}})
    assert not crisis.store.incident(incident.id).active, crisis.last_ephemeral(who)


# ==== the drill mark, and what a drill never does =======================================================
def test_every_message_of_a_drill_is_marked_and_nothing_is_announced(drills: Crisis) -> None:
    incident = declare_drill(drills, "drill negative-reviews 2")
    at(drills, 16)  # injects, reminders, an acknowledge escalation: the bot speaking on its own
    resolve(drills, incident)
    texts = room_texts(drills, incident)
    assert len(texts) > 10 and all(t.startswith("🧪") for t in texts), [t for t in texts if not t.startswith("🧪")]
    for who in ("anna", "bram", "dewi"):  # the role pages and whatever else went to a person
        dms = drills.emu.messages(drills.emu.dm_channel_of(ID[who]))
        assert dms and all(m["text"].startswith("🧪") for m in dms), who
    draft = drills.draft_message(incident, "x")
    assert str(draft["blocks"]).count("*DRILL* — do not post") == 1
    drills.local.tick()
    assert drills.emu.messages(GENERAL_ID) == []  # leadership is never told of an exercise
    # a real incident is not marked, and is announced
    real = drills.declare("declare data-breach 2 Real leak", who="bram")
    drills.local.tick()
    assert not real.drill and not any(t.startswith("🧪") for t in room_texts(drills, real))
    assert [m["text"][:16] for m in drills.emu.messages(GENERAL_ID)] == ["🚨 CR-2026-001 de"]


def test_a_drill_whose_script_is_played_out_is_scored_then_and_once(drills: Crisis) -> None:
    incident = declare_drill(drills)
    at(drills, 69.9)  # the last inject (minute 40) expects its answer within 30 minutes
    assert drills.events(incident, "drill_scored") == []
    at(drills, 70)
    [scored] = drills.events(incident, "drill_scored")
    assert scored.data["ended"] == "script" and drills.store.incident(incident.id).active
    assert (scored.data["injects_on_time"], scored.data["injects_total"]) == (0, 5)
    posted = [m for m in drills.emu.messages(incident.room_ref) if "scorecard" in str(m.get("blocks", ""))]
    assert len(posted) == 1 and "The script is played out" in str(posted[0]["blocks"])
    resolve(drills, incident)
    assert len(drills.events(incident, "drill_scored")) == 1  # the drill ended with its script: one score


# ==== the declare form's "This is a drill" choice ========================================================
def form_values(scenario: str, drill: bool) -> dict:
    values = {
        "scenario": {"value": {"type": "static_select", "selected_option": {"value": scenario}}},
        "title": {"value": {"type": "plain_text_input", "value": "Rehearsal"}},
    }
    if drill:
        values["drill"] = {"value": {"type": "checkboxes", "selected_options": [{"value": "drill"}]}}
    return values


def test_the_declare_form_declares_a_drill_when_its_choice_is_ticked(drills: Crisis) -> None:
    drills.cmd("gijs", "")
    drills.submit("gijs", form_values("data-breach", drill=True))
    incident = drills.store.incidents()[-1]
    assert incident.drill and incident.code == "DR-2026-001" and incident.room_name.startswith("drill-")
    assert any(t.kind == "drill_inject" for t in drills.store.pending_timers(incident.id))


def test_the_declare_form_refuses_a_drill_of_a_scenario_without_a_script_in_its_field(drills: Crisis) -> None:
    drills.cmd("gijs", "")
    before = db_rows(drills)
    response = drills.submit("gijs", form_values("other", drill=True))
    assert response.json["response_action"] == "errors"
    assert "has no drill script" in response.json["errors"]["scenario"]
    assert db_rows(drills) == before


# ==== bad input: a clear private answer, nothing changed ================================================
@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("drill nosuch", "There is no scenario `nosuch`"),
        ("drill other 2", "The scenario `other` has no drill script"),
    ],
)
def test_a_drill_of_an_unknown_scenario_or_one_without_a_script_is_refused(
    drills: Crisis, text: str, answer: str
) -> None:
    before = db_rows(drills)
    drills.cmd("gijs", text)
    assert answer in drills.last_ephemeral("gijs")
    assert db_rows(drills) == before


def test_a_real_declare_in_a_drill_room_is_sent_to_the_crisis_channel_and_changes_nothing(drills: Crisis) -> None:
    incident = declare_drill(drills)
    before = db_rows(drills)
    drills.cmd("anna", "declare data-breach 3 A real leak", channel_id=incident.room_ref)
    answer = drills.last_ephemeral("anna")
    assert "This is the drill room of DR-2026-001; nothing was changed" in answer and "crisis channel" in answer
    assert db_rows(drills) == before


def test_a_real_declare_elsewhere_during_a_drill_is_its_own_incident_and_the_drill_is_told_once(
    drills: Crisis,
) -> None:
    drill = declare_drill(drills)
    real = drills.declare("declare data-breach 2 Customer emails exposed", who="bram")
    drills.local.tick()  # the drill's notice is its own outbox row: the runner's next wake-up (a ManualClock has none)
    assert (real.code, real.drill, real.room_name) == ("CR-2026-001", False, "crisis-20260314-data-breach")
    told = [t for t in room_texts(drills, drill) if "real* incident" in t]
    assert len(told) == 1 and "CR-2026-001" in told[0]
    assert not [t for t in room_texts(drills, real) if "Inject" in t or "real* incident" in t]
    at(drills, 5)  # the drill goes on in its own room only
    assert len(injects_posted(drills, drill)) == 1 and not injects_posted(drills, real)


# ==== the improvement plan ==============================================================================
ACTION_REFUSALS = [
    ("drill action Update the press list", "An improvement needs an owner"),
    ("drill action Update the press list 2026-03-20", "An improvement needs an owner"),
    ("drill action Update the press list <@U0DEWI|dewi>", "An improvement needs a due date"),
    ("drill action Update the press list <@U0DEWI|dewi> someday", "`someday` is not a date"),
    ("drill action Update the press list <@U0DEWI|dewi> 2026-03-01", "has passed"),
    ("drill action", "Type `/crisis drill action <what to improve> @owner <due date>`"),
    ("drill action done 7", "There is no improvement 7"),
    ("drill action done seven", "Type `/crisis drill action done <number>`"),
]


def test_an_improvement_without_owner_or_date_is_refused(drills: Crisis) -> None:
    """Each refusal on one desk (a desk per case would cost a second each): what to type instead, nothing changed."""
    incident = declare_drill(drills)
    for text, answer in ACTION_REFUSALS:
        before = db_rows(drills)
        drills.cmd("anna", text, channel_id=incident.room_ref)
        assert answer in drills.last_ephemeral("anna"), (text, drills.last_ephemeral("anna"))
        assert db_rows(drills) == before, text
    drills.cmd(
        "anna",
        "drill action Update the press list <@U0DEWI|dewi> 2026-03-20",
        channel_id=drills.emu.dm_channel_of(ID["anna"]),
    )
    assert "Type this in the incident channel" in drills.last_ephemeral("anna")  # not in a drill's room


def test_the_improvement_plan_is_reminded_until_done_and_listed_in_the_report(drills: Crisis, tmp_path: Path) -> None:
    incident = declare_drill(drills, "drill negative-reviews 2")
    resolve(drills, incident)
    drills.cmd("anna", "drill action Update the press list <@U0DEWI|dewi> 2026-03-20", channel_id=incident.room_ref)
    assert "Added to the improvement plan: 1. Update the press list — <@U0DEWI>" in drills.last_ephemeral("anna")
    reminders = lambda: [t for t in room_texts(drills, incident) if "Improvement 1 of drill" in t]  # noqa: E731
    drills.clock.set(START.replace(day=20, hour=7, minute=59))  # 09:00 on the due date in Amsterdam is 08:00 UTC
    drills.local.tick()
    assert reminders() == []
    drills.clock.set(START.replace(day=20, hour=8))
    drills.local.tick()
    assert len(reminders()) == 1 and "<@U0DEWI>, <@U0ANNA>" in reminders()[0]
    drills.clock.set(START.replace(day=21, hour=8))
    drills.local.tick()
    assert len(reminders()) == 2  # daily, like any deadline, until done
    drills.cmd("gijs", "drill action done 1", channel_id=incident.room_ref)
    assert "Only the owner of improvement 1" in drills.last_ephemeral("gijs")
    drills.cmd("dewi", "drill action done 1", channel_id=incident.room_ref)
    # a private answer in the drill's room is marked like everything else said there
    assert drills.last_ephemeral("dewi").startswith("🧪 *DRILL* — ✅ Done: 1. Update the press list")
    drills.clock.set(START.replace(day=22, hour=8))
    drills.local.tick()
    assert len(reminders()) == 2
    markdown, _chart = write_report(drills.local.desk, drills.store.incident(incident.id), "en", tmp_path / "r.md")
    text = markdown.read_text(encoding="utf-8")
    assert "## Drill: after-action report" in text and "### What went well" in text and "### What did not" in text
    assert "| 1 | Update the press list | U0DEWI | 20 Mar 2026 | ✅ done (U0DEWI) |" in text
    assert f"**Readiness score: {drills.events(incident, 'drill_scored')[0].data['score']}/100.**" in text


# ==== injects are timers: a kill -9 of the real process around one neither loses nor repeats it ==============
@pytest.mark.parametrize("crash_at", ["timer_committed:1", pytest.param("timer_effect:1", marks=pytest.mark.slow)])
def test_an_inject_survives_a_kill_9_and_posts_once(emu: SlackEmulator, tmp_path: Path, crash_at: str) -> None:
    """The first timer a data-breach drill fires is its first inject (minute 5): killed inside its transaction
    (rolled back) or right after it (not yet delivered), the restarted bot posts it once."""
    db = tmp_path / "crisis.db"
    bot = serve_against(emu, db, clock_speed=SPEED, crash_at=crash_at)
    try:
        for person in CAST:
            if person.role:
                emu.slash_command(ID["anna"], f"roles set {person.role} <@{person.id}|{person.name}>")
        emu.slash_command(ID["gijs"], "drill data-breach 2")
        assert bot.wait_exit(30) == 137
    finally:
        bot.stop()
    store = Store(db)
    assert [e.data["index"] for e in store.events(1, "drill_inject")] == ([0] if "committed" in crash_at else [])
    bot = serve_against(emu, db, clock_speed=SPEED)
    try:
        emu.wait_for(lambda: len(Store(db).events(1, "drill_inject")) >= 3, timeout=20)
        emu.wait_for(lambda: not Store(db).pending_outbox(datetime(2100, 1, 1, tzinfo=UTC)), timeout=20)
    finally:
        bot.stop()
    indexes = [e.data["index"] for e in Store(db).events(1, "drill_inject")]
    assert indexes == sorted(set(indexes)) and indexes[:3] == [0, 1, 2]
    posts = Counter(m["text"] for m in emu.messages(Store(db).incident(1).room_ref) if "Inject " in m.get("text", ""))
    assert len(posts) == len(indexes) and set(posts.values()) == {1}
    assert any("Inject 1/7 (minute 5)" in text.replace("*", "") for text in posts)


def test_a_drill_in_dutch_is_marked_injected_and_scored_in_dutch(tmp_path: Path) -> None:
    with staffed_desk(tmp_path, environ={"CRISISBOT_LANGUAGE": "nl"}) as dutch:
        incident = declare_drill(dutch, "drill service-outage 2")
        at(dutch, 10)  # inject 2 makes the tech lead unavailable: no backup, said so
        texts = room_texts(dutch, incident)
        assert all(t.startswith("🧪 *OEFENING* —") for t in texts)
        assert any("Inject 1/6* (minuut 5): #storing is trending" in t for t in texts)
        assert any("Inject 2/6* (minuut 10)" in t and "onbereikbaar in deze oefening" in t for t in texts)
        dutch.cmd("anna", "drill action Perslijst bijwerken <@U0DEWI|dewi> 01-04-2026", channel_id=incident.room_ref)
        assert "Toegevoegd aan het verbeterplan: 1. Perslijst bijwerken" in dutch.last_ephemeral("anna")
        resolve(dutch, incident)
        card = [m for m in dutch.emu.messages(incident.room_ref) if "scorekaart" in str(m.get("blocks", ""))]
        assert len(card) == 1 and "van 2 op tijd beantwoord" in str(card[0]["blocks"])


def test_private_answers_in_a_drill_room_are_marked_and_elsewhere_not(drills: Crisis) -> None:
    incident = declare_drill(drills, "drill negative-reviews 2")
    drills.cmd("gijs", "status", channel_id=incident.room_ref)
    assert drills.last_ephemeral("gijs").startswith("🧪 *DRILL* —")
    drills.cmd("gijs", "help")  # in the crisis channel: no incident's room, no mark
    assert not drills.last_ephemeral("gijs").startswith("🧪")
