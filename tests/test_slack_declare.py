"""/crisis declare, end to end: signed slash command in, real Web API calls out, state in SQLite."""

from __future__ import annotations

import re
import threading
from zoneinfo import ZoneInfo

from conftest import ID, Crisis
from slack_sdk import WebClient

from bot.chat.setup import channel_name
from bot.localdesk import BOT_TOKEN


def test_declare_opens_channel_pins_header_pages_owners_and_posts_three_drafts(staffed: Crisis) -> None:
    response = staffed.cmd("bram", "declare data-breach 2 Customer emails exposed")
    assert response.status == 200 and response.elapsed < 3

    incident = staffed.store.incidents()[-1]
    assert incident.code == "CR-2026-001" and incident.level == 2 and incident.scenario == "data-breach"
    channel = staffed.emu.channel(incident.room_ref)
    assert channel["name"] == "crisis-20260314-data-breach"
    assert "CR-2026-001" in channel["topic"]["value"]
    # declarer and the owners of the level-2 roles are members; spokesperson (level 3) is not
    members = set(channel["members"])
    assert {ID["bram"], ID["anna"], ID["chen"], ID["dewi"], ID["eli"]} <= members
    assert ID["fleur"] not in members

    messages = staffed.emu.messages(incident.room_ref)
    header = messages[0]
    assert [p["ts"] for p in staffed.emu.pins(incident.room_ref)] == [header["ts"]]
    header_text = str(header["blocks"])
    for expected in (
        "CR-2026-001",
        "Customer emails exposed",
        "Level 2",
        "Pause all scheduled posts",
        "60 minutes left",
        "<@U0BRAM>",
        "waiting for acknowledgement",
    ):
        assert expected in header_text, expected
    done_buttons = [b for b in header["blocks"] if b.get("accessory", {}).get("action_id") == "checklist_done"]
    assert "Pause all scheduled posts" in done_buttons[0]["text"]["text"]  # the first thing to do

    # the header's own text pages the owners: mentions there notify, no separate paging message
    assert all(f"<@{ID[n]}>" in header["text"] for n in ("anna", "chen", "dewi", "eli"))
    assert not [m for m in messages if "paged" in m.get("text", "").lower() and m is not header]
    for name in ("anna", "bram", "chen", "dewi", "eli"):
        dm = staffed.emu.dms(ID[name])
        assert len(dm) == 1, name
        actions = [e for b in dm[0]["blocks"] for e in [b.get("accessory") or {}, *b.get("elements", [])]]
        acknowledge = any(a.get("action_id") == "acknowledge" and a["text"]["text"] == "Acknowledge" for a in actions)
        assert acknowledge == (name != "bram")  # the declarer's own role counts as acknowledged
        assert any(a.get("url", "").endswith(incident.room_ref) for a in actions)
    assert staffed.store.acks(incident.id)["social_media_manager"].user == ID["bram"]
    assert staffed.emu.dms(ID["fleur"]) == []

    drafts = staffed.drafts(incident)
    assert sorted(drafts) == ["facebook", "linkedin", "x"]
    for network, draft in drafts.items():
        message = staffed.emu.message(incident.room_ref, draft.message_ref)
        labels = [e["text"]["text"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert labels == ["Approve", "Edit", "Reject"], network
        assert re.search(r"\d+/(280|63206|3000) characters", str(message["blocks"]))

    kinds = [e.kind for e in staffed.events(incident)]
    assert kinds[0] == "declared" and kinds.count("drafted") == 3 and kinds.count("pinged") == 5
    assert "channel_created" in kinds
    assert "CR-2026-001" in staffed.last_ephemeral("bram")


def test_declare_uses_few_round_trips_and_parallel_calls(staffed: Crisis) -> None:
    staffed.emu.reset_calls()
    staffed.cmd("bram", "declare data-breach 2 Customer emails exposed")
    methods = [c.method for c in staffed.emu.calls if c.method not in ("response_url", "users.info")]
    assert methods.count("conversations.create") == 1
    # create + topic + invite + header + pin + 5 DMs (data-breach L2 has five roles) + 3 drafts
    assert len(methods) == 13, methods


def test_channel_name_clash_gets_a_suffix(staffed: Crisis) -> None:
    staffed.cmd("bram", "declare service-outage 2 Login down")
    staffed.cmd("anna", "declare service-outage 2 Payments down")
    names = sorted(i.room_name for i in staffed.store.incidents())
    assert names == ["crisis-20260314-service-outage", "crisis-20260314-service-outage-002"]


def test_channel_names_are_valid_for_slack(staffed: Crisis) -> None:
    incident = staffed.declare()
    for attempt in range(0, 30):
        name = channel_name(incident.model_copy(update={"scenario": "x" * 100}), ZoneInfo("Europe/Amsterdam"), attempt)
        assert re.fullmatch(r"[a-z0-9_-]{1,80}", name)


def test_drill_uses_drill_channel_and_code(staffed: Crisis) -> None:
    staffed.cmd("anna", "drill negative-reviews 1")
    incident = staffed.store.incidents()[-1]
    assert incident.drill and incident.code.startswith("DR-2026-")
    assert incident.room_name.startswith("drill-20260314-negative-reviews")
    assert "DRILL" in str(staffed.emu.messages(incident.room_ref)[0]["blocks"])


def test_declare_without_owners_still_works_and_says_who_is_missing(crisis: Crisis) -> None:
    incident = crisis.declare()
    header = crisis.emu.messages(incident.room_ref)[0]
    assert "nobody assigned" in str(header["blocks"]) and "/crisis roles set legal" in str(header["blocks"])


def test_declare_modal_opens_and_submission_declares(staffed: Crisis) -> None:
    staffed.cmd("anna", "")
    view = staffed.emu.open_view(ID["anna"])
    assert view is not None and view["callback_id"] == "declare"
    staffed.submit(
        "anna",
        {
            "scenario": {"value": {"type": "static_select", "selected_option": {"value": "service-outage"}}},
            "level": {"value": {"type": "static_select", "selected_option": {"value": "3"}}},
            "title": {"value": {"type": "plain_text_input", "value": "App down in NL"}},
            "description": {"value": {"type": "plain_text_input", "value": "Since 08:40, login fails"}},
        },
    )
    incident = staffed.store.incidents()[-1]
    assert (incident.scenario, incident.level, incident.title) == ("service-outage", 3, "App down in NL")
    assert staffed.emu.open_view(ID["anna"]) is None
    assert ID["fleur"] in staffed.emu.channel(incident.room_ref)["members"]  # level 3 pulls in the CEO


def test_declare_modal_refuses_empty_title_in_the_field(staffed: Crisis) -> None:
    staffed.cmd("anna", "")
    response = staffed.submit(
        "anna",
        {
            "scenario": {"value": {"type": "static_select", "selected_option": {"value": "service-outage"}}},
            "title": {"value": {"type": "plain_text_input", "value": "   "}},
        },
    )
    assert response.json["response_action"] == "errors" and "title" in response.json["errors"]
    assert staffed.store.incidents() == []


def test_detected_at_starts_the_countdown_earlier(staffed: Crisis) -> None:
    detected = int(staffed.clock.now().timestamp()) - 20 * 60
    staffed.cmd("anna", "")
    staffed.submit(
        "anna",
        {
            "scenario": {"value": {"type": "static_select", "selected_option": {"value": "data-breach"}}},
            "title": {"value": {"type": "plain_text_input", "value": "Leak reported by journalist"}},
            "detected": {"value": {"type": "datetimepicker", "selected_date_time": detected}},
        },
    )
    incident = staffed.store.incidents()[-1]
    assert (incident.first_response_due - incident.declared_at).total_seconds() == 40 * 60
    assert "40 minutes left" in str(staffed.emu.messages(incident.room_ref)[0]["blocks"])


# ---- speed: no round trip the bot can know the answer to (issue 11 §6) ---------------------------------------------
def test_the_second_declare_of_a_scenario_that_day_gets_its_own_name_without_a_name_taken_round(
    staffed: Crisis,
) -> None:
    staffed.cmd("bram", "declare service-outage 2 Login down")
    staffed.emu.reset_calls()
    staffed.cmd("anna", "declare service-outage 2 Payments down")
    creates = staffed.emu.calls_to("conversations.create")
    # the bot made crisis-…-service-outage itself: its database says the name is taken, Slack is not asked
    assert [c.args["name"] for c in creates] == ["crisis-20260314-service-outage-002"]
    assert all(c.response["ok"] for c in creates)
    second = staffed.store.incidents()[-1]
    assert second.room_name == "crisis-20260314-service-outage-002"
    assert staffed.last_ephemeral("anna").startswith(f"✅ {second.code} declared")


def test_a_name_someone_else_took_still_falls_back_on_name_taken(staffed: Crisis) -> None:
    slack = WebClient(token=BOT_TOKEN, base_url=staffed.emu.api_url)
    slack.conversations_create(name="crisis-20260314-service-outage")  # someone made it by hand: not in our database
    staffed.emu.reset_calls()
    incident = staffed.declare("declare service-outage 2 Login down")
    creates = staffed.emu.calls_to("conversations.create")
    assert [c.response.get("error") for c in creates] == ["name_taken", None]
    assert incident.room_name == "crisis-20260314-service-outage-001"


def test_a_first_declare_answers_the_declarer_in_their_own_language(staffed: Crisis) -> None:
    """A Dutch colleague's very first request is a declare in an English workspace: the incident speaks English,
    the answer to them Dutch (their locale is looked up while Slack makes the channel, not before it)."""
    staffed.emu.add_user("U0NOOR", "noor", real_name="Noor de Boer", locale="nl-NL")
    staffed.emu.slash_command("U0NOOR", "declare data-breach 2 Klantgegevens gelekt")
    staffed.local.settle()
    incident = staffed.store.incidents()[-1]
    answers = [e["text"] for e in staffed.emu.ephemerals("U0NOOR") if not e["text"].startswith("Declaring a ")]
    assert answers == [
        f"✅ {incident.code} gemeld: <#{incident.room_ref}>. Het team is opgeroepen en de "
        "concepten wachten op goedkeuring."
    ], answers
    assert incident.language == "en"
    assert "Level 2" in str(staffed.emu.messages(incident.room_ref)[0]["blocks"])  # the channel stays English
    assert [c.args["user"] for c in staffed.emu.calls_to("users.info")].count("U0NOOR") == 1


def test_the_declarers_confirmation_goes_out_in_the_last_round_not_after_it(staffed: Crisis) -> None:
    """The "✅ declared" answer travels alongside the pin and the drafts instead of waiting for them."""
    latency = 0.3
    staffed.emu.latency = latency
    staffed.emu.reset_calls()
    staffed.cmd("bram", "declare data-breach 2 Customer emails exposed")
    staffed.emu.latency = 0.0
    calls = staffed.emu.calls
    [confirmed] = [c for c in calls if c.method == "response_url" and c.args.get("text", "").startswith("✅")]
    [pin] = [c for c in calls if c.method == "pins.add"]
    # in flight at the same time as the pin: started before the pin was answered, answered about with it
    assert confirmed.at - latency < pin.at < confirmed.at + latency / 2
    assert staffed.store.incidents()[-1].setup_done_at is not None


def test_a_step_of_the_last_round_that_fails_is_named_after_the_confirmation(staffed: Crisis) -> None:
    staffed.emu.fail("pins.add", error="not_pinnable")
    staffed.cmd("bram", "declare data-breach 2 Customer emails exposed")
    incident = staffed.store.incidents()[-1]
    answers = [e["text"] for e in staffed.emu.ephemerals(ID["bram"]) if not e["text"].startswith("Declaring a ")]
    assert answers[0].startswith(f"✅ {incident.code} declared")
    assert answers[-1].startswith(f"⚠️ {incident.code} is recorded, but Slack refused: pinning the header")
    assert staffed.store.incident(incident.id).setup_done_at is None


def test_declares_at_work_after_their_ack_do_not_hold_back_anyone_elses_ack(staffed: Crisis) -> None:
    """Six declares setting up at once (Slack slow: 1 s a call) keep listener threads busy for seconds; a
    `/crisis help` typed meanwhile is still acknowledged within Slack's three seconds (Bolt's default of five
    listener threads made it wait for one of them)."""
    staffed.emu.latency = 1.0
    people = ["anna", "bram", "chen", "dewi", "eli", "fleur"]
    typed = [
        threading.Thread(target=staffed.emu.slash_command, args=(ID[who], f"declare other 1 Busy {who}"))
        for who in people
    ]
    for thread in typed:
        thread.start()
    staffed.emu.wait_for(lambda: staffed.local.activity.busy >= 5, timeout=10)  # Bolt's default pool is full
    staffed.emu.slash_command(ID["gijs"], "help")
    busy = staffed.local.activity.busy  # the declares were still at work while help was answered
    staffed.emu.latency = 0.0
    for thread in typed:
        thread.join()
    staffed.local.settle(timeout=60)
    assert busy >= 5
    assert staffed.emu.problems == []  # no "not acknowledged" from Slack
    assert staffed.last_ephemeral("gijs").startswith("*Crisis Desk*"), staffed.last_ephemeral("gijs")
