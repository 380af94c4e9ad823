"""Fuzzing every way into the Teams listener: message text into the command parser through real activities,
card actions with any verb and data, dialog submits with any data, and activities Teams would never send
(missing sender, conversation or Entra id, wrong types). All signed as the channel signs them, over HTTP, into the
real aiohttp app (the SDK's adapter and JWT check).

Whatever arrives: the bot answers below 500, nobody is ever shown a traceback, a class name or a raw answer,
nothing changes when the input is not valid (incidents, drafts, approvals, acknowledgements and role owners are
compared before and after, for the people without a role), and every card the bot sends validates against the
Adaptive Cards 1.5 schema and Teams' caps whatever the user typed (the emulator checks each one: `invalid`).

One bot serves the module, with a real incident and drafts for garbage to point at. Default mode runs 15
examples per property; `--full` 300.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from test_fuzz import ANY_TEXT, JSONISH, WORDS, examples

from bot.models import Incident
from tests.teams_harness import TeamsDesk
from tests.teams_suites import DECLARE, assert_no_leak, bot_messages, fresh_teams, shown

FUZZ = {"default": 15, "many": 300}


@pytest.fixture(scope="module")
def desk() -> Iterator[TeamsDesk]:
    with fresh_teams() as local:
        local.declare(DECLARE)
        yield local


@pytest.fixture(scope="module")
def incident(desk: TeamsDesk) -> Incident:
    return desk.store.incidents()[0]


def fingerprint(local: TeamsDesk) -> dict[str, Any]:
    local.settle()
    db = local.store.db
    return {
        t: [json.dumps(r, sort_keys=True, default=str) for r in db[t].rows]
        for t in ("incidents", "drafts", "approvals", "acks", "role_owners")
    }


def said_since(local: TeamsDesk, marks: dict[str, int]) -> list[str]:
    return [shown(a) for conv, n in marks.items() for a in bot_messages(local, conv)[n:]]


def marks(local: TeamsDesk, incident: Incident) -> dict[str, int]:
    convs = [incident.room_ref or "", local.people["gijs"].chat_id, local.people["bram"].chat_id]
    convs += local.emulator.threads()[-3:]
    return {c: len(bot_messages(local, c)) for c in dict.fromkeys(convs)}


def assert_cards_valid(local: TeamsDesk) -> None:
    assert local.emulator.invalid == [], local.emulator.invalid[-3:]
    assert local.emulator.problems == [], local.emulator.problems[-3:]


# ---- message text ------------------------------------------------------------------------------------------------
@st.composite
def command_texts(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.one_of(st.sampled_from(WORDS), ANY_TEXT), max_size=6))
    markup = draw(st.sampled_from(["", "<at>Gijs Mulder</at> ", "<b>", "&lt;at&gt;x&lt;/at&gt; ", "<p>", "**"]))
    return markup + " ".join(words)


WHERE = st.sampled_from(["room", "chat", "channel"])


def test_message_text(desk: TeamsDesk, incident: Incident, full: bool) -> None:
    @examples(full, FUZZ["default"], FUZZ["many"])
    @given(text=command_texts(), where=WHERE)
    @example(text="declare data-breach 2 <at>Anna de Vries</at> {{ 7*7 }} **x**", where="room")
    def typed(text: str, where: str) -> None:
        room = {"room": incident.room_ref, "chat": None, "channel": desk.emulator.crisis_channel}[where]
        seen = marks(desk, incident)
        response = desk.people["gijs"].say(f"crisis {text}", room)
        desk.settle()
        assert response.status < 500, response
        now = marks(desk, incident)
        assert_no_leak(*said_since(desk, {c: seen.get(c, 0) for c in now}))
        assert_cards_valid(desk)

    typed()


# ---- card actions and dialog submits -------------------------------------------------------------------------------
VERBS = st.one_of(
    st.sampled_from(["draft_approve", "draft_reject", "draft_edit", "draft_mark_posted", "acknowledge", "refresh"]),
    st.sampled_from(["resolve_retry", "survey_open", "checklist_done", "gdpr_notified", "", "__class__"]),
    ANY_TEXT,
)


def test_card_actions_with_any_verb_and_data(desk: TeamsDesk, incident: Incident, full: bool) -> None:
    """gijs (no role) presses anything on the X draft, the header or anna's DM: refused or answered, nothing changes."""
    targets = {
        "x": desk.drafts(incident)["x"].message_ref,
        "h": desk.header_id(incident),
        "d": desk.dm_id(incident, "anna"),
    }

    @examples(full, FUZZ["default"], FUZZ["many"])
    @given(verb=VERBS, data=st.one_of(JSONISH, st.fixed_dictionaries({"value": JSONISH})), on=st.sampled_from("xhd"))
    def pressed(verb: str, data: Any, on: str) -> None:
        before = fingerprint(desk)
        sent = data if isinstance(data, dict) else {"value": data}
        answer = desk.people["gijs"].invoke_action(str(targets[on]), verb, data=sent, stale=True)
        desk.settle()
        assert answer.status < 500, answer
        assert_no_leak(answer.body)
        assert fingerprint(desk) == before
        assert_cards_valid(desk)

    pressed()


FIELDS = st.sampled_from(["kind", "form", "value", "title", "summary", "scenario", "level", "text", "q1", "x"])


def test_dialogs_with_any_data(desk: TeamsDesk, incident: Incident, full: bool) -> None:
    """gijs opens or submits a dialog with any data: a dialog, a refusal or a notice; only a declare form that
    happens to be whole and valid may add an incident (anyone may declare), nothing else changes."""
    gijs = desk.people["gijs"]

    @examples(full, FUZZ["default"], FUZZ["many"])
    @given(data=st.dictionaries(FIELDS, JSONISH, max_size=6), name=st.sampled_from(["task/fetch", "task/submit"]))
    def submitted(data: dict[str, Any], name: str) -> None:
        before = fingerprint(desk)
        where = incident.room_ref
        answer = gijs.fetch_task(data, where=where) if name == "task/fetch" else gijs.submit_task(data, where=where)
        desk.settle()
        assert answer.status < 500, answer
        assert_no_leak(answer.body)
        after = fingerprint(desk)
        if after["incidents"] == before["incidents"]:
            assert after == before, data
        assert after["approvals"] == before["approvals"] and after["role_owners"] == before["role_owners"]
        assert_cards_valid(desk)

    submitted()


# ---- activities Teams would never send -------------------------------------------------------------------------------
PATHS = [
    ("from",),
    ("from", "aadObjectId"),
    ("from", "id"),
    ("conversation",),
    ("conversation", "id"),
    ("recipient",),
    ("channelData",),
    ("channelData", "tenant"),
    ("text",),
    ("type",),
    ("entities",),
    ("serviceUrl",),
    ("id",),
]
UNADDRESSED = {("recipient",), ("serviceUrl",)}
WHOSE = {("from",), ("from", "aadObjectId"), ("type",)}  # without them nobody can say whose the activity is
WRONG = st.one_of(st.none(), st.integers(), st.lists(st.integers(), max_size=2), st.text(max_size=5), st.just({}))


def test_malformed_activities(desk: TeamsDesk, incident: Incident, full: bool) -> None:
    """A signed declare or Approve with a part missing or of the wrong type: a 4xx or an answer, never a 500, and
    nothing done that its sender could not do (a `crisis status` message, and anna's Approve)."""
    desk.people["gijs"].say("crisis status", incident.room_ref)
    message = copy.deepcopy(desk.emulator.delivered[-1])
    desk.people["anna"].invoke_action(str(desk.drafts(incident)["x"].message_ref), "refresh", stale=True)
    invoke = copy.deepcopy(desk.emulator.delivered[-1])
    invoke["value"] = {"action": {"type": "Action.Execute", "verb": "draft_approve", "data": {"value": "1:1"}}}
    templates = {"message": message, "invoke": invoke}
    counter = iter(range(10**6))

    @examples(full, FUZZ["default"], FUZZ["many"])
    @given(path=st.sampled_from(PATHS), drop=st.booleans(), value=WRONG, kind=st.sampled_from(sorted(templates)))
    def delivered(path: tuple[str, ...], drop: bool, value: Any, kind: str) -> None:
        activity = copy.deepcopy(templates[kind])
        activity["id"] = f"{activity.get('id')}{next(counter)}"
        node = activity
        for key in path[:-1]:
            node = node[key] if isinstance(node.get(key), dict) else node
        if drop:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
        before = fingerprint(desk)
        answer = desk.emulator.deliver(activity)
        desk.settle()
        # known: an invoke without where to answer (recipient, serviceUrl) gets the SDK's 501 Not Implemented
        unanswerable = kind == "invoke" and path in UNADDRESSED and answer.status == 501
        assert answer.status < 500 or unanswerable, (path, drop, value, answer)
        if answer.status == 200:  # an invoke's answer is shown to the person; a refusal's body only to Teams
            assert_no_leak(answer.body)
        after = fingerprint(desk)
        if kind == "message" or path in WHOSE:  # a status changes nothing; without a sender nothing is done
            assert after == before, (path, drop, value)
        elif after != before:  # still a whole activity of anna's (Teams' own fall-backs): her approval, once
            assert {k for k in after if after[k] != before[k]} <= {"approvals", "drafts"}, (path, drop, value)
            assert len(desk.store.events(incident.id, "approved")) <= 1
        assert_cards_valid(desk)

    delivered()
