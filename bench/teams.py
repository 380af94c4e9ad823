"""`teams`: Microsoft Teams against the Bot Connector emulator — declare → ready against its floor, and card actions'
answer latency under load.

Declare. `@Crisis Desk crisis declare data-breach 2 …` posted in the crisis channel (a signed activity into the real
Teams app, bot/localteams.py) until the incident is set up (`setup_done_at`) and the declarer's "✅ declared" reply
went out, at 100 ms per Bot Connector call. The set-up's rounds are read from the emulator's call log as
bench/declare.py reads Slack's: a call occupies [answered − latency, answered], overlapping calls are one round.
The dependent rounds come from one calibration declare at 2 s per call (where the bot's own CPU time between the
calls of a round cannot pull them apart); the floor is the unavoidable sequential round trips: the activity's own
(emulator → app → 202, measured with a bare aiohttp app that only answers 202, on the same emulator) plus the
dependent Connector rounds × 100 ms. measured/floor shows the time the bot spends on top of them. Every declare is on
its own ManualClock day (the first of its scenario that day), after a warm-up declare that opened everyone's 1:1
chat (a person's first page creates the chat: a round that happens once per person, reported on its own).

Invoke. The load benchmark's shape (bench/load.py): live incidents, then card actions open loop at its rate from its
pool of senders: Acknowledge in a 1:1 chat, Done on a header's checklist, Approve on a draft, and a draft's refresh
(an approver's own view). The latency is from the moment each was due to be sent until the invoke's answer (so a
queue in the sender counts), p50/p99 per kind and overall, against Teams' answer budget of the contract: p99 ≤
100 ms. In-process: bot, emulator and senders share one interpreter and its GIL.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from bench.config import Config
from bench.declare import CALIBRATION_LATENCY, rounds
from bench.figures import Outcome, percentile
from bot.clock import ManualClock
from bot.demo import demo_config
from bot.localteams import LocalTeamsDesk, start_local_teams
from bot.models import Incident
from bot.sandbox.model import Call
from bot.sandbox.teams.people import execute_actions

TARGET_RATIO = 1.1
TARGET_P99_MS = 100.0
SCENARIO = "data-breach"
DECLARER = "bram"
BARE_ANSWERS = 20
CONFIRMED = "✅"  # how the declarer's "declared" reply starts


# ---- declare ------------------------------------------------------------------------------------------------------
def confirmed(calls: list[Call]) -> bool:
    """Whether the declarer's "✅ … declared" reply went out."""
    for call in calls:
        body = call.args.get("body") or {}
        activity = body.get("activity", body) if isinstance(body, dict) else {}
        said = str(activity.get("summary") or activity.get("text") or "")
        if call.method in ("reply_to_activity", "send_to_conversation") and said.startswith(CONFIRMED):
            return True
    return False


def sample(local: LocalTeamsDesk, latency: float) -> dict[str, Any]:
    """Declare once at `latency` s per Connector call; wait until the bot is idle, then time it from the call log."""
    emulator = local.emulator
    emulator.latency = latency
    emulator.reset_calls()
    title = f"Bench {uuid.uuid4().hex[:8]}"
    started = time.time()
    response = local.people[DECLARER].say(f"crisis declare {SCENARIO} 2 {title}", emulator.crisis_channel)
    local.settle(timeout=120)
    calls = emulator.calls
    incident = local.desk.store.incidents()[-1]
    groups = rounds(calls, latency)
    return {
        "status": response.status,
        "answer_ms": response.elapsed * 1000,
        "seconds": max((c.at for c in calls), default=started) - started,
        "ready": incident.title == title and incident.setup_done_at is not None and confirmed(calls),
        "rounds": len(groups),
        "calls": len(calls),
        "failed_calls": sum(1 for c in calls if c.status >= 300),
        "methods": dict(Counter(c.method for c in calls)),
        "shape": " | ".join(_short(g) for g in groups),
    }


def _short(group: list[Call]) -> str:
    counted = Counter(c.method for c in group)
    return ", ".join(f"{m}×{n}" if n > 1 else m for m, n in counted.items())


class BareApp:
    """An aiohttp app that answers every activity 202 and does nothing else: the activity's own round trip."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), name="bench-bare-teams", daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)

        async def accepted(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(status=202)

        app = web.Application()
        app.router.add_post("/api/messages", accepted)
        self.runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set()
        self.loop.run_forever()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/messages"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def bare_answer(local: LocalTeamsDesk) -> float:
    """Median seconds for the emulator's signed message to be answered 202 by an app that does nothing else."""
    bare, saved = BareApp(), local.emulator.bot_url
    try:
        local.emulator.bot_url = bare.url
        person = local.people[DECLARER]
        times = [person.say("crisis help", local.emulator.crisis_channel).elapsed for _ in range(BARE_ANSWERS)]
    finally:
        local.emulator.bot_url = saved
        bare.stop()
    return statistics.median(times[BARE_ANSWERS // 4 :])  # the first few warm the connection up


def run_declare(config: Config, outcome: Outcome, space: str = "thread") -> dict[str, Any]:
    """Declare → ready against its floor, with each incident a thread in the crisis channel or (`space` "channel") a
    channel of its own that Graph makes: the emulator's Graph calls take the same latency and count in the rounds."""
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    environ = {"CRISISBOT_CONFIG": str(demo_config("en", "teams")), "CRISISBOT_LANGUAGE": "en"}
    environ["TEAMS_INCIDENT_SPACE"] = space
    with start_local_teams(clock=clock, environ=environ) as local:
        first = sample(local, config.declare_latency)  # the process's first: token, everyone's 1:1 chat opened
        clock.advance(days=1)
        calibration = sample(local, CALIBRATION_LATENCY)
        samples = []
        for _ in range(config.declare_samples):
            clock.advance(days=1)
            samples.append(sample(local, config.declare_latency))
        local.emulator.latency = 0.0
        bare = bare_answer(local)
        problems = local.emulator.invalid + local.emulator.problems
    latency, dependent = config.declare_latency, calibration["rounds"]
    floor = bare + dependent * latency
    ratios = [s["seconds"] / floor for s in samples]
    median = statistics.median(s["seconds"] for s in samples)
    label = f"teams declare {SCENARIO} L2" + (" in a channel of its own" if space == "channel" else "")
    outcome.add(f"{label}: time to ready and confirmed (median of {len(samples)})", median * 1000, "ms")
    outcome.add(
        f"{label}: dependent Connector rounds (at {CALIBRATION_LATENCY * 1000:.0f} ms/call)",
        dependent,
        "rounds",
        note=calibration["shape"],
    )
    seen = [s["rounds"] for s in samples]
    outcome.add(
        f"{label}: rounds seen at {latency * 1000:.0f} ms/call",
        statistics.median(seen),
        "rounds",
        note=f"seen {sorted(set(seen))}; e.g. {samples[-1]['shape']}",
    )
    outcome.add(
        f"{label}: floor (bare 202 + dependent rounds × {latency * 1000:.0f} ms)",
        floor * 1000,
        "ms",
        note=f"activity {bare * 1000:.1f} ms + {dependent} × {latency * 1000:.0f} ms",
    )
    outcome.add(
        f"{label}: measured / floor (median)",
        statistics.median(ratios),
        "x",
        TARGET_RATIO,
        f"worst {max(ratios):.2f}×; {median / (dependent * latency):.2f}× the Connector rounds alone",
    )
    outcome.add(f"{label}: Connector calls per declare", max(s["calls"] for s in samples), "calls")
    outcome.add(
        f"{label}: the process's first declare (opens each person's 1:1 chat)",
        first["seconds"] * 1000,
        "ms",
        note=f"{first['rounds']} rounds: {first['shape']}",
    )
    # the SDK answers a message activity 202 Accepted (its work goes on after the answer), an invoke 200
    not_ready = sum(1 for s in [first, calibration, *samples] if not s["ready"] or s["status"] not in (200, 202))
    outcome.add(f"{label}: declares not ready or not confirmed", not_ready, "", 0)
    outcome.add(f"{label}: cards refused or problems seen by the emulator", len(problems), "", 0)
    return {"first": first, "calibration": calibration, "samples": samples, "bare_answer": bare, "problems": problems}


# ---- invokes under load -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Press:
    """One card action to send: who presses which verb on which activity, with which data."""

    kind: str
    who: str
    activity_id: str
    verb: str
    data: dict[str, Any]


def presses(local: LocalTeamsDesk, incident: Incident) -> list[Press]:
    """The card actions one incident offers: Acknowledge in each owner's 1:1 chat, Done, Approve, a view."""
    store, out = local.desk.store, []
    header = store.delivery(f"{incident.id}:header") or ""
    out.append(Press("done", "anna", header, "checklist_done", {"value": f"{incident.id}:gather_team"}))
    for draft in store.drafts(incident.id):
        ref = draft.message_ref or ""
        out.append(Press("approve", "chen", ref, "draft_approve", {"value": f"{draft.id}:{draft.version}"}))
        out.append(Press("refresh", "anna", ref, "refresh", {"value": f"draft:{draft.id}"}))
    for who in ("anna", "chen", "dewi", "eli"):
        for activity in local.emulator.chat(local.people[who]):
            for card in (a.get("content") for a in activity.get("attachments") or []):
                for action in execute_actions(card):
                    value = str((action.get("data") or {}).get("value") or "")
                    if action.get("verb") == "acknowledge" and value.startswith(f"{incident.id}:"):
                        out.append(Press("acknowledge", who, activity["id"], "acknowledge", {"value": value}))
    return out


def drive(local: LocalTeamsDesk, planned: list[Press], rate: float, workers: int) -> list[tuple[str, int, float]]:
    """Send press i at start + i/rate from a pool of `workers`; (kind, status, seconds since it was due) each."""
    results: list[tuple[str, int, float]] = []
    lock = threading.Lock()
    start = time.perf_counter() + 0.2

    def send(i: int) -> None:
        press, due = planned[i], start + i / rate
        person = local.people[press.who]
        response = person.invoke_action(press.activity_id, press.verb, data=press.data, stale=True)
        seconds = time.perf_counter() - due
        ok = response.status if response.json and response.json.get("statusCode") == 200 else 0
        with lock:
            results.append((press.kind, ok, seconds))

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench-teams") as pool:
        for i in range(len(planned)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, i)
    return results


def run_invokes(config: Config, outcome: Outcome) -> dict[str, Any]:
    clock = ManualClock((datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0))
    environ = {"CRISISBOT_CONFIG": str(demo_config("en", "teams")), "CRISISBOT_LANGUAGE": "en"}
    with start_local_teams(clock=clock, environ=environ) as local:
        began = time.perf_counter()
        available: list[Press] = []
        for i in range(config.load_incidents):
            clock.advance(days=1)
            local.people[DECLARER].say(f"crisis declare {SCENARIO} 2 Load {i + 1}", local.emulator.crisis_channel)
            local.settle(timeout=60)
            available += presses(local, local.desk.store.incidents()[-1])
        setup = time.perf_counter() - began
        count = round(config.load_rate * config.load_seconds)
        planned = [available[(i * 7919) % len(available)] for i in range(count)]  # spread over incidents and kinds
        sent = drive(local, planned, config.load_rate, config.workers)
        local.settle(timeout=120)
        problems = local.emulator.invalid + local.emulator.problems
    label = f"teams invoke at {config.load_rate:g}/s, {config.workers} senders"
    every = [s for _, _, s in sent]
    outcome.add(f"{label}: answer p50 (all {len(sent)})", percentile(every, 50) * 1000, "ms")
    outcome.add(f"{label}: answer p99 (all)", percentile(every, 99) * 1000, "ms", TARGET_P99_MS)
    for kind in sorted({k for k, _, _ in sent}):
        mine = [s for k, _, s in sent if k == kind]
        outcome.add(
            f"{label}: {kind} p99",
            percentile(mine, 99) * 1000,
            "ms",
            TARGET_P99_MS,
            f"p50 {percentile(mine, 50) * 1000:.1f} ms over {len(mine)}",
        )
    outcome.add(f"{label}: answers that were not a 200 invoke response", sum(1 for _, ok, _ in sent if not ok), "", 0)
    outcome.add(f"{label}: cards refused or problems seen by the emulator", len(problems), "", 0)
    outcome.add(f"{label}: setup", setup, "s", note=f"{config.load_incidents} incidents declared at 0 ms/call")
    return {"sent": len(sent), "setup_seconds": setup, "problems": problems[:20]}


def run(config: Config) -> Outcome:
    outcome = Outcome()
    outcome.details["declare"] = run_declare(config, outcome)
    outcome.details["declare_channel"] = run_declare(config, outcome, "channel")
    outcome.details["invoke"] = run_invokes(config, outcome)
    return outcome
