"""A channel per incident in Teams (TEAMS_INCIDENT_SPACE=channel) through the front door: the real bot makes the
channel with Microsoft Graph (the emulator's, app-only tokens from its own login endpoint, resource-specific consent
per test), its first post is the header, everything else follows in that thread as in thread mode; without the RSC
grant a declare falls back to a thread in the crisis channel and the declarer is told what to grant; a name in use
gives the next name; a kill -9 of the real `crisisbot serve` right after Graph made the channel makes no second one.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.chat.setup import channel_name
from bot.config import load_settings
from bot.models import Incident
from bot.sandbox.teams import TeamsEmulator
from bot.sandbox.teams.graph_api import name_problem
from bot.teams.connector import MsalTokens, tokens_for
from bot.teams.graph import GRAPH_RESOURCE, GRAPH_SCOPE, MAX_CHANNEL_NAME, channel_name_problem
from tests.teams_harness import TeamsDesk, start_teams
from tests.teams_suites import (
    DECLARE,
    OWNERS,
    assert_no_leak,
    nodes,
    read,
    serve_teams,
    short_calls,
    shown,
    staff,
    teams_people,
)

CHANNEL_MODE = {"TEAMS_INCIDENT_SPACE": "channel"}
CREATE = "Channel.Create.Group"
SECRETS = ("sandbox-teams-secret",)


@pytest.fixture
def teams() -> Iterator[TeamsDesk]:
    with start_teams(environ=CHANNEL_MODE) as local:
        yield local
        assert local.emulator.invalid == [] and local.emulator.problems == []


def made_channels(emu: TeamsEmulator) -> dict[str, str]:
    """The channels the bot had Graph make (id -> name): every one but General and the crisis channel."""
    return {c: n for c, n in emu.channels().items() if c not in (emu.general_channel, emu.crisis_channel)}


def bot_posts(emu: TeamsEmulator, conversation: str) -> list[dict[str, Any]]:
    return [a for a in emu.activities(conversation) if a.get("from", {}).get("id") == emu.bot_id]


def expected_name(local: TeamsDesk, incident: Incident, attempt: int = 0) -> str:
    return channel_name(incident, local.desk.settings.tz, attempt, MAX_CHANNEL_NAME)


def todays_first_name(local: TeamsDesk) -> str:
    return f"crisis-{datetime.now(UTC).astimezone(local.desk.settings.tz):%Y%m%d}-data-breach"


def chat_texts(local: TeamsDesk, who: str) -> list[str]:
    return [shown(a) for a in local.emulator.chat(local.people[who])]


# ---- the channel ---------------------------------------------------------------------------------------------------
def test_a_declare_makes_a_channel_whose_first_post_is_the_header(teams: TeamsDesk) -> None:
    incident = teams.declare()
    incident = teams.store.incident(incident.id)
    emu = teams.emulator
    [(channel, name)] = made_channels(emu).items()
    assert name == incident.room_name and name.startswith("crisis-") and len(name) <= MAX_CHANNEL_NAME
    assert (incident.room_ref or "").startswith(f"{channel};messageid=") and incident.setup_done_at is not None
    [root] = bot_posts(emu, channel)  # one thread in the channel: the header is its root
    assert root["id"] == teams.header_id(incident) and incident.code in shown(root)
    paged = {e["mentioned"]["id"] for e in root["attachments"][0]["content"]["msteams"]["entities"]}
    for who in OWNERS:  # the header pages the owners by @mention, in the new channel
        assert {teams.people[who].id, teams.people[who].aad_id} & paged, who
    thread = emu.activities(incident.room_ref or "")
    for draft in teams.drafts(incident).values():  # the drafts are replies in that thread
        assert draft.message_ref in {a["id"] for a in thread[1:]}
    for who in ("anna", "chen", "dewi", "eli"):  # DMs with Acknowledge, as in thread mode
        assert any(incident.code in text for text in chat_texts(teams, who)), who
    [hello] = bot_posts(emu, emu.crisis_channel)  # the crisis channel got no thread of the bot's but its greeting
    assert "a channel of its own" in shown(hello) and incident.code not in shown(hello)
    [create] = [c for c in emu.calls_to("graph_create_channel") if c.status == 201]
    assert create.args["body"]["membershipType"] == "standard"


def test_commands_in_the_channel_thread_work_and_resolve_closes_it(teams: TeamsDesk) -> None:
    incident = teams.store.incident(teams.declare().id)
    room = incident.room_ref or ""
    teams.say("anna", "crisis status", room)
    assert any(incident.code in shown(a) for a in bot_posts(teams.emulator, room)[1:])
    teams.say("anna", "crisis resolve", room)
    opener = teams.emulator.card_of(teams.emulator.activities(room)[-1]["id"])
    submit = next(n for n in nodes(opener) if n.get("type") == "Action.Submit")
    anna = teams.people["anna"]
    anna.fetch_task(dict(submit["data"]), where=room)
    teams.settle()
    done = next(n for n in nodes(anna.open_dialog) if n.get("type") == "Action.Submit")
    anna.submit_task({**done["data"], "summary": "Leak closed", "authority": "not_yet"}, where=room)
    teams.settle()
    assert teams.store.incident(incident.id).status == "resolved"
    assert any("Leak closed" in shown(a) for a in bot_posts(teams.emulator, room))
    assert len(made_channels(teams.emulator)) == 1


def test_a_second_incident_gets_a_channel_of_its_own(teams: TeamsDesk) -> None:
    first = teams.declare()
    second = teams.declare("crisis declare data-breach 1 Second leak")
    names = sorted(made_channels(teams.emulator).values())
    assert len(names) == 2 and names[1] == f"{names[0]}-{second.code.rsplit('-', 1)[-1]}"
    assert teams.store.incident(first.id).room_ref != teams.store.incident(second.id).room_ref


# ---- what Graph refuses -------------------------------------------------------------------------------------------
def test_without_the_grant_the_incident_is_a_thread_and_the_declarer_is_told_what_to_grant(teams: TeamsDesk) -> None:
    teams.emulator.revoke(CREATE)
    incident = teams.store.incident(teams.declare().id)
    channel, _, _ = (incident.room_ref or "").partition(";messageid=")
    assert channel == teams.emulator.crisis_channel and incident.setup_done_at is not None
    assert made_channels(teams.emulator) == {}
    said = [shown(a.data) for a in teams.emulator.tenant.activities.values() if a.from_bot]
    notices = [t for t in said if CREATE in t]  # told where bram typed the declare (the answer to his message)
    assert len(notices) == 1 and incident.code in notices[0] and "--dedicated-channels" in notices[0]
    assert_no_leak(notices[0])
    assert [c.status for c in teams.emulator.calls_to("graph_create_channel")] == [403]


def test_a_team_at_its_channel_limit_gets_a_thread_and_the_declarer_is_told_why(teams: TeamsDesk) -> None:
    teams.emulator.graph.max_channels = len(teams.emulator.channels())  # General and the crisis channel: full
    incident = teams.store.incident(teams.declare().id)
    assert (incident.room_ref or "").startswith(teams.emulator.crisis_channel) and incident.setup_done_at is not None
    said = [shown(a.data) for a in teams.emulator.tenant.activities.values() if a.from_bot]
    [notice] = [t for t in said if "limit of channels" in t]
    assert incident.code in notice
    assert_no_leak(notice)


def test_a_name_in_use_gives_the_next_name(teams: TeamsDesk) -> None:
    emu = teams.emulator
    # made by hand, in capitals: Teams compares channel names without case
    emu.tenant.channel_names["19:madebyhand@thread.tacv2"] = todays_first_name(teams).upper()
    incident = teams.store.incident(teams.declare().id)
    assert incident.room_name == expected_name(teams, incident, 1) and incident.room_name.endswith(incident.code[-4:])
    assert [c.status for c in emu.calls_to("graph_create_channel")] == [400, 201]


def test_a_409_for_a_name_in_use_is_taken_the_same_way(teams: TeamsDesk) -> None:
    emu = teams.emulator
    emu.graph.duplicate_status = 409
    emu.tenant.channel_names["19:madebyhand@thread.tacv2"] = todays_first_name(teams)
    incident = teams.store.incident(teams.declare().id)
    assert incident.room_name == expected_name(teams, incident, 1)
    assert [c.status for c in emu.calls_to("graph_create_channel")] == [409, 201]


def test_a_create_whose_answer_was_lost_is_found_not_made_twice() -> None:
    """Graph made the channel but its answer never came: the retried POST hears "already existed"; the channel of
    that name with the bot's own description is the one it made, so the set-up goes on in it (no second channel)."""
    with start_teams(environ=CHANNEL_MODE) as local:
        short_calls(local, 1.0)
        local.emulator.fail("graph_create_channel", error="lost_response", hang_seconds=2.0)
        incident = local.store.incident(local.declare().id)
        assert incident.setup_done_at is not None and len(made_channels(local.emulator)) == 1
        assert [c.status for c in local.emulator.calls_to("graph_create_channel")] == [201, 400]
        assert (incident.room_ref or "").startswith(next(iter(made_channels(local.emulator))))


def test_a_429_from_graph_is_waited_out(teams: TeamsDesk) -> None:
    teams.emulator.fail("graph_create_channel", error="ratelimited", retry_after=1)
    incident = teams.store.incident(teams.declare().id)
    assert incident.setup_done_at is not None and len(made_channels(teams.emulator)) == 1
    assert [c.status for c in teams.emulator.calls_to("graph_create_channel")] == [429, 201]


def test_graph_refuses_a_connector_token_and_bad_names() -> None:
    with TeamsEmulator() as emu:

        def create(name: str, token: str) -> int:
            group = emu.tenant.team_aad_group_id
            body = json.dumps({"displayName": name, "membershipType": "standard"}).encode()
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            request = urllib.request.Request(f"{emu.graph_url}teams/{group}/channels", body, headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    return int(answer.status)
            except urllib.error.HTTPError as exc:
                return int(exc.code)

        graph = emu.keys.issue_access_token(audience="https://graph.microsoft.com")
        assert create("crisis-ok", emu.issue_token()) == 401  # a Connector token is not for Graph
        assert [create(n, graph) for n in ("x" * 51, "a/b", "_x", "CON", "crisis-ok")] == [400, 400, 400, 400, 201]
        assert create("CRISIS-OK", graph) == 400  # the same name in another case


def test_the_bot_and_the_emulator_agree_on_which_names_teams_takes() -> None:
    for name in ("crisis-20261202-data-breach", "x" * 50, "x" * 51, "a#b", "a..b", "nul", "_vti_x", ".x", "x."):
        assert (channel_name_problem(name) is None) == (name_problem(name) is None), name


def test_the_room_name_fits_teams_limit_and_keeps_its_suffix() -> None:
    incident = Incident.model_construct(
        drill=False, scenario="a-very-long-scenario-name-for-a-company-playbook", code="CR-2026-014",
        declared_at=datetime(2026, 12, 2, 9, tzinfo=UTC),
    )  # fmt: skip
    for attempt in (0, 1, 2):
        name = channel_name(incident, ZoneInfo("UTC"), attempt, MAX_CHANNEL_NAME)
        assert len(name) <= MAX_CHANNEL_NAME and channel_name_problem(name) is None, name
    assert channel_name(incident, ZoneInfo("UTC"), 1, MAX_CHANNEL_NAME).endswith("-014")


def test_in_production_the_graph_token_is_msals_app_only_token_for_graph() -> None:
    env = {
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": "00000000-0000-0000-0000-000000000001",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": "s",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": "00000000-0000-0000-0000-000000000002",
    }
    tokens = tokens_for(load_settings(environ=env), GRAPH_RESOURCE, GRAPH_SCOPE)
    assert isinstance(tokens, MsalTokens)  # client credentials through the SDK's MSAL auth, no login URL
    assert (tokens.resource, tokens.scope) == ("https://graph.microsoft.com", "https://graph.microsoft.com/.default")


# ---- kill -9 in the middle of a declare ----------------------------------------------------------------------------
def test_a_kill_right_after_graph_made_the_channel_makes_no_second_one(tmp_path: Path) -> None:
    """The real process dies right after Graph answered 201, before the channel was noted anywhere: the re-run
    finds it by name (Graph's list, ChannelSettings.Read.Group) and finishes the set-up in it."""
    emu = TeamsEmulator().start()
    try:
        people = teams_people(emu)
        db = tmp_path / "crisis.db"
        staff(db, people)
        outputs = []
        for crash_at in ("graph_created", None):
            bot = serve_teams(emu, db, crash_at=crash_at, environ=CHANNEL_MODE)
            try:
                if crash_at:
                    emu.install()
                people["bram"].say(DECLARE, emu.crisis_channel)
                if crash_at:
                    assert bot.wait_exit(15) == 137, "the process did not die at the crash point"
                else:
                    emu.wait_for(lambda: read(db, lambda s: s.incidents()[0].setup_done_at is not None), timeout=20)
            finally:
                bot.stop()
                outputs.append(bot.output())
            if crash_at:
                assert len(made_channels(emu)) == 1 and read(db, lambda s: s.incidents()[0].room_ref) is None
        [(channel, _)] = made_channels(emu).items()
        incident = read(db, lambda s: s.incidents()[0])
        assert (incident.room_ref or "").startswith(channel)
        assert len(bot_posts(emu, channel)) == 1  # one thread, the header its root
        assert [c.status for c in emu.calls_to("graph_list_channels")] == [200]
        for output in outputs:
            assert "Traceback" not in output and not [s for s in SECRETS if s in output]
    finally:
        emu.stop()
