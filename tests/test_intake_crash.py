"""kill -9 of the real `crisisbot serve` between accepting an alert and posting its triage card, then a restart
(and the monitoring tool's retry, which a dead process never answered): exactly one card, with the alert on it.

Crash points (bot/faults.py): `alert_accepted` (the alert committed, the 202 not yet sent: the source retries),
`triage_posted` (Slack posted the card, the bot had not noted it: the restart finds it by its metadata tag),
`outbox_delivered` (the card noted, its outbox row not yet marked sent: the restart redraws it, posts nothing).
"""

from __future__ import annotations

import http.client
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.model import GENERAL_ID
from bot.sandbox.monitor import Monitor, Sent
from bot.sandbox.process import free_port, serve_against
from bot.store import Store

SECRET = "coosto-crash-secret"
ALERT = {
    "alert_key": "crash-1",
    "title": "Customers say our portal leaked their data",
    "text": "Did you get hacked?",
    "url": "https://x.com/someone/status/1",
    "reach": 500,
    "detected_at": datetime.now(UTC).isoformat(),
}


def cards(emu: SlackEmulator) -> list[dict[str, Any]]:
    return [m for m in emu.messages(GENERAL_ID) if "Possible crisis" in m.get("text", "")]


def read(db: Path, what: Any) -> Any:
    store = Store(db)
    try:
        return what(store)
    finally:
        store.close_all()


def send(monitor: Monitor, after: int = 0) -> tuple[int, Sent | None]:
    """The second the alert was signed in (later than `after`) and its answer, or None when the process died
    before answering (a source then retries). A source signs each retry anew; a restart can take under a second,
    and a retry signed in the same second as the first try is byte for byte that request: the bot refuses it as a
    replay (tests/test_intake.py)."""
    while (stamp := int(time.time())) <= after:
        time.sleep(0.05)
    try:
        return stamp, monitor.send(ALERT, timestamp=stamp)
    except (OSError, http.client.HTTPException):
        return stamp, None


# CI: before the 202 and before the card was noted (a read-back); --full also after it was noted (each is two serve runs)
@pytest.mark.parametrize(
    "crash_at", ["alert_accepted", "triage_posted", pytest.param("outbox_delivered", marks=pytest.mark.slow)]
)
def test_a_kill_between_accepting_and_posting_neither_loses_nor_doubles_the_card(
    emu: SlackEmulator, tmp_path: Path, crash_at: str
) -> None:
    (tmp_path / "crisisbot.yaml").write_text(f"intake:\n  sources:\n    coosto:\n      secret: {SECRET}\n")
    db = tmp_path / "crisis.db"
    port = free_port()
    env = {"INTAKE_PORT": str(port), "SLACK_WATCH_CHANNEL": GENERAL_ID}
    monitor = Monitor(f"http://127.0.0.1:{port}/intake/", "coosto", SECRET)
    bot = serve_against(emu, db, crash_at=crash_at, env=env)
    try:
        emu.wait_for(lambda: _listening(port), timeout=10)
        first_at, first = send(monitor)
        assert bot.wait_exit(timeout=15) == 137, bot.output()
    finally:
        bot.stop()
    assert read(db, lambda s: len(s.alerts())) == 1  # accepted before the kill, whatever the source was told
    again = serve_against(emu, db, env=env)
    try:
        emu.wait_for(lambda: _listening(port), timeout=10)
        _, retry = send(monitor, after=first_at)  # a source that got no answer retries; one that did may retry anyway
        assert retry is not None and retry.status == 202, (first, retry)
        assert retry.body["outcome"] == "duplicate"
        emu.wait_for(lambda: read(db, lambda s: all(r.sent_at for r in s.triage_outbox(1))), timeout=15)
    finally:
        again.stop()
    assert SECRET not in bot.output() + again.output()  # the source's secret is never logged
    [card] = cards(emu)
    [triage] = read(db, lambda s: s.triages())
    assert triage.card_ref == card["ts"] and triage.alerts == 1
    assert "leaked their data" in card["text"]


def _listening(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()
