"""A whole Crisis Desk running locally: the Slack emulator plus the real bot served over HTTP.

Used by `crisisbot demo`, drills without Slack, the tests and the benchmarks: the same waitress server
and Bolt app as `crisisbot serve`, only with `SLACK_API_URL` pointing at the emulator. A development tool
like the emulator: the bot's runtime path never imports it (pyproject.toml's import contracts).
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.clock import Clock, ManualClock
from bot.config import load_settings
from bot.incidents import Desk, open_desk
from bot.incidents.timers import Fired
from bot.intake.server import IntakeServing
from bot.manifest import manifest_scopes
from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.local import CAST, Person, cast_locale, scratch_db
from bot.sandbox.model import BOT_TOKEN, SIGNING_SECRET
from bot.slack.activity import Activity
from bot.slack.replay import finish_unfinished
from bot.slack.server import Bot, build_bot, http_server
from bot.wsgi import stop_http_server


@dataclass
class LocalCrisisDesk:
    """Emulator + bot, started together and stopped together."""

    emulator: SlackEmulator
    desk: Desk
    server: Any
    thread: threading.Thread
    activity: Activity
    bot: Bot
    tmp: tempfile.TemporaryDirectory[str] | None = None
    cast: list[Person] = field(default_factory=lambda: list(CAST))
    intake: IntakeServing | None = None  # the alert intake, when the config names a monitoring source

    @property
    def intake_url(self) -> str:
        assert self.intake is not None, "no monitoring source configured (intake.sources)"
        return f"http://127.0.0.1:{self.intake.port}/intake/"

    @property
    def bot_url(self) -> str:
        return f"http://127.0.0.1:{self.server.effective_port}/slack/events"

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the bot finished the work behind every request it has answered."""
        if not self.activity.wait_idle(timeout):
            raise TimeoutError(f"the bot was still busy after {timeout} s")

    def tick(self) -> list[Fired]:
        """Fire the timers due by the desk's clock now (tests move a ManualClock, then tick)."""
        fired = self.bot.runner.tick()
        self.settle()
        return fired

    def stop(self) -> None:
        self.activity.wait_idle(timeout=5)  # let work behind answered requests finish before closing the store
        if self.intake is not None:
            self.intake.stop()
        self.bot.runner.stop()
        stop_http_server(self.server, self.thread)
        self.emulator.stop()
        self.desk.store.close_all()
        if self.tmp is not None:
            self.tmp.cleanup()

    def __enter__(self) -> LocalCrisisDesk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_local(
    *,
    db_path: Path | None = None,
    clock: Clock | None = None,
    environ: dict[str, str] | None = None,
    latency: float = 0.0,
    add_cast: bool = True,
) -> LocalCrisisDesk:
    """Start the emulator, then the real bot against it; both on 127.0.0.1 with free ports."""
    db_path, tmp = scratch_db(db_path)
    # Only the events manifest.yml subscribes to reach the bot, as in a real workspace.
    emulator = SlackEmulator(
        token=BOT_TOKEN,
        signing_secret=SIGNING_SECRET,
        latency=latency,
        event_subscriptions={"app_home_opened"},
        scopes=manifest_scopes(),
    )
    emulator.start()
    if add_cast:
        locale = cast_locale(environ)
        for person in CAST:
            emulator.add_user(person.id, person.name, real_name=person.real_name, locale=locale)
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": emulator.api_url,
        "CRISISBOT_DB": str(db_path),
        **(environ or {}),
    }
    settings = load_settings(environ=env)
    desk = open_desk(settings, clock=clock)
    activity = Activity()
    bot = build_bot(desk, activity)
    bot.authorized.wait(timeout=10)  # tests and the demo start counting Slack calls after the token check
    bot.runner.start(background=not isinstance(desk.clock, ManualClock))
    server = http_server(bot, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, name="crisisbot-http", daemon=True)
    thread.start()
    local = LocalCrisisDesk(
        emulator=emulator, desk=desk, server=server, thread=thread, activity=activity, bot=bot, tmp=tmp
    )
    if settings.intake.sources:
        local.intake = IntakeServing(desk, bot.runner, host="127.0.0.1", port=0)
        local.intake.start()
    emulator.bot_url = local.bot_url
    finish_unfinished(bot.app, desk)  # as `crisisbot serve` does: what a dead process acknowledged but never did
    return local
