"""Scheduled drills through the front door: `/crisis drill schedule …`, the heads-up the day before, the drill
starting by itself through the timers (the next occurrence armed with it), list, cancel, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import ID, Crisis, db_rows

# START is Saturday 14 March 2026, 09:00 UTC = 10:00 in Amsterdam (the default company timezone).
MONDAY_10 = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)  # Monday 16 March, 10:00 CET: the first slot more than a day on


def schedule(crisis: Crisis, text: str, who: str = "anna") -> str:
    crisis.cmd(who, f"drill schedule {text}")
    return crisis.last_ephemeral(who)


def dm_texts(crisis: Crisis, who: str) -> list[str]:
    return [m.get("text", "") for m in crisis.emu.dms(ID[who])]


def run_until(crisis: Crisis, when: datetime) -> None:
    crisis.clock.set(when)
    crisis.local.tick()


def test_lead_schedules_a_drill_and_it_starts_by_itself(staffed: Crisis) -> None:
    answer = schedule(staffed, "data-breach every 2 weeks on monday at 10:00")
    assert "Drill scheduled" in answer and "Monday 16 Mar, 10:00" in answer, answer
    [made] = staffed.store.schedules()
    assert (made.scenario, made.every_weeks, made.weekday, made.at_time) == ("data-breach", 2, 0, "10:00")
    assert made.next_start_at == MONDAY_10 and not made.unannounced
    timers = {t.kind: t for t in staffed.store.schedule_timers(made.id)}
    assert timers["drill_heads_up"].due_at == MONDAY_10 - timedelta(days=1)
    assert timers["drill_start"].due_at == MONDAY_10

    before = {name: len(dm_texts(staffed, name)) for name in ("anna", "bram", "chen")}
    run_until(staffed, MONDAY_10 - timedelta(days=1))
    lead = dm_texts(staffed, "anna")[before["anna"] :]
    assert len(lead) == 1 and "DRILL heads-up" in lead[0] and "The team has been told too" in lead[0], lead
    team = dm_texts(staffed, "bram")[before["bram"] :]  # announced: the level's roles hear of it too
    assert len(team) == 1 and "drill (level 2) starts on Monday 16 Mar, 10:00" in team[0], team
    assert staffed.store.incidents() == []  # only a heads-up: nothing declared yet

    run_until(staffed, MONDAY_10)
    [drill] = staffed.store.incidents()
    assert drill.drill and drill.declared_by == "bot" and drill.scenario == "data-breach" and drill.level == 2
    assert drill.room_ref and staffed.emu.channel(drill.room_ref)["name"].startswith("drill-")
    assert [e.data["schedule_id"] for e in staffed.events(drill, "drill_started")] == [made.id]
    assert drill.setup_done_at is not None  # the room, header, drafts and pages, as a typed drill gets them
    [pinned] = staffed.emu.pins(drill.room_ref)
    assert "🧪 DRILL" in str(pinned), pinned  # the header of a drill, as `/crisis drill` draws it
    # the next occurrence is armed with it: two weeks on at 10:00 on the wall clock, which summer time (29 March)
    # makes 08:00 UTC
    [again] = staffed.store.schedules()
    assert again.next_start_at == datetime(2026, 3, 30, 8, 0, tzinfo=UTC) and again.last_incident_id == drill.id
    pending = {t.kind: t.due_at for t in staffed.store.schedule_timers(made.id) if not t.fired_at}
    assert pending == {"drill_heads_up": again.next_start_at - timedelta(days=1), "drill_start": again.next_start_at}
    staffed.local.tick()  # firing again changes nothing: one drill per occurrence
    assert len(staffed.store.incidents()) == 1


def test_unannounced_drill_tells_only_the_lead_beforehand(staffed: Crisis) -> None:
    answer = schedule(staffed, "service-outage 1 elke 3 weken op woensdag om 14:30 onaangekondigd")
    assert "unannounced" in answer, answer
    [made] = staffed.store.schedules()
    assert (made.every_weeks, made.weekday, made.at_time, made.level, made.unannounced) == (3, 2, "14:30", 1, True)
    before = {name: len(dm_texts(staffed, name)) for name in ("anna", "bram", "dewi")}
    run_until(staffed, made.next_start_at - timedelta(days=1))
    assert len(dm_texts(staffed, "anna")) == before["anna"] + 1
    assert "only you know" in dm_texts(staffed, "anna")[-1]
    assert len(dm_texts(staffed, "bram")) == before["bram"] and len(dm_texts(staffed, "dewi")) == before["dewi"]
    # the schedule list does not give it away to the rest of the team
    assert "No drills are scheduled" in schedule(staffed, "list", who="bram")
    assert f"*{made.id}*" in schedule(staffed, "list", who="anna")


def test_list_and_cancel(staffed: Crisis) -> None:
    schedule(staffed, "data-breach every 4 weeks")
    schedule(staffed, "negative-reviews every week at 9am")
    listed = schedule(staffed, "list", who="bram")
    assert "every 4 weeks" in listed and "every week" in listed and "09:00" in listed, listed
    first, second = staffed.store.schedules()
    answer = schedule(staffed, f"cancel {first.id}")
    assert "cancelled" in answer, answer
    assert [s.id for s in staffed.store.schedules()] == [second.id]
    assert all(t.cancelled_at for t in staffed.store.schedule_timers(first.id))
    run_until(staffed, first.next_start_at + timedelta(minutes=1))
    assert all(i.scenario != first.scenario for i in staffed.store.incidents())  # a cancelled schedule starts nothing


def test_only_the_lead_or_an_admin_may_schedule(staffed: Crisis) -> None:
    before = db_rows(staffed)
    answer = schedule(staffed, "data-breach every 2 weeks", who="bram")
    assert "Only the crisis lead" in answer, answer
    assert staffed.store.schedules() == [] and db_rows(staffed)["drill_schedules"] == before["drill_schedules"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("data-breach every 0 weeks", "not every 0"),
        ("data-breach every -3 weeks", "not every -3"),
        ("data-breach every 2 weeks at 25:99", "`25:99` is not a time of day"),
        ("data-breach every 2 weeks at noonish", "`noonish` is not a time of day"),
        ("data-breach every 2 weeks on funday", "`funday` is not a weekday"),
        ("data-breach every 2 weeks op zondagavond", "`zondagavond` is not a weekday"),
        ("data-breach sometimes", "drill schedule <scenario>"),
        ("no-such-scenario every 2 weeks", "There is no scenario"),
        ("cancel 99", "There is no drill schedule 99"),
        ("cancel first", "drill schedule cancel <number>"),
    ],
)
def test_bad_schedule_is_answered_and_changes_nothing(staffed: Crisis, text: str, says: str) -> None:
    schedule(staffed, "data-breach every 2 weeks")  # one schedule, which nothing below may touch
    before = db_rows(staffed)
    answer = schedule(staffed, text)
    assert says in answer, answer
    assert "Traceback" not in answer and "Error" not in answer
    assert db_rows(staffed) == before


def test_cancel_twice_is_answered_and_changes_nothing(staffed: Crisis) -> None:
    schedule(staffed, "data-breach every 2 weeks")
    [made] = staffed.store.schedules()
    schedule(staffed, f"cancel {made.id}")
    before = db_rows(staffed)
    assert f"There is no drill schedule {made.id}" in schedule(staffed, f"cancel {made.id}")
    assert db_rows(staffed) == before


def test_a_schedule_whose_scenario_was_disabled_since_skips_its_drill_and_blocks_no_timer(staffed: Crisis) -> None:
    schedule(staffed, "negative-reviews every week on monday at 10:00")
    [made] = staffed.store.schedules()
    # as after a restart with `scenarios:` no longer listing it (the desk's playbooks are what the config enables)
    book = staffed.local.desk.playbooks.pop("negative-reviews")
    try:
        run_until(staffed, MONDAY_10)
    finally:
        staffed.local.desk.playbooks["negative-reviews"] = book
    assert staffed.store.incidents() == []
    [after] = staffed.store.schedules()
    assert after.next_start_at > made.next_start_at  # skipped, the next one armed
    assert [t for t in staffed.store.pending_timers() if t.due_at <= staffed.clock.now()] == []  # none stuck


def test_the_same_schedule_typed_twice_is_one_schedule(staffed: Crisis) -> None:
    schedule(staffed, "data-breach every 2 weeks on monday at 10:00")
    before = db_rows(staffed)
    again = schedule(staffed, "data-breach every 2 weeks op maandag om 10.00")  # the same intent, other words
    assert "scheduled already" in again, again
    assert db_rows(staffed) == before
    schedule(staffed, "data-breach every 2 weeks on monday at 10:00 unannounced")  # another intent
    assert len(staffed.store.schedules()) == 2
