"""One process, several chat platforms: the outbox delivers each row on its incident's platform (a real SQLite
store, the real outbox deliverer on two in-memory ports), a row for a platform this process does not serve waits
and says why in the log; `crisisbot serve` picks the platforms from the credentials and refuses clearly."""

from __future__ import annotations

import logging
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ID, START
from memory_port import MemoryPort
from typer.testing import CliRunner

from bot.chat.after import Unheld
from bot.chat.flow import Flow
from bot.chat.outbox import Deliverer
from bot.chat.people import Languages
from bot.chat.platforms import Platforms
from bot.cli import app
from bot.clock import ManualClock
from bot.config import load_settings
from bot.errors import ConfigError
from bot.incidents import Desk, open_desk
from bot.incidents.declare import DeclareRequest
from bot.localdesk import CAST
from bot.models import Incident
from bot.scheduler import TimerRunner
from bot.serving import build, chosen, serve
from tests.fixtures_foundation import isolate

World = tuple[Desk, dict[str, MemoryPort], dict[str, Deliverer]]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    desk = open_desk(load_settings(environ={"CRISISBOT_DB": str(tmp_path / "crisis.db")}), clock=ManualClock(START))
    ports = {"slack": MemoryPort(), "teams": MemoryPort()}
    deliverers: dict[str, Deliverer] = {}
    for name, port in ports.items():
        for person in CAST:
            port.add_person(person.id, person.real_name, "en-GB")
        flow = Flow(desk, port, Languages(desk, port.dialect), Unheld())
        deliverers[name] = Deliverer(desk, port, lambda incident, f=flow: f.after().refresh_header(incident, True))
    for person in CAST:
        if person.role:
            desk.store.set_role_owners(person.role, [person.id])
    yield desk, ports, deliverers
    desk.store.close()


def declared(desk: Desk, port: MemoryPort, platform: str) -> Incident:
    """An incident declared and set up on `platform`'s port; its own queued rows are delivered by nobody yet."""
    request = DeclareRequest(
        scenario="data-breach", title=f"Leak on {platform}", declared_by=ID["bram"], platform=platform
    )
    flow = Flow(desk, port, Languages(desk, port.dialect), Unheld())
    incident = flow.declare(request, lambda _text: None, lambda _text: True)
    return desk.store.incident(incident.id)


def redraw_queued(desk: Desk, incident: Incident) -> int:
    return desk.store.add_outbox(incident.id, "header_refresh", desk.now())


def pending(desk: Desk) -> set[int]:
    return {m.id for m in desk.store.pending_outbox(desk.now())}


def test_each_row_goes_out_on_its_incidents_platform(world: World) -> None:
    desk, ports, deliverers = world
    on_slack, on_teams = declared(desk, ports["slack"], "slack"), declared(desk, ports["teams"], "teams")
    assert (on_slack.platform, on_teams.platform) == ("slack", "teams")
    TimerRunner(desk, Platforms(desk, deliverers)).flush_outbox()  # what the set-ups queued
    slack_calls, teams_calls = len(ports["slack"].calls), len(ports["teams"].calls)
    redraw_queued(desk, on_teams)
    assert TimerRunner(desk, Platforms(desk, deliverers)).flush_outbox() == 1
    assert ports["teams"].calls[teams_calls:] == ["update"]  # the Teams incident's header, on Teams
    assert len(ports["slack"].calls) == slack_calls  # nothing on Slack
    redraw_queued(desk, on_slack)
    assert TimerRunner(desk, Platforms(desk, deliverers)).flush_outbox() == 1
    assert ports["slack"].calls[slack_calls:] == ["update"]
    assert pending(desk) == set()


def test_a_row_for_a_platform_not_served_here_waits_and_says_why_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    desk, ports, deliverers = world
    on_slack, on_teams = declared(desk, ports["slack"], "slack"), declared(desk, ports["teams"], "teams")
    TimerRunner(desk, Platforms(desk, deliverers)).flush_outbox()
    waiting, other = redraw_queued(desk, on_teams), redraw_queued(desk, on_slack)
    slack_only = TimerRunner(desk, Platforms(desk, {"slack": deliverers["slack"]}))
    with caplog.at_level(logging.WARNING, logger="crisisbot"):
        assert slack_only.flush_outbox() == 1  # the Slack row is not held up by the waiting one
        assert slack_only.flush_outbox() == 0
    assert pending(desk) == {waiting} and other not in pending(desk)
    row = next(m for m in desk.store.pending_outbox(desk.now()) if m.id == waiting)
    assert row.attempts == 0  # not retried into failure: it waits for a process serving Teams
    said = [r.getMessage() for r in caplog.records if f"outbox {waiting} " in r.getMessage()]
    assert len(said) == 1, said  # once, not at every tick
    assert f"{on_teams.code} lives on teams, which this process does not serve (served: slack)" in said[0]
    assert "crisisbot serve --platform teams" in said[0]
    assert TimerRunner(desk, Platforms(desk, deliverers)).flush_outbox() == 1  # a process serving Teams sends it
    assert pending(desk) == set()


# ---- which platforms `crisisbot serve` serves -----------------------------------------------------------------
SLACK = {"SLACK_BOT_TOKEN": "xoxb-1-2-secret", "SLACK_SIGNING_SECRET": "s3cr3t"}
TEAMS = {
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": "3f0e8d44-aaaa-4bbb-8ccc-0123456789ab",
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": "teams-secret",
}


@pytest.mark.parametrize(
    ("environ", "asked", "served"),
    [
        (SLACK, None, ["slack"]),
        (TEAMS, None, ["teams"]),
        ({**SLACK, **TEAMS}, None, ["slack", "teams"]),
        ({**SLACK, **TEAMS}, "slack", ["slack"]),
        (SLACK, "both", ["slack", "teams"]),  # asked for: Teams' own start then says what is missing
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, None, ["slack"]),  # half set: Slack's start names the missing secret
    ],
)
def test_serve_serves_the_platforms_asked_for_else_those_with_credentials(
    environ: dict[str, str], asked: str | None, served: list[str]
) -> None:
    assert chosen(load_settings(environ=environ), asked) == served  # type: ignore[arg-type]


def test_serve_with_no_platform_configured_says_what_to_set() -> None:
    with pytest.raises(ConfigError) as caught:
        chosen(load_settings(environ={}), None)
    (problem,) = caught.value.problems
    assert "SLACK_BOT_TOKEN" in problem and "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID" in problem


def test_teams_without_its_server_module_is_a_clear_not_available(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = world[0]
    monkeypatch.setitem(sys.modules, "bot.teams.server", None)  # a build without bot/teams/server.py
    with pytest.raises(ConfigError, match=r"--platform teams: Teams is not available"):
        build(desk, TimerRunner(desk, Platforms(desk)), "teams", "127.0.0.1")


def test_the_cli_refuses_an_unknown_platform_and_an_unconfigured_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate(monkeypatch, tmp_path)  # no SLACK_* or Teams variable of the machine running the tests
    runner = CliRunner()
    env = {"CRISISBOT_DB": str(tmp_path / "crisis.db")}
    unknown = runner.invoke(app, ["serve", "--platform", "discord"], env=env)
    assert unknown.exit_code == 2 and "--platform: unknown platform 'discord'" in unknown.output
    nothing = runner.invoke(app, ["serve"], env=env)
    assert nothing.exit_code == 2 and "neither Slack nor Teams is configured" in nothing.output
    assert "Traceback" not in nothing.output


class RecordingTeams:
    """What `bot.teams.server.build` returns once wire lands, here on the in-memory port: a PlatformBot."""

    name = "teams"

    def __init__(self, deliverer: Deliverer) -> None:
        self.deliverer = deliverer
        self.started = threading.Event()
        self.stopped = threading.Event()

    def start(self) -> None:
        self.started.set()

    def stop(self) -> None:
        self.stopped.set()


def test_serve_runs_teams_from_its_server_module_on_the_shared_runner(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve --platform teams` imports bot.teams.server, hands it the desk and the one runner, routes Teams' rows
    to its deliverer, and stops it on the way out."""
    desk, ports, deliverers = world
    on_teams = declared(desk, ports["teams"], "teams")
    TimerRunner(desk, Platforms(desk, deliverers)).flush_outbox()
    given: list[tuple[Desk, TimerRunner]] = []
    teams = RecordingTeams(deliverers["teams"])

    def build_teams(desk: Desk, runner: TimerRunner) -> RecordingTeams:
        given.append((desk, runner))
        return teams

    monkeypatch.setitem(sys.modules, "bot.teams.server", types.SimpleNamespace(build=build_teams))
    calls = len(ports["teams"].calls)
    redraw_queued(desk, on_teams)
    stop = threading.Event()
    serving = threading.Thread(target=serve, args=(desk, "teams", "127.0.0.1", stop))
    serving.start()
    try:
        assert teams.started.wait(10)
        (asked,) = given
        assert asked[0] is desk and asked[1].deliverer.deliverers == {"teams": teams.deliverer}  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10  # the runner's catch-up tick delivers the waiting row on Teams
        while pending(desk) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pending(desk) == set() and ports["teams"].calls[calls:] == ["update"]
    finally:
        stop.set()
        serving.join(10)
    assert teams.stopped.is_set() and not serving.is_alive()
