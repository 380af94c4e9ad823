"""`crisisbot serve` as the benchmarks run it: the installed console script, as an operator starts it.

Starting, waiting for /healthz and stopping are bot/sandbox/process.py's, shared with the tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bot.sandbox.process import ServeProcess


def serve_command() -> list[str]:
    """The installed `crisisbot` console script next to this Python, else `python -m bot.cli`."""
    script = Path(sys.executable).with_name("crisisbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


def start_serve(api_url: str, db_path: Path, log_path: Path) -> ServeProcess:
    """One `crisisbot serve` child on 127.0.0.1 (spawned, not yet healthy); its output goes to `log_path`."""
    return ServeProcess(api_url, db_path, log_path=log_path, command=serve_command())
