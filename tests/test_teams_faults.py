"""A Bot Connector failure at every call position of a Teams declare, approval and resolve: the flow completes or
the person is told which step failed, and the re-run ends exactly as a clean run (nothing lost, nothing doubled),
as far as Teams allows.

Each case starts a fresh bot (tests/teams_suites.py: emulator, real aiohttp app, ManualClock, SQLite) and injects
one failure with `emulator.fail(None, …, times=1, after=i)`: the i-th Connector call of the flow fails. Kinds:
`5xx` (HTTP 500), `503`, `429` (TooManyRequests, Retry-After 0), `timeout` (the call hangs past the client's
timeout; Teams did nothing), `refused` (403 Forbidden: Teams says no, retrying would not help), `lost` (Teams did
it, its answer never came) and `cut` (Teams did it, the connection dropped halfway through the answer).

What Teams allows: 5xx, 503, 429 and timeouts are retried by bot/teams/connector.py and the flow completes in one
go, equal to a clean run. A refusal is named to the person (the declarer in the thread they typed in, the
resolver in their 1:1 chat, with a Retry button) and the same command again finishes only what is missing. A lost
or cut answer is tried again too: harmless for an update or a look-up, but the Connector has no idempotency key,
so a lost answer to a POST (a new thread, a 1:1 chat, a message) may leave that one message twice. The end is
then a clean run plus at most one copy of one message, never one less (`assert_same(extra_posts=1)`).

Default (CI) mode runs a sample of positions per kind and flow; `--full` every position of every kind.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import is_full

import bot.incidents.desk
from bot.models import Incident
from bot.sandbox.teams.people import response_card
from bot.teams.text import TEAMS_WEB, thread_url
from tests.teams_harness import TeamsDesk
from tests.teams_suites import (
    DECLARE,
    approve_x,
    assert_no_leak,
    assert_same,
    bot_messages,
    everything_said,
    fresh_teams,
    open_resolve,
    quick_backoff,
    said_in,
    shown,
    snapshot,
    submit_resolve,
    typed_thread,
    verbs,
)

TEAMS_LINK = re.compile(re.escape(TEAMS_WEB) + r"[^\"\\\s)]*")
CLIENT_TIMEOUT = 0.5  # seconds, for the kinds that hang (the bot's default is 10)
KINDS: dict[str, dict[str, Any]] = {
    "5xx": {"error": "internal_error"},
    "503": {"error": "service_unavailable"},
    "429": {"error": "ratelimited", "retry_after": 0},
    "timeout": {"error": "timeout", "hang_seconds": CLIENT_TIMEOUT + 0.3},
    "refused": {"error": "Forbidden", "status": 403},
    "lost": {"error": "lost_response", "hang_seconds": CLIENT_TIMEOUT + 0.3},
    "cut": {"error": "cut_connection"},
}
RETRIED = ("5xx", "503", "429", "timeout")  # Teams did nothing: tried again, the flow completes in one go
DONE_BY_TEAMS = ("lost", "cut")  # Teams did it, the bot could not read that it did
HANGS = ("timeout", "lost")
# Connector calls of a clean run (test_clean_runs_make_the_calls_the_positions_assume checks them): the declare
# (its answer in the typed thread — a fast declare says no "Declaring…" first —, six member look-ups, the thread with the header as its root, five 1:1
# chats, three drafts),
# the two approvals' redraws, the resolve dialog's submit (four redraws, the closing message, three closing
# drafts, the report card, three surveys).
CALLS = {"declare": 16, "approve": 2, "resolve": 12}
# Default-mode samples: (first position, step) per flow and kind; --full runs every position of every kind.
# Each kind at one position, a refusal (named to the person, then re-run) at two: early and late in the flow.
SAMPLE = {
    "declare": {
        "5xx": (5, 18),
        "503": (3, 18),
        "429": (6, 18),
        "timeout": (8, 18),
        "refused": (1, 8),
        "lost": (9, 5),
        "cut": (13, 18),
    },
    "approve": {"5xx": (0, 2), "429": (1, 2), "timeout": (1, 2), "refused": (0, 1), "lost": (1, 2)},
    "resolve": {
        "5xx": (2, 11),
        "429": (6, 11),
        "timeout": (9, 11),
        "refused": (0, 6),
        "lost": (5, 11),
        "cut": (8, 11),
    },
}


def positions(flow: str, kind: str, full: bool) -> list[int]:
    if full:
        return list(range(CALLS[flow]))
    if kind not in SAMPLE[flow]:
        return []
    start, step = SAMPLE[flow][kind]
    return list(range(start, CALLS[flow], step))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `case` as (kind, position) for the flow a test is named after (`test_<flow>_…`)."""
    if "case" not in metafunc.fixturenames:
        return
    flow = metafunc.function.__name__.split("_")[1]
    full = is_full(metafunc.config)
    cases = [(kind, i) for kind in KINDS for i in positions(flow, kind, full)]
    metafunc.parametrize("case", cases, ids=[f"{kind}-at-call-{i}" for kind, i in cases])


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    quick_backoff(monkeypatch)


@pytest.fixture(scope="module", autouse=True)
def playbooks_parsed_once() -> Iterator[None]:
    """Every fresh bot reads the same playbook files; parse them once per module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bot.incidents.desk, "load_playbooks", functools.cache(bot.incidents.desk.load_playbooks))
        yield


def desk_for(kind: str) -> Any:
    return fresh_teams(call_timeout=CLIENT_TIMEOUT if kind in HANGS else None)


def inject(local: TeamsDesk, kind: str, position: int) -> int:
    """Make the Connector call at `position` (0 = the next one) fail; returns how many calls were made so far."""
    local.settle()
    local.emulator.fail(None, times=1, after=position, **KINDS[kind])
    return len(local.emulator.calls)


def fired(local: TeamsDesk, since: int, kind: str) -> list[Any]:
    """The injected failure among the calls since `since` (a hanging one is recorded when it ends)."""
    error = KINDS[kind]["error"]

    def found() -> list[Any]:
        calls = local.emulator.calls[since:]
        if kind in DONE_BY_TEAMS:
            return [c for c in calls if isinstance(c.response, dict) and c.response.get(error)]
        code = {"internal_error": "ServiceError", "service_unavailable": "ServiceUnavailable"}.get(error, error)
        code = {"ratelimited": "TooManyRequests", "timeout": "GatewayTimeout"}.get(error, code)
        return [c for c in calls if ((c.response or {}).get("error") or {}).get("code") == code]

    if kind in HANGS:
        local.emulator.wait_for(found, timeout=10)
    return found()


def extra_for(kind: str, failed: Any) -> int:
    """How many messages a case may leave twice: one, when Teams made something whose answer was lost."""
    posted = failed.method in ("create_conversation", "send_to_conversation", "reply_to_activity")
    return 1 if kind in DONE_BY_TEAMS and posted else 0


# ---- clean runs: the reference every faulty run must end at --------------------------------------------------------
@pytest.fixture(scope="module")
def clean() -> dict[str, Any]:
    """Snapshots and Connector calls of a declare, an approval and a resolve without any failure."""
    reference: dict[str, Any] = {}
    with fresh_teams() as local:
        before = len(local.emulator.calls)
        incident = local.declare(DECLARE)
        reference["declare_calls"] = [c.method for c in local.emulator.calls[before:]]
        reference["declare"] = snapshot(local, incident)
        before = len(local.emulator.calls)
        approve_x(local, incident)
        reference["approve_calls"] = [c.method for c in local.emulator.calls[before:]]
        reference["approve"] = snapshot(local, incident)
    with fresh_teams() as local:
        incident = ready_to_resolve(local)
        before = len(local.emulator.calls)
        submit_resolve(local, incident)
        reference["resolve_calls"] = [c.method for c in local.emulator.calls[before:]]
        reference["resolve"] = snapshot(local, incident)
    return reference


def ready_to_resolve(local: TeamsDesk) -> Incident:
    incident = local.declare(DECLARE)
    approve_x(local, incident)
    open_resolve(local, incident)
    return incident


def test_clean_runs_make_the_calls_the_positions_assume(clean: dict[str, Any]) -> None:
    """If a flow gains or loses a Connector call, the positions must follow (update CALLS and SAMPLE)."""
    assert Counter(clean["declare_calls"]) == Counter(
        {
            "reply_to_activity": 1,  # the answer, in the thread the command was typed in (no "Declaring…": fast)
            "get_conversation_member": 6,  # the five role owners in the team, then bram's own look-up
            "create_conversation": 6,  # the incident's thread (its root the header) and the five owners' 1:1 chats
            "send_to_conversation": 3,  # the three drafts
        }
    ), clean["declare_calls"]
    assert len(clean["declare_calls"]) == CALLS["declare"], clean["declare_calls"]
    assert clean["approve_calls"] == ["update_activity"] * CALLS["approve"]
    assert Counter(clean["resolve_calls"]) == Counter(
        {
            "update_activity": 4,  # the header and the three first-response drafts, as resolved
            "send_to_conversation": 8,  # closing message, three closing drafts, the report card, three surveys
        }
    ), clean["resolve_calls"]
    assert len(clean["resolve_calls"]) == CALLS["resolve"]


def test_a_second_clean_declare_gives_the_same_snapshot(clean: dict[str, Any]) -> None:
    """The comparison itself is deterministic (otherwise every fault test could fail by chance)."""
    with fresh_teams() as local:
        assert_same(snapshot(local, local.declare(DECLARE)), clean["declare"])


# ---- declare --------------------------------------------------------------------------------------------------------
def final_answer(local: TeamsDesk, thread: str) -> str:
    answers = [t for t in said_in(local, thread) if not t.startswith("Declaring a ")]
    return answers[-1] if answers else ""


def test_declare_survives_a_failure(clean: dict[str, Any], case: tuple[str, int]) -> None:
    kind, position = case
    with desk_for(kind) as local:
        since = inject(local, kind, position)
        local.say("bram", DECLARE, local.emulator.crisis_channel)
        failed = fired(local, since, kind)
        assert len(failed) == 1, f"the fault at call {position} did not fire exactly once"
        if not local.store.incidents():  # Teams refused "Declaring…" itself: nothing was started, nobody told
            assert kind == "refused" and failed[0].method == "reply_to_activity", failed[0].method
            incident = local.declare(DECLARE)
            assert_same(snapshot(local, incident), clean["declare"])
            return
        [incident] = local.store.incidents()
        thread = typed_thread(local)
        answer = final_answer(local, thread)
        setup_failed = local.store.events(incident.id, "setup_failed")
        if kind in RETRIED:
            assert setup_failed == [] and answer.startswith(f"✅ {incident.code} declared"), answer
            assert_same(snapshot(local, incident), clean["declare"])
            return
        if setup_failed:  # told what failed, and how to finish: the same command again
            assert answer.startswith(f"⚠️ {incident.code} is recorded, but"), answer
            assert "Run the same" in answer and "declare" in answer, answer
        elif failed[0].method == "reply_to_activity":  # the answer itself was what failed: nobody could be told
            pass
        else:
            assert answer.startswith(f"✅ {incident.code} declared") or answer == "", answer
        assert_no_leak(*everything_said(local))

        local.say("bram", DECLARE, local.emulator.crisis_channel)  # the same command again
        incident = local.store.incident(incident.id)
        assert incident.setup_done_at is not None, "the re-run did not finish the set-up"
        again = said_in(local, typed_thread(local))
        assert any(incident.code in a for a in again) and not any(a.startswith("⚠️") for a in again), again
        if setup_failed:
            assert any(f"✅ {incident.code} is set up now" in a and "Finished what was missing" in a for a in again)
        assert_same(snapshot(local, incident), clean["declare"], extra_posts=extra_for(kind, failed[0]))
        assert_no_leak(*everything_said(local))


@pytest.mark.parametrize("kind", [None, "5xx", "lost", "refused"])
def test_every_dm_links_the_thread_the_incident_has(kind: str | None) -> None:
    """The DMs are drawn while Teams makes the thread, before its root id is known: each link they send names the
    thread the incident records, also when the thread's first try failed, was answered twice or was refused
    (then made by the same command again)."""
    with desk_for(kind or "none") as local:
        if kind is not None:  # the first create_conversation is the thread's (the DMs' 1:1 chats come after)
            local.settle()
            local.emulator.fail("create_conversation", times=1, **KINDS[kind])
        local.say("bram", DECLARE, local.emulator.crisis_channel)
        [incident] = local.store.incidents()
        if kind == "refused":
            assert incident.room_ref is None
            local.say("bram", DECLARE, local.emulator.crisis_channel)
        room = local.store.incident(incident.id).room_ref
        expected = thread_url(room, local.emulator.tenant_id)
        assert expected and room in local.emulator.threads(), (room, local.emulator.threads())
        links = {
            who: TEAMS_LINK.findall(json.dumps(bot_messages(local, person.chat_id)))
            for who, person in local.people.items()
            if local.emulator.tenant.personal.get(person.id)
        }
        assert len(links) == 5 and all(links.values()), links
        assert {link for found in links.values() for link in found} == {expected}, (expected, links)


def test_declare_honours_retry_after_of_a_rate_limited_call(clean: dict[str, Any]) -> None:
    with fresh_teams() as local:
        local.emulator.fail("create_conversation", error="ratelimited", retry_after=1)
        incident = local.declare(DECLARE)
        creates = local.emulator.calls_to("create_conversation")
        [limited] = [i for i, c in enumerate(creates) if c.status == 429]
        assert creates[limited + 1].status == 201  # tried again, and Teams made it
        assert creates[limited + 1].at - creates[limited].at >= 1.0  # after waiting as long as Teams asked
        assert_same(snapshot(local, incident), clean["declare"])


# ---- approve ----------------------------------------------------------------------------------------------------------
def test_approve_survives_a_failure(clean: dict[str, Any], case: tuple[str, int]) -> None:
    kind, position = case
    with desk_for(kind) as local:
        incident = local.declare(DECLARE)
        since = inject(local, kind, position)
        answers = approve_x(local, incident)
        failed = fired(local, since, kind)
        assert len(failed) == 1, f"the fault at call {position} did not fire exactly once"
        x = local.drafts(incident)["x"]
        who = {a.approver for a in local.store.approvals(x.id)}
        assert who == {local.people["anna"].aad_id, local.people["chen"].aad_id}
        for answer in answers:  # each clicker's own card at once, whatever became of the redraw for the others
            assert answer.status == 200 and response_card(answer.json) is not None, answer.json
            assert_no_leak(shown(answer.json))
        ref = x.message_ref or ""
        if kind not in RETRIED and "Approved" not in shown(local.emulator.card_of(ref)):
            # Teams refused the last redraw: whoever still sees the card as it was presses on it again (a stale
            # Approve is answered with the current card and redraws it for everyone), nothing recorded twice
            local.click("anna", ref, "draft_approve", stale=True, data={"value": f"{x.id}:{x.version}"})
        assert len(local.store.events(incident.id, "approved")) == 2
        assert len(local.store.events(incident.id, "draft_ready")) == 1
        assert_same(snapshot(local, incident), clean["approve"])


# ---- resolve -----------------------------------------------------------------------------------------------------------
def notices(local: TeamsDesk, who: str, seen: int) -> list[dict[str, Any]]:
    """The bot's messages in `who`'s 1:1 chat since the `seen`-th that are "⚠️" notices."""
    chat = local.people[who].chat_id
    return [a for a in bot_messages(local, chat)[seen:] if shown(a).startswith("⚠️")]


def test_resolve_survives_a_failure(clean: dict[str, Any], case: tuple[str, int]) -> None:
    kind, position = case
    with desk_for(kind) as local:
        incident = ready_to_resolve(local)
        seen = len(bot_messages(local, local.people["anna"].chat_id))
        since = inject(local, kind, position)
        submit_resolve(local, incident)
        failed = fired(local, since, kind)
        assert len(failed) == 1, f"the fault at call {position} did not fire exactly once"
        incident = local.store.incident(incident.id)
        assert incident.status == "resolved" and len(local.store.events(incident.id, "resolved")) == 1
        refused = local.store.events(incident.id, "closing_failed")
        told = notices(local, "anna", seen)
        extra = extra_for(kind, failed[0])
        if kind in RETRIED or not refused:
            assert refused == [] and told == []
            assert_same(snapshot(local, incident), clean["resolve"], extra_posts=extra)
            return
        # Not retried: the resolver is told in her chat which step Teams refused, with a Retry button
        [notice] = told
        text = shown(notice)
        assert text.startswith(f"⚠️ {incident.code} is resolved, but"), text
        assert "resolve_retry" in verbs(notice["attachments"][0]["content"])
        assert_no_leak(text)
        if position % 2 == 0:  # Retry pressed (even positions), or `crisis resolve` typed again (odd)
            answer = local.click("anna", str(notice["id"]), "resolve_retry")
            done = shown(answer.json)
        else:
            room = incident.room_ref or ""
            before = len(said_in(local, room))
            local.say("anna", "crisis resolve", room)
            done = "\n".join(said_in(local, room, before))
        assert f"✅ {incident.code}: every closing step is done now." in done, done
        assert_same(snapshot(local, incident), clean["resolve"], extra_posts=extra)
        assert_no_leak(*everything_said(local))
