"""`ack`: how long `/crisis help` takes to be acknowledged, against bare Bolt apps that only call ack().

Sequentially: the bot and a bare Bolt app behind the same waitress + slack_bolt WSGI adapter get the same
kind of request (a signed `/crisis help` form with a fresh trigger_id), alternating one by one over one
keep-alive connection each, so machine noise hits both alike. The ratio shows what the bot's own work
before ack() costs.

At concurrency 16: sixteen senders at once, each over its own keep-alive connection, in bursts that
alternate between `crisisbot serve`, a bare async Bolt app on uvicorn (asyncio: no worker threads, the ack
answered the moment it is made; the reference) and the bare app on waitress (bench/bare.py). Each server is
a process of its own, as in production: in one process the sixteen senders' own Python would share the GIL
with the server and be measured as its time.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

from slack_bolt import Ack, App
from slack_sdk import WebClient
from waitress.server import create_server

from bench.client import Reply, SignedClient
from bench.config import Config
from bench.figures import Outcome, percentile, summary_ms
from bench.serve import serve_command
from bot.localdesk import BOT_TOKEN, CAST, SIGNING_SECRET, start_local
from bot.manifest import manifest_scopes
from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.process import ServeProcess
from bot.slack.server import wsgi_app

TARGET_RATIO = 1.2
COLD_USERS = 20
COLD_LATENCY = 0.1  # seconds per Web API call, for the first-request look-ups
CONCURRENCY = 16


class BareBolt:
    """A Bolt app that only calls ack() for /crisis, served exactly like the bot (waitress, 16 threads)."""

    def __init__(self, emulator: SlackEmulator) -> None:
        app = App(
            signing_secret=SIGNING_SECRET,
            token_verification_enabled=False,
            client=WebClient(token=BOT_TOKEN, base_url=emulator.api_url),
        )

        @app.command("/crisis")
        def crisis(ack: Ack) -> None:
            ack()

        self.server = create_server(wsgi_app(app), host="127.0.0.1", port=0, threads=16, ident="bare-bolt")
        self.thread = threading.Thread(target=self.server.run, name="bare-bolt-http", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.effective_port}/slack/events"

    def stop(self) -> None:
        self.server.close()
        self.thread.join(timeout=5)


def _bodies(emulator: SlackEmulator, count: int) -> list[str]:
    user = CAST[1].id
    return [urlencode(emulator.slash_command_fields(user, "help")) for _ in range(count)]


def _alternate(
    clients: dict[str, SignedClient], bodies: list[str], warmup: int
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Send the bodies to the apps in turn; return the ack times and error counts after the warm-up."""
    times: dict[str, list[float]] = {name: [] for name in clients}
    errors = dict.fromkeys(clients, 0)
    for i, body in enumerate(bodies):
        name = list(clients)[i % len(clients)]
        reply = clients[name].post(body)
        if i < warmup * len(clients):
            continue
        errors[name] += reply.status != 200
        times[name].append(reply.seconds)
    return times, errors


def run(config: Config) -> Outcome:
    outcome = Outcome()
    local = start_local()
    bare = BareBolt(local.emulator)
    clients = {"bot": SignedClient(local.bot_url, SIGNING_SECRET), "bare": SignedClient(bare.url, SIGNING_SECRET)}
    try:
        bodies = _bodies(local.emulator, len(clients) * (config.ack_warmup + config.ack_requests))
        times, errors = _alternate(clients, bodies, config.ack_warmup)
        local.settle()
        first_time = _first_requests(local.emulator, clients["bot"])
        local.settle()
    finally:
        for client in clients.values():
            client.close()
        bare.stop()
        local.stop()
    concurrent, concurrent_errors = _concurrent_servers(config.ack_concurrent_requests)
    _report(outcome, times, errors)
    _report_concurrent(outcome, concurrent, concurrent_errors)
    _report_first(outcome, first_time)
    return outcome


BURST = 10  # requests per sender per burst
BARE = (sys.executable, "-m", "bench.bare")


def _concurrent_servers(per_app: int) -> tuple[dict[str, list[float]], dict[str, int]]:
    """`crisisbot serve` and the two bare apps, each its own process, against one emulator."""
    with (
        tempfile.TemporaryDirectory(prefix="crisisbot-ack-") as tmp,
        SlackEmulator(token=BOT_TOKEN, signing_secret=SIGNING_SECRET, scopes=manifest_scopes()) as emulator,
    ):
        for person in CAST:
            emulator.add_user(person.id, person.name, real_name=person.real_name, locale="en-GB")
        folder = Path(tmp)
        commands = {"bot": serve_command(), "bare async": [*BARE, "async"], "bare": [*BARE, "waitress"]}
        servers = {
            name: ServeProcess(emulator.api_url, folder / f"{name}.db", log_path=folder / f"{name}.log", command=cmd)
            for name, cmd in commands.items()
        }
        try:
            for server in servers.values():
                server.wait_healthy()
            return _concurrently(emulator, {name: server.url for name, server in servers.items()}, per_app)
        finally:
            for server in servers.values():
                server.stop()


def _concurrently(
    emulator: SlackEmulator, urls: dict[str, str], per_app: int
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Bursts of CONCURRENCY senders × BURST requests, the apps in turn (the order rotating); one warm-up each."""
    senders = {name: [SignedClient(url, SIGNING_SECRET) for _ in range(CONCURRENCY)] for name, url in urls.items()}
    bursts = max(1, per_app // (CONCURRENCY * BURST))
    times: dict[str, list[float]] = {name: [] for name in urls}
    errors = dict.fromkeys(urls, 0)
    names = list(urls)
    try:
        with ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="bench-sender") as pool:
            for burst in range(bursts + 1):
                for name in names[burst % len(names) :] + names[: burst % len(names)]:
                    bodies = _bodies(emulator, CONCURRENCY * BURST)
                    work = [bodies[i::CONCURRENCY] for i in range(CONCURRENCY)]
                    replies = [r for rs in pool.map(_send_all, senders[name], work) for r in rs]
                    if burst:  # the first burst warms connections and threads up
                        times[name] += [r.seconds for r in replies]
                        errors[name] += sum(r.status != 200 for r in replies)
    finally:
        for clients in senders.values():
            for client in clients:
                client.close()
    return times, errors


def _send_all(client: SignedClient, bodies: list[str]) -> list[Reply]:
    return [client.post(body) for body in bodies]


def _report_concurrent(outcome: Outcome, times: dict[str, list[float]], errors: dict[str, int]) -> None:
    label = f"concurrency {CONCURRENCY}"
    bot, reference = times["bot"], times["bare async"]
    for q in (50, 99):
        outcome.add(f"{label}: bot p{q}", percentile(bot, q) * 1000, "ms")
        outcome.add(f"{label}: bare async Bolt + uvicorn p{q}", percentile(reference, q) * 1000, "ms")
        outcome.add(f"{label}: bare Bolt on waitress p{q}", percentile(times["bare"], q) * 1000, "ms")
    outcome.add(f"{label}: ratio p50/p50 (bot / bare async)", percentile(bot, 50) / percentile(reference, 50), "x")
    outcome.add(
        f"{label}: ratio p99/p99 (bot / bare async)",
        percentile(bot, 99) / percentile(reference, 99),
        "x",
        TARGET_RATIO,
        f"{len(bot)} requests per app",
    )
    outcome.add(f"{label}: errors (non-200)", sum(errors.values()), "", 0)
    outcome.details["concurrent_ms"] = {name: summary_ms(values) for name, values in times.items()}


def _first_requests(emulator: SlackEmulator, client: SignedClient) -> dict[str, list[float]]:
    """Ack times of `/crisis help` from people the bot has not heard from yet, then from them again."""
    emulator.latency = COLD_LATENCY
    users = [f"U0FIRST{i:03d}" for i in range(COLD_USERS)]
    for i, user in enumerate(users):
        emulator.add_user(user, f"first{i}")
    times: dict[str, list[float]] = {"first": [], "again": []}
    for round_name in times:
        for user in users:
            times[round_name].append(client.post(urlencode(emulator.slash_command_fields(user, "help"))).seconds)
    emulator.latency = 0.0
    return times


def _report_first(outcome: Outcome, times: dict[str, list[float]]) -> None:
    latency = f"{COLD_LATENCY * 1000:.0f} ms per Web API call"
    outcome.add(
        "bot p50, a person's first /crisis",
        percentile(times["first"], 50) * 1000,
        "ms",
        note=f"{len(times['first'])} new people, {latency}",
    )
    outcome.add("bot p50, the same people again", percentile(times["again"], 50) * 1000, "ms", note=latency)
    outcome.details["first_request_ms"] = {k: summary_ms(v) for k, v in times.items()}


def _report(outcome: Outcome, times: dict[str, list[float]], errors: dict[str, int]) -> None:
    bot, bare = times["bot"], times["bare"]
    for q in (50, 99):
        outcome.add(f"bot p{q}", percentile(bot, q) * 1000, "ms")
        outcome.add(f"bare Bolt p{q}", percentile(bare, q) * 1000, "ms")
    outcome.add("ratio p50/p50", percentile(bot, 50) / percentile(bare, 50), "x", TARGET_RATIO)
    outcome.add("ratio p99/p99", percentile(bot, 99) / percentile(bare, 99), "x", TARGET_RATIO)
    outcome.add("errors (non-200)", errors["bot"] + errors["bare"], "", 0, f"over {len(bot)} requests per app")
    outcome.details |= {
        "requests_per_app": len(bot),
        "bot_ms": summary_ms(bot),
        "bare_ms": summary_ms(bare),
        "errors": errors,
    }
