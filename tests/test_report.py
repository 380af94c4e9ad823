"""The post-incident evaluation: metrics from the timeline, the Markdown report, the chart and `crisisbot report`.

Two incidents are played once per module through the front door (slash commands and clicks against the
running bot and the Slack emulator, as the `staffed` fixture does) on a ManualClock, so every number below
follows from the script's known times; the database is saved before and after the second one escalates.
Each test works on its own copy of a saved database, which keeps the module fast; event kinds that the
resolve and survey flows will write are appended to a copy's timeline directly, as those flows would.
"""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import ID, START, Crisis, assert_valid_for_slack

from bot.clock import ManualClock
from bot.config import default_dir, load_settings
from bot.errors import ConfigError
from bot.incidents import Desk, open_desk
from bot.incidents.declare import DeclareRequest, declare
from bot.incidents.metrics import incident_metrics
from bot.localdesk import CAST, start_local
from bot.messages import Messages
from bot.models import Incident
from bot.report import render_report, render_timeline_chart, write_report
from tests.fixtures_foundation import assert_refused, cli, isolate

NAMES = {person.id: person.real_name for person in CAST}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DAY = timedelta(days=1)
LATE, IN_TIME = "CR-2026-001", "CR-2026-002"


# ---- the scripts, played once --------------------------------------------------------------------------
@dataclass
class Script:
    """One incident played on the shared clock: `minutes` counts from its declaration at `base`."""

    crisis: Crisis
    base: datetime

    def at(self, minutes: float) -> datetime:
        return self.base + timedelta(minutes=minutes)

    def advance_to(self, minutes: float) -> None:
        self.crisis.clock.set(self.at(minutes))

    def acknowledge(self, who: str, minutes: float) -> None:
        self.advance_to(minutes)
        self.crisis.click(who, "acknowledge", channel_id=self.crisis.emu.dm_channel_of(ID[who]))

    def approve(self, who: str, incident: Incident, network: str, minutes: float) -> None:
        self.advance_to(minutes)
        self.crisis.click_draft(who, incident, network, "draft_approve")

    def post(self, who: str, incident: Incident, network: str, minutes: float) -> None:
        self.advance_to(minutes)
        self.crisis.click_draft(who, incident, network, "draft_mark_posted")

    def declare(self) -> Incident:
        # gijs holds no role, so every role owner acknowledges at a time the script chooses (a declarer who
        # owns a role holds it from the start)
        self.advance_to(0)
        return self.crisis.declare(who="gijs")


def answered_late(script: Script) -> None:
    """13 March: all but the tech lead acknowledge, Facebook approved +20/+40, timers fire at +61, posted +75."""
    incident = script.declare()
    for who, minutes in (("anna", 5), ("chen", 6), ("bram", 7), ("dewi", 8)):
        script.acknowledge(who, minutes)
    script.approve("anna", incident, "facebook", 20)
    script.approve("chen", incident, "facebook", 40)
    script.advance_to(61)
    script.crisis.local.tick()
    script.post("anna", incident, "facebook", 75)


def answered_in_time(script: Script) -> Incident:
    """14 March, declared 10:00 Amsterdam (detected then too): acks +3/+7, X approved +12/+18, posted +25."""
    incident = script.declare()
    script.acknowledge("anna", 3)
    script.acknowledge("chen", 7)
    script.approve("anna", incident, "x", 12)
    script.approve("chen", incident, "x", 18)
    script.post("bram", incident, "x", 25)
    return incident


def escalate_after_posting(script: Script, incident: Incident) -> None:
    """Then the other roles acknowledge at +26/+27/+28, anna escalates at +30 and fleur (spokesperson) at +34."""
    for who, minutes in (("dewi", 26), ("eli", 27), ("bram", 28)):
        script.acknowledge(who, minutes)
    script.advance_to(30)
    script.crisis.cmd("anna", "escalate 3", channel_id=incident.room_ref)
    script.acknowledge("fleur", 34)


@dataclass(frozen=True)
class Played:
    """The saved databases: both incidents, before and after the second one escalated."""

    before: Path
    escalated: Path


def save(crisis: Crisis, path: Path) -> Path:
    with sqlite3.connect(crisis.store.path) as source, sqlite3.connect(path) as target:
        source.backup(target)
    return path


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Played:
    """Play both incidents once; the bot is stopped afterwards, so nothing changes the saved files."""
    folder = tmp_path_factory.mktemp("played")
    clock = ManualClock(START - DAY)
    local = start_local(db_path=folder / "live.db", clock=clock)
    try:
        crisis = Crisis(local, clock)
        crisis.set_roles()
        answered_late(Script(crisis, START - DAY))  # first: its timer tick must not reach the other one
        script = Script(crisis, START)
        incident = answered_in_time(script)
        before = save(crisis, folder / "before.db")
        escalate_after_posting(script, incident)
        after = save(crisis, folder / "escalated.db")
        assert_valid_for_slack(local.emulator)
    finally:
        local.stop()
    return Played(before, after)


def open_copy(saved: Path, folder: Path) -> Desk:
    copy = folder / "crisis.db"
    shutil.copyfile(saved, copy)
    return open_desk(load_settings(environ={"CRISISBOT_DB": str(copy)}), clock=ManualClock(START + 3 * DAY))


@pytest.fixture
def desk(played: Played, tmp_path: Path) -> Iterator[Desk]:
    """This test's own copy of both incidents, before the escalation."""
    opened = open_copy(played.before, tmp_path)
    yield opened
    opened.store.close()


@pytest.fixture
def escalated(played: Played, tmp_path: Path) -> Iterator[Desk]:
    """This test's own copy of both incidents, after the second one escalated."""
    opened = open_copy(played.escalated, tmp_path)
    yield opened
    opened.store.close()


@pytest.fixture
def db(desk: Desk) -> Path:
    """The database file of this test's copy, for `crisisbot report`."""
    return desk.store.path


def incident(desk: Desk, code: str) -> Incident:
    found = desk.store.incident_by_code(code)
    assert found is not None
    return found


def at(code: str, minutes: float) -> datetime:
    """`minutes` after the declaration of the played incident `code`."""
    base = {LATE: START - DAY, IN_TIME: START}[code]
    return base + timedelta(minutes=minutes)


def post_update_round(
    desk: Desk, incident: Incident, minutes: float, networks: tuple[str, ...] = ("x",), kind: str = "status_update"
) -> None:
    """One public update round as the update flow records it: drafted 10 minutes before, then posted."""
    store = desk.store
    drafted = at(incident.code, minutes - 10)
    for offset, network in enumerate(networks):
        draft = store.insert_draft(
            incident_id=incident.id,
            network=network,
            language="en",
            kind=kind,
            text="Update",
            version=1,
            status="posted",
            created_at=drafted,
            updated_at=drafted,
        )
        store.add_event(incident.id, drafted, ID["dewi"], "drafted", draft_id=draft.id, network=network, kind=kind)
        store.add_event(
            incident.id,
            at(incident.code, minutes + offset * 5),
            ID["bram"],
            "posted",
            draft_id=draft.id,
            network=network,
            version=1,
        )


def resolve_by_event(desk: Desk, incident: Incident, minutes: float, **data: object) -> Incident:
    """The resolve flow's record: the incident resolved and a `resolved` event with the team's summary."""
    when = at(incident.code, minutes)
    desk.store.add_event(incident.id, when, ID["anna"], "resolved", **data)
    return desk.store.update_incident(incident.id, status="resolved", resolved_at=when)


# ---- metrics -------------------------------------------------------------------------------------------
def test_metrics_of_a_first_response_in_time(desk: Desk) -> None:
    m = incident_metrics(desk, incident(desk, IN_TIME))
    assert m.detection_to_declaration_minutes == 0.0
    assert m.acknowledge_minutes["crisis_lead"] == 3.0
    assert m.acknowledge_minutes["legal"] == 7.0
    assert m.acknowledge_minutes["social_media_manager"] is None  # bram posted, but never acknowledged
    assert m.all_acknowledged_minutes is None
    assert m.first_approved_minutes == 18.0
    assert (m.first_response_minutes, m.first_response_target_minutes, m.first_response_met) == (25.0, 60.0, True)
    assert m.first_response_network == "x"
    assert m.approval_latency["crisis_lead"].median_minutes == 12.0
    assert m.approval_latency["legal"].median_minutes == 18.0
    assert m.approval_latency["legal"].max_minutes == 18.0
    assert list(m.approval_latency) == ["crisis_lead", "legal"]
    assert (m.reminders, m.deadlines_missed, m.refused, m.rejections, m.escalations) == (0, 0, 0, 0, [])
    assert m.levels == [2] and m.updates == [] and m.resolved_minutes is None
    assert [h.id for h in m.hints] == ["slow_acknowledgements", "slow_approvals"]
    assert m.hints[1].roles == ["legal"]  # 18 minutes; the crisis lead's 12 is fine


def test_late_first_response_is_missed_and_the_reminders_are_counted(desk: Desk) -> None:
    m = incident_metrics(desk, incident(desk, LATE))
    assert (m.first_response_minutes, m.first_response_met) == (75.0, False)
    assert m.first_approved_minutes == 40.0
    assert m.approval_latency["crisis_lead"].median_minutes == 20.0
    assert m.approval_latency["legal"].median_minutes == 40.0
    assert (m.reminders, m.deadlines_missed) == (3, 1)  # 30, 15 and 5 minutes before the deadline
    assert m.ack_escalations == 3  # the tech lead: owner reminded, backups paged, crisis lead paged
    assert m.acknowledge_minutes["tech_lead"] is None
    assert [(h.id, h.roles) for h in m.hints[:2]] == [
        ("first_response_missed", []),
        ("slow_acknowledgements", ["tech_lead"]),
    ]


def test_all_acknowledged_and_an_escalated_role_counted_from_its_paging(escalated: Desk) -> None:
    m = incident_metrics(escalated, incident(escalated, IN_TIME))
    assert m.levels == [2, 3]
    change = m.escalations[0]
    assert (change.minutes, change.actor, change.from_level, change.to_level) == (30.0, ID["anna"], 2, 3)
    assert change.new_roles == ["spokesperson"]
    seats = {r.role: r for r in m.roles}
    assert (seats["spokesperson"].paged_minutes, seats["spokesperson"].minutes) == (30.0, 4.0)
    assert seats["spokesperson"].window_minutes == 10  # level 3's window
    assert m.acknowledge_minutes["social_media_manager"] == 28.0
    assert m.all_acknowledged_minutes == 34.0  # the spokesperson, last, 30 + 4 minutes after declaring
    late = ["social_media_manager", "communications", "tech_lead"]  # 26–28 minutes; the window is 15
    assert [r for r, s in seats.items() if s.within_window is False] == late
    assert m.hints[0].id == "slow_acknowledgements" and m.hints[0].roles == late


def test_update_cadence_counts_each_round_once_against_the_level(desk: Desk) -> None:
    found = incident(desk, IN_TIME)  # level 2: a public update every 120 minutes
    post_update_round(desk, found, 125, networks=("x", "linkedin"))  # 100 min after the first response
    post_update_round(desk, found, 275)  # 150 min: too late
    found = resolve_by_event(desk, found, 500)  # 225 min without an update before resolving
    m = incident_metrics(desk, found)
    assert [(u.minutes, u.allowed_minutes, u.kept, u.until_resolution) for u in m.updates] == [
        (100.0, 120, True, False),
        (150.0, 120, False, False),
        (225.0, 120, False, True),
    ]
    assert (m.updates_kept, m.updates_missed) == (1, 2)
    assert {"updates_missed", "record_lessons"} <= {h.id for h in m.hints}


def test_cadence_follows_the_level_and_resolving_in_time_needs_no_more_updates(escalated: Desk) -> None:
    desk = escalated
    found = incident(desk, IN_TIME)  # level 2 (every 120 minutes) until +30, then level 3 (every 60)
    post_update_round(desk, found, 80)  # 55 min after the first response, posted at level 2 (as the bot's timer)
    post_update_round(desk, found, 150, kind="resolved")  # 70 min after an update posted at level 3
    found = resolve_by_event(desk, found, 160, summary="Fixed", impact="None", lessons="Practise")
    m = incident_metrics(desk, found)
    assert [(u.minutes, u.allowed_minutes, u.kept) for u in m.updates] == [(55.0, 120, True), (70.0, 60, False)]
    assert m.resolved_minutes == 160.0


def test_resolution_and_survey_answers_are_summarised(desk: Desk) -> None:
    found = resolve_by_event(
        desk,
        incident(desk, IN_TIME),
        240,
        summary="A misconfigured export exposed 120 emails.",
        impact="120 customers informed.",
        lessons="Pre-approve the holding statement.",
    )
    store = desk.store
    anna = ID["anna"]
    store.add_event(found.id, at(IN_TIME, 300), anna, "survey_answer", questions={"q1": 2, "q2": 3, "q3": "Faster"})
    store.add_event(found.id, at(IN_TIME, 301), anna, "survey_answer", questions={"q1": 4, "q2": 5, "q3": ""})
    store.add_event(
        found.id,
        at(IN_TIME, 302),
        ID["chen"],
        "survey_answer",
        questions={"q1": 5, "q2": 7, "q3": "Legal needs the facts sooner"},
    )
    m = incident_metrics(desk, found)
    assert (m.summary, m.impact, m.lessons) == (
        "A misconfigured export exposed 120 emails.",
        "120 customers informed.",
        "Pre-approve the holding statement.",
    )
    assert m.resolved_minutes == 240.0
    assert m.survey.responses == 2  # anna's second answer replaces her first
    assert (m.survey.q1_mean, m.survey.q2_mean) == (4.5, 5.0)  # chen's 7 is off the 1–5 scale
    assert m.survey.comments == ["Legal needs the facts sooner"]
    assert "record_lessons" not in [h.id for h in m.hints]


def test_nothing_posted_is_open_until_the_deadline_then_missed(desk: Desk) -> None:
    declared = declare(desk, DeclareRequest(scenario="service-outage", title="App down", declared_by=ID["bram"]))
    m = incident_metrics(desk, declared.incident)
    assert (m.first_response_minutes, m.first_response_met, m.first_approved_minutes) == (None, None, None)
    assert isinstance(desk.clock, ManualClock)
    desk.clock.advance(minutes=61)
    m = incident_metrics(desk, declared.incident)
    assert m.first_response_met is False and m.hints[0].id == "first_response_missed"
    text = render_report(desk, declared.incident, "en")
    assert "| Detection → first public response | nothing posted | 60 minutes | ❌ |" in text
    assert "No public response went out within the target of 60 minutes." in text


# ---- the Markdown report -------------------------------------------------------------------------------
def test_english_report_shows_the_numbers_against_the_target(desk: Desk) -> None:
    text = render_report(desk, incident(desk, IN_TIME), "en", user_names=NAMES)
    assert text.startswith(f"# Evaluation report {IN_TIME}: Customer emails exposed")
    assert "Data breach" in text and "**Level:** 2" in text
    assert "**Declared by:** Gijs Mulder on 14 Mar 2026, 10:00" in text  # Amsterdam time
    assert "| Detection → first public response | 25.0 min | 60 minutes | ✅ |" in text
    assert "| Declaration → first draft fully approved | 18.0 min |" in text
    assert "| Crisis lead | Anna de Vries | at declaring | 3.0 min | 15 minutes | ✅ |" in text
    assert "| Legal | Chen Wu | at declaring | 7.0 min | 15 minutes | ✅ |" in text
    assert "| Crisis lead | 1 | 12.0 min | 12.0 min |" in text
    assert "| Legal | 1 | 18.0 min | 18.0 min |" in text
    assert "| 10:25 | +25 | Bram Jansen | Posted on X (version 1) |" in text
    assert "| 10:00 | +0 | Crisis Desk | Paged Anna de Vries as Crisis lead |" in text
    assert "Check the on-call owners and backups" in text
    assert "<@" not in text and "{{" not in text


def test_report_without_names_shows_plain_user_ids(desk: Desk) -> None:
    text = render_report(desk, incident(desk, IN_TIME), "en")
    assert "| 10:03 | +3 | U0ANNA | Acknowledged as Crisis lead |" in text
    assert "<@" not in text


def test_dutch_report_speaks_dutch_with_dutch_numbers(desk: Desk) -> None:
    text = render_report(desk, incident(desk, IN_TIME), "nl", user_names=NAMES)
    assert text.startswith(f"# Evaluatierapport {IN_TIME}")
    assert "Datalek" in text and "## Kerncijfers" in text
    assert "| Ontdekking → eerste publieke reactie | 25,0 min | 60 minuten | ✅ |" in text
    assert "| Crisismanager | Anna de Vries | bij de melding | 3,0 min | 15 minuten | ✅ |" in text
    assert "| Juridisch adviseur | 1 | 18,0 min | 18,0 min |" in text
    assert "Geplaatst op X" in text and "14 mrt 2026" in text
    assert "Evaluation" not in text and "Key metrics" not in text


def test_late_report_marks_the_miss_and_suggests_holding_statements(desk: Desk) -> None:
    found = incident(desk, LATE)
    text = render_report(desk, found, "en", user_names=NAMES)
    assert "| Detection → first public response | 75.0 min | 60 minutes | ❌ |" in text
    assert "later than the target of 60 minutes" in text
    assert "prepare pre-approved holding statements" in text.lower()
    assert "First-response deadline of 11:00 missed" in text
    dutch = render_report(desk, found, "nl", user_names=NAMES)
    assert "75,0 min" in dutch and "wachtberichten" in dutch


def test_report_of_an_escalation(escalated: Desk) -> None:
    text = render_report(escalated, incident(escalated, IN_TIME), "en", user_names=NAMES)
    assert "**Level:** 2 → 3" in text
    assert "| 10:30 | 30.0 | Anna de Vries | ⬆️ level 2 → 3 | Spokesperson |" in text
    assert "| Spokesperson | Fleur Smit | +30.0 min | 4.0 min | 10 minutes | ✅ |" in text
    assert "| Declaration → all roles acknowledged | 34.0 min | | ✅ |" in text


def test_report_shows_resolution_survey_notes_and_status_updates(desk: Desk) -> None:
    found = incident(desk, IN_TIME)
    store = desk.store
    store.add_event(found.id, at(IN_TIME, 40), ID["dewi"], "status_update", text="Export fixed | emails being sent")
    store.add_event(found.id, at(IN_TIME, 45), ID["anna"], "note", text="Ask <@U0ELI> for the log, see <#C1|legal>")
    found = resolve_by_event(
        desk,
        found,
        240,
        summary="Export misconfigured.",
        impact="120 customers.",
        lessons="Pre-approve holding statements.",
    )
    store.add_event(
        found.id,
        at(IN_TIME, 300),
        ID["chen"],
        "survey_answer",
        questions={"q1": 4, "q2": 5, "q3": "More practice\nwith legal"},
    )
    text = render_report(desk, found, "en", user_names=NAMES)
    assert "## Summary" in text and "**What happened:** Export misconfigured." in text
    assert "**Impact:** 120 customers." in text and "**Lessons learned:** Pre-approve holding statements." in text
    assert "Status update: Export fixed \\| emails being sent" in text  # a pipe cannot break the table
    assert "Note: Ask Eli Visser for the log, see #legal" in text
    assert "**Resolved:** 14 Mar 2026, 14:00, 4 hours after declaring" in text
    assert "1 person answered." in text and "**4.0** on average" in text
    assert "> More practice\n> with legal" in text
    dutch = render_report(desk, found, "nl", user_names=NAMES)
    assert "## Samenvatting" in dutch and "Gemiddeld **4,0**" in dutch and "Notitie: Ask Eli Visser" in dutch


def test_an_incident_past_midnight_shows_the_date_with_each_time(desk: Desk) -> None:
    found = incident(desk, IN_TIME)
    desk.store.add_event(found.id, at(IN_TIME, 900), ID["anna"], "note", text="Quiet night")  # 01:00 next day
    text = render_report(desk, found, "en", user_names=NAMES)
    assert "| 14 Mar 10:25 | +25 | Bram Jansen | Posted on X (version 1) |" in text
    assert "| 15 Mar 01:00 | +900 | Anna de Vries | Note: Quiet night |" in text


def test_a_company_messages_folder_without_the_report_template_uses_the_default(desk: Desk, tmp_path: Path) -> None:
    older = tmp_path / "messages"  # copied by a `crisisbot init` from before the report existed
    shutil.copytree(default_dir("messages"), older)
    (older / "en" / "report.md.j2").unlink()
    text = render_report(dataclasses.replace(desk, messages=Messages(older)), incident(desk, IN_TIME), "en")
    assert "| Detection → first public response | 25.0 min | 60 minutes | ✅ |" in text


def test_a_broken_template_edit_is_named_with_its_line(desk: Desk, tmp_path: Path) -> None:
    messages = tmp_path / "messages"
    shutil.copytree(default_dir("messages"), messages)
    template = messages / "en" / "report.md.j2"
    template.write_text(template.read_text(encoding="utf-8") + "\n{{ no_such_value }}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        render_report(dataclasses.replace(desk, messages=Messages(messages)), incident(desk, IN_TIME), "en")
    assert "report.md.j2:" in str(refused.value) and "no_such_value" in str(refused.value)


# ---- the chart and the files ---------------------------------------------------------------------------
def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_write_report_puts_markdown_and_chart_side_by_side(desk: Desk, tmp_path: Path) -> None:
    markdown, chart = write_report(desk, incident(desk, IN_TIME), "en", tmp_path / "out" / "evaluation.md")
    assert markdown == tmp_path / "out" / "evaluation.md" and chart == tmp_path / "out" / "evaluation.png"
    assert "![Timeline of the first hours](evaluation.png)" in markdown.read_text(encoding="utf-8")
    assert png_size(chart) == (1000, 400)
    assert chart.stat().st_size > 5_000


def test_timeline_chart_of_a_late_incident_in_dutch(desk: Desk, tmp_path: Path) -> None:
    chart = render_timeline_chart(desk, incident(desk, LATE), "nl", tmp_path / "tijdlijn.png")
    assert png_size(chart) == (1000, 400) and chart.stat().st_size > 5_000


# ---- crisisbot report ------------------------------------------------------------------------------------
@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A company config, and a clean environment working from an empty folder."""
    isolate(monkeypatch, tmp_path)
    path = tmp_path / "crisisbot.yaml"
    path.write_text("company:\n  name: Acme\n  timezone: Europe/Amsterdam\n", encoding="utf-8")
    return path


def test_cli_writes_the_report_and_the_chart(db: Path, config: Path) -> None:
    result = cli("report", IN_TIME, "--config", config, env={"CRISISBOT_DB": str(db)})
    assert result.exit_code == 0, result.output
    markdown, chart = Path.cwd() / f"report-{IN_TIME}.md", Path.cwd() / f"report-{IN_TIME}.png"
    assert f"wrote {markdown}" in result.output and f"wrote {chart}" in result.output
    text = markdown.read_text(encoding="utf-8")
    assert "Acme" in text and "| Detection → first public response | 25.0 min | 60 minutes | ✅ |" in text
    assert png_size(chart) == (1000, 400)


def test_cli_report_in_dutch_to_a_chosen_file(db: Path, config: Path, tmp_path: Path) -> None:
    target = tmp_path / "evaluatie.md"
    result = cli(
        "report",
        IN_TIME.lower(),
        "--config",
        config,
        "--language",
        "nl",
        "--output",
        target,
        env={"CRISISBOT_DB": str(db)},
    )
    assert result.exit_code == 0, result.output
    assert "25,0 min" in target.read_text(encoding="utf-8") and (tmp_path / "evaluatie.png").is_file()


def test_cli_refuses_an_unknown_code_clearly(db: Path, config: Path) -> None:
    result = cli("report", "CR-2026-999", "--config", config, env={"CRISISBOT_DB": str(db)})
    assert_refused(result, "CR-2026-999: no incident with that code", f"known codes: {LATE}, {IN_TIME}")
    assert not list(Path.cwd().iterdir())


def test_cli_refuses_a_missing_database_without_creating_one(config: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    result = cli("report", IN_TIME, "--config", config, env={"CRISISBOT_DB": str(missing)})
    assert_refused(result, "nope.db: no database here")
    assert not missing.exists()


def test_cli_refuses_an_unsupported_language(db: Path, config: Path) -> None:
    result = cli("report", IN_TIME, "--config", config, "--language", "de", env={"CRISISBOT_DB": str(db)})
    assert_refused(result, "--language: 'de' is not supported")
