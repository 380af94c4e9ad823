"""`teams`: Microsoft Teams against the Bot Connector emulator — declare → ready against its floor, and card actions'
answer latency under load; each in this process and against `crisisbot serve --platform teams` in its own.

Declare. `@Crisis Desk crisis declare data-breach 2 …` posted in the crisis channel (a signed activity into the real
Teams app) until the incident is set up (`setup_done_at`) and the declarer's "✅ declared" reply went out, at 100 ms
per Bot Connector call. The set-up's rounds are read from the emulator's call log as bench/declare.py reads Slack's:
a call occupies [answered − latency, answered], overlapping calls are one round. The dependent rounds come from one
calibration declare at 2 s per call (where the bot's own CPU time between the calls of a round cannot pull them
apart); the floor is the unavoidable sequential round trips: the activity's own (emulator → app → 202, measured with
a bare aiohttp app that only answers 202, on the same emulator) plus the dependent Connector rounds × 100 ms.
measured/floor shows the time the bot spends on top of them. In this process (bot/localteams.py) every declare is on
its own ManualClock day (the first of its scenario that day), after a warm-up declare that opened everyone's 1:1 chat
(a person's first page creates the chat: a round that happens once per person, reported on its own); then the same
database and emulator serve a `crisisbot serve --platform teams` process (the real clock: its declares follow a
warm-up one the same day), where the emulator's card validation is not on the bot's interpreter. The target is judged
on the process, as for Slack.

Invoke. The load benchmark's shape (bench/load.py): live incidents, then card actions open loop at its rate from its
pool of senders: Acknowledge in a 1:1 chat, Done on a header's checklist, Approve on a draft, and a draft's refresh
(an approver's own view). The emulator makes every invoke (signed) beforehand; bench/sender.py sends them from a
process of its own, so neither the emulator's validation of the bot's Connector calls nor its check of each answer's
card (done afterwards) delays a send or the reading of an answer. The latency is from the moment each was due until
its answer was in (so a queue in the sender counts), p50/p99 per kind and overall, against the issue's target: p99 ≤
100 ms, judged on `crisisbot serve` (a copy of the database as it was before the in-process run, so its presses do the
same work again).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from bench.config import Config
from bench.declare import CALIBRATION_LATENCY, rounds
from bench.figures import Outcome, percentile
from bench.load import copy_database, log_warnings, wait_quiet
from bench.serve import serve_command
from bot.clock import ManualClock
from bot.demo import demo_config
from bot.localteams import LocalTeamsDesk, start_local_teams
from bot.models import Incident
from bot.sandbox.model import Call
from bot.sandbox.process import TeamsServeProcess
from bot.sandbox.teams.people import execute_actions
from bot.sandbox.transport import BotResponse
from bot.store import Store

TARGET_RATIO = 1.1
TARGET_P99_MS = 100.0
SCENARIO = "data-breach"
DECLARER = "bram"
BARE_ANSWERS = 20
ROOT = Path(__file__).resolve().parent.parent  # where `python -m bench.sender` finds the bench
ENVIRON = {"CRISISBOT_CONFIG": str(demo_config("en", "teams")), "CRISISBOT_LANGUAGE": "en"}
CONFIRMED = "✅"  # how the declarer's "declared" reply starts
PROGRESS = "Declaring a "  # how messages/en/ui.yaml's declare.working starts
ACCEPTED = (200, 202)  # a message activity is answered 202 Accepted (its work goes on after)


# ---- declare ------------------------------------------------------------------------------------------------------
def confirmed(calls: list[Call]) -> bool:
    """Whether the declarer's "✅ … declared" reply went out."""
    return any(
        c.method in ("reply_to_activity", "send_to_conversation") and _said(c).startswith(CONFIRMED) for c in calls
    )


def typed_declare(local: LocalTeamsDesk, latency: float) -> tuple[str, float, BotResponse]:
    """The declarer types a declare with `latency` s per Connector call from now on: its title, when, the answer."""
    emulator = local.emulator
    emulator.latency = latency
    emulator.reset_calls()
    title = f"Bench {uuid.uuid4().hex[:8]}"
    response = local.people[DECLARER].say(f"crisis declare {SCENARIO} 2 {title}", emulator.crisis_channel)
    # From the moment the request left, as the floor's activity time is (transport.exchange's `elapsed`): the
    # emulator building and signing the activity is Teams' work before it sends, not the bot's (~1 ms).
    sent_ago = time.perf_counter() - (response.received - response.elapsed)
    return title, time.time() - sent_ago, response


def sample(local: LocalTeamsDesk, latency: float) -> dict[str, Any]:
    """Declare once at `latency` s per Connector call; wait until the bot is idle, then time it from the call log."""
    title, started, response = typed_declare(local, latency)
    local.settle(timeout=120)
    incident = local.desk.store.incidents()[-1]
    return measured(
        local.emulator.calls, latency, started, response, incident.title == title and bool(incident.setup_done_at)
    )


def serve_sample(local: LocalTeamsDesk, db: Path, latency: float) -> dict[str, Any]:
    """One declare into the `crisisbot serve` process: done when it is set up, the declarer was told, and the bot
    made no Connector call for a while."""
    emulator = local.emulator
    title, started, response = typed_declare(local, latency)
    emulator.wait_for(lambda: confirmed(emulator.calls), timeout=60)
    store = Store(db)
    try:
        [incident] = [i for i in store.incidents() if i.title == title]
        is_ready = bool(emulator.wait_for(lambda: store.incident(incident.id).setup_done_at is not None, timeout=60))
    finally:
        store.close_all()
    wait_quiet(emulator)
    return measured(emulator.calls, latency, started, response, is_ready)


def _said(call: Call) -> str:
    body = call.args.get("body") or {}
    activity = body.get("activity", body) if isinstance(body, dict) else {}
    return str(activity.get("summary") or activity.get("text") or "")


def measured(calls: list[Call], latency: float, started: float, response: Any, is_ready: bool) -> dict[str, Any]:
    """One declare's figures from the emulator's call log (`started`: the wall-clock time the typed command's
    request left). The "Declaring…" note a slow declare sends (after bot/teams/typed.py's PROGRESS_AFTER: only the
    2 s/call calibration is that slow) is no step of the set-up: left out of the rounds, counted on its own."""
    progress = [c for c in calls if c.method == "reply_to_activity" and _said(c).startswith(PROGRESS)]
    calls = [c for c in calls if c not in progress]
    groups = rounds(calls, latency)
    return {
        "status": response.status,
        "answer_ms": response.elapsed * 1000,
        "seconds": max((c.at for c in calls), default=started) - started,
        "ready": is_ready and confirmed(calls),
        "rounds": len(groups),
        "calls": len(calls),
        "failed_calls": sum(1 for c in calls if c.status >= 300),
        "methods": dict(Counter(c.method for c in calls)),
        "shape": " | ".join(_short(g) for g in groups),
        "progress_notes": len(progress),
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


def run_declare(config: Config, outcome: Outcome) -> dict[str, Any]:
    """In this process (its ManualClock a day further for each declare), then against `crisisbot serve --platform
    teams` on the same database and emulator (the real clock: every declare after its warm-up is a same-day one)."""
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    with tempfile.TemporaryDirectory(prefix="crisisbot-bench-teams-") as tmp:
        db = Path(tmp) / "declare.db"
        local = start_local_teams(db_path=db, clock=clock, environ=ENVIRON)
        try:
            first = sample(local, config.declare_latency)  # the process's first: token, everyone's 1:1 chat opened
            clock.advance(days=1)
            calibration = sample(local, CALIBRATION_LATENCY)
            samples = []
            for _ in range(config.teams_declare_samples):
                clock.advance(days=1)
                samples.append(sample(local, config.declare_latency))
            local.emulator.latency = 0.0
            bare = bare_answer(local)
            local.runner.stop()  # releases the timer lease for the subprocess
            stop_bot(local)
            served = run_serve_declares(config, local, db, Path(tmp) / "serve.log")
            bare_client = run_bare_declares(config, local)
            problems = local.emulator.invalid + local.emulator.problems
        finally:
            local.stop()
    latency, dependent = config.declare_latency, calibration["rounds"]
    floor = bare + dependent * latency
    label = f"teams declare {SCENARIO} L2"
    outcome.add(
        f"{label}: dependent Connector rounds (at {CALIBRATION_LATENCY * 1000:.0f} ms/call)",
        dependent,
        "rounds",
        note=calibration["shape"],
    )
    outcome.add(
        f"{label}: floor (bare 202 + dependent rounds × {latency * 1000:.0f} ms)",
        floor * 1000,
        "ms",
        note=f"activity {bare * 1000:.1f} ms + {dependent} × {latency * 1000:.0f} ms",
    )
    for where, found, target in (("serve", served, TARGET_RATIO), ("in-process", samples, None)):
        _report_declares(outcome, f"{label} ({where})", found, floor, dependent * latency, target)
    bare_median = statistics.median(bare_client)
    outcome.add(
        f"{label}: a bare Connector client doing the same two rounds (median of {len(bare_client)})",
        bare_median * 1000,
        "ms",
        note=f"{bare_median / floor:.2f}× the floor: the client stack's and the emulator's share",
    )
    outcome.add(
        f"{label} (serve): measured / the bare client's time",
        statistics.median(s["seconds"] for s in served) / bare_median,
        "x",
        note="the bot's own share: its transaction, cards, bookkeeping and threads between and within the rounds",
    )
    outcome.add(
        f"{label}: the process's first declare (opens each person's 1:1 chat)",
        first["seconds"] * 1000,
        "ms",
        note=f"{first['rounds']} rounds: {first['shape']}",
    )
    everything = [first, calibration, *samples, *served]
    not_ready = sum(1 for s in everything if not s["ready"] or s["status"] not in ACCEPTED)
    outcome.add(f"{label}: declares not ready or not confirmed", not_ready, "", 0)
    outcome.add(f"{label}: cards refused or problems seen by the emulator", len(problems), "", 0)
    return {
        "first": first,
        "calibration": calibration,
        "samples": samples,
        "serve": served,
        "bare_answer": bare,
        "bare_client": bare_client,
        "problems": problems,
    }


def run_serve_declares(config: Config, local: LocalTeamsDesk, db: Path, log_path: Path) -> list[dict[str, Any]]:
    """The declares against `crisisbot serve --platform teams`, after one at 0 ms that warms the process up."""
    emulator = local.emulator
    public = str(local.desk.settings.teams_public_url or "http://127.0.0.1:9")
    with TeamsServeProcess(
        emulator, db, public_url=public, log_path=log_path, environ=ENVIRON, command=serve_command()
    ) as bot:
        emulator.bot_url = bot.url
        bot.wait_healthy()
        serve_sample(local, db, 0.0)  # the process's first declare: its Connector token, its threads' connections
        return [serve_sample(local, db, config.declare_latency) for _ in range(config.teams_declare_samples)]


def run_bare_declares(config: Config, local: LocalTeamsDesk) -> list[float]:
    """The last declare's Connector calls replayed by bench/bare_teams.py (the bot's Connector and nothing else, in
    a process of its own) at the same latency; seconds from "go" to the last answer, per declare."""
    emulator = local.emulator
    calls = sorted(emulator.calls, key=lambda c: c.at)
    create = next(c for c in calls if c.method == "create_conversation")
    thread = str(create.response["id"])
    round2 = [
        [
            "THREAD" if c.args["conversation_id"] == thread else c.args["conversation_id"],
            c.args["body"],
            c.args["activity_id"] if c.method == "reply_to_activity" else None,
        ]
        for c in calls
        if c.at > create.at and c.method in ("send_to_conversation", "reply_to_activity")
    ]
    job = {"env": {**emulator.environ(), **ENVIRON}, "create": create.args["body"], "channel": thread.split(";")[0]}
    job["round2"] = round2
    emulator.latency = 0.0
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_teams"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None
    seconds: list[float] = []
    try:
        child.stdin.write(json.dumps(job) + "\n")
        child.stdin.flush()
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("bench.bare_teams did not start")
        emulator.latency = config.declare_latency
        for _ in range(config.teams_declare_samples):
            emulator.reset_calls()
            started = time.time()
            child.stdin.write("go\n")
            child.stdin.flush()
            child.stdout.readline()
            seconds.append(max(c.at for c in emulator.calls) - started)
    finally:
        child.stdin.close()
        child.wait(30)
        emulator.latency = 0.0
    return seconds


def _report_declares(
    outcome: Outcome, label: str, samples: list[dict[str, Any]], floor: float, rounds_only: float, target: float | None
) -> None:
    ratios = [s["seconds"] / floor for s in samples]
    median = statistics.median(s["seconds"] for s in samples)
    outcome.add(f"{label}: time to ready and confirmed (median of {len(samples)})", median * 1000, "ms")
    seen = [s["rounds"] for s in samples]
    outcome.add(
        f"{label}: rounds seen",
        statistics.median(seen),
        "rounds",
        note=f"seen {sorted(set(seen))}; e.g. {samples[-1]['shape']}",
    )
    outcome.add(
        f"{label}: measured / floor (median)",
        statistics.median(ratios),
        "x",
        target,
        f"worst {max(ratios):.2f}×; {median / rounds_only:.2f}× the Connector rounds alone",
    )
    outcome.add(f"{label}: Connector calls per declare", max(s["calls"] for s in samples), "calls")


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


def drive(
    local: LocalTeamsDesk, url: str, planned: list[Press], rate: float, workers: int, folder: Path
) -> list[tuple[str, int, float]]:
    """Send press i at start + i/rate from `workers` threads of bench/sender.py's own process; (kind, status,
    seconds from when it was due until its answer was in) each. The invokes are made by the emulator first, and
    the answers' cards checked against the schema by it afterwards."""
    token = local.emulator.channel_token()
    made = [local.people[p.who].action_invoke(p.activity_id, p.verb, p.data, None, True) for p in planned]
    job, answers = folder / "invokes.json", folder / "answers.json"
    requests = [{"activity": activity, "token": token} for activity, _ in made]
    job.write_text(json.dumps({"url": url, "rate": rate, "workers": workers, "requests": requests}), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "bench.sender", str(job), str(answers)], check=True, cwd=ROOT)
    results = []
    for sent in json.loads(answers.read_text(encoding="utf-8")):
        press, (_, version) = planned[sent["i"]], made[sent["i"]]
        body = sent["body"]
        local.people[press.who].answered_invoke(press.activity_id, BotResponse(sent["status"], "", body, 0.0), version)
        ok = sent["status"] if body and body.get("statusCode") == 200 else 0
        results.append((press.kind, ok, float(sent["seconds"])))
    return results


def prepare(config: Config, db_path: Path) -> tuple[LocalTeamsDesk, list[Press]]:
    """The in-process bot with the live incidents declared (at 0 ms per call, a day apart), and their card actions."""
    clock = ManualClock((datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0))
    local = start_local_teams(db_path=db_path, clock=clock, environ=ENVIRON)
    available: list[Press] = []
    for i in range(config.load_incidents):
        clock.advance(days=1)
        local.people[DECLARER].say(f"crisis declare {SCENARIO} 2 Load {i + 1}", local.emulator.crisis_channel)
        local.settle(timeout=60)
        available += presses(local, local.desk.store.incidents()[-1])
    return local, available


def schedule(available: list[Press], rate: float, seconds: float) -> list[Press]:
    count = round(rate * seconds)
    return [available[(i * 7919) % len(available)] for i in range(count)]  # spread over incidents and kinds


def run_invokes(config: Config, outcome: Outcome) -> dict[str, Any]:
    """The same card actions against the bot in this process, then against `crisisbot serve --platform teams` on a
    copy of the database as it was before (so its presses do the same work again), the emulator staying here."""
    with tempfile.TemporaryDirectory(prefix="crisisbot-bench-teams-") as tmp:
        db_path, serve_db = Path(tmp) / "teams.db", Path(tmp) / "serve.db"
        began = time.perf_counter()
        local, available = prepare(config, db_path)
        emulator = local.emulator
        try:
            local.runner.stop()  # releases the timer lease, so the copy can be served by the subprocess
            copy_database(db_path, serve_db)
            setup = time.perf_counter() - began
            planned = schedule(available, config.load_rate, config.load_seconds)
            sent = drive(local, local.bot_url, planned, *_pace(config), Path(tmp))
            local.settle(timeout=120)
            inproc = {"sent": sent, "problems": emulator.invalid + emulator.problems}
            stop_bot(local)
            served = run_served(config, local, serve_db, available, Path(tmp))
        finally:
            local.stop()
    _report_invokes(outcome, "in-process", inproc, config, None)
    _report_invokes(outcome, "serve subprocess", served, config, TARGET_P99_MS)
    outcome.add("teams invoke: setup", setup, "s", note=f"{config.load_incidents} incidents declared at 0 ms/call")
    runs: dict[str, dict[str, Any]] = {"in-process": inproc, "serve subprocess": served}
    details: dict[str, Any] = {"setup_seconds": setup}
    for label, measured in runs.items():
        details[label] = {
            "sent": len(measured["sent"]),
            "problems": measured["problems"][:20],
            **measured.get("extra", {}),
        }
    return details


def _pace(config: Config) -> tuple[float, int]:
    return config.load_rate, config.workers


def stop_bot(local: LocalTeamsDesk) -> None:
    """Stop the in-process bot and close its database; the emulator stays (the subprocess talks to the same tenant)."""
    local.serving.bot.workers.wait_idle(5)
    local.serving.stop()
    local.desk.store.close_all()


def run_served(
    config: Config, local: LocalTeamsDesk, db_path: Path, available: list[Press], folder: Path
) -> dict[str, Any]:
    emulator = local.emulator
    problems_before = len(emulator.invalid) + len(emulator.problems)
    calls_before = len(emulator.calls)
    public = str(local.desk.settings.teams_public_url or "http://127.0.0.1:9")
    log_path = folder / "serve.log"
    with TeamsServeProcess(
        emulator, db_path, public_url=public, log_path=log_path, environ=ENVIRON, command=serve_command()
    ) as bot:
        emulator.bot_url = bot.url
        healthy = bot.wait_healthy()
        planned = schedule(available, config.load_rate, config.load_serve_seconds)
        sent = drive(local, bot.url, planned, *_pace(config), folder)
        drained = wait_quiet(emulator)
    problems = (emulator.invalid + emulator.problems)[problems_before:]
    extra = {"healthy_after": healthy, "drained": drained, "calls": len(emulator.calls) - calls_before}
    return {"sent": sent, "problems": problems, "extra": extra, "warnings": log_warnings(log_path)}


def _report_invokes(
    outcome: Outcome, where: str, measured: dict[str, Any], config: Config, target: float | None
) -> None:
    sent: list[tuple[str, int, float]] = measured["sent"]
    label = f"teams invoke, {where}, {config.load_rate:g}/s, {config.workers} senders"
    every = [s for _, _, s in sent]
    outcome.add(f"{label}: answer p50 (all {len(sent)})", percentile(every, 50) * 1000, "ms")
    outcome.add(f"{label}: answer p99 (all)", percentile(every, 99) * 1000, "ms", target)
    for kind in sorted({k for k, _, _ in sent}):
        mine = [s for k, _, s in sent if k == kind]
        outcome.add(
            f"{label}: {kind} p99",
            percentile(mine, 99) * 1000,
            "ms",
            target,
            f"p50 {percentile(mine, 50) * 1000:.1f} ms over {len(mine)}",
        )
    outcome.add(f"{label}: answers that were not a 200 invoke response", sum(1 for _, ok, _ in sent if not ok), "", 0)
    outcome.add(f"{label}: cards refused or problems seen by the emulator", len(measured["problems"]), "", 0)
    if "warnings" in measured:
        warned = measured["warnings"]
        outcome.add(f"{label}: warnings in the bot's log", sum(warned.values()), "", note=str(warned or ""))


def run(config: Config) -> Outcome:
    outcome = Outcome()
    outcome.details["declare"] = run_declare(config, outcome)
    outcome.details["invoke"] = run_invokes(config, outcome)
    return outcome
