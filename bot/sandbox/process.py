"""`crisisbot serve` as a child process on 127.0.0.1 against the emulator: start, wait for /healthz, stop.

The one way the tests (restart, kill -9, secrets in the log) and the benchmarks (startup, load) run the real
process. Its environment holds our token and secret, the emulator's Web API and the database, and none of
the caller's SLACK_* or CRISISBOT_* settings; its output goes to a log file.

Typical use::

    with ServeProcess(emu.api_url, tmp / "crisis.db") as bot:
        emu.bot_url = bot.url
        bot.wait_healthy()
        emu.slash_command("U0ANNA", "help")
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

from bot.sandbox.model import BOT_TOKEN, SIGNING_SECRET

if TYPE_CHECKING:
    from bot.sandbox.emulator import SlackEmulator
    from bot.sandbox.teams import TeamsEmulator
    from bot.store import Store

T = TypeVar("T")

HOST = "127.0.0.1"
HEALTH_POLL = 0.005  # seconds between /healthz probes (the startup benchmark's resolution)
MODULE = (sys.executable, "-m", "bot.cli")


class ServeExited(RuntimeError):
    """The process ended before /healthz answered."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def healthy(port: int, timeout: float = 1.0) -> bool:
    """True when GET /healthz on 127.0.0.1:`port` answers 200 (no proxy in between)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def serve_env(
    api_url: str,
    db_path: Path,
    port: int,
    *,
    clock_speed: float | None = None,
    crash_at: str | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a local bot: our token and secret, the emulator's API, no config from outside.

    clock_speed: CRISISBOT_CLOCK_SPEED (crisis seconds per real second); crash_at: CRISISBOT_CRASH_AT
    (bot/faults.py: die like kill -9 at that point).
    """
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
    if clock_speed is not None:
        env["CRISISBOT_CLOCK_SPEED"] = f"{clock_speed:g}"
    if crash_at:
        env["CRISISBOT_CRASH_AT"] = crash_at
    env.update(extra or {})  # e.g. INTAKE_PORT and SLACK_WATCH_CHANNEL for the alert intake
    return env


class ServeProcess:
    """One `crisisbot serve` child on 127.0.0.1, spawned at once; its output goes to `log_path`.

    log_path: default next to the database, named after the port; appended to.
    command: what runs `crisisbot` (default `python -m bot.cli` with this Python); `serve …` is added.
    clock_skew: seconds the bot's wall clock runs ahead of this machine's, i.e. of the emulator's (Slack's);
    negative for behind (runs bot/sandbox/skewed.py in place of `command`).
    """

    def __init__(
        self,
        api_url: str,
        db_path: Path,
        *,
        log_path: Path | None = None,
        clock_speed: float | None = None,
        crash_at: str | None = None,
        command: Sequence[str] = MODULE,
        clock_skew: float | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        if clock_skew:
            command = (sys.executable, "-m", "bot.sandbox.skewed", f"{clock_skew:g}")
        self.port = free_port()
        env = serve_env(api_url, db_path, self.port, clock_speed=clock_speed, crash_at=crash_at, extra=env)
        self._spawn([*command, "serve", "--host", HOST, "--port", str(self.port)], env, db_path, log_path)

    def _spawn(self, args: list[str], env: dict[str, str], db_path: Path, log_path: Path | None) -> None:
        """Start `args` in the database's folder, its output appended to `log_path` (default: by the port)."""
        self.log_path = log_path or db_path.with_suffix(f".{self.port}.log")
        self._log: IO[bytes] = self.log_path.open("ab")
        self._log_start = self._log.tell()  # a log shared by several runs: output() is this one's
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(args, env=env, cwd=db_path.parent, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def url(self) -> str:
        """Where Slack sends events, commands and interactions."""
        return f"http://{HOST}:{self.port}/slack/events"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_healthy(self, timeout: float = 30.0, *, exit_ok: bool = False) -> float:
        """Seconds from the spawn to the first 200 from GET /healthz.

        A process that exits first raises ServeExited (with its output), unless `exit_ok` (a crash point
        during start-up that the caller checks for); no answer within `timeout` of the spawn raises
        TimeoutError. Either error stops the process first.
        """
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.died():
                if exit_ok:
                    return time.perf_counter() - self.started
                self.stop()
                raise ServeExited(f"crisisbot serve exited with {self.proc.returncode}:\n{self.output()}")
            if healthy(self.port, timeout=0.5):
                return time.perf_counter() - self.started
            time.sleep(HEALTH_POLL)
        self.stop()
        raise TimeoutError(f"crisisbot serve not healthy after {timeout} s:\n{self.output()}")

    def died(self) -> bool:
        return self.proc.poll() is not None

    def wait_exit(self, timeout: float = 10.0) -> int:
        """The exit status (137 after a crash point: the process ends like kill -9)."""
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        """Ctrl-C (so the bot releases its timer lease), then harder if it does not go; closes the log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()

    def output(self) -> str:
        """Everything this process wrote so far."""
        if not self._log.closed:
            self._log.flush()
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            return log.read().decode("utf-8", errors="replace")

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class TeamsServeProcess(ServeProcess):
    """`crisisbot serve --platform teams` as a child on 127.0.0.1 against a Teams emulator: its environment (the
    emulator's credentials, channel, service and login URLs), `TEAMS_PORT`, and none of the caller's Slack, Teams
    or Crisis Desk settings; report links point at `public_url`."""

    def __init__(
        self,
        emulator: TeamsEmulator,
        db_path: Path,
        *,
        public_url: str,
        log_path: Path | None = None,
        clock_speed: float | None = None,
        crash_at: str | None = None,
        environ: dict[str, str] | None = None,
        command: Sequence[str] = MODULE,
    ) -> None:
        self.port = free_port()
        env = serve_env("http://127.0.0.1:9/unused", db_path, free_port(), clock_speed=clock_speed, crash_at=crash_at)
        env = {k: v for k, v in env.items() if not k.startswith(("SLACK_", "CONNECTIONS__", "TEAMS_"))}
        env |= {**emulator.environ(), "TEAMS_PORT": str(self.port), "TEAMS_PUBLIC_URL": public_url, **(environ or {})}
        self._spawn([*command, "serve", "--platform", "teams", "--host", HOST], env, db_path, log_path)

    @property
    def url(self) -> str:
        """Where Teams sends activities."""
        return f"http://{HOST}:{self.port}/api/messages"


def serve_against(
    emulator: SlackEmulator,
    db_path: Path,
    *,
    clock_speed: float | None = None,
    crash_at: str | None = None,
    timeout: float = 20.0,
    exit_ok: bool = False,
    clock_skew: float | None = None,
    env: dict[str, str] | None = None,
) -> ServeProcess:
    """Start `crisisbot serve` with `emulator` as its Slack, point the emulator at it, wait until it is healthy.

    The log goes next to the database; see ServeProcess and ServeProcess.wait_healthy for the rest.
    """
    bot = ServeProcess(
        emulator.api_url, db_path, clock_speed=clock_speed, crash_at=crash_at, clock_skew=clock_skew, env=env
    )
    emulator.bot_url = bot.url
    bot.wait_healthy(timeout, exit_ok=exit_ok)
    return bot


def read_db(db: Path, what: Callable[[Store], T]) -> T:
    """Read the database a bot process writes (a connection of our own, closed again)."""
    from bot.store import Store  # the store's migrations are not needed to start a process, only to read one

    store = Store(db)
    try:
        return what(store)
    finally:
        store.close_all()
