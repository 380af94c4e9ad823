"""A scheduled drill survives a restart: the real `crisisbot serve` dies like kill -9 inside the transaction that
starts the drill; the restarted process starts it once, sets its room up, and arms the next occurrence once."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.localdesk import CAST
from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.process import serve_against
from bot.store import Store

SPEED = 43_200  # a crisis day every two real seconds: the first slot (one to three days on) comes within seconds
ID = {p.name: p.id for p in CAST}
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def wait(what: Callable[[], bool], timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


def heads_ups(emu: SlackEmulator, who: str) -> int:
    return sum("DRILL heads-up" in m.get("text", "") for m in emu.dms(ID[who]))


def test_a_kill_inside_the_drill_start_starts_the_drill_once_after_the_restart(
    emu: SlackEmulator, tmp_path: Path
) -> None:
    db = tmp_path / "crisis.db"
    # the first timer effect is the heads-up (committed), the second the drill's start: it dies inside that one
    bot = serve_against(emu, db, clock_speed=SPEED, crash_at="timer_effect:2", exit_ok=True)
    for person in CAST:
        if person.role:
            emu.slash_command(ID["anna"], f"roles set {person.role} <@{person.id}|{person.name}>")
    # two days on at 10:00 in Amsterdam: one to three crisis days away, whenever the test runs
    day = DAYS[(datetime.now(UTC).astimezone(ZoneInfo("Europe/Amsterdam")) + timedelta(days=2)).weekday()]
    emu.slash_command(ID["anna"], f"drill schedule data-breach every 1 week on {day} at 10:00")
    wait(lambda: bool(Store(db).schedules()), timeout=10)
    assert bot.wait_exit(30) == 137  # died inside the drill's start, like kill -9
    bot.stop()
    store = Store(db)
    [before] = store.schedules()
    assert store.incidents() == [] and before.last_incident_id is None  # rolled back: nothing started

    again = serve_against(emu, db, clock_speed=SPEED)
    try:
        wait(lambda: any(i.setup_done_at for i in Store(db).incidents()))
    finally:
        again.stop()
    store = Store(db)
    [drill] = store.incidents()
    assert drill.drill and drill.declared_by == "bot" and emu.channel(drill.room_ref)["name"].startswith("drill-")
    assert len(store.events(drill.id, "drill_started")) == 1
    [after] = store.schedules()
    assert after.last_incident_id == drill.id and after.next_start_at > before.next_start_at
    armed = [t for t in store.schedule_timers(after.id) if t.fired_at is None and t.cancelled_at is None]
    # the next week's heads-up and start, once each (the heads-up is six crisis days, twelve real seconds, away)
    assert sorted(t.kind for t in armed) == ["drill_heads_up", "drill_start"]
    assert all(t.data["start"] == after.next_start_at.isoformat() for t in armed)
    assert heads_ups(emu, "anna") == 1  # this occurrence's, sent once across the kill
    assert len([t for t in store.schedule_timers(after.id) if t.kind == "drill_start" and t.fired_at]) == 1
