"""The loop after declare: acknowledge, checklist, edit, approve per version, mark as posted."""

from __future__ import annotations

from conftest import ID, Crisis


def _values(text: str) -> dict:
    return {"text": {"value": {"type": "plain_text_input", "value": text}}}


def test_acknowledge_from_dm_updates_header_and_dm(staffed: Crisis) -> None:
    incident = staffed.declare()
    dm = staffed.emu.dm_channel_of(ID["chen"])
    staffed.clock.advance(minutes=4)
    staffed.click("chen", "acknowledge", channel_id=dm)
    acks = staffed.store.acks(incident.id)
    assert acks["legal"].user == ID["chen"]
    header = staffed.emu.messages(incident.room_ref)[0]
    assert "Legal: <@U0CHEN> ✅ acknowledged 10:04" in str(header["blocks"])  # Amsterdam time (UTC+1)
    dm_message = staffed.emu.dms(ID["chen"])[-1]
    assert "acknowledged by <@U0CHEN>" in str(dm_message["blocks"])
    assert not any(b.get("accessory", {}).get("action_id") == "acknowledge" for b in dm_message["blocks"])
    assert [e.data["role"] for e in staffed.events(incident, "acknowledged") if e.actor == ID["chen"]] == ["legal"]


def test_checklist_done_ticks_the_item_off(staffed: Crisis) -> None:
    incident = staffed.declare()
    header = staffed.emu.messages(incident.room_ref)[0]
    staffed.click("bram", "checklist_done", channel_id=incident.room_ref, ts=header["ts"])
    header = staffed.emu.message(incident.room_ref, header["ts"])
    assert "✅ ~Pause all scheduled posts" in str(header["blocks"])
    assert staffed.store.checklist(incident.id)["pause_scheduled_posts"].done_by == ID["bram"]


def test_edit_makes_a_new_version_and_old_approvals_stop_counting(staffed: Crisis) -> None:
    incident = staffed.declare()
    staffed.click_draft("anna", incident, "x", "draft_approve")
    assert [a.role for a in staffed.store.approvals(staffed.drafts(incident)["x"].id, 1)] == ["crisis_lead"]

    staffed.click_draft("chen", incident, "x", "draft_edit")
    view = staffed.emu.open_view(ID["chen"])
    assert view["callback_id"] == "draft_edit" and "280" in str(view["blocks"])
    staffed.submit("chen", _values("We are looking into reports about customer data. Updates follow. #Update"))

    draft = staffed.drafts(incident)["x"]
    assert draft.version == 2 and draft.status == "pending" and draft.text.startswith("We are looking")
    message = staffed.draft_message(incident, "x")
    assert "version 2" in str(message["blocks"]) and "⏳ Crisis lead" in str(message["blocks"])
    edited = staffed.events(incident, "edited")
    assert edited[0].actor == ID["chen"] and edited[0].data["version"] == 2


def test_all_required_approvals_make_the_draft_ready_to_copy(staffed: Crisis) -> None:
    incident = staffed.declare()
    staffed.clock.advance(minutes=10)
    staffed.click_draft("anna", incident, "linkedin", "draft_approve")
    assert staffed.drafts(incident)["linkedin"].status == "pending"
    staffed.clock.advance(minutes=2)
    staffed.click_draft("chen", incident, "linkedin", "draft_approve")

    draft = staffed.drafts(incident)["linkedin"]
    assert draft.status == "approved"
    blocks = staffed.draft_message(incident, "linkedin")["blocks"]
    text = str(blocks)
    assert "Final text, ready to copy" in text and "```" in text
    assert "Crisis lead: <@U0ANNA> 10:10" in text and "Legal: <@U0CHEN> 10:12" in text
    labels = [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert labels == ["Mark as posted", "Edit"]
    assert [e.kind for e in staffed.events(incident)].count("draft_ready") == 1


def test_mark_as_posted_records_first_response_and_stops_the_countdown(staffed: Crisis) -> None:
    incident = staffed.declare()
    for who in ("anna", "chen"):
        staffed.click_draft(who, incident, "x", "draft_approve")
    staffed.clock.advance(minutes=25)
    staffed.click_draft("bram", incident, "x", "draft_mark_posted")

    incident = staffed.store.incident(incident.id)
    assert incident.first_response_at == staffed.clock.now()
    header = str(staffed.emu.messages(incident.room_ref)[0]["blocks"])
    assert "posted 10:25, 25 minutes after detection" in header and "left" not in header
    notes = [m["text"] for m in staffed.emu.messages(incident.room_ref) if "First public response" in m.get("text", "")]
    assert len(notes) == 1 and "X" in notes[0]
    draft_message = str(staffed.draft_message(incident, "x")["blocks"])
    assert "Posted by <@U0BRAM> at 10:25" in draft_message and "draft_mark_posted" not in draft_message
    first = staffed.events(incident, "first_response")
    assert len(first) == 1 and first[0].data["late"] is False


def test_late_first_response_is_marked_late(staffed: Crisis) -> None:
    incident = staffed.declare()
    for who in ("anna", "chen"):
        staffed.click_draft(who, incident, "facebook", "draft_approve")
    staffed.clock.advance(minutes=75)
    staffed.click_draft("anna", incident, "facebook", "draft_mark_posted")
    assert staffed.events(incident, "first_response")[0].data["late"] is True
    header = str(staffed.emu.messages(incident.room_ref)[0]["blocks"])
    assert "(late)" in header


def test_reject_asks_for_a_reason_and_edit_reopens_approval(staffed: Crisis) -> None:
    incident = staffed.declare()
    staffed.click_draft("chen", incident, "facebook", "draft_reject")
    view = staffed.emu.open_view(ID["chen"])
    assert view["callback_id"] == "draft_reject"
    staffed.submit("chen", {"reason": {"value": {"type": "plain_text_input", "value": "Do not mention partners"}}})
    draft = staffed.drafts(incident)["facebook"]
    assert draft.status == "rejected" and draft.reject_reason == "Do not mention partners"
    message = staffed.draft_message(incident, "facebook")
    assert "Rejected by <@U0CHEN>: Do not mention partners" in str(message["blocks"])

    staffed.click_draft("bram", incident, "facebook", "draft_edit")
    staffed.submit("bram", _values("We are investigating an incident and will update you here at 11:00. #Update"))
    draft = staffed.drafts(incident)["facebook"]
    assert draft.status == "pending" and draft.version == 2


def test_dutch_workspace_speaks_dutch(tmp_path) -> None:
    from conftest import START

    from bot.clock import ManualClock
    from bot.localdesk import start_local

    with start_local(
        db_path=tmp_path / "nl.db", clock=ManualClock(START), environ={"CRISISBOT_LANGUAGE": "nl"}
    ) as local:
        crisis = Crisis(local, ManualClock(START))
        crisis.set_roles()
        incident = crisis.declare()
        header = str(local.emulator.messages(incident.room_ref)[0]["blocks"])
        assert "Datalek" in header and "minuten" in header
        labels = [
            e["text"]["text"]
            for b in crisis.draft_message(incident, "x")["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
        ]
        assert labels == ["Goedkeuren", "Bewerken", "Afwijzen"]
        assert "Wij" in crisis.drafts(incident)["x"].text or "We " in crisis.drafts(incident)["x"].text
