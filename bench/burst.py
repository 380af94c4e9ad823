"""`burst`: `/crisis` acknowledgements while one monitoring source sends 1,000 alerts in a minute.

The real `crisisbot serve` process (Slack over HTTP and the alert intake on its own port) against the emulator.
A steady stream of signed `/crisis help` commands (ACK_RATE a second, one keep-alive connection) is timed in three
phases: quiet, during the burst (ALERTS signed alerts spread evenly over BURST_SECONDS from one source, as four
parallel senders: related ones grouping onto cards, unrelated ones held back by the rate limit), quiet again. The
two quiet phases are the floor measured in the same run; the target is ack p99 during the burst ≤ 1.2× it.
"""

from __future__ import annotations

import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.client import SignedClient
from bench.config import Config
from bench.figures import Outcome, percentile
from bench.serve import serve_command
from bot.manifest import manifest_scopes
from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.local import CAST
from bot.sandbox.model import BOT_TOKEN, GENERAL_ID, SIGNING_SECRET
from bot.sandbox.monitor import Monitor
from bot.sandbox.process import ServeProcess, free_port
from bot.store import Store

TARGET_RATIO = 1.2
ACK_RATE = 20.0  # /crisis help per second
SENDERS = 4  # the source's parallel webhook deliveries
SECRET = "bench-burst-secret"


def run(config: Config) -> Outcome:
    alerts, seconds, quiet = (200, 12.0, 6.0) if config.quick else (1000, 60.0, 15.0)
    outcome = Outcome()
    with (
        tempfile.TemporaryDirectory(prefix="crisisbot-burst-") as tmp,
        SlackEmulator(token=BOT_TOKEN, signing_secret=SIGNING_SECRET, scopes=manifest_scopes()) as emulator,
    ):
        for person in CAST:
            emulator.add_user(person.id, person.name, real_name=person.real_name, locale="en-GB")
        folder = Path(tmp)
        (folder / "crisisbot.yaml").write_text(f"intake:\n  sources:\n    coosto:\n      secret: {SECRET}\n")
        port = free_port()
        env = {"INTAKE_PORT": str(port), "SLACK_WATCH_CHANNEL": GENERAL_ID}
        bot = ServeProcess(emulator.api_url, folder / "crisis.db", command=serve_command(), env=env)
        try:
            bot.wait_healthy()
            emulator.bot_url = bot.url
            monitor = Monitor(f"http://127.0.0.1:{port}/intake/", "coosto", SECRET)
            phases, sent = _measure(emulator, bot.url, monitor, alerts, seconds, quiet)
        finally:
            bot.stop()
        store = Store(folder / "crisis.db")
        try:
            triages = store.triages()
            cards = sum(1 for t in triages if t.card_ref)
            held = sum(t.held_back for t in triages)
            stored = len(store.alerts())
        finally:
            store.close_all()
    _report(outcome, phases, sent, alerts, seconds, cards, held, stored)
    return outcome


def _measure(
    emulator: SlackEmulator, url: str, monitor: Monitor, alerts: int, seconds: float, quiet: float
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    client = SignedClient(url, SIGNING_SECRET)
    times: dict[str, list[float]] = {"quiet": [], "burst": []}
    sent: dict[str, Any] = {"accepted": 0, "refused": 0, "send_seconds": []}
    try:
        _acks(emulator, client, 20, [])  # warm-up
        _acks(emulator, client, int(quiet * ACK_RATE), times["quiet"])
        burst = threading.Thread(target=_burst, args=(monitor, alerts, seconds, sent), name="bench-burst")
        burst.start()
        _acks(emulator, client, int(seconds * ACK_RATE), times["burst"])
        burst.join()
        _acks(emulator, client, int(quiet * ACK_RATE), times["quiet"])
    finally:
        client.close()
    return times, sent


def _acks(emulator: SlackEmulator, client: SignedClient, count: int, into: list[float]) -> None:
    """`count` signed `/crisis help` commands at ACK_RATE a second; their ack times (failures count as 10 s)."""
    start = time.perf_counter()
    for n in range(count):
        wait = start + n / ACK_RATE - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        reply = client.post(urlencode(emulator.slash_command_fields(CAST[1].id, "help")))
        into.append(reply.seconds if reply.status == 200 else 10.0)


def _burst(monitor: Monitor, alerts: int, seconds: float, sent: dict[str, Any]) -> None:
    """`alerts` signed alerts spread evenly over `seconds`, from SENDERS parallel deliveries."""
    start = time.perf_counter()

    def one(n: int) -> None:
        wait = start + n * seconds / alerts - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        began = time.perf_counter()
        reply = monitor.send(_alert(n))
        sent["send_seconds"].append(time.perf_counter() - began)
        sent["accepted" if reply.status == 202 else "refused"] += 1

    with ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="bench-alert") as pool:
        list(pool.map(one, range(alerts)))


def _alert(n: int) -> dict[str, Any]:
    """Every third alert is about a leak (they group onto one card); the rest are unrelated mentions."""
    related = n % 3 == 0
    return {
        "alert_key": f"burst-{n}",
        "title": "Is Acme hacked? Data for sale" if related else f"Mention {n} of Acme",
        "text": "My data is for sale" if related else "Just a mention",
        "url": None if related else f"https://x.com/p/{n}",
        "reach": 100 + n,
        "detected_at": datetime.now(UTC).isoformat(),
    }


def _report(
    outcome: Outcome,
    phases: dict[str, list[float]],
    sent: dict[str, Any],
    alerts: int,
    seconds: float,
    cards: int,
    held: int,
    stored: int,
) -> None:
    quiet, burst = phases["quiet"], phases["burst"]
    for q in (50, 99):
        outcome.add(f"/crisis ack without a burst p{q}", percentile(quiet, q) * 1000, "ms")
        outcome.add(f"/crisis ack during {alerts} alerts in {seconds:g} s p{q}", percentile(burst, q) * 1000, "ms")
    ratio = percentile(burst, 99) / percentile(quiet, 99)
    outcome.add("ack p99 during the burst / without it", ratio, "x", target=TARGET_RATIO)
    outcome.add("alerts accepted (202)", sent["accepted"], note=f"refused: {sent['refused']}")
    outcome.add("alert request p99", percentile(sent["send_seconds"], 99) * 1000, "ms")
    outcome.add("alerts stored", stored, note=f"triage cards posted: {cards}; held back by the rate limit: {held}")
