"""`burst`: `/crisis` acknowledgements while one monitoring source sends 1,000 alerts in a minute.

Two real `crisisbot serve` processes (Slack over HTTP, the alert intake on its own port) against one emulator: the
*burst* bot receives 1,000 signed alerts spread evenly over 60 s from one source (four parallel senders; a third
group onto one card, the rest are unrelated and held back by the rate limit after five cards), the *quiet* bot
none. Meanwhile signed `/crisis help` commands alternate between the two, one by one (ACK_RATE a second each, a
keep-alive connection each), so the machine's noise (two cores shared with other work) hits both alike, as in the
`ack` benchmark. The quiet bot is the floor measured in the same run: ack p99 of the burst bot ≤ 1.2× it.
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
    alerts, seconds = (200, 12.0) if config.quick else (1000, 60.0)
    outcome = Outcome()
    with (
        tempfile.TemporaryDirectory(prefix="crisisbot-burst-") as tmp,
        SlackEmulator(token=BOT_TOKEN, signing_secret=SIGNING_SECRET, scopes=manifest_scopes()) as emulator,
    ):
        for person in CAST:
            emulator.add_user(person.id, person.name, real_name=person.real_name, locale="en-GB")
        bots, ports = {}, {}
        for name in ("burst", "quiet"):
            folder = Path(tmp) / name
            folder.mkdir()
            (folder / "crisisbot.yaml").write_text(f"intake:\n  sources:\n    coosto:\n      secret: {SECRET}\n")
            ports[name] = free_port()
            env = {"INTAKE_PORT": str(ports[name]), "SLACK_WATCH_CHANNEL": GENERAL_ID}
            bots[name] = ServeProcess(emulator.api_url, folder / "crisis.db", command=serve_command(), env=env)
        try:
            for bot in bots.values():
                bot.wait_healthy()
            monitor = Monitor(f"http://127.0.0.1:{ports['burst']}/intake/", "coosto", SECRET)
            times, sent = _measure(emulator, {n: b.url for n, b in bots.items()}, monitor, alerts, seconds)
        finally:
            for bot in bots.values():
                bot.stop()
        store = Store(Path(tmp) / "burst" / "crisis.db")
        try:
            triages = store.triages()
            cards = sum(1 for t in triages if t.card_ref)
            held = sum(t.held_back for t in triages)
            stored = len(store.alerts())
        finally:
            store.close_all()
    _report(outcome, times, sent, alerts, seconds, cards, held, stored)
    return outcome


def _measure(
    emulator: SlackEmulator, urls: dict[str, str], monitor: Monitor, alerts: int, seconds: float
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    clients = {name: SignedClient(url, SIGNING_SECRET) for name, url in urls.items()}
    times: dict[str, list[float]] = {name: [] for name in urls}
    sent: dict[str, Any] = {"accepted": 0, "refused": 0, "send_seconds": []}
    try:
        _acks(emulator, clients, 20, {name: [] for name in urls})  # warm-up
        burst = threading.Thread(target=_burst, args=(monitor, alerts, seconds, sent), name="bench-burst")
        burst.start()
        _acks(emulator, clients, int(seconds * ACK_RATE), times)
        burst.join()
    finally:
        for client in clients.values():
            client.close()
    return times, sent


def _acks(emulator: SlackEmulator, clients: dict[str, SignedClient], count: int, into: dict[str, list[float]]) -> None:
    """`count` signed `/crisis help` commands to each bot at ACK_RATE a second, alternating one by one; their ack
    times (a failure counts as 10 s)."""
    start = time.perf_counter()
    for n in range(count):
        wait = start + n / ACK_RATE - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        for name, client in clients.items():
            reply = client.post(urlencode(emulator.slash_command_fields(CAST[1].id, "help")))
            into[name].append(reply.seconds if reply.status == 200 else 10.0)


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
        outcome.add(f"/crisis ack, the bot without alerts p{q}", percentile(quiet, q) * 1000, "ms")
        outcome.add(
            f"/crisis ack, the bot taking {alerts} alerts in {seconds:g} s p{q}", percentile(burst, q) * 1000, "ms"
        )
    ratio = percentile(burst, 99) / percentile(quiet, 99)
    outcome.add("ack p99 during the burst / without it", ratio, "x", target=TARGET_RATIO)
    outcome.add("ack p50 during the burst / without it", percentile(burst, 50) / percentile(quiet, 50), "x")
    outcome.add("alerts accepted (202)", sent["accepted"], note=f"refused: {sent['refused']}")
    outcome.add("alert request p99", percentile(sent["send_seconds"], 99) * 1000, "ms")
    outcome.add("alerts stored", stored, note=f"triage cards posted: {cards}; held back by the rate limit: {held}")
