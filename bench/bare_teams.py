"""The Teams declare's two rounds from a bare client: `python -m bench.bare_teams` (bench/teams.py drives it).

The bot's own Connector class (bot/teams/connector.py: the SDK's ConnectorClient on aiohttp) in a process of its
own, doing exactly what a declare sends and nothing else: the thread with the header as its root, then the same
round-2 activities at once, replayed from a real declare's call log. What that takes on top of the computed
floor is the client stack's and the emulator's share; what the bot takes on top of this is its own.

Protocol on stdin/stdout, one line each: the job (JSON: environment, the create body, the channel, the round-2
calls with "THREAD" for the new thread's conversation), then "go" per declare, answered "done".
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bot.config import load_settings
from bot.store import Store
from bot.teams.connector import Connector

THREAD = "THREAD"  # in a round-2 call: the conversation the create made


def declare(connector: Connector, pool: ThreadPoolExecutor, job: dict[str, Any]) -> None:
    """One declare's two dependent rounds."""
    made = connector.create_conversation(job["create"])
    thread = f"{job['channel']};messageid={made['activityId']}"

    def send(call: list[Any]) -> str:
        conversation, activity, reply_to = call
        conversation = thread if conversation == THREAD else conversation
        if reply_to:
            return connector.reply(conversation, reply_to, activity)
        return connector.send(conversation, activity)

    list(pool.map(send, job["round2"]))


def main() -> None:
    job = json.loads(sys.stdin.readline())
    settings = load_settings(environ={**os.environ, **job["env"]})
    with tempfile.TemporaryDirectory(prefix="crisisbot-bench-bare-") as tmp:
        store = Store(Path(tmp) / "bare.db")  # the connector reads the service URL from it
        connector = Connector(settings, store)
        try:
            with ThreadPoolExecutor(max_workers=16, thread_name_prefix="bench-bare") as pool:
                declare(connector, pool, job)  # its token and connections, as the bot's warm-up declare
                print("ready", flush=True)
                for _ in iter(sys.stdin.readline, ""):
                    declare(connector, pool, job)
                    print("done", flush=True)
        finally:
            connector.close()
            store.close_all()


if __name__ == "__main__":
    main()
