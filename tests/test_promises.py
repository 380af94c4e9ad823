"""Issue 12 §1–2: the promises a public text makes are the ones the bot holds the team to; per-network posting;
the GDPR/AVG duty of a data breach outlives the resolve. Driven through the front door: signed HTTP into the
real app, the emulator, real SQLite, the clock moved by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from conftest import ID, START, Crisis, declare, staffed_desk


def header(crisis: Crisis, incident) -> str:
    return str(crisis.emu.messages(incident.room_ref)[0]["blocks"])


def channel_texts(crisis: Crisis, incident) -> list[str]:
    return [m.get("text", "") for m in crisis.emu.messages(incident.room_ref)]


def update_reminders(crisis: Crisis, incident) -> list[str]:
    return [t for t in channel_texts(crisis, incident) if t.startswith("🗓")]


def approve(crisis: Crisis, incident, network: str = "x") -> None:
    for who in ("anna", "chen"):  # data breach, level 2: the crisis lead and legal
        crisis.click_draft(who, incident, network, "draft_approve")


def resolve_values(**extra: dict) -> dict:
    return {"summary": {"value": {"type": "plain_text_input", "value": "Portal closed, customers emailed"}}, **extra}


def notified_at(at: datetime) -> dict:
    return {
        "authority": {"value": {"type": "radio_buttons", "selected_option": {"value": "notified"}}},
        "authority_at": {"value": {"type": "datetimepicker", "selected_date_time": int(at.timestamp())}},
    }


def report_of(crisis: Crisis) -> str:
    files = [f for f in crisis.emu.files if f["name"].endswith(".md")]
    assert files, "no report was uploaded"
    return files[-1]["content"].decode()


@pytest.fixture
def dutch(tmp_path) -> Iterator[Crisis]:
    """A second desk, in Dutch."""
    (tmp_path / "nl").mkdir()
    with staffed_desk(tmp_path / "nl", environ={"CRISISBOT_LANGUAGE": "nl"}) as crisis:
        yield crisis


# ---- §1 the promised update time --------------------------------------------------------------------------
def test_the_update_reminder_comes_before_the_promised_time_not_a_cadence_after_posting(staffed: Crisis) -> None:
    incident = staffed.declare()  # 10:00 CET; level 2 data breach: an update every 120 minutes
    x = staffed.drafts(incident)["x"]
    assert "Next update at 12:00 CET." in x.text
    assert x.promised_at == START + timedelta(hours=2)
    approve(staffed, incident)
    staffed.clock.advance(minutes=40)
    staffed.click_draft("bram", incident, "x", "draft_mark_posted")  # posted 10:40 CET
    staffed.cmd("anna", "status", channel_id=incident.room_ref)
    assert "Next public update due 12:00" in staffed.last_ephemeral("anna")

    staffed.clock.advance(minutes=69)  # 11:49 CET: not yet (posted + cadence − 10 would be 12:30)
    staffed.local.tick()
    assert update_reminders(staffed, incident) == []
    staffed.clock.advance(minutes=1)  # 11:50 CET: the promised 12:00 minus the 10-minute lead
    staffed.local.tick()
    reminders = update_reminders(staffed, incident)
    assert len(reminders) == 1 and "due at 12:00" in reminders[0]
    assert staffed.events(incident, "update_reminder")[0].data["due"] == (START + timedelta(hours=2)).isoformat()


def test_public_times_carry_the_timezone_and_the_date_when_it_is_not_today(staffed: Crisis, dutch: Crisis) -> None:
    for crisis in (staffed, dutch):
        crisis.clock.advance(hours=13, minutes=30)  # 23:30 CET: the promised update falls on the next day
    english = declare(staffed, "Customer emails exposed")
    assert "Next update at 01:30 CET on 15 March." in staffed.drafts(english)["x"].text
    dutch_incident = declare(dutch, "Klantgegevens gelekt")
    assert "Volgende update om 01:30 CET op 15 maart." in dutch.drafts(dutch_incident)["x"].text
    staffed.clock.advance(hours=1)  # 00:30 CET: the same day as the promise now
    staffed.cmd("eli", "update Portal closed", channel_id=english.room_ref)
    message = [m for m in staffed.emu.messages(english.room_ref) if m.get("text", "").startswith("📝")][-1]
    staffed.click("dewi", "draft_update", channel_id=english.room_ref, ts=message["ts"])
    update = next(d for d in staffed.store.drafts(english.id, "status_update") if d.network == "x")
    assert "Next update at 02:30 CET." in update.text


def test_posting_a_text_whose_promise_is_about_to_lapse_warns_and_offers_a_redraft(staffed: Crisis) -> None:
    incident = staffed.declare()
    staffed.click_draft("chen", incident, "x", "draft_edit")
    edited = staffed.drafts(incident)["x"].text.replace("Next update", "We are sorry. Next update")
    staffed.submit("chen", {"text": {"value": {"type": "plain_text_input", "value": edited}}})
    approve(staffed, incident)
    staffed.clock.advance(minutes=115)  # 11:55 CET: the text promises 12:00, five minutes from now

    staffed.click_draft("bram", incident, "x", "draft_mark_posted")
    assert staffed.drafts(incident)["x"].status == "approved"  # not posted: said so first
    assert staffed.store.incident(incident.id).first_response_at is None
    warning = staffed.last_ephemeral("bram")
    assert "promises the next update at 12:00 CET" in warning and "only 5 minutes from now" in warning
    notice = staffed.emu.ephemerals(ID["bram"])[-1]
    buttons = [e["action_id"] for b in notice["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["draft_redraft_time", "draft_post_anyway"]

    staffed.click("bram", "draft_redraft_time", channel_id=incident.room_ref, ts=notice["ts"])
    draft = staffed.drafts(incident)["x"]
    assert draft.version == 3 and draft.status == "pending"  # a new version, approved as usual
    assert "We are sorry. Next update at 13:55 CET." in draft.text  # the edit is kept, the time is new
    assert draft.promised_at == staffed.clock.now() + timedelta(hours=2)
    assert "13:55 CET" in staffed.last_ephemeral("bram")
    approve(staffed, incident)
    staffed.click_draft("bram", incident, "x", "draft_mark_posted")
    assert staffed.drafts(incident)["x"].status == "posted"
    update = next(t for t in staffed.store.pending_timers(incident.id) if t.kind == "update")
    assert update.due_at == draft.promised_at - timedelta(minutes=10)


def test_post_anyway_posts_and_holds_the_team_to_the_promise_it_made(staffed: Crisis) -> None:
    incident = staffed.declare()
    approve(staffed, incident)
    staffed.clock.advance(minutes=115)
    staffed.click_draft("bram", incident, "x", "draft_mark_posted")
    notice = staffed.emu.ephemerals(ID["bram"])[-1]
    staffed.click("bram", "draft_post_anyway", channel_id=incident.room_ref, ts=notice["ts"])
    assert staffed.drafts(incident)["x"].status == "posted"
    assert staffed.events(incident, "posted")[0].data["anyway"] is True
    staffed.local.tick()  # the reminder's moment (11:50 CET) has passed: it comes at once, for 12:00
    reminders = update_reminders(staffed, incident)
    assert len(reminders) == 1 and "due at 12:00" in reminders[0]


def test_networks_promising_different_times_hold_the_team_to_the_earliest_posted(staffed: Crisis) -> None:
    incident = staffed.declare()
    for network in ("x", "facebook"):
        approve(staffed, incident, network)
    staffed.clock.advance(minutes=115)  # 11:55 CET; both texts promise 12:00
    staffed.click_draft("bram", incident, "x", "draft_mark_posted")
    staffed.click("bram", "draft_redraft_time", ts=staffed.emu.ephemerals(ID["bram"])[-1]["ts"])
    approve(staffed, incident, "x")
    staffed.click_draft("bram", incident, "x", "draft_mark_posted")  # X promises 13:55 CET
    assert [t.data["update_due"] for t in staffed.store.pending_timers(incident.id) if t.kind == "update"] == [
        (staffed.clock.now() + timedelta(hours=2)).isoformat()
    ]
    staffed.click_draft("bram", incident, "facebook", "draft_mark_posted")
    staffed.click("bram", "draft_post_anyway", ts=staffed.emu.ephemerals(ID["bram"])[-1]["ts"])  # still 12:00
    staffed.local.tick()
    reminders = update_reminders(staffed, incident)
    assert len(reminders) == 1 and "due at 12:00" in reminders[0]  # Facebook's readers were promised 12:00


# ---- §1 per-network posting, the Facebook pin ---------------------------------------------------------------
def test_each_network_is_marked_posted_on_its_own_and_the_header_lists_what_is_not_out(
    staffed: Crisis, dutch: Crisis
) -> None:
    incident = staffed.declare()
    for network in ("x", "facebook", "linkedin"):
        approve(staffed, incident, network)
    assert "nothing out yet on X, Facebook, LinkedIn" in header(staffed, incident)
    staffed.clock.advance(minutes=20)
    staffed.click_draft("bram", incident, "x", "draft_mark_posted")
    first = staffed.store.incident(incident.id).first_response_at
    assert "out on X · ⏳ nothing out yet on Facebook, LinkedIn" in header(staffed, incident)
    assert staffed.drafts(incident)["facebook"].status == "approved"
    staffed.clock.advance(minutes=5)
    staffed.click_draft("anna", incident, "facebook", "draft_mark_posted")
    assert "out on X, Facebook · ⏳ nothing out yet on LinkedIn" in header(staffed, incident)
    assert staffed.store.incident(incident.id).first_response_at == first  # the first one counts
    assert [e.data["network"] for e in staffed.events(incident, "first_response")] == ["x"]

    dutch_incident = dutch.declare()
    assert "nog niets op X, Facebook, LinkedIn" in header(dutch, dutch_incident)


def test_facebook_drafts_remind_the_poster_to_pin_the_statement(staffed: Crisis, dutch: Crisis) -> None:
    incident = staffed.declare()
    assert "pin this statement to the top of the page" in str(staffed.draft_message(incident, "facebook")["blocks"])
    assert "pin this" not in str(staffed.draft_message(incident, "x")["blocks"])
    assert "pin" not in staffed.drafts(incident)["facebook"].text.lower()  # not in the public text
    dutch_incident = dutch.declare()
    assert "vast bovenaan de pagina" in str(dutch.draft_message(dutch_incident, "facebook")["blocks"])


# ---- §2 the GDPR/AVG duty -----------------------------------------------------------------------------------
def test_a_data_breach_header_shows_the_72_hour_authority_deadline(staffed: Crisis, dutch: Crisis) -> None:
    incident = staffed.declare()
    text = header(staffed, incident)
    assert "Authority notification (GDPR)" in text and "notify by 10:00 CET on 17 March · 3 days to go" in text
    assert "First public response" in text  # next to the first-response countdown
    outage = staffed.declare("declare service-outage 2 Login down", who="eli")
    assert "GDPR" not in header(staffed, outage)
    staffed.cmd("chen", "gdpr notified", channel_id=incident.room_ref)
    assert "✅ notified 10:00 CET" in header(staffed, incident)
    assert "Melding bij de AP (AVG)" in header(dutch, dutch.declare())


def test_resolve_asks_about_the_authority_and_legal_is_reminded_until_gdpr_notified(staffed: Crisis) -> None:
    incident = staffed.declare()
    staffed.cmd("anna", "resolve", channel_id=incident.room_ref)
    form = staffed.emu.open_view(ID["anna"])
    blocks = {b.get("block_id"): b for b in form["blocks"]}
    assert blocks["authority"]["element"]["type"] == "radio_buttons" and not blocks["authority"].get("optional")
    assert blocks["authority"]["element"]["initial_option"]["value"] == "not_yet"
    staffed.submit("anna", resolve_values())  # "not yet", as preselected

    assert staffed.store.incident(incident.id).status == "resolved"
    assert staffed.events(incident, "gdpr_not_notified")
    assert {t.kind for t in staffed.store.pending_timers(incident.id)} == {"gdpr"}
    closing = next(t for t in channel_texts(staffed, incident) if t.startswith("✅ CR-2026-001 resolved"))
    assert "has not been notified yet" in closing and "/crisis gdpr notified" in closing

    staffed.clock.advance(hours=24)
    staffed.local.tick()
    reminder = next(t for t in channel_texts(staffed, incident) if "48 hours left" in t)
    assert "checklist" not in reminder and "/crisis gdpr notified" in reminder  # no Done buttons after the resolve
    assert "notify by 10:00 CET on 17 March · 2 days to go" in header(staffed, incident)  # redrawn with it
    assert any("48 hours left" in m["text"] for m in staffed.emu.dms(ID["chen"]))

    staffed.cmd("chen", "gdpr notified", channel_id=incident.room_ref)  # in the resolved incident
    assert staffed.last_ephemeral("chen") == "Done."
    assert staffed.store.pending_timers(incident.id) == []
    assert "✅ notified" in header(staffed, incident)
    staffed.clock.advance(hours=48)
    staffed.local.tick()
    assert [e.data["hours_left"] for e in staffed.events(incident, "gdpr_reminder")] == [48]
    assert "⏳ **GDPR: no notification of the data-protection authority is recorded yet.**" in report_of(staffed)


def test_resolve_records_when_the_authority_was_notified(staffed: Crisis) -> None:
    incident = staffed.declare()
    staffed.clock.advance(hours=3)
    staffed.cmd("anna", "resolve", channel_id=incident.room_ref)
    answer = {"authority": {"value": {"type": "radio_buttons", "selected_option": {"value": "notified"}}}}
    response = staffed.submit("anna", resolve_values(**answer))  # notified, but when?
    assert "authority_at" in (response.json or {}).get("errors", {})
    assert staffed.store.incident(incident.id).status == "active"

    staffed.submit("anna", resolve_values(**notified_at(staffed.clock.now() - timedelta(hours=1))))
    assert staffed.store.incident(incident.id).status == "resolved"
    notified = staffed.events(incident, "gdpr_notified")[0]
    assert notified.data["notified_at"] == (staffed.clock.now() - timedelta(hours=1)).isoformat()
    assert staffed.store.checklist(incident.id)["notify_authority"].done_by == ID["anna"]
    assert staffed.store.pending_timers(incident.id) == []
    assert "| Detection → authority notified | 2 hours | 72 hours | ✅ |" in report_of(staffed)
    assert "has not been notified" not in "\n".join(channel_texts(staffed, incident))


def test_past_the_deadline_legal_is_reminded_daily_and_the_report_flags_the_missed_notification(
    staffed: Crisis,
) -> None:
    incident = staffed.declare()
    staffed.clock.advance(hours=73)  # the 72 hours have passed without a notification
    staffed.local.tick()
    staffed.cmd("anna", "resolve", channel_id=incident.room_ref)
    staffed.submit("anna", resolve_values())
    report = report_of(staffed)
    assert "no notification of the data-protection authority is recorded, and the 72-hour deadline passed" in report
    assert "| Detection → authority notified | not recorded | 72 hours | ❌ |" in report
    assert "resolved while the data-protection authority was not notified yet (deadline 17 Mar 10:00)" in report
    assert "⚠️ OVERDUE since 10:00 CET · 60 minutes late" in header(staffed, incident)  # today: no date

    staffed.clock.advance(hours=24)
    staffed.local.tick()
    overdue = [t for t in channel_texts(staffed, incident) if "still not notified, 24 hours after" in t]
    assert len(overdue) == 1 and "<@U0CHEN>" in overdue[0]
    assert any("still not notified" in m["text"] for m in staffed.emu.dms(ID["chen"]))
