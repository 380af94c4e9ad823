"""Kill the real `crisisbot serve` process around a timer firing, restart it: nothing lost, nothing doubled.

The bot runs as a subprocess with a fast clock (10 crisis minutes per real second) against the emulator
in the test process. `CRISISBOT_CRASH_AT` makes it die like kill -9 at an exact point; one test also
sends a real SIGKILL.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.localdesk import CAST
from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.model import GENERAL_ID
from bot.sandbox.process import HOST, MODULE, ServeProcess, free_port, serve_against, serve_env
from bot.store import Store

SPEED = 600  # the 60-minute deadline passes in 6 s
ID = {p.name: p.id for p in CAST}


def start_incident(emu: SlackEmulator, db: Path, crash_at: str | None) -> ServeProcess:
    # exit_ok: a crash point during start-up ends it before /healthz answers; the test checks the exit
    bot = serve_against(emu, db, clock_speed=SPEED, crash_at=crash_at, exit_ok=True)
    for person in CAST:
        if person.role:
            emu.slash_command(ID["anna"], f"roles set {person.role} <@{person.id}|{person.name}>")
    emu.slash_command(ID["bram"], "declare data-breach 2 Customer emails exposed")
    emu.wait_for(lambda: len([c for c in emu.calls if c.method == "chat.postMessage"]) >= 9, timeout=10)
    return bot


def run_until_deadline_passed(emu: SlackEmulator, db: Path) -> None:
    """Restart the bot and let crisis time run past the deadline and the first overdue refreshes."""
    bot = serve_against(emu, db, clock_speed=SPEED)
    try:
        store = Store(db)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if store.events(1, "deadline_missed") and not store.pending_outbox(_far_future()):
                break
            time.sleep(0.2)
        time.sleep(1.0)  # let the last deliveries land
    finally:
        bot.stop()


def _far_future():
    from datetime import UTC, datetime

    return datetime(2100, 1, 1, tzinfo=UTC)


def assert_each_effect_once(emu: SlackEmulator, db: Path) -> None:
    store = Store(db)
    timers = store.timers(1)
    fired = [t for t in timers if t.fired_at]
    assert fired, "no timer fired"
    reminders = Counter(e.data["left"] for e in store.events(1, "reminder_sent"))
    assert reminders == Counter({30: 1, 15: 1, 5: 1})
    assert len(store.events(1, "deadline_missed")) == 1
    channel = store.incident(1).room_ref
    posts = Counter(m.get("text", "")[:40] for m in emu.messages(channel) if m.get("text", "")[:1] in "⏰⚠")
    assert all(n == 1 for n in posts.values()), posts
    assert sum(1 for text in posts if text.startswith("⏰")) == 3
    stages = Counter((e.data["role"], e.data["stage"]) for e in store.events(1, "ack_escalation"))
    assert stages and all(n == 1 for n in stages.values()), stages
    for row in store.outbox(1):
        assert row.sent_at is not None, row


# One crash point of each kind by default; the others with --full (CI's 10-minute budget: each is a serve run).
@pytest.mark.parametrize(
    "crash_at",
    ["timer_effect:2", pytest.param("timer_committed:2", marks=pytest.mark.slow), "timer_committed:9"],
)
def test_crash_around_a_timer_firing_loses_and_repeats_nothing(
    emu: SlackEmulator, tmp_path: Path, crash_at: str
) -> None:
    db = tmp_path / "crisis.db"
    bot = start_incident(emu, db, crash_at)
    assert bot.wait_exit(30) == 137  # died at the crash point, like kill -9
    bot.stop()
    run_until_deadline_passed(emu, db)
    assert_each_effect_once(emu, db)


@pytest.mark.parametrize("crash_at", [pytest.param("outbox_delivered:3", marks=pytest.mark.slow), "slack_accepted:3"])
def test_crash_after_slack_accepted_repeats_nothing(emu: SlackEmulator, tmp_path: Path, crash_at: str) -> None:
    """Slack took a timer's message and the process died before noting it: the restarted bot finds it by its
    metadata instead of posting it again."""
    db = tmp_path / "crisis.db"
    bot = start_incident(emu, db, crash_at)
    assert bot.wait_exit(30) == 137
    bot.stop()
    run_until_deadline_passed(emu, db)
    store = Store(db)
    assert Counter(e.data["left"] for e in store.events(1, "reminder_sent")) == Counter({30: 1, 15: 1, 5: 1})
    posted = [c for c in emu.calls if c.method in ("chat.postMessage", "chat.update") and c.status == 200]
    payloads = Counter((c.args.get("channel"), c.args.get("text")) for c in posted if c.method == "chat.postMessage")
    repeats = {k: n for k, n in payloads.items() if n > 1}
    assert repeats == {}


def test_real_sigkill_mid_run_then_restart_completes_everything_once(emu: SlackEmulator, tmp_path: Path) -> None:
    db = tmp_path / "crisis.db"
    bot = start_incident(emu, db, None)
    time.sleep(2.2)  # crisis time ≈ 22 minutes: some reminders fired, more pending
    bot.proc.send_signal(signal.SIGKILL)
    bot.wait_exit(30)
    bot.stop()
    run_until_deadline_passed(emu, db)
    store = Store(db)
    assert Counter(e.data["left"] for e in store.events(1, "reminder_sent")) == Counter({30: 1, 15: 1, 5: 1})
    assert len(store.events(1, "deadline_missed")) == 1


def test_second_process_on_the_same_database_refuses_to_start(emu: SlackEmulator, tmp_path: Path) -> None:
    db = tmp_path / "crisis.db"
    first = serve_against(emu, db, clock_speed=SPEED)
    try:
        second = subprocess.run(
            [*MODULE, "serve", "--host", HOST],
            env=serve_env(emu.api_url, db, free_port()),
            capture_output=True,
            text=True,
            timeout=30,
            cwd=tmp_path,
        )
        assert second.returncode == 2
        assert "another crisisbot" in second.stderr and "CRISISBOT_DB" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.stop()


# ---- Bolt's token check at start-up -------------------------------------------------------------------------------
def test_a_token_check_slack_fails_at_start_up_is_retried_and_costs_no_request(
    emu: SlackEmulator, tmp_path: Path
) -> None:
    """auth.test failing five times when the bot starts: retried in the background, and the first person's
    declare neither waits for it nor is lost to it (Bolt alone would check on that request and drop it)."""
    emu.fail("auth.test", error="internal_error", times=5)
    bot = serve_against(emu, tmp_path / "crisis.db", clock_speed=1)
    try:
        # Bolt holds the answer once the bot says so (Slack's answer reaching the emulator's log is not enough:
        # a command in between would still find Bolt without it)
        emu.wait_for(lambda: "the token is valid" in bot.output(), timeout=40)
        checks = emu.calls_to("auth.test")
        assert [c.status for c in checks] == [500] * 5 + [200]
        first = emu.slash_command(ID["bram"], "declare data-breach 2 Checkout down")
        assert first.status == 200 and "install" not in first.body.lower()
        emu.wait_for(lambda: any(c.method == "response_url" for c in emu.calls), timeout=10)
        assert Store(tmp_path / "crisis.db").incidents()[0].title == "Checkout down"
        assert len(emu.calls_to("auth.test")) == len(checks)  # no second check on the request path
    finally:
        bot.stop()
    output = bot.output()
    assert "auth.test at start-up" in output and "Traceback" not in output and "xoxb-" not in output


def test_a_token_slack_refuses_at_start_up_is_reported_once_without_the_token(
    emu: SlackEmulator, tmp_path: Path
) -> None:
    emu.fail("auth.test", error="invalid_auth", times=1)
    bot = serve_against(emu, tmp_path / "crisis.db", clock_speed=1)
    try:
        emu.wait_for(lambda: "check SLACK_BOT_TOKEN" in bot.output(), timeout=10)
        assert len(emu.calls_to("auth.test")) == 1  # a refused token is not asked about again and again
    finally:
        bot.stop()
    assert "Slack refused the bot token (invalid_auth)" in bot.output() and "xoxb-" not in bot.output()


def restart_until_delivered(emu: SlackEmulator, db: Path, clock_speed: float = 1) -> None:
    """Start the bot again and let it deliver what the dead one left in the outbox."""
    bot = serve_against(emu, db, clock_speed=clock_speed)
    try:
        emu.wait_for(lambda: not Store(db).pending_outbox(_far_future()), timeout=20)
    finally:
        bot.stop()


def test_an_announcement_named_by_channel_name_is_not_posted_twice_after_a_kill_9(
    emu: SlackEmulator, tmp_path: Path
) -> None:
    """The announcements channel may be configured by name; the read-back finds its id to look in its history.

    The announcement is queued with the declare and its first try finds no channel yet: retried 20 crisis seconds
    later, which a clock at 20× makes one real second (the first reminder is 90 real seconds away)."""
    (tmp_path / "crisisbot.yaml").write_text('announcements_channel: "#general"\n', encoding="utf-8")
    db = tmp_path / "crisis.db"
    bot = serve_against(emu, db, clock_speed=20, crash_at="slack_accepted:1")  # dies once Slack has the first post
    try:
        emu.slash_command(ID["bram"], "declare data-breach 2 Customer emails exposed")
        assert bot.wait_exit(30) == 137
    finally:
        bot.stop()
    posted = lambda: [m for m in emu.messages(GENERAL_ID) if "CR-2026-001" in m.get("text", "")]  # noqa: E731
    assert len(posted()) == 1  # Slack has it; the dead bot never noted it
    restart_until_delivered(emu, db, clock_speed=20)
    assert len(posted()) == 1
    assert any(c.method == "conversations.list" for c in emu.calls)  # it looked the name up


def test_an_escalation_notice_slack_accepted_before_a_kill_9_is_not_posted_twice(
    emu: SlackEmulator, tmp_path: Path
) -> None:
    """The escalation notice is an outbox row queued with the level change: killed right after Slack took it, the
    restarted bot finds it by its metadata instead of posting it again (as a best-effort post it had no such
    guard, and a refusal lost it)."""
    db = tmp_path / "crisis.db"
    bot = serve_against(emu, db, clock_speed=1, crash_at="slack_accepted:1")  # the first outbox post: the notice
    try:
        for person in CAST:
            if person.role:
                emu.slash_command(ID["anna"], f"roles set {person.role} <@{person.id}|{person.name}>")
        emu.slash_command(ID["bram"], "declare data-breach 2 Customer emails exposed")
        emu.wait_for(lambda: Store(db).incidents() and Store(db).incident(1).setup_done_at is not None, timeout=15)
        channel = Store(db).incident(1).room_ref
        emu.slash_command(ID["anna"], "escalate 3", channel_id=channel)
        assert bot.wait_exit(30) == 137
    finally:
        bot.stop()
    notices = lambda: [m for m in emu.messages(channel) if m.get("text", "").startswith("⬆️")]  # noqa: E731
    assert len(notices()) == 1  # Slack has it; the dead bot never noted it
    restart_until_delivered(emu, db)
    assert len(notices()) == 1 and Store(db).incident(1).level == 3
    assert [row.sent_at is not None for row in Store(db).outbox(1) if row.kind == "escalation"] == [True]
