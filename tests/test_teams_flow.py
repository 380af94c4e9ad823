"""The crisis flow in Teams through the front door: signed activities from the emulator into the real aiohttp app,
real Bot Connector calls back, a real SQLite file; every card the bot sends or answers is checked by the emulator
against the Adaptive Cards 1.5 schema and Teams' caps (`emulator.problems`)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.models import Incident
from bot.sandbox.teams.people import execute_actions, response_card
from bot.teams.server import TeamsServing
from tests.teams_harness import TeamsDesk, nodes, start_teams

CARD = "application/vnd.microsoft.card.adaptive"
NOTICE = "application/vnd.microsoft.activity.message"


@pytest.fixture
def teams() -> Iterator[TeamsDesk]:
    with start_teams() as local:
        yield local
        assert local.emulator.problems == []  # every card valid, nothing refused for its content


@pytest.fixture
def incident(teams: TeamsDesk) -> Incident:
    declared = teams.declare()
    found = teams.store.incident(declared.id)
    assert found.setup_done_at is not None
    return found


def verbs(card: dict[str, Any] | None) -> list[str]:
    return sorted(str(a.get("verb")) for a in execute_actions(card) if a.get("verb") != "refresh")


def texts(card: dict[str, Any] | None) -> str:
    """Every text a card shows (TextBlocks, facts, text runs, choices), joined."""
    shown = [
        n[key]
        for n in nodes(card)
        if n.get("type") not in ("Action.Execute", "Action.Submit")
        for key in ("text", "title", "value")
        if isinstance(n.get(key), str)
    ]
    return "\n".join(shown)


def replies(teams: TeamsDesk, conversation: str) -> list[str]:
    """The bot's messages in a conversation, as text (a card's texts)."""
    out = []
    for activity in teams.emulator.activities(conversation):
        if activity.get("from", {}).get("id") != teams.emulator.bot_id:
            continue
        cards = [a["content"] for a in activity.get("attachments") or [] if a.get("contentType") == CARD]
        out.append(texts(cards[0]) if cards else str(activity.get("text") or ""))
    return out


# ---- declare, the thread, the pages ------------------------------------------------------------------------------
def test_declare_by_message_starts_a_thread_whose_root_is_the_header(teams: TeamsDesk, incident: Incident) -> None:
    channel, _, root = (incident.room_ref or "").partition(";messageid=")
    assert channel == teams.emulator.crisis_channel and root == teams.header_id(incident)
    header = teams.emulator.card_of(root)
    assert incident.code in texts(header) and incident.platform == "teams"
    paged = {e["mentioned"]["id"] for e in header["msteams"]["entities"]}  # the header pages the owners by @mention
    for name in ("anna", "bram", "chen", "dewi", "eli"):  # by Teams id or Entra object id: Teams takes either
        assert {teams.people[name].id, teams.people[name].aad_id} & paged, name
    said = replies(teams, teams.emulator.threads()[-2])  # the thread the command was typed in
    assert any(incident.code in text for text in said)


def test_a_fast_declare_has_one_reply_and_a_slow_one_says_first_that_it_has_begun(teams: TeamsDesk) -> None:
    # Teams needs no acknowledgement: "Declaring…" only when the set-up is still going after PROGRESS_AFTER.
    teams.declare("crisis declare data-breach 2 Fast one")
    fast = replies(teams, teams.emulator.threads()[-2])
    assert len(fast) == 1 and fast[0].startswith("✅"), fast

    teams.emulator.latency = 1.7  # "✅ declared" leaves with the second round: the first alone takes 1.7 s
    try:
        teams.declare("crisis declare negative-reviews 2 Slow one")
    finally:
        teams.emulator.latency = 0.0
    slow = replies(teams, teams.emulator.threads()[-2])
    assert len(slow) == 2 and slow[0].startswith("Declaring a ") and slow[1].startswith("✅"), slow


def test_each_role_owner_gets_a_dm_with_acknowledge(teams: TeamsDesk, incident: Incident) -> None:
    for who in ("anna", "chen", "dewi", "eli"):  # bram declared: his own role counts as acknowledged
        card = teams.emulator.card_of(teams.dm_id(incident, who))
        assert "acknowledge" in verbs(card), who


def test_acknowledge_answers_with_the_refreshed_dm_and_updates_the_header(teams: TeamsDesk, incident: Incident) -> None:
    dm, header = teams.dm_id(incident, "chen"), teams.header_id(incident)
    versions = len(teams.emulator.history(header))
    response = teams.click("chen", dm, "acknowledge")
    assert response.status == 200 and response.json and response.json["type"] == CARD
    assert "acknowledge" not in verbs(response_card(response.json))  # the clicker's own card, done
    assert "legal" in teams.store.acks(incident.id)
    assert "acknowledge" not in verbs(teams.emulator.card_of(dm))  # the DM itself too, for later views
    assert len(teams.emulator.history(header)) > versions
    assert teams.people["chen"].name in texts(teams.emulator.card_of(header))


def test_an_invoke_redelivered_is_processed_once(teams: TeamsDesk, incident: Incident) -> None:
    dm = teams.dm_id(incident, "chen")
    first = teams.click("chen", dm, "acknowledge")
    invoke = teams.emulator.delivered[-1]["id"]
    events = len(teams.store.events(incident.id))
    updates = len(teams.emulator.history(dm))
    again = teams.emulator.redeliver(invoke)
    teams.settle()
    assert first.status == again.status == 200 and again.json is not None
    assert len(teams.store.events(incident.id)) == events and len(teams.emulator.history(dm)) == updates


def test_an_invoke_redelivered_to_a_process_that_forgot_its_answer_is_still_done_once(
    teams: TeamsDesk, incident: Incident
) -> None:
    """The request key in SQLite, not the process's memory, is what holds across a restart."""
    draft = teams.drafts(incident)["x"]
    ref = draft.message_ref or ""
    teams.click("anna", ref, "draft_approve")
    invoke = teams.emulator.delivered[-1]["id"]
    updates = len(teams.emulator.history(ref))
    teams.serving.agent._in_flight.clear()  # as a second process would be: no answer in memory
    again = teams.emulator.redeliver(invoke)
    teams.settle()
    assert again.status == 200 and again.json and again.json["type"] == NOTICE
    assert len(teams.store.approvals(draft.id)) == 1 and len(teams.emulator.history(ref)) == updates


# ---- drafts: user-specific views, the approval rules ------------------------------------------------------------
def test_a_draft_shows_its_decisions_only_to_whoever_may_take_them(teams: TeamsDesk, incident: Incident) -> None:
    ref = teams.drafts(incident)["x"].message_ref or ""
    base = teams.emulator.card_of(ref)
    assert verbs(base) == [] and base["refresh"]["action"]["verb"] == "refresh"
    assert {"draft_approve", "draft_reject"} <= set(verbs(teams.people["anna"].view(ref)))
    assert {"draft_approve", "draft_reject"} <= set(verbs(teams.people["chen"].view(ref)))
    assert verbs(teams.people["gijs"].view(ref)) == []  # the intern: the draft, no buttons


def test_a_non_approver_clicking_a_stale_card_is_refused_and_nothing_changes(
    teams: TeamsDesk, incident: Incident
) -> None:
    draft = teams.drafts(incident)["x"]
    ref = draft.message_ref or ""
    versions = len(teams.emulator.history(ref))
    response = teams.click("gijs", ref, "draft_approve", stale=True, data={"value": f"{draft.id}:{draft.version}"})
    assert response.json and response.json["type"] == NOTICE and "may not approve" in response.json["value"]
    assert teams.store.approvals(draft.id) == [] and len(teams.emulator.history(ref)) == versions


def test_approve_and_mark_posted(teams: TeamsDesk, incident: Incident) -> None:
    draft = teams.drafts(incident)["x"]
    ref = draft.message_ref or ""
    for who in ("anna", "chen"):
        response = teams.click(who, ref, "draft_approve")
        assert response.json and response.json["type"] == CARD, response.json
    assert teams.store.draft(draft.id).status == "approved"
    assert "draft_mark_posted" in verbs(teams.people["bram"].view(ref))
    header_versions = len(teams.emulator.history(teams.header_id(incident)))
    response = teams.click("bram", ref, "draft_mark_posted")
    assert (
        response.json
        and response.json["type"] == CARD
        and "draft_mark_posted" not in verbs(response_card(response.json))
    )
    assert teams.store.draft(draft.id).status == "posted"
    assert len(teams.emulator.history(teams.header_id(incident))) > header_versions


def _submit_of(card: dict[str, Any] | None) -> dict[str, Any]:
    """The data of a card's (first) Action.Submit: a dialog's opener or its form's submit button."""
    found = [dict(n.get("data") or {}) for n in nodes(card) if n.get("type") == "Action.Submit"]
    assert found, f"no Action.Submit in {json.dumps(card)[:300]}"
    return found[0]


def resolve_by_dialog(teams: TeamsDesk, incident: Incident, summary: str) -> None:
    """Anna types `crisis resolve` in the thread, opens the dialog from the answer's button and submits it."""
    room, anna = incident.room_ref or "", teams.people["anna"]
    teams.say("anna", "crisis resolve", room)
    anna.fetch_task(_submit_of(teams.emulator.card_of(teams.emulator.activities(room)[-1]["id"])), where=room)
    anna.submit_task({**_submit_of(anna.open_dialog), "summary": summary, "authority": "not_yet"}, where=room)
    teams.settle()


def test_edit_through_its_dialog_makes_a_new_version_and_a_stale_approve_is_refused(
    teams: TeamsDesk, incident: Incident
) -> None:
    draft = teams.drafts(incident)["x"]
    ref = draft.message_ref or ""
    opener = teams.click("bram", ref, "draft_edit")  # Teams opens a dialog only from an Action.Submit
    bram = teams.people["bram"]
    form = bram.fetch_task(_submit_of(response_card(opener.json)), where=incident.room_ref)
    teams.settle()
    submitted = bram.submit_task(
        {**_submit_of(bram.open_dialog), "text": "We are looking into it. More at 11:00."}, where=incident.room_ref
    )
    teams.settle()
    assert form.status == submitted.status == 200
    now = teams.store.draft(draft.id)
    assert now.version == 2 and now.text.startswith("We are looking into it")
    stale = teams.click("anna", ref, "draft_approve", stale=True, data={"value": f"{draft.id}:1"})
    assert stale.json and stale.json["type"] == NOTICE
    assert teams.store.approvals(draft.id, 2) == []


# ---- typed commands ---------------------------------------------------------------------------------------------
def test_commands_typed_in_the_thread_are_answered_there(teams: TeamsDesk, incident: Incident) -> None:
    room = incident.room_ref or ""
    teams.say("anna", "crisis status", room)
    teams.say("anna", "note Press called at 10:05", room)
    teams.say("anna", "crisis update Mail server isolated", room)
    teams.say("anna", "crisis escalate 3", room)
    said = "\n".join(replies(teams, room))
    assert incident.code in said
    assert any(e.kind == "note" for e in teams.store.events(incident.id))
    assert teams.store.incident(incident.id).level == 3


def test_list_in_the_personal_chat_is_answered_there(teams: TeamsDesk, incident: Incident) -> None:
    teams.say("gijs", "crisis list")
    assert any(incident.code in text for text in replies(teams, teams.people["gijs"].chat_id))


def test_a_typo_is_answered_with_what_to_type_and_changes_nothing(teams: TeamsDesk) -> None:
    teams.say("anna", "crisis declrae data-breach 2 Oops", teams.emulator.crisis_channel)
    assert teams.store.incidents() == []
    assert any("declrae" in text for text in replies(teams, teams.emulator.threads()[-1]))


def test_resolve_by_message_and_dialog(teams: TeamsDesk, incident: Incident) -> None:
    room = incident.room_ref or ""
    teams.say("anna", "crisis resolve", room)
    opener = teams.emulator.card_of(teams.emulator.activities(room)[-1]["id"])
    anna = teams.people["anna"]
    anna.fetch_task(_submit_of(opener), where=room)
    teams.settle()
    empty = anna.submit_task({**_submit_of(anna.open_dialog), "summary": ""}, where=room)
    teams.settle()
    assert teams.store.incident(incident.id).status == "active" and anna.open_dialog is not None, empty.json
    anna.submit_task({**_submit_of(anna.open_dialog), "summary": "Leak closed", "authority": "not_yet"}, where=room)
    teams.settle()
    assert teams.store.incident(incident.id).status == "resolved"
    assert any("Leak closed" in text for text in replies(teams, room))


def test_someone_who_may_not_resolve_is_told_so_in_the_thread(teams: TeamsDesk, incident: Incident) -> None:
    room = incident.room_ref or ""
    teams.say("gijs", "crisis resolve", room)
    assert teams.store.incident(incident.id).status == "active"
    assert not any("Action.Submit" in json.dumps(a) for a in teams.emulator.activities(room)[-1:])


# ---- the declare dialog, in both languages ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("locale", "title", "refusal"), [("en-US", "Declare a crisis", "title"), ("nl-NL", "Crisis melden", "titel")]
)
def test_declare_dialog(locale: str, title: str, refusal: str) -> None:
    with start_teams(locale=locale) as teams:
        teams.say("anna", "crisis", teams.emulator.crisis_channel)
        thread = teams.emulator.threads()[-1]
        opener = teams.emulator.card_of(teams.emulator.activities(thread)[-1]["id"])
        anna = teams.people["anna"]
        fetched = anna.fetch_task(_submit_of(opener), where=thread)
        assert fetched.json and fetched.json["task"]["value"]["title"] == title
        submit = _submit_of(anna.open_dialog)
        refused = anna.submit_task({**submit, "scenario": "data-breach", "level": "2", "title": " "}, where=thread)
        teams.settle()
        assert teams.store.incidents() == [] and refusal in texts(refused.json).lower()
        anna.submit_task({**submit, "scenario": "data-breach", "level": "3", "title": "Leaked mails"}, where=thread)
        teams.settle()
        incident = teams.store.incidents()[-1]
        assert (incident.title, incident.level, incident.platform, incident.declared_by) == (
            "Leaked mails",
            3,
            "teams",
            anna.aad_id,
        )
        assert teams.emulator.problems == []


# ---- user text stays text -----------------------------------------------------------------------------------------
def test_typed_markup_and_mentions_stay_inert_in_every_card(teams: TeamsDesk) -> None:
    title = "<at>Gijs Mulder</at> **urgent** [click](https://evil.example) {{DATE(2026-01-01)}}"
    typed = title.replace("<", "&lt;").replace(">", "&gt;")  # Teams sends what a person typed HTML-escaped
    incident = teams.declare(f"crisis declare data-breach 2 {typed}")
    incident = teams.store.incident(incident.id)
    assert incident.title == title  # kept as typed
    header = teams.emulator.card_of(teams.header_id(incident))
    shown = texts(header)
    assert "<at>Gijs Mulder</at>" not in shown and "**urgent**" not in shown and "](https://evil" not in shown
    mentioned = {e["mentioned"]["id"] for e in header["msteams"]["entities"]}
    assert not {teams.people["gijs"].id, teams.people["gijs"].aad_id} & mentioned
    teams.say("anna", f"note {typed}", incident.room_ref)
    assert teams.emulator.problems == []


def test_a_mention_in_a_title_becomes_the_name_without_its_markup(teams: TeamsDesk) -> None:
    incident = teams.declare("crisis declare data-breach 2 <at>Gijs Mulder</at> saw it first")
    assert teams.store.incident(incident.id).title == "Gijs Mulder saw it first"


def test_roles_set_reads_the_people_mentioned_as_teams_sends_them(teams: TeamsDesk) -> None:
    """Teams' mention entities name a person by their 29: id only; the bot finds their Entra object id."""
    teams.say("anna", "crisis roles", teams.emulator.crisis_channel)
    activity = dict(teams.emulator.delivered[-1], id=f"{teams.emulator.delivered[-1]['id']}7")
    chen, gijs = teams.people["chen"], teams.people["gijs"]
    activity["text"] = activity["text"].replace(
        "crisis roles", f"crisis roles set legal <at>{chen.name}</at> <at>{gijs.name}</at>"
    )
    activity["entities"] = [
        *activity["entities"],
        *(
            {"type": "mention", "text": f"<at>{p.name}</at>", "mentioned": {"id": p.id, "name": p.name}}
            for p in (chen, gijs)
        ),
    ]
    assert teams.emulator.deliver(activity).status == 202
    teams.settle()
    assert teams.store.role_owners()["legal"] == [chen.aad_id, gijs.aad_id]


def test_the_survey_from_its_dm_button_through_its_dialog(teams: TeamsDesk, incident: Incident) -> None:
    anna = teams.people["anna"]
    resolve_by_dialog(teams, incident, "Done")
    survey = next(a for a in teams.emulator.chat(anna) if "survey_open" in verbs(teams.emulator.card_of(a["id"])))
    opener = teams.click("anna", survey["id"], "survey_open")
    anna.fetch_task(_submit_of(response_card(opener.json)), where=None)
    refused = anna.submit_task({**_submit_of(anna.open_dialog), "q1": "9", "q2": "4"})
    teams.settle()
    assert anna.open_dialog is not None and refused.json and "task" in refused.json
    anna.submit_task({**_submit_of(anna.open_dialog), "q1": "4", "q2": "5", "q3": "More drills"})
    teams.settle()
    answers = [e for e in teams.store.events(incident.id) if e.kind == "survey_answer"]
    assert len(answers) == 1 and any("Thank you" in t for t in replies(teams, anna.chat_id))


def test_a_declare_answered_by_a_process_that_died_is_finished_at_the_next_start(teams: TeamsDesk) -> None:
    """The activity was claimed and noted, the process died before the set-up: a restart finishes it, once."""
    teams.serving.stop()
    teams.people["bram"].say("crisis declare data-breach 2 Died midway", teams.emulator.crisis_channel)  # no bot
    activity = teams.emulator.delivered[-1]
    assert teams.store.claim_request(f"teams:{activity['id']}", teams.desk.now())  # what the dead process did
    teams.store.put_platform_ref("teams", f"pending:{activity['id']}", activity, teams.desk.now())
    restarted = TeamsServing(teams.desk, teams.runner, host="127.0.0.1", port=0)
    teams.serving = restarted
    restarted.start()
    teams.emulator.bot_url = restarted.url
    teams.settle()
    incident = teams.store.incidents()[-1]
    assert incident.title == "Died midway" and teams.store.incident(incident.id).setup_done_at is not None
    assert teams.store.platform_refs("teams", "pending:") == {f"pending:{activity['id']}": None}
    assert teams.emulator.redeliver(activity["id"]).status == 202  # Teams sending it again: dropped
    teams.settle()
    assert len(teams.store.incidents()) == 1


def test_a_double_click_makes_one_approval(teams: TeamsDesk, incident: Incident) -> None:
    """Two invokes (two activity ids) at once: the core decides under its write lock, once."""
    draft = teams.drafts(incident)["x"]
    ref = draft.message_ref or ""
    anna = teams.people["anna"]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: anna.invoke_action(ref, "draft_approve"), range(2)))
    teams.settle()
    assert [a.status for a in answers] == [200, 200]
    assert len(teams.store.approvals(draft.id)) == 1


def test_reject_through_its_dialog(teams: TeamsDesk, incident: Incident) -> None:
    draft = teams.drafts(incident)["x"]
    ref = draft.message_ref or ""
    chen = teams.people["chen"]
    opener = teams.click("chen", ref, "draft_reject")
    chen.fetch_task(_submit_of(response_card(opener.json)), where=incident.room_ref)
    empty = chen.submit_task({**_submit_of(chen.open_dialog), "reason": ""}, where=incident.room_ref)
    teams.settle()
    assert empty.json and empty.json["task"]["type"] == "continue" and teams.store.draft(draft.id).status == "pending"
    chen.submit_task({**_submit_of(chen.open_dialog), "reason": "Too vague about the data"}, where=incident.room_ref)
    teams.settle()
    assert teams.store.draft(draft.id).status == "rejected"
    assert "Too vague" in texts(teams.emulator.card_of(ref))
    back = teams.click("chen", ref, "refresh", data={"value": f"draft:{draft.id}"})  # the opener's Cancel
    assert back.json and back.json["type"] == CARD


def test_the_clickers_card_is_answered_before_the_other_redraws() -> None:
    """Every Bot Connector call takes 0.3 s here: the invoke's answer (the clicker's DM, done) needs none of them,
    the header's redraw follows after it."""
    with start_teams(latency=0.3) as teams:
        incident = teams.declare()
        header = teams.header_id(incident)
        versions = len(teams.emulator.history(header))
        answer = teams.people["chen"].invoke_action(teams.dm_id(incident, "chen"), "acknowledge")
        assert answer.json and answer.json["type"] == CARD and answer.elapsed < 0.3
        teams.settle()
        assert len(teams.emulator.history(header)) > versions


def test_installing_greets_the_crisis_channel_once(teams: TeamsDesk) -> None:
    teams.emulator.install()
    teams.settle()
    greetings = [e for e in teams.emulator.events if e.kind == "thread_started" and "Crisis Desk" in e.text]
    assert len(greetings) == 1


def test_the_evaluation_report_is_a_card_whose_chart_and_markdown_the_bot_serves() -> None:
    with start_teams(public=True) as teams:
        incident = teams.declare()
        room = incident.room_ref or ""
        resolve_by_dialog(teams, incident, "Closed")
        urls = [
            str(n.get("url"))
            for a in teams.emulator.activities(room)
            for n in nodes(a.get("attachments"))
            if n.get("type") in ("Image", "Action.OpenUrl") and "/api/files/" in str(n.get("url"))
        ]
        assert len(urls) >= 2, "the chart and the Markdown"
        for url in urls:
            with urllib.request.urlopen(url, timeout=10) as served:
                assert served.status == 200 and served.read()
        assert teams.emulator.problems == []


def test_a_checklist_item_done_on_the_header_answers_with_the_header(teams: TeamsDesk, incident: Incident) -> None:
    header = teams.header_id(incident)
    done = next(a for a in execute_actions(teams.emulator.card_of(header)) if a.get("verb") == "checklist_done")
    response = teams.click("anna", header, "checklist_done", data=done["data"])
    assert response.json and response.json["type"] == CARD
    assert incident.code in texts(response_card(response.json))
    assert len(teams.store.checklist(incident.id)) == 1
