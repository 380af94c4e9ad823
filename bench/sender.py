"""An open-loop sender in a process of its own: `python -m bench.sender <job.json> <results.json>`.

The job is a URL, a rate, a number of sender threads and the requests (an activity and its bearer token each),
all made beforehand by the emulator (bench/teams.py). Request i is sent at start + i / rate and timed from that
moment until its answer was in, so a bot that falls behind is charged for the queue it causes; the sender's own
CPU is not the emulator's: the emulator's card validation and the bot's Connector calls it answers (in the bench's
process) do not delay a send or the reading of an answer here.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bot.sandbox.teams.sender import post_activity

START_DELAY = 0.2  # seconds between the job being read and the first send


def send_all(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Each request's answer: its index, HTTP status, seconds from when it was due, and body."""
    requests, rate, url = job["requests"], float(job["rate"]), str(job["url"])
    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    start = time.perf_counter() + START_DELAY

    def send(i: int) -> None:
        request = requests[i]
        response = post_activity(url, request["activity"], request["token"])
        seconds = response.received - (start + i / rate)
        with lock:
            results.append({"i": i, "status": response.status, "seconds": seconds, "body": response.json})

    with ThreadPoolExecutor(max_workers=int(job["workers"]), thread_name_prefix="bench-sender") as pool:
        for i in range(len(requests)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, i)
    return sorted(results, key=lambda r: r["i"])


def main(argv: list[str]) -> None:
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    Path(argv[1]).write_text(json.dumps(send_all(job)), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
