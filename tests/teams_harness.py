"""A whole Crisis Desk in Teams terms for the tests: the Bot Connector emulator plus the real bot served over HTTP.

As bot/localdesk.py does for Slack: a real Desk on a real SQLite file, the real aiohttp app (the SDK's adapter and
JWT check) on a free port, the same TeamsServing `crisisbot serve` builds, one timer runner whose outbox routes to
it (bot/chat/platforms.py), and the emulator signing every activity and validating every card it is sent.
"""

from __future__ import annotations

import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.chat.platforms import Platforms
from bot.clock import Clock, ManualClock
from bot.config import load_settings
from bot.incidents import Desk, open_desk
from bot.incidents.timers import Fired
from bot.models import Draft, Incident
from bot.sandbox.teams import TeamsEmulator, TeamsUser
from bot.sandbox.transport import BotResponse
from bot.scheduler import TimerRunner
from bot.teams.server import TeamsServing

ANONYMOUS = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED"

# name → (display name, role): the Slack cast, as Teams users
CAST: dict[str, tuple[str, str | None]] = {
    "anna": ("Anna de Vries", "crisis_lead"),
    "bram": ("Bram Jansen", "social_media_manager"),
    "chen": ("Chen Wu", "legal"),
    "dewi": ("Dewi Bakker", "communications"),
    "eli": ("Eli Visser", "tech_lead"),
    "fleur": ("Fleur Smit", "spokesperson"),
    "gijs": ("Gijs Mulder", None),  # an intern: may watch, may not approve
}


@dataclass
class TeamsDesk:
    """Emulator + bot, started together and stopped together; a person's-eye driver on top."""

    emulator: TeamsEmulator
    desk: Desk
    serving: TeamsServing
    runner: TimerRunner
    people: dict[str, TeamsUser]
    tmp: tempfile.TemporaryDirectory[str] | None = None
    stopped: bool = field(default=False)

    @property
    def store(self) -> Any:
        return self.desk.store

    def settle(self, timeout: float = 15.0) -> None:
        """Wait until the bot finished the work behind every activity it has answered."""
        if not self.serving.bot.workers.wait_idle(timeout):
            raise TimeoutError(f"the bot was still busy after {timeout} s")

    def tick(self) -> list[Fired]:
        fired = self.runner.tick()
        self.settle()
        return fired

    # ---- driving -----------------------------------------------------------------------------------
    def say(self, who: str, text: str, where: str | None = None) -> BotResponse:
        response = self.people[who].say(text, where)
        self.settle()
        return response

    def click(self, who: str, activity_id: str, verb: str, **kwargs: Any) -> BotResponse:
        response = self.people[who].invoke_action(activity_id, verb, **kwargs)
        self.settle()
        return response

    def declare(
        self, text: str = "crisis declare data-breach 2 Customer emails exposed", who: str = "bram"
    ) -> Incident:
        self.say(who, text, self.emulator.crisis_channel)
        return self.store.incidents()[-1]

    def drafts(self, incident: Incident) -> dict[str, Draft]:
        return {d.network: d for d in self.store.drafts(incident.id)}

    def header_id(self, incident: Incident) -> str:
        ref = self.store.delivery(f"{incident.id}:header")
        assert ref, "no header"
        return str(ref)

    def dm_id(self, incident: Incident, who: str) -> str:
        ref = self.store.delivery(f"{incident.id}:dm:{self.people[who].aad_id}")
        assert ref, f"no DM to {who}"
        return str(ref).split(":", 1)[1] if ":" in str(ref) else str(ref)

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.settle(5)
        self.serving.stop()
        self.runner.stop()
        self.emulator.stop()
        self.desk.store.close_all()
        if self.tmp is not None:
            self.tmp.cleanup()

    def __enter__(self) -> TeamsDesk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_teams(
    *,
    db_path: Path | None = None,
    clock: Clock | None = None,
    environ: dict[str, str] | None = None,
    latency: float = 0.0,
    anonymous: bool = False,
    locale: str = "en-US",
    install: bool = True,
    roles: bool = True,
    public: bool = False,
    watch: bool = False,
) -> TeamsDesk:
    """Start the emulator, then the real bot against it; both on 127.0.0.1 with free ports."""
    tmp = None
    if db_path is None:
        tmp = tempfile.TemporaryDirectory(prefix="crisisbot-teams-")
        db_path = Path(tmp.name) / "crisisbot.db"
    emulator = TeamsEmulator(latency=latency, anonymous=anonymous).start()
    people = {name: emulator.add_user(real, locale=locale) for name, (real, _) in CAST.items()}
    env = {**emulator.environ(), "CRISISBOT_DB": str(db_path), **(environ or {})}
    listen = 0
    if public:  # report files are linked at TEAMS_PUBLIC_URL: the bot's own address, known before it starts
        listen = _free_port()
        env["TEAMS_PUBLIC_URL"] = f"http://127.0.0.1:{listen}"
    if anonymous:
        env[ANONYMOUS] = "true"
    if watch:  # triage cards of monitoring alerts go to the crisis channel
        env["TEAMS_WATCH_CHANNEL"] = emulator.crisis_channel
    desk = open_desk(load_settings(environ=env), clock=clock)
    if roles:
        for name, (_, role) in CAST.items():
            if role:
                desk.store.set_role_owners(role, [people[name].aad_id])
    routes = Platforms(desk)
    runner = TimerRunner(desk, routes)
    serving = TeamsServing(desk, runner, host="127.0.0.1", port=listen)
    routes.serve(serving.name, serving.deliverer)
    runner.start(background=not isinstance(desk.clock, ManualClock))
    serving.start()
    emulator.bot_url = serving.url
    local = TeamsDesk(emulator, desk, serving, runner, people, tmp)
    if install:
        emulator.install()
        local.settle()
    return local
