"""A whole Crisis Desk running locally in Teams terms: the Bot Connector emulator plus the real Teams bot over HTTP.

bot/localdesk.py's counterpart for Microsoft Teams, used by `crisisbot demo --platform teams` and `bench/teams.py`:
a Desk on a real SQLite file; the emulator with the demo company's team, crisis channel and cast (fixed Entra
object ids, names, locales); the Teams app `crisisbot serve` serves (`bot.teams.server.build`) on a free port with
`TEAMS_LOGIN_URL` and the service URL pointing at the emulator; one TimerRunner whose outbox routes by platform
(bot/chat/platforms.py), as in `crisisbot serve`. Every activity the emulator sends is signed with its key and
validated by the SDK's JWT check: never anonymous. A development tool: the bot's runtime path never imports it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bot.chat.platforms import Platforms
from bot.clock import Clock, ManualClock
from bot.config import load_settings
from bot.incidents import Desk, open_desk
from bot.incidents.timers import Fired
from bot.sandbox.local import CAST, Person, cast_locale, free_port, scratch_db
from bot.sandbox.teams import TeamsEmulator, TeamsUser
from bot.scheduler import TimerRunner
from bot.teams import server

if TYPE_CHECKING:
    from bot.teams.server import TeamsServing

ANONYMOUS = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED"


@dataclass
class LocalTeamsDesk:
    """Emulator + Teams bot + timer runner, started together and stopped together."""

    emulator: TeamsEmulator
    desk: Desk
    serving: TeamsServing
    runner: TimerRunner
    people: dict[str, TeamsUser]  # cast name ("anna") → their Teams user
    tmp: tempfile.TemporaryDirectory[str] | None = None
    cast: list[Person] = field(default_factory=lambda: list(CAST))
    _stopped: bool = False

    @property
    def bot_url(self) -> str:
        return self.serving.url

    def settle(self, timeout: float = 15.0) -> None:
        """Wait until the bot finished the work behind every activity it has answered."""
        if not self.serving.bot.workers.wait_idle(timeout):
            raise TimeoutError(f"the bot was still busy after {timeout} s")

    def tick(self) -> list[Fired]:
        """Fire the timers due by the desk's clock now (a ManualClock moved by a test or bench)."""
        fired = self.runner.tick()
        self.settle()
        return fired

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.serving.bot.workers.wait_idle(5)  # work behind answered activities finishes before the store closes
        self.serving.stop()
        self.runner.stop()
        self.emulator.stop()
        self.desk.store.close_all()
        if self.tmp is not None:
            self.tmp.cleanup()

    def __enter__(self) -> LocalTeamsDesk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_local_teams(
    *,
    db_path: Path | None = None,
    clock: Clock | None = None,
    environ: dict[str, str] | None = None,
    latency: float = 0.0,
    anonymous: bool = False,
    locale: str | None = None,
    install: bool = True,
    roles: bool = False,
    public: bool = True,
    watch: bool = False,
    factory: type[LocalTeamsDesk] = LocalTeamsDesk,
) -> LocalTeamsDesk:
    """Start the emulator, then the real Teams bot against it (both on 127.0.0.1, free ports), then install the
    app in the team, as a tenant admin does.

    `roles` seeds the cast's roles into the database (the demo names them in its crisisbot.yaml instead);
    `public` serves the report's files at the bot's own address; `anonymous` switches the SDK's local mode on
    (the emulator then sends no token); `watch` sends monitoring alerts' triage cards to the crisis channel; `factory` is the LocalTeamsDesk subclass to return (the tests' driver).
    """
    db_path, tmp = scratch_db(db_path)
    emulator = TeamsEmulator(latency=latency, anonymous=anonymous).start()
    spoken = locale or cast_locale(environ)
    people = {p.name: emulator.add_user(p.real_name, aad_id=p.aad_id, locale=spoken) for p in CAST}
    port = free_port()
    env = {**emulator.environ(), "CRISISBOT_DB": str(db_path), "TEAMS_PORT": str(port)}
    if public:  # the bot serves the report's files itself; the emulator's people fetch them from here
        env["TEAMS_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    if anonymous:
        env[ANONYMOUS] = "true"
    if watch:  # triage cards of monitoring alerts go to the crisis channel
        env["TEAMS_WATCH_CHANNEL"] = emulator.crisis_channel
    desk = open_desk(load_settings(environ={**env, **(environ or {})}), clock=clock)
    if roles:
        for person in CAST:
            if person.role:
                desk.store.set_role_owners(person.role, [person.aad_id])
    routes = Platforms(desk)
    runner = TimerRunner(desk, routes)
    serving = server.TeamsServing(desk, runner, host="127.0.0.1", port=port)
    routes.serve(serving.name, serving.deliverer)
    runner.start(background=not isinstance(desk.clock, ManualClock))
    serving.start()
    emulator.bot_url = serving.url
    local = factory(emulator, desk, serving, runner, people, tmp)
    try:
        if install:
            emulator.install()
            local.settle()
    except BaseException:
        local.stop()
        raise
    return local
