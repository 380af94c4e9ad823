"""From declaration to lessons learned: status, list, updates, notes, escalation, resolve, survey, announcements."""

from __future__ import annotations

from datetime import datetime

import pytest
from conftest import ID, START, Crisis

from bot.clock import ManualClock
from bot.localdesk import start_local
from bot.sandbox.model import GENERAL_ID


def _resolve_values(
    summary: str = "Portal closed, affected customers emailed",
    impact: str = "1,200 customers",
    lessons: str = "Pre-approve a holding statement",
) -> dict:
    return {
        "summary": {"value": {"type": "plain_text_input", "value": summary}},
        "impact": {"value": {"type": "plain_text_input", "value": impact}},
        "lessons": {"value": {"type": "plain_text_input", "value": lessons}},
    }


def authority_notified(at: datetime) -> dict:
    """The resolve form's GDPR question of a data breach, answered "notified" at `at`."""
    return {
        "authority": {"value": {"type": "radio_buttons", "selected_option": {"value": "notified"}}},
        "authority_at": {"value": {"type": "datetimepicker", "selected_date_time": int(at.timestamp())}},
    }


def test_status_in_channel_shows_the_state(staffed: Crisis) -> None:
    incident = staffed.declare()
    staffed.click("chen", "acknowledge", channel_id=staffed.emu.dm_channel_of(ID["chen"]))
    staffed.cmd("anna", "status", channel_id=incident.room_ref)
    text = staffed.last_ephemeral("anna")
    for expected in (
        "CR-2026-001",
        "level 2",
        "60 minutes left",
        "Legal: <@U0CHEN> ✅",
        "X first response v1",
        "waiting for approval",
        "0/4 done",
    ):
        assert expected in text, expected


def test_status_elsewhere_offers_a_list_to_choose_from(staffed: Crisis) -> None:
    staffed.declare()
    staffed.declare("declare service-outage 1 App slow", who="eli")
    staffed.cmd("anna", "status")
    note = staffed.emu.ephemerals(ID["anna"])[-1]
    buttons = [b["accessory"]["value"] for b in note["blocks"] if b.get("accessory")]
    assert len(buttons) == 2
    staffed.click("anna", "show_status", channel_id=GENERAL_ID, ts=note["ts"], value=buttons[1])
    assert "App slow" in staffed.last_ephemeral("anna")


def test_list_shows_active_incidents_with_countdown_and_owners(staffed: Crisis) -> None:
    staffed.declare()
    staffed.clock.advance(minutes=70)
    staffed.cmd("dewi", "list")
    text = staffed.last_ephemeral("dewi")
    assert "1 active incident" in text and "CR-2026-001" in text and "OVERDUE" in text
    assert "Crisis lead: <@U0ANNA>" in text


def test_update_posts_internally_and_turns_into_public_drafts(staffed: Crisis) -> None:
    incident = staffed.declare()
    staffed.cmd("eli", "update Portal closed at 09:40; no new access since", channel_id=incident.room_ref)
    message = [m for m in staffed.emu.messages(incident.room_ref) if m.get("text", "").startswith("📝")][-1]
    assert "Portal closed at 09:40" in message["text"]
    assert staffed.events(incident, "status_update")[0].data["text"].startswith("Portal closed")
    staffed.click("dewi", "draft_update", channel_id=incident.room_ref, ts=message["ts"])
    updates = staffed.store.drafts(incident.id, "status_update")
    assert len(updates) == 3 and all(d.message_ref for d in updates)
    assert any("Portal closed at 09:40" in d.text for d in updates)


def test_note_and_message_shortcut_land_on_the_timeline(staffed: Crisis) -> None:
    incident = staffed.declare()
    staffed.cmd("dewi", "note Journalist called, call back at 15:00", channel_id=incident.room_ref)
    assert staffed.events(incident, "note")[0].data["text"] == "Journalist called, call back at 15:00"
    staffed.emu.user_message(ID["eli"], incident.room_ref, "Root cause: expired partner API key")
    message = staffed.emu.messages(incident.room_ref)[-1]
    staffed.emu.message_shortcut(ID["eli"], "add_to_timeline", channel_id=incident.room_ref, ts=message["ts"])
    staffed.local.settle()
    notes = staffed.events(incident, "note")
    assert notes[-1].data["text"] == "Root cause: expired partner API key"


@pytest.mark.parametrize(
    ("text", "where", "expected"),
    [
        ("resolve", "general", "incident channel"),
        ("update Fixed", "general", "incident channel"),
        ("note", "channel", "Write the note"),
        ("escalate 4", "channel", "Use 1, 2 or 3"),
        ("deescalate 0", "channel", "Use 1, 2 or 3"),
        ("escalate 2", "channel", "already at level 2"),
    ],
)
def test_commands_in_the_wrong_place_or_shape_change_nothing(
    staffed: Crisis, text: str, where: str, expected: str
) -> None:
    incident = staffed.declare()
    before = (len(staffed.events(incident)), staffed.store.incident(incident.id))
    staffed.cmd("anna", text, channel_id=incident.room_ref if where == "channel" else None)
    assert expected in staffed.last_ephemeral("anna")
    assert (len(staffed.events(incident)), staffed.store.incident(incident.id)) == before


def test_resolve_by_someone_who_is_not_the_crisis_lead_is_refused(staffed: Crisis) -> None:
    incident = staffed.declare()
    staffed.cmd("bram", "resolve", channel_id=incident.room_ref)
    assert "You may not resolve this incident here" in staffed.last_ephemeral("bram")
    assert staffed.emu.open_view(ID["bram"]) is None
    assert staffed.store.incident(incident.id).status == "active"


def test_escalate_and_deescalate_change_roles_and_approval_rule(staffed: Crisis) -> None:
    incident = staffed.declare()
    staffed.cmd("anna", "escalate", channel_id=incident.room_ref)
    assert staffed.store.incident(incident.id).level == 3
    assert ID["fleur"] in staffed.emu.channel(incident.room_ref)["members"]
    assert "level 3" in staffed.emu.channel(incident.room_ref)["topic"]["value"]
    staffed.cmd("anna", "deescalate 1", channel_id=incident.room_ref)
    assert staffed.store.incident(incident.id).level == 1
    assert [e.kind for e in staffed.events(incident) if "escalated" in e.kind] == ["escalated", "deescalated"]


def test_resolve_closes_everything_posts_report_and_asks_the_survey(staffed: Crisis) -> None:
    incident = staffed.declare()
    staffed.click("chen", "acknowledge", channel_id=staffed.emu.dm_channel_of(ID["chen"]))
    for who in ("anna", "chen"):
        staffed.click_draft(who, incident, "x", "draft_approve")
    staffed.clock.advance(minutes=30)
    staffed.click_draft("bram", incident, "x", "draft_mark_posted")
    staffed.clock.advance(hours=2)

    staffed.cmd("anna", "resolve", channel_id=incident.room_ref)
    assert staffed.emu.open_view(ID["anna"])["callback_id"] == "resolve"
    # the authority was notified: then nothing outlives the resolve (an open GDPR duty would, see test_promises)
    staffed.submit("anna", {**_resolve_values(), **authority_notified(staffed.clock.now())})

    incident = staffed.store.incident(incident.id)
    assert incident.status == "resolved" and incident.resolved_at == staffed.clock.now()
    assert staffed.store.pending_timers(incident.id) == []
    resolved = staffed.events(incident, "resolved")[0]
    assert resolved.data == {
        "summary": "Portal closed, affected customers emailed",
        "impact": "1,200 customers",
        "lessons": "Pre-approve a holding statement",
    }
    texts = [m.get("text", "") for m in staffed.emu.messages(incident.room_ref)]
    assert any(t.startswith("✅ CR-2026-001 resolved by <@U0ANNA>") for t in texts)
    header = str(staffed.emu.messages(incident.room_ref)[0]["blocks"])
    assert "Resolved" in header and "checklist_done" not in header
    closing = staffed.store.drafts(incident.id, "resolved")
    assert len(closing) == 3 and all(d.message_ref for d in closing)
    # the closing drafts still go through approval after the resolve
    staffed.click_draft("anna", incident, "x", "draft_approve")
    assert any(a.role == "crisis_lead" for a in staffed.store.approvals(staffed.drafts(incident)["x"].id))
    # report: Markdown and the PNG chart, uploaded through the files API
    names = sorted(f["name"] for f in staffed.emu.files)
    assert names == ["report-CR-2026-001.md", "report-CR-2026-001.png"]
    # survey: every participant gets three questions
    dm = staffed.emu.dms(ID["chen"])[-1]
    assert "Three quick questions" in dm["text"]
    staffed.click("chen", "survey_open", channel_id=staffed.emu.dm_channel_of(ID["chen"]), ts=dm["ts"])
    staffed.submit(
        "chen",
        {
            "q1": {"value": {"type": "static_select", "selected_option": {"value": "4"}}},
            "q2": {"value": {"type": "static_select", "selected_option": {"value": "5"}}},
            "q3": {"value": {"type": "plain_text_input", "value": "Faster legal review"}},
        },
    )
    answer = staffed.events(incident, "survey_answer")[0]
    assert answer.actor == ID["chen"] and answer.data["questions"] == {"q1": 4, "q2": 5, "q3": "Faster legal review"}
    # afterwards: nothing more on this incident
    staffed.cmd("eli", "update Still fine", channel_id=incident.room_ref)
    assert "resolved" in staffed.last_ephemeral("eli")


def test_announcements_channel_hears_declare_escalate_and_resolve(tmp_path) -> None:
    clock = ManualClock(START)
    with start_local(
        db_path=tmp_path / "a.db", clock=clock, environ={"CRISISBOT_ANNOUNCEMENTS_CHANNEL": GENERAL_ID}
    ) as local:
        crisis = Crisis(local, clock)
        crisis.set_roles()
        incident = crisis.declare()
        crisis.cmd("anna", "escalate 3", channel_id=incident.room_ref)
        crisis.cmd("anna", "resolve", channel_id=incident.room_ref)
        crisis.submit("anna", _resolve_values())
        local.tick()
        posts = [m.get("text", "") for m in local.emulator.messages(GENERAL_ID)]
        assert [p.split(" ")[0] for p in posts if "CR-2026-001" in p] == ["🚨", "⬆️", "✅"]
