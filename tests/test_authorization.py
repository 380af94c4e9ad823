"""Who may stop the GDPR clock, and who may see a private incident, through the front door.

Signed HTTP into the real Bolt app, the emulator's Web API, a real SQLite file. The matrix of who may do what
for every role lives in tests/test_security.py (`gdpr_notified` is one of its actions); these tests cover the
other ways in: the checklist's Done button, `/crisis list`, the `/crisis status` chooser and its buttons.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from conftest import ID, START, Crisis, assert_valid_for_slack, db_rows

from bot.clock import ManualClock
from bot.incidents.declare import DeclareRequest, declare
from bot.localdesk import start_local
from bot.models import Incident
from bot.sandbox.model import GENERAL_ID
from tests.fixtures_foundation import assert_refused, cli, isolate, make_project

ADVISED_TEXT = 4000  # Slack truncates a message's text past 40,000 characters and advises at most 4,000


def header(crisis: Crisis, incident: Incident) -> dict[str, Any]:
    ts = crisis.store.delivery(f"{incident.id}:header")
    message = crisis.emu.message(incident.room_ref, ts)
    assert message is not None
    return message


def gdpr_timers(crisis: Crisis, incident: Incident) -> list:
    return [t for t in crisis.store.pending_timers(incident.id) if t.kind == "gdpr"]


# ==== the GDPR clock =================================================================================================
def test_the_gdpr_checklist_item_is_for_legal_and_the_crisis_lead_only(staffed: Crisis) -> None:
    incident = staffed.declare()
    ts = header(staffed, incident)["ts"]
    assert gdpr_timers(staffed, incident)  # the 72-hour reminders are running
    before = db_rows(staffed)
    for who in ("gijs", "dewi", "bram"):  # nobody, communications, the social media manager (who declared)
        staffed.click(
            who, "checklist_done", channel_id=incident.room_ref, ts=ts, value=f"{incident.id}:notify_authority"
        )
        note = staffed.last_ephemeral(who)
        assert note.startswith("You may not stop the 72-hour GDPR clock"), note
        assert "Legal" in note and "Crisis lead" in note
    after = db_rows(staffed)
    assert {t: r for t, r in after.items() if t != "events"} == {t: r for t, r in before.items() if t != "events"}
    assert [(e.actor, e.data["action"]) for e in staffed.events(incident, "refused")] == [
        (ID[who], "gdpr_notified") for who in ("gijs", "dewi", "bram")
    ]
    assert gdpr_timers(staffed, incident) and "notify_authority" not in staffed.store.checklist(incident.id)

    staffed.click(
        "chen", "checklist_done", channel_id=incident.room_ref, ts=ts, value=f"{incident.id}:notify_authority"
    )
    assert staffed.store.checklist(incident.id)["notify_authority"].done_by == ID["chen"]
    assert [e.actor for e in staffed.events(incident, "gdpr_notified")] == [ID["chen"]]
    assert gdpr_timers(staffed, incident) == []


def test_a_playbook_may_let_communications_stop_the_gdpr_clock(staffed: Crisis) -> None:
    book = staffed.local.desk.playbooks["data-breach"]
    staffed.local.desk.playbooks["data-breach"] = book.model_copy(
        update={"gdpr_notified_by": ["legal", "crisis_lead", "communications"]}
    )
    incident = staffed.declare()
    staffed.cmd("gijs", "gdpr notified", channel_id=incident.room_ref)
    assert staffed.last_ephemeral("gijs").startswith("You may not stop the 72-hour GDPR clock")
    staffed.cmd("dewi", "gdpr notified", channel_id=incident.room_ref)
    assert [e.actor for e in staffed.events(incident, "gdpr_notified")] == [ID["dewi"]]
    assert gdpr_timers(staffed, incident) == []


def test_crisisbot_check_validates_gdpr_notified_by(tmp_path, monkeypatch) -> None:
    isolate(monkeypatch, tmp_path)
    project = make_project(tmp_path)
    path = project / "playbooks" / "data-breach.yaml"
    original = path.read_text(encoding="utf-8")
    path.write_text(original + "gdpr_notified_by: [legal, crisis_lead, communications]\n", encoding="utf-8")
    assert cli("check", "--config", project / "crisisbot.yaml").exit_code == 0
    path.write_text(original + "gdpr_notified_by: [legal, wizard]\n", encoding="utf-8")
    assert_refused(cli("check", "--config", project / "crisisbot.yaml"), f"{path}:", "gdpr_notified_by", "'wizard'")


# ==== private incidents ==============================================================================================
def declare_private(crisis: Crisis, title: str, who: str = "anna") -> Incident:
    """`who` declares through the form with "private channel" ticked."""
    crisis.cmd(who, "")
    crisis.submit(
        who,
        {
            "scenario": {"value": {"type": "static_select", "selected_option": {"value": "data-breach"}}},
            "title": {"value": {"type": "plain_text_input", "value": title}},
            "private": {"value": {"type": "checkboxes", "selected_options": [{"value": "private"}]}},
        },
    )
    incident = crisis.store.incidents()[-1]
    assert incident.title == title and incident.private
    return incident


def test_a_private_incident_is_left_out_of_the_list_for_people_it_is_not_for(staffed: Crisis) -> None:
    public = staffed.declare("declare service-outage 1 App slow", who="eli")
    private = declare_private(staffed, "Board member's data leaked")

    staffed.cmd("gijs", "list")
    text = staffed.last_ephemeral("gijs")
    assert public.code in text and "1 active incident" in text
    assert private.code not in text and "Board member" not in text

    staffed.cmd("chen", "list")  # legal holds a role in it: chen sees both
    text = staffed.last_ephemeral("chen")
    assert public.code in text and private.code in text and "2 active incident" in text


def test_the_status_chooser_and_its_buttons_keep_a_private_incident_to_its_people(staffed: Crisis) -> None:
    public = staffed.declare("declare service-outage 1 App slow", who="eli")
    private = declare_private(staffed, "Board member's data leaked")

    staffed.cmd("gijs", "status", channel_id=GENERAL_ID)
    note = staffed.emu.ephemerals(ID["gijs"])[-1]
    buttons = [b for b in note["blocks"] if b.get("accessory", {}).get("action_id") == "show_status"]
    assert [b["accessory"]["value"] for b in buttons] == [str(public.id)]
    assert "Board member" not in str(note)

    # A button with the private incident's id (a copy of someone else's chooser, or a forged value): refused.
    staffed.click(
        "gijs",
        "show_status",
        channel_id=GENERAL_ID,
        ts=note["ts"],
        value=str(private.id),
        block_id=buttons[0]["block_id"],
    )
    answer = staffed.last_ephemeral("gijs")
    assert "private" in answer and private.code not in answer and "Board member" not in answer

    staffed.cmd("chen", "status", channel_id=GENERAL_ID)
    note = staffed.emu.ephemerals(ID["chen"])[-1]
    values = [b["accessory"]["value"] for b in note["blocks"] if b.get("accessory")]
    assert sorted(values) == sorted([str(public.id), str(private.id)])
    staffed.click("chen", "show_status", channel_id=GENERAL_ID, ts=note["ts"], value=str(private.id))
    assert private.code in staffed.last_ephemeral("chen") and "Board member" in staffed.last_ephemeral("chen")


# ==== hundreds of active incidents =====================================================================================
def many_incidents(crisis: Crisis, count: int) -> list[Incident]:
    """`count` active incidents in the core (the front door of declaring is tested elsewhere), each detected a
    minute before the next, every tenth one already answered in public."""
    desk, made = crisis.local.desk, []
    for n in range(count):
        request = DeclareRequest(
            scenario="service-outage",
            level=1 + n % 3,
            title=f"Outage number {n:03d} in region {n % 7}",
            declared_by=ID["eli"],
            detected_at=crisis.clock.now() - timedelta(minutes=count - n),
        )
        incident = declare(desk, request).incident
        if n % 10 == 0:
            incident = crisis.store.update_incident(incident.id, first_response_at=crisis.clock.now())
        made.append(incident)
    return made


def test_list_with_hundreds_of_active_incidents_fits_slack_with_the_most_urgent_first(staffed: Crisis) -> None:
    made = many_incidents(staffed, 300)
    problems = len(staffed.emu.problems)
    staffed.cmd("dewi", "list")
    assert staffed.emu.problems[problems:] == []  # Slack took the answer
    text = staffed.last_ephemeral("dewi")
    assert len(text) <= ADVISED_TEXT
    assert text.startswith("*300 active incidents*")
    shown = [i for i in made if f"*{i.code}*" in text]
    assert 5 <= len(shown) < 300
    assert text.splitlines()[-1] == (
        f"…and {300 - len(shown)} more. Type `/crisis status` in an incident's channel to see that one."
    )
    # the most urgent: still waiting for a first response, the most overdue (detected earliest) first
    waiting = [i for i in made if i.first_response_at is None]
    assert shown == waiting[: len(shown)]
    codes = [line.split("*")[1] for line in text.splitlines() if line.startswith("• *")]
    assert codes == [i.code for i in waiting[: len(shown)]]


def test_the_status_chooser_with_hundreds_of_incidents_stays_within_fifty_blocks(staffed: Crisis) -> None:
    made = many_incidents(staffed, 120)
    problems = len(staffed.emu.problems)
    staffed.cmd("dewi", "status", channel_id=GENERAL_ID)
    assert staffed.emu.problems[problems:] == []
    note = staffed.emu.ephemerals(ID["dewi"])[-1]
    assert len(note["blocks"]) == 50
    buttons = [b["accessory"]["value"] for b in note["blocks"] if b.get("accessory")]
    waiting = [i for i in made if i.first_response_at is None]
    assert buttons == [str(i.id) for i in waiting[: len(buttons)]]
    assert note["blocks"][-1]["elements"][0]["text"].startswith(f"…and {120 - len(buttons)} more.")


def test_the_list_says_how_many_more_in_dutch(tmp_path) -> None:
    clock = ManualClock(START)
    with start_local(db_path=tmp_path / "crisis.db", clock=clock, environ={"CRISISBOT_LANGUAGE": "nl"}) as local:
        crisis = Crisis(local, clock)
        crisis.set_roles()
        made = many_incidents(crisis, 60)
        crisis.cmd("dewi", "list")
        text = crisis.last_ephemeral("dewi")
        shown = [i for i in made if f"*{i.code}*" in text]
        assert len(text) <= ADVISED_TEXT and 0 < len(shown) < 60
        assert text.splitlines()[-1] == (
            f"…en nog {60 - len(shown)}. Typ `/crisis status` in het kanaal van een incident om dat te bekijken."
        )
        assert_valid_for_slack(local.emulator)


# ==== a form submitted after its opener lost the right ===============================================================
def test_an_edit_form_submitted_after_losing_the_role_is_refused_in_the_form_and_on_the_timeline(
    staffed: Crisis,
) -> None:
    incident = staffed.declare()
    staffed.click_draft("chen", incident, "x", "draft_edit")  # legal may edit: the form opens
    staffed.store.set_role_owners("legal", [ID["dewi"]])  # then legal is someone else's
    refused = len(staffed.events(incident, "refused"))
    response = staffed.submit("chen", {"text": {"value": {"type": "plain_text_input", "value": "We are on it."}}})
    assert response.json is not None and response.json["response_action"] == "errors"
    assert response.json["errors"]["text"].startswith("You may not edit drafts"), response.json["errors"]
    assert staffed.emu.open_view(ID["chen"]) is not None  # the form stays open with what chen typed
    [refusal] = staffed.events(incident, "refused")[refused:]  # recorded once, after the answer
    assert (refusal.actor, refusal.data["action"]) == (ID["chen"], "edit")
    assert not staffed.events(incident, "edited") and staffed.drafts(incident)["x"].version == 1
