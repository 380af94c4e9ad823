"""The intake on `crisisbot serve`: its own small HTTP server on INTAKE_PORT, whatever chat platforms are served.

Its own server (and thread pool) rather than a route in Slack's WSGI app or Teams' aiohttp app: Slack may be
served over Socket Mode with no HTTP server at all, one intake serves both platforms the same way, and a burst
of alerts queues on the intake's threads, never in front of a `/crisis` acknowledgement.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from waitress.server import create_server

from bot.incidents.desk import Desk
from bot.intake.app import Intake, wsgi_app
from bot.scheduler import TimerRunner
from bot.wsgi import stop_http_server

log = logging.getLogger("crisisbot")
THREADS = 1  # alerts queue here, one transaction at a time: never several in front of an ack's write


class IntakeServing:
    """`POST /intake/<source>` and `GET /healthz` on the desk's INTAKE_PORT (0: any free port, for tests)."""

    def __init__(self, desk: Desk, runner: TimerRunner, host: str = "0.0.0.0", port: int | None = None) -> None:
        self.desk, self.runner = desk, runner
        self.intake = Intake(desk, accepted=lambda _outcome: runner.arm())
        self.server: Any = create_server(
            wsgi_app(self.intake),
            host=host,
            port=desk.settings.intake_port if port is None else port,
            threads=THREADS,
            ident="crisisbot-intake",
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.effective_port)

    def start(self) -> None:
        sources = ", ".join(sorted(self.desk.settings.intake_secrets)) or "none configured"
        if not self.desk.settings.watch_platform:
            log.warning(
                "intake: no watch channel is set (SLACK_WATCH_CHANNEL or TEAMS_WATCH_CHANNEL): alerts are "
                "recorded, but no triage card is posted"
            )
        log.info(
            "intake listening on http://%s:%s/intake/<source> (sources: %s)",
            self.server.effective_host,
            self.port,
            sources,
        )
        self._thread = threading.Thread(target=self.server.run, name="crisisbot-intake", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            stop_http_server(self.server, self._thread)
            self._thread = None
