"""What Teams people read says what their incident is (a thread in the crisis channel, or a channel of its own) and
nothing that only Slack has; a room configured by name is found among the team's channels; two people with one
display name are mentioned as two people (by their own ids), through the front door of the real bot."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.chat.wording import Wording
from bot.models import Incident
from bot.slack.text import SLACK
from tests.teams_harness import TeamsDesk, start_teams
from tests.teams_suites import nodes, shown


@pytest.fixture(params=["thread", "channel"])
def teams(request: pytest.FixtureRequest) -> Iterator[TeamsDesk]:
    with start_teams(environ={"TEAMS_INCIDENT_SPACE": request.param}) as local:
        yield local
        assert local.emulator.invalid == [] and local.emulator.problems == []


def space_of(local: TeamsDesk) -> str:
    return str(local.desk.settings.teams_incident_space)


def open_buttons(card: dict[str, Any] | None) -> list[str]:
    return [str(n.get("title")) for n in nodes(card) if n.get("type") == "Action.OpenUrl"]


def bot_texts(local: TeamsDesk, conversation: str) -> list[str]:
    emu = local.emulator
    return [shown(a) for a in emu.activities(conversation) if a.get("from", {}).get("id") == emu.bot_id]


def test_the_dm_button_names_what_the_incident_is(teams: TeamsDesk) -> None:
    incident = teams.store.incident(teams.declare().id)
    card = teams.emulator.card_of(teams.dm_id(incident, "chen"))
    assert open_buttons(card) == [f"Open the incident {space_of(teams)}"]


def test_dutch_says_draad_or_kanaal() -> None:
    for space, word in (("thread", "Naar de incidentdraad"), ("channel", "Naar het incidentkanaal")):
        with start_teams(environ={"TEAMS_INCIDENT_SPACE": space, "CRISISBOT_LANGUAGE": "nl"}) as local:
            incident = local.store.incident(local.declare().id)  # a Dutch workspace: its incidents speak Dutch
            assert open_buttons(local.emulator.card_of(local.dm_id(incident, "chen"))) == [word]


def test_a_command_outside_the_incident_says_where_to_type_it(teams: TeamsDesk) -> None:
    teams.declare()
    teams.say("anna", "crisis gdpr notified")  # in the 1:1 chat: no incident there
    [answer] = bot_texts(teams, teams.people["anna"].chat_id)[-1:]
    wrong = "channel" if space_of(teams) == "thread" else "thread"
    assert space_of(teams) in answer and wrong not in answer, answer


def test_help_in_teams_has_nothing_only_slack_has(teams: TeamsDesk) -> None:
    teams.say("gijs", "crisis help")
    [answer] = bot_texts(teams, teams.people["gijs"].chat_id)[-1:]
    assert "shortcut" not in answer and "/crisis" not in answer and "Slack" not in answer
    assert f"In an incident {space_of(teams)}:" in answer


def test_slack_keeps_its_own_wording(teams: TeamsDesk) -> None:
    say = Wording(teams.desk.messages, "en", SLACK)
    assert say("button.open_channel") == "Open the incident channel"
    assert 'message shortcut "Add to crisis timeline"' in say("help.text", first_response="", scenarios="")
    assert "a Slack workspace admin or owner" in say("error.roles_set_not_lead")


def test_only_the_lead_may_set_roles_says_no_workspace_admin_in_teams(teams: TeamsDesk) -> None:
    gijs, chen = teams.people["gijs"], teams.people["chen"]
    gijs.say(f"crisis roles set legal <at>{chen.name}</at>", teams.emulator.crisis_channel, mentions=(chen,))
    teams.settle()
    said = "\n".join(bot_texts(teams, teams.emulator.threads()[-1]) + bot_texts(teams, gijs.chat_id))
    assert "Only the crisis lead" in said and "workspace" not in said


# ---- room_by_name ------------------------------------------------------------------------------------------------
def test_a_room_configured_by_name_is_the_teams_channel_of_that_name(teams: TeamsDesk) -> None:
    port, emu = teams.serving.port, teams.emulator
    assert port.room_by_name("crisis") == emu.crisis_channel
    assert port.room_by_name("#Crisis") == emu.crisis_channel  # as people type it
    assert port.room_by_name("General") == emu.general_channel  # Teams gives General no name: the team's id
    assert port.room_by_name("no-such-channel") is None
    assert port.room_by_name(emu.crisis_channel) == emu.crisis_channel  # an id is its own ref
    if space_of(teams) == "channel":  # a channel Graph made for an incident is found by its name too
        incident = teams.store.incident(teams.declare().id)
        channel = (incident.room_ref or "").partition(";")[0]
        assert port.room_by_name(incident.room_name or "") == channel


# ---- two people, one name ----------------------------------------------------------------------------------------
def test_two_people_with_one_display_name_are_mentioned_as_two(teams: TeamsDesk) -> None:
    emu, anna = teams.emulator, teams.people["anna"]
    twin = emu.add_user(anna.name)  # another Anna de Vries in the tenant and the team
    teams.store.set_role_owners("legal", [twin.aad_id])
    incident: Incident = teams.store.incident(teams.declare().id)
    header = emu.card_of(teams.header_id(incident))
    assert header is not None
    annas = [e for e in header["msteams"]["entities"] if e["mentioned"]["name"] == anna.name]
    assert len(annas) == 2 and {e["text"] for e in annas} == {f"<at>{anna.name}</at>"}  # the same visible name
    assert {e["mentioned"]["id"] for e in annas} == {anna.id, twin.id}  # two entities, two people
    texts = "\n".join(str(n.get("text")) for n in nodes(header["body"]) if isinstance(n.get("text"), str))
    assert texts.count(f"<at>{anna.name}</at>") == 2
    assert emu.chat(twin) and emu.chat(anna)  # each paged in their own 1:1 chat
