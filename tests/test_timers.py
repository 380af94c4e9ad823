"""Countdown, reminders, escalation, update cadence and the GDPR clock, driven through the clock."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest
from conftest import ID, Crisis

from bot.clock import SystemClock
from bot.localdesk import start_local
from bot.models import Incident, OutboxMessage
from bot.scheduler import AlreadyRunning, TimerRunner


def channel_texts(crisis: Crisis, incident) -> list[str]:
    return [m.get("text", "") for m in crisis.emu.messages(incident.room_ref)]


def header(crisis: Crisis, incident) -> str:
    return str(crisis.emu.messages(incident.room_ref)[0]["blocks"])


def test_countdown_refreshes_header_and_reminds_with_waiting_drafts(staffed: Crisis) -> None:
    incident = staffed.declare()
    staffed.clock.advance(minutes=15)
    staffed.local.tick()
    assert "45 minutes left" in header(staffed, incident)
    assert not any("⏰" in t for t in channel_texts(staffed, incident))  # 45 is a refresh, not a reminder

    staffed.clock.advance(minutes=15)
    staffed.local.tick()
    reminders = [t for t in channel_texts(staffed, incident) if t.startswith("⏰")]
    assert len(reminders) == 1
    assert "30 minutes left" in reminders[0] and "<@U0ANNA>" in reminders[0] and "<@U0BRAM>" in reminders[0]
    assert "X: waiting for Crisis lead, Legal" in reminders[0]
    assert "30 minutes left" in header(staffed, incident)
    assert [e.data["left"] for e in staffed.events(incident, "reminder_sent")] == [30]


def test_each_timer_fires_once_however_often_the_runner_ticks(staffed: Crisis) -> None:
    incident = staffed.declare()
    staffed.clock.advance(minutes=31)
    threads = [threading.Thread(target=staffed.local.bot.runner.tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    staffed.local.tick()
    assert len(staffed.events(incident, "reminder_sent")) == 1
    assert sum(t.startswith("⏰") for t in channel_texts(staffed, incident)) == 1


def test_missed_deadline_turns_header_overdue_pings_lead_and_spokesperson_and_offers_escalation(
    staffed: Crisis,
) -> None:
    incident = staffed.declare()
    staffed.clock.advance(minutes=61)
    staffed.local.tick()
    assert "OVERDUE since 11:00" in header(staffed, incident)
    missed = [m for m in staffed.emu.messages(incident.room_ref) if m.get("text", "").startswith("⚠️")]
    assert len(missed) == 1 and "<@U0ANNA>" in missed[0]["text"] and "<@U0FLEUR>" in missed[0]["text"]
    assert any("no public response" in m["text"] for m in staffed.emu.dms(ID["fleur"]))
    assert staffed.events(incident, "deadline_missed")

    staffed.clock.advance(minutes=30)
    staffed.local.tick()
    assert "31 minutes late" in header(staffed, incident)  # it keeps counting

    staffed.click("anna", "escalate", channel_id=incident.room_ref, ts=missed[0]["ts"])
    incident = staffed.store.incident(incident.id)
    assert incident.level == 3
    assert ID["fleur"] in staffed.emu.channel(incident.room_ref)["members"]
    assert any(
        b.get("accessory", {}).get("action_id") == "acknowledge"
        for m in staffed.emu.dms(ID["fleur"])
        for b in m.get("blocks", [])
    )
    assert any("escalated CR-2026-001 to level 3" in t for t in channel_texts(staffed, incident))
    # level 3 needs the spokesperson's approval as well
    assert "Spokesperson" in str(staffed.draft_message(incident, "x")["blocks"])


def test_mark_as_posted_cancels_the_countdown_and_starts_the_update_cadence(staffed: Crisis) -> None:
    incident = staffed.declare()
    for who in ("anna", "chen"):
        staffed.click_draft(who, incident, "x", "draft_approve")
    staffed.clock.advance(minutes=20)
    staffed.click_draft("bram", incident, "x", "draft_mark_posted")
    pending = {t.kind for t in staffed.store.pending_timers(incident.id)}
    assert not pending & {"countdown", "deadline", "overdue"} and "update" in pending

    staffed.clock.advance(minutes=60)
    staffed.local.tick()
    assert not staffed.events(incident, "deadline_missed")
    assert not any(t.startswith("⚠️") for t in channel_texts(staffed, incident))
    # level 2 data breach: an update every 120 minutes, reminded 10 minutes before; the drafts of 10:00 CET
    # promised it at 12:00 CET, so that is when it is due (not 12:20, posting time + cadence: issue 12)
    staffed.clock.advance(minutes=50)
    staffed.local.tick()
    reminder = [m for m in staffed.emu.messages(incident.room_ref) if m.get("text", "").startswith("🗓")]
    assert len(reminder) == 1 and "12:00" in reminder[0]["text"]
    staffed.click("dewi", "draft_update", channel_id=incident.room_ref, ts=reminder[0]["ts"])
    updates = staffed.store.drafts(incident.id, "status_update")
    assert sorted(d.network for d in updates) == ["facebook", "linkedin", "x"]
    assert all(d.message_ref for d in updates)


def test_unacknowledged_role_reminds_owner_then_pages_backups_then_the_lead(staffed: Crisis) -> None:
    staffed.cmd("anna", "roles set legal <@U0CHEN|chen> <@U0GIJS|gijs>")
    incident = staffed.declare()
    for name in ("anna", "dewi", "eli"):  # bram declared: his role is already taken
        staffed.click(name, "acknowledge", channel_id=staffed.emu.dm_channel_of(ID[name]))
    window = 15  # data-breach level 2
    staffed.clock.advance(minutes=window)
    staffed.local.tick()
    assert any("Reminder" in m["text"] for m in staffed.emu.dms(ID["chen"]))
    staffed.clock.advance(minutes=window)
    staffed.local.tick()
    assert ID["gijs"] in staffed.emu.channel(incident.room_ref)["members"]
    assert any("backup for Legal" in m["text"] for m in staffed.emu.dms(ID["gijs"]))

    staffed.click("gijs", "acknowledge", channel_id=staffed.emu.dm_channel_of(ID["gijs"]))
    assert staffed.store.acks(incident.id)["legal"].user == ID["gijs"]
    assert "Legal: <@U0GIJS> ✅ acknowledged" in header(staffed, incident)
    staffed.clock.advance(minutes=window)
    staffed.local.tick()
    assert not any("still nobody has acknowledged" in t for t in channel_texts(staffed, incident))
    assert [e.data["stage"] for e in staffed.events(incident, "ack_escalation")] == ["remind_owner", "page_backups"]


def test_gdpr_clock_reminds_legal_and_stops_when_notified(staffed: Crisis) -> None:
    incident = staffed.declare()
    for who in ("anna", "chen"):
        staffed.click_draft(who, incident, "x", "draft_approve")
    staffed.click_draft("bram", incident, "x", "draft_mark_posted")
    staffed.clock.advance(hours=24)
    staffed.local.tick()
    assert any("48 hours left" in t for t in channel_texts(staffed, incident))
    assert any("48 hours left" in m["text"] for m in staffed.emu.dms(ID["chen"]))
    staffed.cmd("chen", "gdpr notified", channel_id=incident.room_ref)
    assert staffed.store.checklist(incident.id)["notify_authority"].done_by == ID["chen"]
    assert not [t for t in staffed.store.pending_timers(incident.id) if t.kind == "gdpr"]
    staffed.clock.advance(hours=48)
    staffed.local.tick()
    assert [e.data["hours_left"] for e in staffed.events(incident, "gdpr_reminder")] == [48]


def test_timer_of_a_resolved_incident_is_ignored(staffed: Crisis, caplog) -> None:
    caplog.set_level(logging.INFO, logger="crisisbot.timers")
    incident = staffed.declare()
    staffed.store.update_incident(incident.id, status="resolved")
    staffed.clock.advance(minutes=90)
    fired = staffed.local.tick()
    assert fired and not any(f.acted for f in fired)
    assert not staffed.events(incident, "deadline_missed")
    assert "ignored" in caplog.text


def test_clock_jump_fires_every_due_timer_once(staffed: Crisis) -> None:
    incident = staffed.declare()
    staffed.clock.advance(hours=10)  # the laptop slept
    staffed.local.tick()
    staffed.local.tick()
    assert len(staffed.events(incident, "deadline_missed")) == 1
    assert len(staffed.events(incident, "reminder_sent")) == 3
    assert sum(t.startswith("⚠️") for t in channel_texts(staffed, incident)) == 1
    late = [t for t in channel_texts(staffed, incident) if "late after a restart" in t]
    assert late  # reminders that fire long after their time say so


def refused_reminder(staffed: Crisis, times: int) -> tuple[Incident, OutboxMessage]:
    """A declare whose 30-minutes-left reminder Slack refuses `times` times in a row; after the first refusal."""
    incident = staffed.declare()
    for name in ("anna", "chen", "dewi", "eli"):  # no acknowledge reminders: only the countdown one
        staffed.click(name, "acknowledge", channel_id=staffed.emu.dm_channel_of(ID[name]))
    staffed.emu.fail("chat.postMessage", error="is_archived", times=times)
    staffed.clock.advance(minutes=31)
    staffed.local.tick()
    [reminder] = [m for m in staffed.store.outbox(incident.id) if m.kind == "first_response_reminder"]
    assert reminder.sent_at is None and reminder.failed_at is None and reminder.attempts == 1  # waiting for a retry
    return incident, reminder


def test_delivery_failure_is_retried_then_reported_in_the_channel(staffed: Crisis) -> None:
    incident, reminder = refused_reminder(staffed, times=6)
    for attempt in range(5):  # the backoff doubles from 20 s; stay before the next reminder (15 min left)
        staffed.clock.advance(seconds=20 * 2**attempt + 1)
        staffed.local.tick()
    reminder = staffed.store.outbox(incident.id)[[m.id for m in staffed.store.outbox(incident.id)].index(reminder.id)]
    assert reminder.failed_at is not None and reminder.attempts == 6
    assert any(
        "could not post a first-response reminder after several tries" in t for t in channel_texts(staffed, incident)
    )


def test_undelivered_messages_are_dropped_at_resolve_not_sent_after_the_closing_message(staffed: Crisis) -> None:
    """A reminder Slack could not take during a hiccup is moot once the incident is resolved: the resolve drops it
    (in its own transaction, on the timeline), and no retry posts it after the closing message."""
    incident, reminder = refused_reminder(staffed, times=1)
    staffed.cmd("anna", "resolve", channel_id=incident.room_ref)
    staffed.submit("anna", {k: {"value": {"type": "plain_text_input", "value": v}} for k, v in RESOLUTION.items()})
    closing = [t for t in channel_texts(staffed, incident) if t.startswith("✅ CR-2026-001 resolved")]
    assert len(closing) == 1
    for _ in range(6):  # every retry the backoff would have made, and more
        staffed.clock.advance(minutes=10)
        staffed.local.tick()
    texts = channel_texts(staffed, incident)
    assert not any(t.startswith("⏰") for t in texts), texts
    assert not any("could not deliver" in t for t in texts)  # dropped on purpose: not a failure to report
    [dropped] = staffed.events(incident, "outbox_dropped")
    assert dropped.data == {"kinds": ["first_response_reminder"]} and dropped.actor == "bot"
    [row] = [m for m in staffed.store.outbox(incident.id) if m.id == reminder.id]
    assert row.sent_at is None and row.failed_at is not None
    [report] = [f["content"] for f in staffed.emu.files if f["name"] == f"report-{incident.code}.md"]
    assert "Not sent, as the incident was resolved first: 1 queued Slack message(s)" in report.decode()


RESOLUTION = {"summary": "Portal closed", "impact": "1,200 customers", "lessons": "Pre-approve a statement"}


def test_transient_delivery_failure_is_retried_until_slack_accepts(staffed: Crisis) -> None:
    incident = staffed.declare()
    staffed.emu.fail("chat.postMessage", error="ratelimited", times=2, retry_after=0)
    staffed.clock.advance(minutes=31)
    staffed.local.tick()
    assert sum(t.startswith("⏰") for t in channel_texts(staffed, incident)) == 1


def test_a_second_runner_on_the_same_database_refuses_to_start(staffed: Crisis) -> None:
    other = TimerRunner(staffed.local.desk, staffed.local.bot.runner.deliverer, holder="other-host:42:abc")
    with pytest.raises(AlreadyRunning) as error:
        other.start(background=False)
    assert "another crisisbot" in str(error.value) and "CRISISBOT_DB" in str(error.value)


def test_thousands_of_pending_timers_fire_once_each(staffed: Crisis) -> None:
    incident = staffed.declare()
    rows = [
        {
            "incident_id": incident.id,
            "kind": "overdue",
            "due_at": staffed.clock.now() + timedelta(seconds=i),
            "data": {"late": 0},
        }
        for i in range(3000)
    ]
    staffed.store.add_timers(rows)
    staffed.clock.advance(hours=2)
    due = len(staffed.store.due_timers(staffed.clock.now(), limit=100_000))
    fired = staffed.local.bot.runner.tick()
    assert len(fired) == due and due > 3000
    assert len({f.timer.id for f in fired}) == due
    assert staffed.store.pending_timers(incident.id) == [] or all(
        t.due_at > staffed.clock.now() for t in staffed.store.pending_timers(incident.id)
    )
    assert staffed.local.bot.runner.tick() == []


def test_a_declare_whose_timers_all_come_later_keeps_the_wake_up_and_the_earlier_timer_still_fires(tmp_path) -> None:
    """Re-arming for the moment the scheduler is already armed for is skipped (it cost every declare ~0.3 ms and a
    wake of the scheduler's thread); the wake-up it kept still fires the earliest timer on time."""
    clock = SystemClock(speed=600)  # real timers on the scheduler's thread: 15 crisis minutes are 1.5 s
    local = start_local(db_path=tmp_path / "crisis.db", clock=clock)
    try:
        crisis = Crisis(local, clock)  # type: ignore[arg-type]  # a real clock: nothing here advances it
        crisis.set_roles()
        first = crisis.declare()
        runner = local.bot.runner
        armed = runner._wake
        assert armed is not None
        crisis.declare("declare service-outage 1 Checkout slow", who="anna")
        assert runner._wake is armed  # the second incident's timers all come after the first's earliest
        earliest = min(t.due_at for t in crisis.store.timers(first.id))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
            t.fired_at for t in crisis.store.timers(first.id) if t.due_at == earliest
        ):
            time.sleep(0.05)
        assert any(t.fired_at for t in crisis.store.timers(first.id) if t.due_at == earliest)
    finally:
        local.stop()
