"""`crisisbot serve` as a separate process: start it, wait for /healthz, read its memory, stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from bench.client import free_port, healthy
from bench.machine import memory_mb
from bot.workspace import BOT_TOKEN, SIGNING_SECRET

HEALTH_POLL = 0.005


def serve_command() -> list[str]:
    """The installed `crisisbot` console script next to this Python, else `python -m bot.cli`."""
    script = Path(sys.executable).with_name("crisisbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


def serve_env(api_url: str, db_path: Path, port: int) -> dict[str, str]:
    """The environment of a local bot: our token and secret, the emulator's API, no config from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CRISISBOT_"))}
    env.update(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": api_url,
            "CRISISBOT_DB": str(db_path),
            "PORT": str(port),
        }
    )
    return env


class ServeProcess:
    """One `crisisbot serve` child on 127.0.0.1; its output goes to `log_path`."""

    def __init__(self, api_url: str, db_path: Path, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [*serve_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=serve_env(api_url, db_path, self.port),
            cwd=db_path.parent,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_healthy(self, timeout: float = 30.0) -> float:
        """Seconds from the spawn to the first 200 from GET /healthz."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"crisisbot serve exited with {self.proc.returncode}; see {self.log_path}")
            if healthy(self.port, timeout=0.5):
                return time.perf_counter() - self.started
            time.sleep(HEALTH_POLL)
        raise TimeoutError(f"crisisbot serve not healthy after {timeout} s; see {self.log_path}")

    def memory(self) -> dict[str, float]:
        return memory_mb(self.proc.pid)

    def stop(self) -> None:
        """Ctrl-C (so the bot releases its timer lease), then harder if it does not go."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
