"""`load`: 100 live incidents, then 50 interactions a second, open loop; ack latency, errors and memory.

Run twice on identical copies of the same database: first against the bot inside this process (bot,
emulator and sender share one interpreter, so its memory and GIL are shared too), then against a
`crisisbot serve` subprocess whose own memory is read from /proc/<pid>/status.

The incidents are declared on consecutive days of a ManualClock starting tomorrow: a channel name
(`crisis-<yyyymmdd>-<scenario>`) is tried with at most 20 suffixes per day, so 100 same-day incidents
cannot all get a channel; the future dates also keep every timer far from due in the subprocess.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from bench.config import Config
from bench.figures import Outcome, percentile, summary_ms
from bench.logs import COUNTER, since
from bench.machine import memory_mb
from bench.serve import start_serve
from bench.team import declare, staff
from bench.traffic import ABANDONED, KINDS, Request, Sent, Target, build, drive, targets
from bot.clock import ManualClock
from bot.localdesk import LocalCrisisDesk, start_local
from bot.sandbox.emulator import SlackEmulator

TARGET_P99_MS = 100.0
TARGET_RSS_MB = 150.0
SCENARIOS = ("data-breach", "negative-reviews")
SLACK_ACK_LIMIT = 3.0
QUIET = 1.0  # seconds without a Web API call that count as "the bot is done"


class MemorySampler:
    """Samples VmRSS of a process every half second while the load runs."""

    def __init__(self, pid: int | str) -> None:
        self.pid = pid
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            rss = memory_mb(self.pid).get("VmRSS")
            if rss is not None:
                self.samples.append(rss)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def prepare(config: Config, db_path: Path) -> tuple[LocalCrisisDesk, list[Target]]:
    """Start the bot, staff it, and declare the incidents at zero latency, one day apart."""
    clock = ManualClock((datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0))
    local = start_local(db_path=db_path, clock=clock)
    staff(local)
    for i in range(config.load_incidents):
        clock.advance(days=1)
        declare(local, SCENARIOS[i % len(SCENARIOS)], f"Load incident {i + 1}")
    found = targets(local)
    if len(found) < config.load_incidents:
        raise RuntimeError(f"only {len(found)} of {config.load_incidents} incidents were set up in Slack")
    return local, found


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite file (WAL included), via SQLite's backup API."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


class Logged(Protocol):
    """An emulator's call log (Slack's Web API or Teams' Bot Connector)."""

    @property
    def calls(self) -> Sequence[object]: ...


def wait_quiet(emulator: Logged, limit: float = 60.0) -> float:
    """Seconds until the bot made no platform call for QUIET seconds (the work behind the answers is done)."""
    began = time.perf_counter()
    count, changed = len(emulator.calls), time.perf_counter()
    while time.perf_counter() - began < limit:
        time.sleep(0.1)
        now_count = len(emulator.calls)
        if now_count != count:
            count, changed = now_count, time.perf_counter()
        elif time.perf_counter() - changed >= QUIET:
            break
    return max(0.0, changed - began)


def run_inprocess(config: Config, local: LocalCrisisDesk, requests: list[Request]) -> dict[str, Any]:
    emulator = local.emulator
    calls_before, warnings_before = len(emulator.calls), COUNTER.snapshot()
    with MemorySampler("self") as sampler:
        sent = drive(local.bot_url, requests, config.load_rate, config.workers)
        drained = _settle(local)
    return {
        "sent": sent,
        "drained": drained,
        "memory": memory_mb("self"),
        "rss_samples": sampler.samples,
        "calls": len(emulator.calls) - calls_before,
        "warnings": since(warnings_before),
    }


def _settle(local: LocalCrisisDesk, limit: float = 120.0) -> float:
    began = time.perf_counter()
    try:
        local.settle(timeout=limit)
    except TimeoutError:
        return float("nan")
    return time.perf_counter() - began


def run_subprocess(
    config: Config, emulator: SlackEmulator, db_path: Path, requests: list[Request], log_path: Path
) -> dict[str, Any]:
    calls_before = len(emulator.calls)
    with start_serve(emulator.api_url, db_path, log_path) as bot:
        healthy_after = bot.wait_healthy()
        idle_memory = memory_mb(bot.pid)
        with MemorySampler(bot.pid) as sampler:
            sent = drive(bot.url, requests, config.load_rate, config.workers)
            drained = wait_quiet(emulator)
        memory = memory_mb(bot.pid)
    return {
        "sent": sent,
        "drained": drained,
        "memory": memory,
        "idle_memory": idle_memory,
        "rss_samples": sampler.samples,
        "healthy_after": healthy_after,
        "calls": len(emulator.calls) - calls_before,
        "warnings": log_warnings(log_path),
    }


def log_warnings(path: Path) -> dict[str, int]:
    """Count `<date> <time> LEVEL logger: …` lines of WARNING and worse (the format of `crisisbot serve`)."""
    counted: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        words = line.split(maxsplit=4)
        if len(words) > 3 and words[2] in ("WARNING", "ERROR", "CRITICAL"):
            counted[f"{words[2]} {words[3].rstrip(':')}"] += 1
    return dict(counted)


def stop_bot(local: LocalCrisisDesk) -> None:
    """Stop the in-process bot but keep the emulator (the subprocess talks to the same workspace)."""
    local.bot.runner.stop()
    local.server.close()
    local.thread.join(timeout=5)
    local.desk.store.close()


def run(config: Config) -> Outcome:
    outcome = Outcome()
    rng = random.Random(20260314)
    with tempfile.TemporaryDirectory(prefix="crisisbot-bench-load-") as tmp:
        db_path, serve_db = Path(tmp) / "load.db", Path(tmp) / "serve.db"
        began = time.perf_counter()
        local, found = prepare(config, db_path)
        try:
            local.bot.runner.stop()  # releases the timer lease, so the copy can be served by a subprocess
            copy_database(db_path, serve_db)
            inproc_requests = build(local, found, round(config.load_rate * config.load_seconds), rng)
            serve_requests = build(local, found, round(config.load_rate * config.load_serve_seconds), rng)
            setup = time.perf_counter() - began
            inproc = run_inprocess(config, local, inproc_requests)
            stop_bot(local)
            serve = run_subprocess(config, local.emulator, serve_db, serve_requests, Path(tmp) / "serve.log")
            problems = local.emulator.problems
        finally:
            local.emulator.stop()
            if local.tmp is not None:
                local.tmp.cleanup()
    _report(outcome, "in-process", inproc, config.load_seconds, config)
    _report(outcome, "serve subprocess", serve, config.load_serve_seconds, config)
    outcome.add("setup: declaring the incidents", setup, "s", note=f"{len(found)} incidents at 0 ms/call")
    outcome.details.update(
        setup_seconds=setup, incidents=len(found), emulator_problems=problems[:20], emulator_problem_count=len(problems)
    )
    return outcome


def _report(outcome: Outcome, label: str, measured: dict[str, Any], seconds: float, config: Config) -> None:
    sent: list[Sent] = measured["sent"]
    times = [s.seconds for s in sent if s.status in (200, ABANDONED)]  # abandoned: a lower bound
    errors = Counter(s.status for s in sent if s.status != 200)
    late = sum(1 for s in sent if s.seconds > SLACK_ACK_LIMIT)
    memory = measured["memory"]
    outcome.add(
        f"{label}: ack p50",
        percentile(times, 50) * 1000,
        "ms",
        note=f"{len(sent)} requests, {config.load_rate:.0f}/s for {seconds:.0f} s",
    )
    outcome.add(
        f"{label}: ack p99",
        percentile(times, 99) * 1000,
        "ms",
        TARGET_P99_MS,
        note=f"max {max(times, default=float('nan')) * 1000:,.0f} ms; {late} over Slack's 3 s",
    )
    outcome.add(f"{label}: errors (non-200)", sum(errors.values()), "", 0, note=_errors_note(errors))
    outcome.add(
        f"{label}: work behind the acks done after",
        measured["drained"],
        "s",
        note=f"{measured['calls']} Web API calls during the run",
    )
    if label == "in-process":
        outcome.add(
            f"{label}: RSS (bot + emulator + sender)",
            memory.get("VmRSS", float("nan")),
            "MB",
            note=f"peak {memory.get('VmHWM', float('nan')):.0f} MB",
        )
    else:
        outcome.add(
            f"{label}: RSS after the load",
            memory.get("VmRSS", float("nan")),
            "MB",
            TARGET_RSS_MB,
            note=f"{measured['idle_memory'].get('VmRSS', float('nan')):.0f} MB idle before it",
        )
        outcome.add(f"{label}: peak RSS (VmHWM)", memory.get("VmHWM", float("nan")), "MB", TARGET_RSS_MB)
    outcome.details[label] = {
        "p99_ms_per_5s": _p99_per_5s(sent, config.load_rate),
        "ack_ms": summary_ms(times),
        "ack_ms_by_kind": {k: summary_ms([s.seconds for s in sent if s.kind == k and s.status == 200]) for k in KINDS},
        "errors": {str(k): v for k, v in errors.items()},
        "over_3s": late,
        "errors_by_kind": {
            k: dict(Counter(str(s.status) for s in sent if s.kind == k and s.status != 200)) for k in KINDS
        },
        **{k: v for k, v in measured.items() if k != "sent"},
    }


def _errors_note(errors: Counter[int]) -> str:
    parts = []
    for status, count in sorted(errors.items()):
        if status == ABANDONED:
            parts.append(f"{count} not sent: over 3 s behind schedule (Slack would have failed them)")
        else:
            parts.append(f"HTTP {status or 'no answer'} ×{count}")
    return "; ".join(parts)


def _p99_per_5s(sent: list[Sent], rate: float) -> list[float]:
    """p99 ack (ms) per 5 s of the schedule: shows whether latency grew as the run went on."""
    window = max(1, round(rate * 5))
    return [
        round(percentile([s.seconds for s in sent[i : i + window]], 99) * 1000, 1) for i in range(0, len(sent), window)
    ]
