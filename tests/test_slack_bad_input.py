"""Bad input through the front door: signed HTTP into the running bot, answers checked where people see them.

Every refusal must say what to type instead, and change nothing beyond what it states: the store (every
table but the idempotency keys), the emulator's channels and messages, and the Web API calls are compared
before and after.

One bot and one emulator serve the whole module (starting and stopping them costs more than all the tests
together); each test moves the clock a day on, so it works in its own channels and its own duplicate window,
and compares only what it changed itself.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from conftest import ID, Crisis, db_rows, declare, next_day, row_of

from bot.models import Incident
from bot.sandbox.model import APP_ID, TEAM_DOMAIN, VERIFICATION_TOKEN
from bot.sandbox.payloads import button_action, find_element
from bot.sandbox.transport import BotResponse, events_url, send_signed

FORM = "application/x-www-form-urlencoded"
SCENARIOS = ("data-breach", "negative-reviews", "other", "service-outage")
ROLE_IDS = ("crisis_lead", "social_media_manager", "legal", "communications", "tech_lead", "spokesperson")
OWNERS_L2 = ("anna", "bram", "chen", "dewi", "eli")  # data-breach level 2 pulls in every role but the spokesperson


# ---- one running desk for the module ------------------------------------------------------------------
@pytest.fixture
def team(shared: Crisis) -> Iterator[Crisis]:
    """The shared desk, a day later than the previous test; afterwards: no faults left, valid Slack only."""
    with next_day(shared, valid_blocks=True) as crisis:
        yield crisis


# ---- what changed -------------------------------------------------------------------------------------
@dataclass
class Before:
    db: dict[str, Counter]
    slack: dict[str, Any]
    calls: int
    ephemerals: dict[str, int]


def _slack_state(crisis: Crisis) -> dict[str, Any]:
    emu = crisis.emu
    with emu.ws.lock:
        channel_ids = list(emu.ws.channels)
    return {"channels": {cid: (emu.channel(cid), emu.messages(cid)) for cid in channel_ids}, "views": emu.views()}


def watch(crisis: Crisis) -> Before:
    crisis.local.settle()
    return Before(
        db_rows(crisis),
        _slack_state(crisis),
        len(crisis.emu.calls),
        {name: len(crisis.emu.ephemerals(uid)) for name, uid in ID.items()},
    )


def db_changes(crisis: Crisis, before: Before) -> dict[str, dict[str, list[dict]]]:
    """Per table, the rows added and removed since `before` (an updated row is both)."""
    after = db_rows(crisis)
    changes = {}
    for table in sorted(set(after) | set(before.db)):
        old, new = before.db.get(table, Counter()), after.get(table, Counter())
        added, removed = new - old, old - new
        if added or removed:
            changes[table] = {
                "added": [row_of(r) for r in added.elements()],
                "removed": [row_of(r) for r in removed.elements()],
            }
    return changes


def new_calls(crisis: Crisis, before: Before) -> list:
    crisis.local.settle()
    return crisis.emu.calls[before.calls :]


READ_ONLY = {"response_url", "users.info"}  # a response_url answer is no Web API call; users.info changes nothing


def api_methods(crisis: Crisis, before: Before) -> list[str]:
    """Web API methods called since `before` that could change anything in Slack."""
    return [c.method for c in new_calls(crisis, before) if c.method not in READ_ONLY]


def told(crisis: Crisis, who: str, before: Before) -> list[str]:
    """What `who` was told privately since `before` (ack bodies and response_url answers)."""
    return [e["text"] for e in crisis.emu.ephemerals(ID[who])[before.ephemerals[who] :]]


def assert_untouched(crisis: Crisis, before: Before) -> None:
    """No state, no channel, message or view, and no Web API call changed since `before`."""
    assert db_changes(crisis, before) == {}
    assert _slack_state(crisis) == before.slack
    assert api_methods(crisis, before) == []


def refused(crisis: Crisis, who: str, text: str) -> str:
    """Run `/crisis text` as `who`, expecting a refusal that changes nothing; return what `who` was told."""
    before = watch(crisis)
    response = crisis.cmd(who, text)
    assert response.status == 200
    assert_untouched(crisis, before)
    notes = told(crisis, who, before)
    assert len(notes) == 1, notes
    return notes[0]


# ---- requests crafted by hand (retries, forgeries) -----------------------------------------------------
def command_body(crisis: Crisis, who: str, text: str) -> str:
    """A /crisis slash command request body exactly as Slack sends it, with a fresh trigger_id."""
    emu = crisis.emu
    channel = emu.general_id
    return urlencode(
        {
            "token": VERIFICATION_TOKEN,
            "team_id": emu.team_id,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel,
            "channel_name": "general",
            "user_id": ID[who],
            "user_name": who,
            "command": "/crisis",
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": f"{emu.base_url}response/{emu.ws.issue_hook(ID[who], channel)}",
            "trigger_id": emu.issue_trigger(ID[who]),
        }
    )


def click_body(crisis: Crisis, who: str, action_id: str, channel_id: str, ts: str) -> str:
    """One click's block_actions request body, built once so the very same request can be delivered again.

    SlackEmulator.click() issues a new trigger_id per click (a new request); a Slack retry repeats one.
    """
    emu = crisis.emu
    with emu.ws.lock:
        target = emu._locate(ID[who], action_id, None, channel_id, ts, None)
        found = find_element(target.blocks, action_id)
        assert found is not None, f"no {action_id} on {ts}"
        block_id, element = found
        payload = emu._block_actions(
            emu.ws.users[ID[who]], target, button_action(element, action_id, block_id, None), None
        )
    return urlencode({"payload": json.dumps(payload)})


def deliver(crisis: Crisis, body: str, *, secret: str | None = None, **signing: Any) -> BotResponse:
    """POST a request body to the bot, signed (by default with the right secret and the current time)."""
    return send_signed(events_url(crisis.emu.bot_url), secret or crisis.emu.signing_secret, body, FORM, **signing)


def deliver_at_once(crisis: Crisis, bodies: list[str], *, as_retries: bool = False) -> list[BotResponse]:
    """Deliver the requests concurrently (one thread each); return the answers once the bot is idle.

    as_retries: all but the first carry X-Slack-Retry-Num, as Slack's redeliveries of one request do.
    """
    answers: list[BotResponse] = []
    threads = [
        threading.Thread(
            target=lambda n=n, b=b: answers.append(deliver(crisis, b, retry_num=n if as_retries and n else None))
        )
        for n, b in enumerate(bodies)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    crisis.local.settle()
    return answers


# ---- small readers --------------------------------------------------------------------------------------
def draft_value(crisis: Crisis, incident: Incident, network: str) -> tuple[str, str]:
    """(value, block_id) of the buttons on a draft message as drawn now."""
    draft = crisis.drafts(incident)[network]
    return f"{draft.id}:{draft.version}", f"draft-{draft.id}"


def buttons(message: dict[str, Any]) -> list[str]:
    return [e["text"]["text"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def approve_fully(crisis: Crisis, incident: Incident, network: str) -> None:
    for who in ("anna", "chen"):  # data-breach level 2: crisis lead and legal
        crisis.click_draft(who, incident, network, "draft_approve")
    assert crisis.drafts(incident)[network].status == "approved"


def edit_text(crisis: Crisis, who: str, text: str) -> BotResponse:
    return crisis.submit(who, {"text": {"value": {"type": "plain_text_input", "value": text}}})


def incident_channels(crisis: Crisis, before: Before) -> list[str]:
    """Channels created since `before`."""
    return [
        c.response["channel"]["id"]
        for c in new_calls(crisis, before)
        if c.method == "conversations.create" and c.response.get("ok")
    ]


# ---- /crisis declare with bad input ---------------------------------------------------------------------
def test_unknown_scenario_lists_the_valid_scenarios_and_creates_nothing(team: Crisis) -> None:
    note = refused(team, "bram", "declare meteor-strike 2 X")
    assert "meteor-strike" in note
    for scenario in SCENARIOS:
        assert f"`{scenario}`" in note, note


def test_a_title_starting_with_a_number_is_a_title_not_a_level(team: Crisis) -> None:
    incident = declare_text(team, "declare service-outage 500 errors on checkout")
    assert (incident.scenario, incident.level, incident.title) == ("service-outage", 2, "500 errors on checkout")


@pytest.mark.parametrize("word", ["4", "0", "L7", "-1", "level9", "99999999999999999999", "٣"])
def test_only_1_2_or_3_after_the_scenario_is_a_level(team: Crisis, word: str) -> None:
    incident = declare_text(team, f"declare data-breach {word} Title")
    assert (incident.level, incident.title) == (2, f"{word} Title")
    drill = declare_text(team, f"drill other {word} Rehearsal")
    assert (drill.drill, drill.level, drill.title) == (True, 2, f"{word} Rehearsal")


@pytest.mark.parametrize(("word", "level"), [("1", 1), ("3", 3), ("L3", 3), ("l1", 1)])
def test_1_2_or_3_after_the_scenario_is_the_level(team: Crisis, word: str, level: int) -> None:
    incident = declare_text(team, f"declare negative-reviews {word} Angry reviews")
    assert (incident.level, incident.title) == (level, "Angry reviews")


def declare_text(crisis: Crisis, text: str) -> Incident:
    """Run a declare or drill command as bram; the incident it made (fails with bram's answer when none)."""
    count = len(crisis.store.incidents())
    crisis.cmd("bram", text)
    incidents = crisis.store.incidents()
    assert len(incidents) == count + 1, crisis.last_ephemeral("bram")
    return incidents[-1]


@pytest.mark.parametrize("text", ["declare data-breach 2", "declare data-breach", "declare data-breach L1   "])
def test_declare_without_a_title_asks_for_one(team: Crisis, text: str) -> None:
    note = refused(team, "bram", text)
    assert "title" in note and "/crisis declare data-breach 2 " in note


def test_declare_without_a_scenario_shows_the_declare_usage(team: Crisis) -> None:
    note = refused(team, "bram", "declare")
    assert "/crisis declare <scenario> [level] <title>" in note


# ---- /crisis roles set with bad input --------------------------------------------------------------------
def test_unknown_role_lists_the_valid_roles(team: Crisis) -> None:
    note = refused(team, "anna", "roles set wizard <@U0ANNA|anna>")
    assert "wizard" in note
    for role in ROLE_IDS:
        assert f"`{role}`" in note, note  # as typeable ids, not mrkdwn-escaped look-alikes


@pytest.mark.parametrize(
    "text", ["roles set legal anna", "roles set legal @anna", "roles set legal <@U0CHEN|chen> bram"]
)
def test_roles_set_with_plain_text_instead_of_a_mention_asks_to_pick_the_person(team: Crisis, text: str) -> None:
    note = refused(team, "anna", text)
    assert "is not a Slack mention" in note and "Type @ and pick the person" in note
    assert team.store.role_owners()["legal"] == [ID["chen"]]


def test_roles_set_without_people_says_what_to_type(team: Crisis) -> None:
    note = refused(team, "anna", "roles set legal")
    assert "/crisis roles set <role> @owner" in note and "/crisis roles set legal @anna" in note


def test_roles_set_by_someone_who_is_not_the_crisis_lead_is_refused(team: Crisis) -> None:
    owners = team.store.role_owners()
    note = refused(team, "gijs", "roles set legal <@U0GIJS|gijs>")
    assert "Only the crisis lead" in note and "/crisis roles" in note
    assert team.store.role_owners() == owners


def test_empty_roles_are_shown_with_a_typeable_roles_set_command(team: Crisis) -> None:
    hint = "`/crisis roles set social_media_manager @person`"  # not mrkdwn-escaped `socialˍmediaˍmanager`
    team.store.set_role_owners("social_media_manager", [])  # no command unassigns a role; restored below
    try:
        team.cmd("anna", "roles")
        assert hint in team.last_ephemeral("anna")
        incident = declare(team, "Leak without a social media manager", who="anna")
        assert hint in json.dumps(team.emu.messages(incident.room_ref)[0]["blocks"], ensure_ascii=False)
    finally:
        team.store.set_role_owners("social_media_manager", [ID["bram"]])


# ---- duplicates and Slack retries --------------------------------------------------------------------------
def test_same_declare_within_a_minute_points_to_the_existing_incident(team: Crisis) -> None:
    first = declare(team, "Card data on pastebin")
    before = watch(team)
    team.clock.advance(seconds=40)
    team.cmd("bram", "declare data-breach 2 card data  on PASTEBIN")
    assert db_changes(team, before) == {}
    assert api_methods(team, before) == []  # no channel, no message: only the answers
    note = told(team, "bram", before)[-1]
    assert first.code in note and f"<#{first.room_ref}>" in note and "Nothing new was created" in note

    team.clock.advance(minutes=2)
    before = watch(team)
    second = declare(team, "Card data on pastebin")
    assert second.id != first.id and second.room_ref != first.room_ref
    assert len(incident_channels(team, before)) == 1
    assert second.code in told(team, "bram", before)[-1]


def test_slack_retry_of_a_slash_command_is_processed_once(team: Crisis) -> None:
    before = watch(team)
    body = command_body(team, "bram", "declare service-outage 2 Checkout times out")
    assert deliver(team, body).status == 200
    assert deliver(team, body, retry_num=1, retry_reason="http_timeout").status == 200
    team.local.settle()
    assert deliver(team, body, retry_num=2, retry_reason="http_timeout").status == 200
    changes = db_changes(team, before)
    assert len(changes["incidents"]["added"]) == 1
    assert len(incident_channels(team, before)) == 1
    assert api_methods(team, before).count("conversations.create") == 1


def test_one_click_delivered_again_and_again_records_one_approval(team: Crisis) -> None:
    incident = declare(team, "Leaked invoices")
    x, facebook = team.drafts(incident)["x"], team.drafts(incident)["facebook"]
    before = watch(team)

    # the same request five times at once: the original and four Slack retries
    body = click_body(team, "anna", "draft_approve", incident.room_ref, x.message_ref)
    answers = deliver_at_once(team, [body] * 5, as_retries=True)
    # the same request three times in a row
    body = click_body(team, "anna", "draft_approve", incident.room_ref, facebook.message_ref)
    for n in range(3):
        answers.append(deliver(team, body, retry_num=n or None))
        team.local.settle()

    assert [a.status for a in answers] == [200] * 8
    for draft in (x, facebook):
        approvals = team.store.approvals(draft.id)
        assert [(a.approver, a.role, a.version) for a in approvals] == [(ID["anna"], "crisis_lead", 1)]
        approved = [e for e in team.events(incident, "approved") if e.data["draft_id"] == draft.id]
        assert len(approved) == 1
        assert (
            len(
                [
                    c
                    for c in new_calls(team, before)
                    if c.method == "chat.update" and c.args.get("ts") == draft.message_ref
                ]
            )
            == 1
        )


def test_concurrent_clicks_on_the_last_approval_make_the_draft_ready_once(team: Crisis) -> None:
    incident = declare(team, "Leaked payroll")
    x = team.drafts(incident)["x"]
    team.click_draft("anna", incident, "x", "draft_approve")
    bodies = [click_body(team, "chen", "draft_approve", incident.room_ref, x.message_ref) for _ in range(5)]
    assert [a.status for a in deliver_at_once(team, bodies)] == [200] * 5  # five distinct clicks at once
    assert [a.approver for a in team.store.approvals(x.id)] == [ID["anna"], ID["chen"]]
    assert len(team.events(incident, "approved")) == 2
    assert len(team.events(incident, "draft_ready")) == 1
    assert team.drafts(incident)["x"].status == "approved"


def test_double_clicks_on_approve_acknowledge_and_mark_as_posted_count_once(team: Crisis) -> None:
    incident = declare(team, "Leaked passwords")
    # Approve twice by the same approver: the button is still there after the first click
    team.click_draft("anna", incident, "x", "draft_approve")
    team.click_draft("anna", incident, "x", "draft_approve")
    x = team.drafts(incident)["x"]
    assert [(a.approver, a.decision) for a in team.store.approvals(x.id)] == [(ID["anna"], "approved")]
    assert len(team.events(incident, "approved")) == 1

    # Acknowledge twice: the second click comes from the DM as it was drawn before the first was handled
    dm = next(m for m in team.emu.dms(ID["eli"]) if incident.code in m["text"])
    found = find_element(dm["blocks"], "acknowledge")
    assert found is not None
    block_id, element = found
    dm_channel = team.emu.dm_channel_of(ID["eli"])
    before = watch(team)
    for _ in range(2):
        team.click("eli", "acknowledge", channel_id=dm_channel, ts=dm["ts"], value=element["value"], block_id=block_id)
    acks = [(r, a.user) for r, a in team.store.acks(incident.id).items() if a.user != incident.declared_by]
    assert acks == [("tech_lead", ID["eli"])]  # (the declarer's own role was taken at declare)
    assert len([e for e in team.events(incident, "acknowledged") if e.actor == ID["eli"]]) == 1
    assert told(team, "eli", before) == []  # the second click is silently harmless

    # Mark as posted twice
    team.click_draft("chen", incident, "x", "draft_approve")
    value, block_id = draft_value(team, incident, "x")
    before = watch(team)
    for _ in range(2):
        team.click(
            "bram", "draft_mark_posted", channel_id=incident.room_ref, ts=x.message_ref, value=value, block_id=block_id
        )
    assert len(team.events(incident, "posted")) == 1 and len(team.events(incident, "first_response")) == 1
    notes = [m for m in team.emu.messages(incident.room_ref) if "First public response is live" in m.get("text", "")]
    assert len(notes) == 1
    assert told(team, "bram", before) == []  # the second click is silently harmless


def test_concurrent_clicks_on_mark_as_posted_post_once_and_stop_the_countdown_once(team: Crisis) -> None:
    incident = declare(team, "Leaked salaries")
    approve_fully(team, incident, "x")
    approve_fully(team, incident, "facebook")
    bodies = [
        click_body(team, who, "draft_mark_posted", incident.room_ref, team.drafts(incident)[network].message_ref)
        for network in ("x", "facebook")
        for who in ("bram", "bram", "anna")
    ]
    assert [a.status for a in deliver_at_once(team, bodies)] == [200] * 6
    assert sorted(e.data["network"] for e in team.events(incident, "posted")) == ["facebook", "x"]
    assert len(team.events(incident, "first_response")) == 1
    notes = [m for m in team.emu.messages(incident.room_ref) if "First public response is live" in m.get("text", "")]
    assert len(notes) == 1


# ---- who may do what ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["gijs", "dewi"])
def test_approve_by_non_approver_is_refused_and_recorded(team: Crisis, who: str) -> None:
    incident = declare(team, f"Leak found by {who}")
    message = team.draft_message(incident, "x")
    before = watch(team)
    team.click_draft(who, incident, "x", "draft_approve")
    note = told(team, who, before)
    assert len(note) == 1 and "You may not approve drafts" in note[0]
    assert "Crisis lead" in note[0] and "Legal" in note[0]
    changes = db_changes(team, before)
    assert list(changes) == ["events"] and not changes["events"]["removed"]
    [event] = changes["events"]["added"]
    assert event["kind"] == "refused" and event["actor"] == ID[who]
    assert team.store.approvals(team.drafts(incident)["x"].id) == []
    assert team.draft_message(incident, "x") == message
    assert api_methods(team, before) == []


def test_approve_of_a_stale_version_is_refused_and_records_nothing(team: Crisis) -> None:
    incident = declare(team, "Leaked addresses")
    old_value, block_id = draft_value(team, incident, "x")
    x = team.drafts(incident)["x"]
    team.click_draft("chen", incident, "x", "draft_edit")
    edit_text(team, "chen", "We are investigating a leak of customer addresses. More at 14:00.")
    assert team.drafts(incident)["x"].version == 2
    before = watch(team)
    team.click(
        "anna", "draft_approve", channel_id=incident.room_ref, ts=x.message_ref, value=old_value, block_id=block_id
    )
    note = told(team, "anna", before)
    assert len(note) == 1 and "review the new version" in note[0].lower() and "version 1" in note[0]
    assert team.store.approvals(x.id) == []
    assert db_changes(team, before) == {}
    assert team.drafts(incident)["x"].status == "pending"


def test_edit_over_the_x_limit_counting_links_as_23_is_a_field_error(team: Crisis) -> None:
    incident = declare(team, "Leaked emails")
    x = team.drafts(incident)["x"]
    text = "a" * 264 + " https://ex.co/a"  # 280 typed characters, but X counts the link as 23: 288
    assert len(text) == 280
    team.click_draft("chen", incident, "x", "draft_edit")
    before = watch(team)
    response = edit_text(team, "chen", text)
    assert response.json is not None and response.json["response_action"] == "errors"
    assert list(response.json["errors"]) == ["text"] and "288" in response.json["errors"]["text"]
    assert "280" in response.json["errors"]["text"]
    assert team.emu.open_view(ID["chen"])["errors"] == response.json["errors"]  # the form stays open
    assert db_changes(team, before) == {}
    assert team.drafts(incident)["x"] == x and x.version == 1


def test_edit_form_lets_a_long_link_through_because_x_counts_it_as_23(team: Crisis) -> None:
    incident = declare(team, "Leaked phone numbers")
    team.click_draft("chen", incident, "x", "draft_edit")
    text = "b" * 200 + " https://status.example.com/incidents/" + "p" * 100  # 339 typed, 224 counted
    field = next(b for b in team.emu.open_view(ID["chen"])["blocks"] if b.get("block_id") == "text")
    assert field["element"].get("max_length", 3000) >= len(text)  # Slack would not let it be typed otherwise
    edit_text(team, "chen", text)
    assert team.drafts(incident)["x"].text == text and team.drafts(incident)["x"].version == 2


def test_reject_needs_a_reason_and_then_shows_it_with_an_edit_button(team: Crisis) -> None:
    incident = declare(team, "Leaked contracts")
    x = team.drafts(incident)["x"]
    team.click_draft("chen", incident, "x", "draft_reject")
    before = watch(team)
    response = team.submit("chen", {"reason": {"value": {"type": "plain_text_input", "value": "   "}}})
    assert response.json is not None and response.json["response_action"] == "errors"
    assert list(response.json["errors"]) == ["reason"] and "why" in response.json["errors"]["reason"].lower()
    assert db_changes(team, before) == {} and team.drafts(incident)["x"].status == "pending"

    team.submit("chen", {"reason": {"value": {"type": "plain_text_input", "value": "Wrong date: it began Monday"}}})
    draft = team.drafts(incident)["x"]
    assert (draft.status, draft.reject_reason) == ("rejected", "Wrong date: it began Monday")
    message = team.emu.message(incident.room_ref, x.message_ref)
    assert "Wrong date: it began Monday" in json.dumps(message["blocks"])
    assert buttons(message) == ["Edit"]
    assert team.emu.open_view(ID["chen"]) is None


def test_mark_as_posted_before_approval_or_by_a_non_poster_is_refused(team: Crisis) -> None:
    incident = declare(team, "Leaked orders")
    x = team.drafts(incident)["x"]
    assert "Mark as posted" not in buttons(team.draft_message(incident, "x"))
    value, block_id = draft_value(team, incident, "x")
    before = watch(team)
    team.click(
        "bram", "draft_mark_posted", channel_id=incident.room_ref, ts=x.message_ref, value=value, block_id=block_id
    )
    note = told(team, "bram", before)
    assert len(note) == 1 and "not fully approved" in note[0]
    assert db_changes(team, before) == {} and api_methods(team, before) == []

    approve_fully(team, incident, "x")
    message = team.draft_message(incident, "x")
    before = watch(team)
    team.click_draft("dewi", incident, "x", "draft_mark_posted")
    note = told(team, "dewi", before)
    assert len(note) == 1 and "You may not mark a reply as posted" in note[0]
    assert "Social media manager" in note[0] and "Crisis lead" in note[0]
    changes = db_changes(team, before)
    assert list(changes) == ["events"] and [e["kind"] for e in changes["events"]["added"]] == ["refused"]
    assert team.drafts(incident)["x"].status == "approved" and team.draft_message(incident, "x") == message
    assert team.store.incident(incident.id).first_response_at is None


# ---- Slack failing -----------------------------------------------------------------------------------------
def test_web_api_failure_midway_through_declare_is_reported_and_finished_by_running_it_again(team: Crisis) -> None:
    title = "Customer list for sale"
    before = watch(team)
    team.emu.fail("chat.postMessage", error="channel_not_found", times=2, after=2)
    team.cmd("bram", f"declare data-breach 2 {title}")
    [incident] = [i for i in team.store.incidents() if i.title == title]
    assert incident.room_ref
    # the ack ("Declaring…") and the final answer may reach Slack in either order: read the answer itself
    answers = [text for text in told(team, "bram", before) if "Slack refused" in text]
    assert len(answers) == 1
    note = answers[0]
    assert incident.code in note and "Slack refused" in note and "Run the same `/crisis declare` again" in note
    assert any(
        step in note
        for step in (
            "posting the header",
            "a direct message to a role owner",
            "paging the team in the channel",
            "posting a draft",
        )
    )
    assert len(team.events(incident, "setup_failed")) == 1

    team.cmd("bram", f"declare data-breach 2 {title}")
    assert [i.id for i in team.store.incidents() if i.title == title] == [incident.id]
    assert incident_channels(team, before) == [incident.room_ref]
    messages = team.emu.messages(incident.room_ref)
    headers = [m for m in messages if (m.get("blocks") or [{}])[0].get("type") == "header"]
    assert len(headers) == 1
    assert [p["ts"] for p in team.emu.pins(incident.room_ref)] == [headers[0]["ts"]]
    assert "paged" in headers[0]["text"]  # the owners are paged in the header's own text, once
    drafts = [m for m in messages if any(b.get("block_id", "").startswith("draft-") for b in m.get("blocks", []))]
    assert len(drafts) == 3
    assert {d.message_ref for d in team.drafts(incident).values()} == {m["ts"] for m in drafts}
    for name in OWNERS_L2:
        assert len([m for m in team.emu.dms(ID[name]) if incident.code in m["text"]]) == 1, name
    assert len(team.events(incident, "pinged")) == len(OWNERS_L2)
    # the second answer says what it finished (it may land before its own "Declaring…": look for it)
    finished = [t for t in told(team, "bram", before) if t.startswith(f"✅ {incident.code} is set up now")]
    assert len(finished) == 1 and "Finished what was missing" in finished[0], told(team, "bram", before)


def test_rate_limited_channel_creation_is_retried_and_the_declare_completes(team: Crisis) -> None:
    before = watch(team)
    team.emu.fail("conversations.create", error="ratelimited", times=1, retry_after=1)
    incident = declare(team, "Leak claimed on forum", scenario="negative-reviews")
    creates = [c for c in new_calls(team, before) if c.method == "conversations.create"]
    assert [c.status for c in creates] == [429, 200]
    assert incident_channels(team, before) == [team.store.incident(incident.id).room_ref]
    assert len(team.drafts(incident)) == 3 and all(d.message_ref for d in team.drafts(incident).values())
    assert team.events(incident, "setup_failed") == []


# ---- requests that are not from Slack ----------------------------------------------------------------------
def test_forged_or_stale_signature_is_refused_with_401_and_changes_nothing(team: Crisis) -> None:
    incident = declare(team, "Leaked tickets")
    x = team.drafts(incident)["x"]
    body = command_body(team, "gijs", "declare other 2 Forged crisis")
    click = click_body(team, "gijs", "draft_approve", incident.room_ref, x.message_ref)
    before = watch(team)
    for request in (body, click):
        assert deliver(team, request, secret="not-the-signing-secret").status == 401
        assert deliver(team, request, timestamp=int(time.time()) - 6 * 60).status == 401
    assert_untouched(team, before)
    assert told(team, "gijs", before) == []
    # the refused requests did not use up their trigger: the genuine one is still handled
    assert deliver(team, body).status == 200
    team.local.settle()
    assert [i.title for i in team.store.incidents()][-1] == "Forged crisis"


# ---- user text is shown, never interpreted -----------------------------------------------------------------
def test_user_text_never_reaches_slack_as_mentions_links_or_formatting(team: Crisis) -> None:
    nasty = "<!channel> <!here> <@U0GIJS> <https://evil.example|click> *bold* _x_ ~y~"
    before = watch(team)
    team.cmd("bram", f"declare data-breach 2 {nasty}")
    incident = team.store.incidents()[-1]
    assert incident.title == nasty  # stored as typed
    team.click_draft("chen", incident, "x", "draft_reject")
    team.submit("chen", {"reason": {"value": {"type": "plain_text_input", "value": nasty}}})
    assert team.drafts(incident)["x"].reject_reason == nasty
    team.cmd("anna", f"roles set legal {nasty}")
    team.cmd("anna", nasty)

    sent = [json.dumps(c.args, ensure_ascii=False) for c in new_calls(team, before)]
    sent += [
        json.dumps(e, ensure_ascii=False)
        for name in ("bram", "anna")
        for e in team.emu.ephemerals(ID[name])[before.ephemerals[name] :]
    ]
    for raw in ("<!channel>", "<!here>", "<https://evil", "<@U0GIJS>", "*bold*", "_x_", "~y~"):
        assert not [s for s in sent if raw in s], raw
    header = json.dumps(team.emu.messages(incident.room_ref)[0]["blocks"], ensure_ascii=False)
    assert "&lt;!channel&gt;" in header and "&lt;https://evil.example|click&gt;" in header
    assert team.store.role_owners()["legal"] == [ID["chen"]]


# ---- usage ----------------------------------------------------------------------------------------------------
def test_unknown_subcommand_answers_with_usage(team: Crisis) -> None:
    note = refused(team, "gijs", "dance")
    assert "`dance` is not a /crisis command" in note and "/crisis help" in note and "/crisis declare" in note


def test_help_lists_the_commands(team: Crisis) -> None:
    note = refused(team, "gijs", "help")
    for command in (
        "/crisis declare <scenario> [level] <title>",
        "/crisis drill",
        "/crisis roles",
        "/crisis roles set <role> @owner",
        "/crisis help",
    ):
        assert command in note, command
    assert "The level is 1, 2 or 3" in note and '"500 errors on checkout"' in note
    for scenario in SCENARIOS:
        assert scenario in note
