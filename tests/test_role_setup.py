"""Setting up must not lock people out, and a person Slack will not add must not keep everyone else out.

Through the front door: signed slash commands and clicks into the real Bolt app, the emulator's Web API answering
users.info and conversations.invite as Slack documents them (deactivated accounts, bots, workspace admins and
owners, partially failed invites), a real SQLite file, and `crisisbot.yaml` where the config is the point.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from conftest import ID, START, Crisis, assert_valid_for_slack, db_rows
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.clock import ManualClock
from bot.localdesk import CAST, start_local
from bot.sandbox.emulator import SlackEmulator
from tests.fixtures_foundation import cli

OWNER_OF = {p.role: p for p in CAST if p.role}
ADA, OWEN, ROBOT, GONE = "U0ADA", "U0OWEN", "U0ROBOT", "U0GONE"  # an admin, the owner, a bot, an account removed


def as_user(crisis: Crisis, user: str, text: str, channel_id: str | None = None) -> str:
    """`/crisis text` typed by any Slack member (not only the cast); what they were told last."""
    crisis.emu.slash_command(user, text, channel_id=channel_id)
    crisis.local.settle()
    notes = crisis.emu.ephemerals(user)
    return notes[-1]["text"] if notes else ""


def set_all_six(crisis: Crisis, user: str) -> list[str]:
    return [
        as_user(crisis, user, f"roles set {role} <@{person.id}|{person.name}>") for role, person in OWNER_OF.items()
    ]


@pytest.fixture
def workspace(crisis: Crisis) -> Crisis:
    """The cast plus a workspace admin, the workspace's owner and a bot user; no role has an owner yet."""
    crisis.emu.add_user(ADA, "ada", real_name="Ada Admin", is_admin=True)
    crisis.emu.add_user(OWEN, "owen", real_name="Owen Owner", is_owner=True)
    crisis.emu.add_user(ROBOT, "robot", real_name="Release Robot", is_bot=True)
    return crisis


# ==== who may set up the roles =========================================================================================
@pytest.mark.parametrize("installer", [ADA, OWEN], ids=["workspace-admin", "workspace-owner"])
def test_the_workspace_admin_or_owner_who_installs_the_app_sets_all_six_roles(
    workspace: Crisis, installer: str
) -> None:
    answers = set_all_six(workspace, installer)
    assert all(" is now <@" in a for a in answers), answers  # the first one made anna crisis lead: still allowed
    assert workspace.store.role_owners() == {role: [p.id] for role, p in OWNER_OF.items()}
    # and later too, while anna is crisis lead
    assert " is now <@U0GIJS>" in as_user(workspace, installer, "roles set legal <@U0GIJS|gijs> <@U0CHEN|chen>")
    assert workspace.store.role_owners()["legal"] == [ID["gijs"], ID["chen"]]


def test_someone_who_is_neither_lead_nor_admin_is_still_refused(workspace: Crisis) -> None:
    set_all_six(workspace, ADA)
    before = db_rows(workspace)
    note = as_user(workspace, ID["gijs"], "roles set legal <@U0GIJS|gijs>")
    assert note.startswith("Only the crisis lead (or a backup), a Slack workspace admin or owner")
    assert "admins:" in note and "/crisis roles" in note
    assert db_rows(workspace) == before


def config_file(folder: Path, **body: object) -> Path:
    path = folder / "crisisbot.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[Crisis]:
    """A desk whose crisisbot.yaml seeds every role but legal and names gijs (no role, no Slack admin) an admin."""
    owners = {role: [p.id] for role, p in OWNER_OF.items() if role != "legal"}
    path = config_file(tmp_path, role_owners=owners, admins=[ID["gijs"]])
    clock = ManualClock(START)
    local = start_local(db_path=tmp_path / "crisis.db", clock=clock, environ={"CRISISBOT_CONFIG": str(path)})
    try:
        yield Crisis(local, clock)
        assert_valid_for_slack(local.emulator)
    finally:
        local.stop()


def test_role_owners_seeded_from_the_config_and_an_admin_listed_there(configured: Crisis) -> None:
    owners = configured.store.role_owners()
    assert owners["crisis_lead"] == [ID["anna"]] and "legal" not in owners  # seeded from crisisbot.yaml
    configured.cmd("gijs", "roles")
    assert "*Crisis lead*: <@U0ANNA>" in configured.last_ephemeral("gijs")
    assert " is now <@U0CHEN>" in as_user(configured, ID["gijs"], "roles set legal <@U0CHEN|chen>")
    assert configured.store.role_owners()["legal"] == [ID["chen"]]
    note = as_user(configured, ID["dewi"], "roles set legal <@U0DEWI|dewi>")  # dewi is in neither list
    assert note.startswith("Only the crisis lead")
    assert configured.store.role_owners()["legal"] == [ID["chen"]]


def test_init_offers_role_owners_and_admins_and_check_accepts_them(tmp_path: Path) -> None:
    project = tmp_path / "acme"
    result = cli("init", "--yes", "--dir", project, "--role-owner", "crisis_lead=U0ANNA,U0BRAM", "--admins", "U0IT")
    assert result.exit_code == 0, result.output
    text = (project / "crisisbot.yaml").read_text(encoding="utf-8")
    body = yaml.safe_load(text)
    assert body["role_owners"] == {"crisis_lead": ["U0ANNA", "U0BRAM"]} and body["admins"] == ["U0IT"]
    assert "# role_owners:" in text and "# admins:" in text  # what the keys mean, in the file itself
    assert cli("check", "--config", project / "crisisbot.yaml").exit_code == 0
    refused = cli("init", "--yes", "--dir", tmp_path / "bad", "--admins", "anna")
    assert refused.exit_code == 2 and "--admins: 'anna' is not a Slack member id" in refused.output
    assert not (tmp_path / "bad").exists()


# ==== roles set asks Slack about each person ===========================================================================
@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("<@U0NOBODY>", "Slack does not know the account `U0NOBODY`"),
        (f"<@{ROBOT}|robot>", f"<@{ROBOT}> is a bot or an app, not a person"),
        ("<@U0BOT|crisisbot>", "<@U0BOT> is a bot or an app, not a person"),
        ("<@U0GIJS|gijs>", "<@U0GIJS> is deactivated in Slack"),
    ],
    ids=["unknown-id", "bot-user", "this-app", "deactivated"],
)
def test_roles_set_refuses_someone_slack_says_cannot_take_a_role(workspace: Crisis, who: str, expected: str) -> None:
    set_all_six(workspace, ADA)
    workspace.emu.deactivate_user(ID["gijs"])
    before, calls = db_rows(workspace), len(workspace.emu.calls)
    note = as_user(workspace, ID["anna"], f"roles set legal <@U0CHEN|chen> {who}")
    assert expected in note and "nothing was changed" in note, note
    assert db_rows(workspace) == before
    assert {c.method for c in workspace.emu.calls[calls:]} <= {"users.info", "response_url"}


def test_roles_set_when_slack_does_not_answer_changes_nothing_and_says_to_retry(workspace: Crisis) -> None:
    set_all_six(workspace, ADA)
    before = db_rows(workspace)
    workspace.emu.fail("users.info", error="internal_error", times=10)
    note = as_user(workspace, ID["anna"], "roles set legal <@U0GIJS|gijs>")
    workspace.emu.clear_faults()
    assert note.startswith("Slack did not answer whether <@U0GIJS> can take a role") and "Try again" in note
    assert db_rows(workspace) == before


# ==== invites that fail for one person ==================================================================================
def invite(client: WebClient, channel: str, users: list[str], **args: object) -> dict:
    """conversations.invite's answer, error or not."""
    try:
        return client.conversations_invite(channel=channel, users=",".join(users), **args).data
    except SlackApiError as exc:
        return dict(exc.response.data)


def test_the_emulator_answers_a_mixed_invite_as_slack_documents(emu: SlackEmulator) -> None:
    client = WebClient(token=emu.token, base_url=emu.api_url)
    emu.add_user(GONE, "gone")
    emu.deactivate_user(GONE)
    channel = client.conversations_create(name="invite-test")["channel"]["id"]
    assert invite(client, channel, ["U0ANNA"])["ok"] is True
    members = lambda: emu.channel(channel)["members"]  # noqa: E731
    # without force one member already there fails the call for everyone: nobody is added
    assert invite(client, channel, ["U0ANNA", "U0BRAM"])["error"] == "already_in_channel"
    assert invite(client, channel, ["U0BRAM", "U0NOBODY"])["error"] == "user_not_found"
    assert "U0BRAM" not in members()
    # a deactivated account fails on its own: the others are added, the answer is still an error
    answer = invite(client, channel, ["U0BRAM", GONE])
    assert answer["ok"] is False and answer["error"] == "cant_invite" and "U0BRAM" in members()
    # with force everyone who can be added is, and `errors` names the others
    answer = invite(client, channel, ["U0ANNA", "U0CHEN", "U0NOBODY", GONE], force=True)
    assert answer["ok"] is False and "U0CHEN" in members() and GONE not in members()
    assert answer["errors"] == [
        {"user": "U0ANNA", "ok": False, "error": "already_in_channel"},
        {"user": "U0NOBODY", "ok": False, "error": "user_not_found"},
        {"user": GONE, "ok": False, "error": "cant_invite"},
    ]
    assert invite(client, channel, ["U0DEWI"], force=True)["ok"] is True
    # users.info says who is an admin, deactivated or a bot
    emu.add_user(ADA, "ada", is_admin=True)
    emu.add_user(OWEN, "owen", is_owner=True)
    info = {u: client.users_info(user=u)["user"] for u in (ADA, OWEN, GONE, "U0BOT", "U0ANNA")}
    assert [info[u]["is_admin"] for u in info] == [True, True, False, False, False]
    assert [info[u]["is_owner"] for u in info] == [False, True, False, False, False]
    assert [info[u]["deleted"] for u in info] == [False, False, True, False, False]
    assert [info[u]["is_bot"] for u in info] == [False, False, False, True, False]
    # conversations.list: `limit` must be under 1000
    with pytest.raises(SlackApiError) as refused:
        client.conversations_list(limit=1000)
    assert refused.value.response["error"] == "invalid_limit"
    assert client.conversations_list(limit=999)["ok"]


def members(crisis: Crisis, channel: str) -> set[str]:
    return set(crisis.emu.channel(channel)["members"])


def notices(crisis: Crisis, channel: str) -> list[str]:
    return [m["text"] for m in crisis.emu.messages(channel) if m.get("text", "").startswith("⚠️ Slack would not")]


def test_a_level_3_escalation_brings_in_the_roles_it_adds(staffed: Crisis) -> None:
    incident = staffed.declare("declare negative-reviews 1 One-star storm on Google")
    before = members(staffed, incident.room_ref)
    staffed.cmd("anna", "escalate 3", channel_id=incident.room_ref)
    book = staffed.local.desk.playbooks["negative-reviews"]
    added = set(book.level(3).roles) - set(book.level(1).roles)
    assert added  # the escalation pulls roles in
    owners = {OWNER_OF[role].id for role in book.level(3).roles}
    assert owners - before  # some of them were not in the channel yet…
    assert owners <= members(staffed, incident.room_ref)  # …and now everyone of level 3 is
    assert notices(staffed, incident.room_ref) == []


def test_a_declare_brings_in_everyone_else_when_one_owner_is_deactivated(staffed: Crisis) -> None:
    staffed.emu.deactivate_user(ID["chen"])  # legal left the company after the roles were set
    incident = staffed.declare()
    assert staffed.last_ephemeral("bram").startswith(f"✅ {incident.code} declared")
    level = staffed.local.desk.playbooks["data-breach"].level(2)
    everyone_else = {OWNER_OF[r].id for r in level.roles if r != "legal"}
    assert everyone_else <= members(staffed, incident.room_ref)
    assert ID["chen"] not in members(staffed, incident.room_ref)
    [notice] = notices(staffed, incident.room_ref)
    assert "<@U0CHEN> (Legal): the account is deactivated" in notice
    assert "`/crisis roles set legal @person`" in notice
    assert staffed.events(incident, "setup_failed") == []
    # a re-run finds it all done: no second notice, no second invite
    staffed.cmd("bram", "declare data-breach 2 Customer emails exposed")
    assert len(notices(staffed, incident.room_ref)) == 1


def test_a_declare_with_an_owner_slack_does_not_know_still_sets_up_the_rest(tmp_path: Path) -> None:
    owners = {role: [p.id] for role, p in OWNER_OF.items()}
    owners["legal"] = [GONE]  # seeded from crisisbot.yaml, then the account was removed from the workspace
    path = config_file(tmp_path, role_owners=owners, company={"language": "nl"})
    clock = ManualClock(START)
    with start_local(db_path=tmp_path / "crisis.db", clock=clock, environ={"CRISISBOT_CONFIG": str(path)}) as local:
        crisis = Crisis(local, clock)
        incident = crisis.declare()
        assert crisis.last_ephemeral("bram").startswith(f"✅ {incident.code}")
        assert crisis.events(incident, "setup_failed") == []
        level = local.desk.playbooks["data-breach"].level(2)
        assert {OWNER_OF[r].id for r in level.roles if r != "legal"} <= members(crisis, incident.room_ref)
        [notice] = [
            m["text"] for m in crisis.emu.messages(incident.room_ref) if m.get("text", "").startswith("⚠️ Slack kon")
        ]
        assert f"<@{GONE}> (Juridisch adviseur): Slack kent dit account niet" in notice
        assert "`/crisis roles set legal @person`" in notice
        assert not [e for e in crisis.events(incident, "pinged") if e.data["user"] == GONE]
        assert_valid_for_slack(local.emulator)


def test_paging_backups_brings_in_the_ones_slack_will_add_and_names_the_others(staffed: Crisis) -> None:
    # legal's backups: dewi, already in the channel as communications, and gijs, deactivated since
    staffed.cmd("anna", "roles set legal <@U0CHEN|chen> <@U0DEWI|dewi> <@U0GIJS|gijs>")
    staffed.emu.deactivate_user(ID["gijs"])
    incident = staffed.declare()
    for name in ("anna", "dewi", "eli"):
        staffed.click(name, "acknowledge", channel_id=staffed.emu.dm_channel_of(ID[name]))
    staffed.clock.advance(minutes=15)
    staffed.local.tick()  # the owner is reminded
    staffed.clock.advance(minutes=15)
    staffed.local.tick()  # the backups are paged
    assert any("backup for Legal" in m["text"] for m in staffed.emu.dms(ID["dewi"]))
    texts = [m.get("text", "") for m in staffed.emu.messages(incident.room_ref)]
    assert any("paging the backups: <@U0DEWI>" in t for t in texts)
    [notice] = notices(staffed, incident.room_ref)
    assert "<@U0GIJS> (Legal): the account is deactivated" in notice
    assert not any("could not deliver" in t for t in texts)  # the outbox row went through, no retries left over
    assert staffed.store.pending_outbox(staffed.clock.now() + timedelta(days=1)) == []


def test_an_escalation_whose_invite_fails_for_one_person_brings_in_the_rest_and_says_so(staffed: Crisis) -> None:
    incident = staffed.declare("declare negative-reviews 1 One-star storm on Google")
    staffed.emu.deactivate_user(ID["fleur"])  # the spokesperson left; level 3 pulls the role in
    staffed.cmd("anna", "escalate 3", channel_id=incident.room_ref)
    book = staffed.local.desk.playbooks["negative-reviews"]
    assert "spokesperson" in book.level(3).roles and "spokesperson" not in book.level(1).roles
    others = {OWNER_OF[role].id for role in book.level(3).roles if role != "spokesperson"}
    assert others <= members(staffed, incident.room_ref) and ID["fleur"] not in members(staffed, incident.room_ref)
    [notice] = notices(staffed, incident.room_ref)
    assert "<@U0FLEUR> (Spokesperson): the account is deactivated" in notice
    assert "`/crisis roles set spokesperson @person`" in notice
    assert staffed.store.incident(incident.id).level == 3
