"""`declare`: declare → ready with 100 ms per Web API call, against the floor of dependent round trips.

The bot sets an incident up in rounds: conversations.create → [header, topic, purpose, invite, DMs] →
[pin, channel mention, drafts]. The rounds are read back from the emulator's call log: a call occupies
[finished − latency, finished], and calls whose intervals overlap ran in the same round. The dependent
rounds are read from one calibration declare at 2 s per call, where the bot's own CPU time between the
calls of one round cannot pull them apart; at 100 ms it can, so the rounds seen there are reported too.
The floor is dependent rounds × 100 ms; measured/floor shows the time the bot spends between round trips.

The declarer's very first declare is reported apart (caches such as their language are cold then).
Each sample is declared on its own (ManualClock) day, so it is the first incident of its scenario that
day and gets its channel name at the first try; one extra sample shows the cost of being the 5th.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from bench.config import Config
from bench.figures import Outcome
from bench.team import DECLARER, ID, declare, latest, ready, staff
from bot.clock import ManualClock
from bot.sandbox.model import Call
from bot.workspace import LocalCrisisDesk, start_local

NOT_WEB_API = ("response_url", "upload")
TARGET_RATIO = 1.1
TARGET_CALLS = 12
SCENARIOS = ("data-breach", "negative-reviews")
SAME_DAY_NTH = 5
CALIBRATION_LATENCY = 2.0
OVERLAP_TOLERANCE = 0.005  # seconds: calls that merely touch are sequential


def rounds(calls: list[Call], latency: float) -> list[list[Call]]:
    """Group Web API calls into rounds of calls that were in flight at the same time."""
    api = sorted((c for c in calls if c.method not in NOT_WEB_API), key=lambda c: c.at - latency)
    groups: list[list[Call]] = []
    round_end = float("-inf")
    for call in api:
        if not groups or call.at - latency >= round_end - OVERLAP_TOLERANCE:
            groups.append([])
        groups[-1].append(call)
        round_end = max(round_end, call.at) if len(groups[-1]) > 1 else call.at
    return groups


def sample(local: LocalCrisisDesk, scenario: str, latency: float) -> dict[str, Any]:
    """Declare once at `latency` s per call; time it until the bot is idle and read its rounds."""
    emulator = local.emulator
    emulator.latency = latency
    emulator.reset_calls()
    title = f"Bench {scenario} {uuid.uuid4().hex[:8]}"
    started = time.time()
    began = time.perf_counter()
    response = emulator.slash_command(ID[DECLARER], f"declare {scenario} 2 {title}")
    local.settle(timeout=60)
    seconds = time.perf_counter() - began
    calls = emulator.calls
    incident = latest(local)
    groups = rounds(calls, latency)
    api_calls = [c for c in calls if c.method not in NOT_WEB_API]
    return {
        "title": title,
        "status": response.status,
        "ack_ms": response.elapsed * 1000,
        "seconds": seconds,
        "ready": incident.title == title and ready(local, incident),
        "rounds": len(groups),
        "floor": len(groups) * latency,
        "calls": len(api_calls),
        "failed_calls": sum(1 for c in api_calls if c.status != 200 or not c.response.get("ok")),
        "methods": dict(Counter(c.method for c in api_calls)),
        "round_detail": [
            {
                "starts_at": round(g[0].at - latency - started, 3),
                "ends_at": round(max(c.at for c in g) - started, 3),
                "methods": [c.method for c in g],
            }
            for g in groups
        ],
        "answer_after": [round(c.at - started, 3) for c in calls if c.method == "response_url"],
    }


def run_scenario(config: Config, scenario: str) -> dict[str, Any]:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    local = start_local(clock=clock)
    try:
        staff(local)
        first = sample(local, scenario, config.declare_latency)  # the declarer's first request: cold caches
        clock.advance(days=1)
        calibration = sample(local, scenario, CALIBRATION_LATENCY)
        samples = []
        for _ in range(config.declare_samples):
            clock.advance(days=1)
            samples.append(sample(local, scenario, config.declare_latency))
        same_day = None
        if scenario == SCENARIOS[0] and not config.quick:
            local.emulator.latency = 0.0
            for n in range(SAME_DAY_NTH - 2):  # this day already has the last sample
                declare(local, scenario, f"Filler {n} {uuid.uuid4().hex[:6]}")
            same_day = sample(local, scenario, config.declare_latency)
        return {"first": first, "calibration": calibration, "samples": samples, "same_day": same_day}
    finally:
        local.stop()


def run(config: Config) -> Outcome:
    outcome = Outcome()
    for scenario in SCENARIOS:
        measured = run_scenario(config, scenario)
        _report(outcome, scenario, measured["calibration"], measured["samples"], config.declare_latency)
        _report_first(outcome, scenario, measured["first"])
        if measured["same_day"]:
            _report_same_day(outcome, scenario, measured["same_day"])
        outcome.details[scenario] = measured
    return outcome


def _shape(sample: dict[str, Any]) -> str:
    """The rounds of a declare in short: `conversations.create | chat.postMessage×5, … | …`."""
    parts = []
    for group in sample["round_detail"]:
        counted = Counter(m.removeprefix("conversations.") for m in group["methods"])
        parts.append(", ".join(f"{m}×{n}" if n > 1 else m for m, n in counted.items()))
    return " | ".join(parts)


def _report(
    outcome: Outcome, scenario: str, calibration: dict[str, Any], samples: list[dict[str, Any]], latency: float
) -> None:
    label = f"{scenario} L2"
    dependent = calibration["rounds"]
    floor = dependent * latency
    rounds_seen = [s["rounds"] for s in samples]
    ratios = [s["seconds"] / floor for s in samples]
    calls = [s["calls"] for s in samples]
    not_ready = sum(1 for s in samples if not s["ready"] or s["status"] != 200)
    outcome.add(
        f"{label}: time to ready (median of {len(samples)})",
        statistics.median(s["seconds"] for s in samples) * 1000,
        "ms",
    )
    outcome.add(
        f"{label}: dependent rounds (at {CALIBRATION_LATENCY * 1000:.0f} ms/call)",
        dependent,
        "rounds",
        note=_shape(calibration),
    )
    outcome.add(
        f"{label}: rounds seen at {latency * 1000:.0f} ms/call",
        statistics.median(rounds_seen),
        "rounds",
        note=f"seen {sorted(set(rounds_seen))}; e.g. {_shape(samples[-1])}",
    )
    outcome.add(f"{label}: floor (dependent rounds × {latency * 1000:.0f} ms)", floor * 1000, "ms")
    outcome.add(
        f"{label}: measured / floor (median)", statistics.median(ratios), "x", TARGET_RATIO, f"worst {max(ratios):.2f}×"
    )
    outcome.add(
        f"{label}: Web API calls per declare",
        max(calls),
        "calls",
        TARGET_CALLS,
        ", ".join(f"{m.removeprefix('conversations.')} ×{n}" for m, n in samples[-1]["methods"].items()),
    )
    outcome.add(f"{label}: declare ack (median)", statistics.median(s["ack_ms"] for s in samples), "ms")
    outcome.add(f"{label}: declares not ready", not_ready, "", 0)


def _report_first(outcome: Outcome, scenario: str, first: dict[str, Any]) -> None:
    outcome.add(
        f"{scenario} L2, declarer's first request: time to ready",
        first["seconds"] * 1000,
        "ms",
        note=f"{first['calls']} calls, {first['rounds']} rounds seen: {_shape(first)}",
    )


def _report_same_day(outcome: Outcome, scenario: str, same_day: dict[str, Any]) -> None:
    creates = same_day["methods"].get("conversations.create", 0)
    outcome.add(
        f"{scenario} L2, {SAME_DAY_NTH}th that day: time to ready",
        same_day["seconds"] * 1000,
        "ms",
        note=f"{same_day['rounds']} rounds; conversations.create ×{creates} (name_taken retries)",
    )
