"""TeamsPort against the Bot Connector emulator over real HTTP, with a real SQLite store: threads as rooms, the
header replacing the root, DMs through a remembered 1:1 chat, team membership, retries, refusals, read-back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import START

from bot.chat.cards import draft_card
from bot.chat.message import Message, Text, text_with_buttons
from bot.chat.port import Refused, Tag
from bot.chat.setup import SetUp
from bot.chat.steps import StepKey
from bot.chat.wording import Wording
from bot.clock import ManualClock
from bot.config import Settings, load_settings
from bot.incidents import Desk, open_desk
from bot.incidents.declare import DeclareRequest, declare
from bot.sandbox.teams import TeamsEmulator, TeamsUser
from bot.teams.connector import Anonymous, Connector, LoginUrlTokens, MsalTokens, tokens_for
from bot.teams.port import NOT_IN_TEAM, TeamsPort, root_of
from bot.teams.text import mention


def teams_environ(emu: TeamsEmulator, db: Path) -> dict[str, str]:
    """The bot's environment against this emulator (the contract's settings), on a real SQLite file."""
    return {**emu.environ(), "CRISISBOT_DB": str(db), "TEAMS_PUBLIC_URL": "https://crisis.example.com"}


@dataclass
class World:
    emu: TeamsEmulator
    desk: Desk
    port: TeamsPort
    connector: Connector
    people: dict[str, TeamsUser]
    settings: Settings
    connectors: list[Connector]

    def fresh_port(self) -> TeamsPort:
        """A second process's port on the same SQLite file: nothing in memory, only what the store kept."""
        desk = open_desk(self.desk.settings, clock=ManualClock(START))
        connector = Connector(self.settings, desk.store, call_timeout=1.0, total_time=6.0)
        self.connectors.append(connector)
        return TeamsPort(desk, connector, self.settings)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with TeamsEmulator() as emu:
        people = {
            "anna": emu.add_user("Anna de Vries", locale="nl-NL"),
            "bram": emu.add_user("Bram Jansen"),
            "chen": emu.add_user("Chen Wu"),
            "gast": emu.add_user("Guus Gast", guest=True),
            "outsider": emu.add_user("Olga Buiten", in_team=False),
        }
        settings = load_settings(environ=teams_environ(emu, tmp_path / "crisis.db"))
        desk = open_desk(settings, clock=ManualClock(START))
        for name, role in (("anna", "crisis_lead"), ("bram", "social_media_manager"), ("chen", "legal")):
            desk.store.set_role_owners(role, [people[name].aad_id])
        connector = Connector(settings, desk.store, call_timeout=1.0, total_time=6.0)
        made = World(emu, desk, TeamsPort(desk, connector, settings), connector, people, settings, [connector])
        yield made
        for each in made.connectors:
            each.close()
        assert emu.invalid == [], emu.invalid  # every card the port sent was valid for Teams


def says(emu: TeamsEmulator, activity_id: str) -> str:
    card = emu.card_of(activity_id) or {}
    return " ".join(str(b.get("text", "")) for b in card.get("body", []))


def test_create_room_starts_a_thread_and_the_header_replaces_its_root(world: World):
    emu, port = world.emu, world.port
    room = port.create_room("crisis-20260314-data-breach", private=False)
    root = root_of(room.ref)
    assert root and room.ref == f"{emu.crisis_channel};messageid={root}" and room.ref in emu.threads()
    assert "crisis-20260314-data-breach" in says(emu, root)
    header = port.post(room.ref, Message("header", (Text("*CR-2026-001* header " + mention(world.people["anna"].aad_id)),)),
                       Tag("CR-2026-001", "header"))  # fmt: skip
    assert header == root  # replaced in place: the header is the thread's first post
    assert "**CR-2026-001** header <at>Anna de Vries</at>" in says(emu, root)
    (entity,) = (emu.card_of(root) or {})["msteams"]["entities"]
    assert entity["mentioned"] == {"id": world.people["anna"].id, "name": "Anna de Vries"}  # by her 29: id
    reply = port.post(room.ref, Message("a reply", (Text("second"),)), Tag("CR-2026-001", "mention:2"))
    assert [a["id"] for a in emu.thread(root)] == [root, reply]
    port.update(room.ref, reply, Message("edited", (Text("edited"),)))
    assert says(emu, reply) == "edited"
    port.set_topic(room.ref, "no topic in a thread")
    port.pin(room.ref, root)  # both no-ops: no call
    assert not emu.calls_to("delete_activity")


def test_private_rooms_and_missing_channels_are_refused(world: World):
    with pytest.raises(Refused) as refused:
        world.port.create_room("crisis-x", private=True)
    assert refused.value.reason == "private_not_supported"
    assert world.emu.calls_to("create_conversation") == []


def test_a_dm_opens_the_chat_once_and_reuses_it_after_a_restart(world: World):
    emu, port, anna = world.emu, world.port, world.people["anna"]
    first = port.dm(anna.aad_id, text_with_buttons("page", []), Tag("CR-2026-001", f"dm:{anna.aad_id}"))
    person, ref = first.split(":", 1)
    assert person == anna.aad_id and [a["id"] for a in emu.chat(anna)] == [ref]
    assert len(emu.calls_to("create_conversation")) == 1
    again = world.fresh_port()  # the 1:1 chat's id came from SQLite, not from memory
    second = again.dm(anna.aad_id, Message("again"))
    assert len(emu.calls_to("create_conversation")) == 1 and len(emu.chat(anna)) == 2
    again.update(anna.aad_id, second.split(":", 1)[1], Message("again, edited"))
    assert emu.chat(anna)[-1]["text"] == "again, edited"
    again.tell(anna.aad_id, "ignored-room", Message("only you see this"))
    assert emu.chat(anna)[-1]["text"] == "only you see this"  # no ephemeral messages in Teams: the 1:1 chat
    assert again.find_dm(anna.aad_id, "CR-2026-001", f"dm:{anna.aad_id}") == first


def test_invite_names_who_is_not_in_the_team(world: World):
    room = world.port.create_room("crisis-invite", private=False)
    people = world.people
    missing = world.port.invite(room.ref, [people["anna"].aad_id, people["outsider"].aad_id, people["gast"].aad_id])
    assert missing == {people["outsider"].aad_id: NOT_IN_TEAM}
    assert world.port.invite(room.ref, []) == {}
    world.emu.remove_from_team(people["anna"])  # the membership looked up is trusted for a while, then checked again
    assert world.port.invite(room.ref, [people["anna"].aad_id]) == {}
    world.desk.clock.advance(hours=13)  # type: ignore[attr-defined]
    assert world.port.invite(room.ref, [people["anna"].aad_id]) == {people["anna"].aad_id: NOT_IN_TEAM}


def test_people_from_the_members_api_and_from_activities(world: World):
    port, people = world.port, world.people
    anna = port.person(people["anna"].aad_id)
    assert anna and anna.known and not anna.workspace_admin and not anna.bot  # admins come from crisisbot.yaml
    guest = port.person(people["gast"].aad_id)
    assert guest and guest.known and not guest.workspace_admin
    outsider = port.person(people["outsider"].aad_id)
    assert outsider and not outsider.known
    assert port.display_name(people["chen"].aad_id) == "Chen Wu"
    assert port.entra_id(people["chen"].id) == people["chen"].aad_id  # known from the look-up just made
    assert world.fresh_port().entra_id(people["bram"].id) == people["bram"].aad_id  # asked the team's members
    assert port.entra_id("29:1nobody") is None
    assert port.locale(people["anna"].aad_id) is None  # the members API gives no locale: an activity does
    port.remember(
        {
            "serviceUrl": world.emu.service_url,
            "from": {"id": people["anna"].id, "name": "Anna de Vries", "aadObjectId": people["anna"].aad_id},
            "conversation": {"id": people["anna"].chat_id, "conversationType": "personal"},
            "locale": "nl-NL",
        }
    )
    assert world.fresh_port().locale(people["anna"].aad_id) == "nl-NL"


def test_429_and_5xx_are_retried(world: World):
    emu, port = world.emu, world.port
    room = port.create_room("crisis-retry", private=False)
    emu.fail("send_to_conversation", error="ratelimited", retry_after=1)
    started = time.monotonic()
    ref = port.post(room.ref, Message("after a 429", (Text("after a 429"),)))
    assert time.monotonic() - started >= 0.9  # Retry-After was honoured
    emu.fail("update_activity", error="internal_error", times=2)
    port.update(room.ref, ref, Message("after two 500s", (Text("after two 500s"),)))
    assert says(emu, ref) == "after two 500s"
    statuses = [c.status for c in emu.calls_to("send_to_conversation")] + [
        c.status for c in emu.calls_to("update_activity")
    ]
    assert statuses.count(429) == 1 and statuses.count(500) == 2


def test_a_lost_response_is_retried_and_no_answer_is_an_oserror(world: World):
    emu, port = world.emu, world.port
    room = port.create_room("crisis-lost", private=False)
    emu.fail("send_to_conversation", error="lost_response", hang_seconds=1.2)
    ref = port.post(room.ref, Message("lost once", (Text("lost once"),)))
    thread = emu.thread(str(root_of(room.ref)))
    assert thread[-1]["id"] == ref
    # The known gap: Teams has no idempotency key, so a POST whose answer was lost lands twice.
    assert [says(emu, a["id"]) for a in thread].count("lost once") == 2
    quick = Connector(world.settings, world.desk.store, call_timeout=0.3, total_time=1.0)
    world.connectors.append(quick)
    emu.fail("send_to_conversation", error="timeout", times=20, hang_seconds=0.6)
    started = time.monotonic()
    with pytest.raises(OSError):
        TeamsPort(world.desk, quick, world.settings).post(room.ref, Message("never", (Text("never"),)))
    assert time.monotonic() - started < 2.5  # bounded: the total time, not a try per fault
    emu.clear_faults()


def test_refusals_come_out_as_refused_with_teams_code(world: World):
    port, emu = world.port, world.emu
    room = port.create_room("crisis-refused", private=False)
    with pytest.raises(Refused) as missing:
        port.update(room.ref, "999999999", Message("x", (Text("x"),)))
    assert missing.value.reason == "ActivityNotFoundInConversation"
    with pytest.raises(Refused) as unknown:
        port.post("19:nosuchchannel@thread.tacv2;messageid=1", Message("x", (Text("x"),)))
    assert unknown.value.reason == "ConversationNotFound"
    emu.fail("send_to_conversation", error="BotNotInConversationRoster", status=403)
    with pytest.raises(Refused) as roster:
        port.post(room.ref, Message("x", (Text("x"),)))
    assert roster.value.reason == "BotNotInConversationRoster"
    with pytest.raises(Refused):
        port.update(world.people["bram"].aad_id, "1", Message("no chat yet"))  # no 1:1 chat to update in


def test_read_back_comes_from_the_ledger(world: World):
    port = world.port
    room = port.create_room("crisis-20260314-readback", private=False)
    header = port.post(room.ref, Message("h", (Text("h"),)), Tag("CR-2026-002", "header"))
    draft = port.post(room.ref, Message("d", (Text("d"),)), Tag("CR-2026-002", "draft:7"))
    port.post(room.ref, Message("untagged", (Text("untagged"),)))
    later = world.fresh_port()
    found = later.find_posts(room.ref, "CR-2026-002", {"header", "draft:7", "draft:8"})
    assert found == {"header": header, "draft:7": draft}
    assert later.find_posts("19:other@thread.tacv2;messageid=1", "CR-2026-002", {"header"}) == {}
    assert later.find_room("crisis-20260314-readback", False, lambda ref: False) == room
    assert later.find_room("crisis-20260314-readback", False, lambda ref: ref == room.ref) is None
    assert later.room_by_name(world.emu.crisis_channel) == world.emu.crisis_channel
    # an announcement (the outbox posts to the configured channel): a new post, read back under the channel's id
    channel = world.emu.general_channel
    announced = later.post(channel, Message("announced"), Tag("CR-2026-002", "outbox:9:0"))
    assert f"{channel};messageid={announced}" in world.emu.threads(channel)
    assert world.fresh_port().find_posts(channel, "CR-2026-002", {"outbox:9:0"}) == {"outbox:9:0": announced}


def test_a_draft_card_refreshes_for_its_deciders_by_their_teams_ids(world: World):
    desk, port, people = world.desk, world.port, world.people
    room = port.create_room("crisis-draft", private=False)
    incident = declare(
        desk, DeclareRequest(scenario="data-breach", title="Emails exposed", declared_by=people["bram"].aad_id)
    ).incident
    incident = desk.store.update_incident(incident.id, room_ref=room.ref, room_name=room.name)
    draft = desk.store.drafts(incident.id)[0]
    say = Wording(desk.messages, "en", port.dialect)
    ref = port.post(room.ref, draft_card(desk, incident, draft, say), Tag(incident.code, f"draft:{draft.id}"))
    card = world.emu.card_of(ref) or {}
    assert card["refresh"]["action"]["data"] == {"value": f"draft:{draft.id}"}
    assert people["chen"].id in card["refresh"]["userIds"]  # legal approves at level 2: by their 29: id
    assert all(uid.startswith("29:") for uid in card["refresh"]["userIds"])
    verbs = {a.get("verb") for b in card["body"] if b["type"] == "ActionSet" for a in b["actions"]}
    assert not verbs & {"draft_approve", "draft_reject"}  # nobody's decision buttons on everyone's card
    mine = port.card_for(draft_card(desk, incident, draft, say), people["chen"].aad_id)
    verbs = {a.get("verb") for b in mine["body"] if b["type"] == "ActionSet" for a in b["actions"]}
    assert "draft_approve" in verbs


def test_upload_keeps_the_files_and_shares_a_card_with_the_chart(world: World, tmp_path: Path):
    port, emu = world.port, world.emu
    room = port.create_room("crisis-report", private=False)
    report, chart = tmp_path / "CR-2026-001-report.md", tmp_path / "CR-2026-001-timeline.png"
    report.write_text("# Report\n")
    chart.write_bytes(b"\x89PNG fake")
    refs = port.upload(
        room.ref, report, report.name, report.stem, "The evaluation report", ((chart, chart.name, chart.stem),)
    )
    tokens = refs.split(",")
    assert len(tokens) == 2 and port.find_upload(room.ref, report.name) == refs
    assert world.fresh_port().refs.file(tokens[0]) == ("CR-2026-001-report.md", "text/markdown", b"# Report\n")
    card = emu.card_of(emu.thread(str(root_of(room.ref)))[-1]["id"]) or {}
    image = next(b for b in card["body"] if b["type"] == "Image")
    assert image["url"] == f"https://crisis.example.com/api/files/{tokens[1]}"
    (links,) = [b for b in card["body"] if b["type"] == "ActionSet"]
    assert links["actions"][0]["url"].endswith(tokens[0])


def test_tokens_come_from_the_login_url_once(world: World):
    world.port.create_room("crisis-token", private=False)
    world.port.create_room("crisis-token-2", private=False)
    assert len(world.emu.calls_to("token")) == 1


def test_the_declare_set_up_runs_on_teams_and_a_dead_runs_posts_are_found_in_the_ledger(world: World):
    """bot/chat/setup.py's plan on TeamsPort: the thread, the header as its root, a DM to each role owner, the
    drafts in the thread; then a run that died after Teams took the drafts (tried, not recorded) finds them."""
    desk, port, emu, people = world.desk, world.port, world.emu, world.people
    request = DeclareRequest(scenario="data-breach", title="Emails exposed", declared_by=people["bram"].aad_id)
    incident = declare(desk, request).incident
    say = Wording(desk.messages, "en", port.dialect)
    result = SetUp(desk, port, say).run(incident)
    assert result.complete, result.failed
    incident = desk.store.incident(incident.id)
    root = str(root_of(str(incident.room_ref)))
    assert desk.store.delivery(f"{incident.id}:header") == root
    drafts = desk.store.drafts(incident.id)
    thread = [a["id"] for a in emu.thread(root)]
    assert thread[0] == root and {str(d.message_ref) for d in drafts} <= set(thread)
    assert "Emails exposed" in says(emu, root)  # the header replaced the "being set up" root
    for name in ("anna", "bram", "chen"):
        assert emu.chat(people[name]), f"{name} was paged in their 1:1 chat"
    sends = len(emu.calls_to("send_to_conversation"))
    keys = [f"{incident.id}:draft:{d.id}" for d in drafts]
    with desk.store.transaction():  # what a run killed after Teams' answers and the ledger, before its record, left
        for key in keys:
            desk.store.db.execute("DELETE FROM deliveries WHERE key = ?", [key])
    desk.store.note_tries(incident.id, {f"draft:{d.id}": "{}" for d in drafts}, desk.now())
    again = SetUp(desk, world.fresh_port(), say).run(desk.store.incident(incident.id))
    assert again.complete and {StepKey("draft", str(d.id)) for d in drafts} <= set(again.done)
    assert len(emu.calls_to("send_to_conversation")) == sends  # found, not posted again
    assert [desk.store.delivery(k) for k in keys] == [str(d.message_ref) for d in drafts]


def test_reply_answers_where_the_activity_came_from_and_remember_keeps_the_service_url(world: World):
    emu, port, chen = world.emu, world.port, world.people["chen"]
    room = port.create_room("crisis-reply", private=False)
    root = str(root_of(room.ref))
    answer = port.reply(room.ref, Message("status", (Text("where it stands"),)), reply_to=root)
    assert emu.thread(root)[-1]["id"] == answer and emu.thread(root)[-1]["replyToId"] == root
    # Chen wrote to the bot in their 1:1 chat (`chat_id` opens it); the activity tells the port where it is
    port.remember(
        {
            "serviceUrl": emu.service_url,
            "from": {"id": chen.id, "name": "Chen Wu", "aadObjectId": chen.aad_id.upper()},  # any case: one person
            "conversation": {"id": chen.chat_id, "conversationType": "personal"},
            "locale": "en-GB",
        }
    )
    in_chat = port.reply(chen.chat_id, Message("only for you"))
    assert emu.chat(chen)[-1]["id"] == in_chat
    port.dm(chen.aad_id, Message("a page"))  # the chat the activity came from: no new conversation
    assert emu.calls_to("create_conversation") == emu.calls_to("create_conversation")[:1]
    assert world.desk.store.platform_ref("teams", "service_url") == emu.service_url
    assert world.fresh_port().locale(chen.aad_id) == "en-GB"


SET_UP_IN_A_CHILD = """
import sys
from bot.chat.setup import SetUp
from bot.chat.wording import Wording
from bot.config import load_settings
from bot.incidents import open_desk
from bot.teams.connector import Anonymous, Connector, LoginUrlTokens, MsalTokens, tokens_for
from bot.teams.port import TeamsPort

settings = load_settings()
desk = open_desk(settings)
port = TeamsPort(desk, Connector(settings, desk.store), settings)
SetUp(desk, port, Wording(desk.messages, "en", port.dialect)).run(desk.store.incident(int(sys.argv[1])))
"""


@pytest.mark.parametrize("moment", ["teams_noted:1", "teams_noted:5"])
def test_a_kill_after_the_ledger_write_repeats_no_message_it_noted(world: World, moment: str):
    """A process killed (os._exit) right after it noted a message Teams took: the next run finds every message in
    the ledger instead of sending it again. (A send of the same round still in flight when the kill came, taken
    by Teams but not yet noted, is sent again: the gap the port's docstring names.)"""
    desk, emu, people = world.desk, world.emu, world.people
    request = DeclareRequest(scenario="data-breach", title="Emails exposed", declared_by=people["bram"].aad_id)
    incident = declare(desk, request).incident
    env = {**os.environ, **teams_environ(emu, Path(desk.settings.db_path)), "CRISISBOT_CRASH_AT": moment}
    child = subprocess.run(
        [sys.executable, "-c", SET_UP_IN_A_CHILD, str(incident.id)], env=env, timeout=60, capture_output=True
    )
    assert child.returncode == 137, child.stderr.decode()[-2000:]
    noted = desk.store.platform_refs("teams", f"sent:{incident.code}:")
    assert noted  # the kill came after at least one message was noted
    result = SetUp(desk, world.fresh_port(), Wording(desk.messages, "en", world.port.dialect)).run(
        desk.store.incident(incident.id)
    )
    assert result.complete, result.failed
    after = desk.store.platform_refs("teams", f"sent:{incident.code}:")
    assert {key: after[key] for key in noted} == noted  # found, not sent again (a new send notes a new ref)
    for key in noted:
        _, _, step = key.partition(f"sent:{incident.code}:")
        if step.startswith("dm:"):
            assert len(emu.chat(emu.user(step.removeprefix("dm:")))) == 1, step
    incident = desk.store.incident(incident.id)
    assert {StepKey.parse(k.partition(f"{incident.code}:")[2]) for k in after} >= {
        StepKey("draft", str(d.id)) for d in desk.store.drafts(incident.id)
    }


def test_the_login_the_settings_call_for(tmp_path: Path):
    """Production asks Entra through the SDK's MSAL; TEAMS_LOGIN_URL (local only) the given token endpoint; no app
    id, no token (anonymous local mode)."""
    app = {
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": "00000000-0000-4000-8000-0000000000a1",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": "secret",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": "00000000-0000-4000-8000-0000000000b2",
    }
    assert isinstance(tokens_for(load_settings(environ=app)), MsalTokens)
    local = tokens_for(load_settings(environ={**app, "TEAMS_LOGIN_URL": "http://127.0.0.1:1/login"}))
    assert isinstance(local, LoginUrlTokens) and local.url == "http://127.0.0.1:1/login/oauth2/v2.0/token"
    assert isinstance(tokens_for(load_settings(environ={})), Anonymous)


def test_a_wrong_secret_is_refused_and_nothing_is_posted(world: World, tmp_path: Path):
    env = {
        **teams_environ(world.emu, tmp_path / "other.db"),
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": "no",
    }
    settings = load_settings(environ=env)
    desk = open_desk(settings, clock=ManualClock(START))
    connector = Connector(settings, desk.store, call_timeout=1.0, total_time=3.0)
    world.connectors.append(connector)
    with pytest.raises(Refused) as refused:
        TeamsPort(desk, connector, settings).create_room("crisis-wrong-secret", private=False)
    assert refused.value.reason == "invalid_client"
    assert world.emu.calls_to("create_conversation") == []


def test_a_dm_to_a_chat_that_is_gone_opens_a_new_one(world: World):
    anna = world.people["anna"]
    world.port.refs.note_person(anna.aad_id, chat="a:1gone")  # a chat id Teams no longer knows
    ref = world.port.dm(anna.aad_id, Message("still reaches her"))
    assert world.emu.chat(anna)[-1]["id"] == ref.split(":", 1)[1]
    assert world.port.refs.person(anna.aad_id)["chat"] == anna.chat_id
