"""`startup`: from spawning `crisisbot serve` to the first 200 from GET /healthz, best of N fresh starts.

Each start gets a new, empty database file (so it includes creating the schema) and the Slack
emulator as its Web API, exactly what an operator's restart looks like apart from the network.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from bench.config import Config
from bench.figures import Outcome
from bench.serve import serve_command, start_serve
from bot.localdesk import BOT_TOKEN, SIGNING_SECRET
from bot.manifest import manifest_scopes
from bot.sandbox.emulator import SlackEmulator

TARGET_SECONDS = 1.5


def run(config: Config) -> Outcome:
    outcome = Outcome()
    seconds: list[float] = []
    with (
        SlackEmulator(token=BOT_TOKEN, signing_secret=SIGNING_SECRET, scopes=manifest_scopes()) as emulator,
        tempfile.TemporaryDirectory(prefix="crisisbot-bench-startup-") as tmp,
    ):
        for i in range(config.startup_runs):
            folder = Path(tmp) / f"run{i}"
            folder.mkdir()
            with start_serve(emulator.api_url, folder / "crisisbot.db", folder / "serve.log") as bot:
                seconds.append(bot.wait_healthy())
    outcome.add(f"spawn → first 200 /healthz (best of {len(seconds)})", min(seconds), "s", TARGET_SECONDS)
    outcome.add("median", statistics.median(seconds), "s", note=f"all: {', '.join(f'{s:.2f}' for s in seconds)}")
    outcome.details = {"seconds": seconds, "command": [*serve_command(), "serve"]}
    return outcome
