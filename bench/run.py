"""The suite runner: parse the command line, run the chosen benchmarks, print and save the results."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.config import FULL, QUICK, Config
from bench.figures import Outcome
from bench.logs import COUNTER
from bench.machine import machine_facts
from bench.report import as_json, print_table, save

RESULTS = Path(__file__).resolve().parent / "results"
WIDE = 180
# modules of this package, each with run(config)
BENCHMARKS = ("ack", "burst", "declare", "history", "load", "startup", "teams", "timers")


def benchmark(name: str) -> Callable[[Config], Outcome]:
    return import_module(f"bench.{name}").run  # type: ignore[no-any-return]


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Crisis Desk benchmarks against the local Slack and Bot Connector (Teams) emulators.",
        epilog="Example: python -m bench --quick --only ack",
    )
    parser.add_argument("--quick", action="store_true", help="a ~30 s smoke run with smaller numbers")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON and log files")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; 0 when every benchmark ran (targets missed or not), 1 when one crashed."""
    args = parse(argv)
    config = QUICK if args.quick else FULL
    names = args.only or list(BENCHMARKS)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = WIDE  # a log file or pipe: keep each figure on one line
    log_path = args.results / f"{stamp}.log"
    _log_to(log_path)
    started = time.perf_counter()
    machine = machine_facts()
    console.print(
        f"{machine['cpu_model']}, {machine['cores']} cores, Python {machine['python']}; "
        f"{'quick' if config.quick else 'full'} run of {', '.join(names)}"
    )
    results = {name: _run_one(name, config, console) for name in names}
    print_table(results, console)
    document = {
        "started_at": stamp,
        "seconds": round(time.perf_counter() - started, 1),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "config": config.as_json(),
        "machine": machine,
        "results": as_json(results),
        "log": str(log_path),
    }
    path = args.results / f"{stamp}.json"
    save(path, document)
    console.print(f"saved {path} (bot logs: {log_path}); took {document['seconds']} s")
    return 1 if any(r.get("error") for r in results.values()) else 0


def _run_one(name: str, config: Config, console: Console) -> dict[str, Any]:
    load = os.getloadavg()[0]
    busy = " [yellow](the machine is busy: figures will be noisy)[/yellow]" if load > (os.cpu_count() or 1) else ""
    console.print(f"[bold]{name}[/bold] … (load average {load:.1f}){busy}")
    began = time.perf_counter()
    try:
        outcome = benchmark(name)(config)
    except Exception as exc:  # one broken benchmark must not hide the others' figures
        logging.getLogger("bench").exception("benchmark %s failed", name)
        console.print(f"[red]{name} failed:[/red] {type(exc).__name__}: {exc}")
        return {
            "seconds": time.perf_counter() - began,
            "error": f"{type(exc).__name__}: {exc}",
            "trace": traceback.format_exc(),
            "load_average": load,
        }
    seconds = time.perf_counter() - began
    console.print(f"  done in {seconds:.1f} s")
    return {"seconds": seconds, "outcome": outcome, "load_average": load}


def _log_to(path: Path) -> None:
    """The in-process bot's log lines go to a file, not between the table rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler, COUNTER]
    root.setLevel(logging.INFO)
    logging.getLogger("slack_sdk").setLevel(logging.WARNING)
    logging.getLogger("slack_bolt").setLevel(logging.WARNING)
