"""A Web API failure at every call position of declare, approve and resolve: the flow completes or says what
failed, and ends exactly as a run without the failure (nothing lost, nothing doubled).

Declare: retried kinds complete at once; a refused or timed-out step is named to the declarer and finished by
typing the same command again. Approve: a redraw Slack refused is repaired by clicking the still-visible
button again. Resolve: retried kinds end exactly as a clean run; after a refused or timed-out call the resolver
is told which closing step Slack refused, everything after it still happened, and the Retry button on that
notice (or `/crisis resolve` typed again) does only what is missing: the end is exactly a clean run.

Every case starts a fresh bot (the real Bolt app over HTTP against the emulator, a ManualClock, SQLite) and
injects one failure with `emu.fail(None, error=…, times=1, after=i)`: the i-th Web API call of the flow fails.
Kinds: `5xx` (HTTP 500), `429` (rate limited, Retry-After 0), `slow` (the call hangs 0.15 s, then 500), `timeout`
(the call hangs past the client's timeout), `refused` (a non-retryable Slack error, `channel_not_found`), `lost`
(Slack did it, the answer never came), and three malformed answers to a call Slack did: `truncated` (the JSON
stops halfway), `cut` (the connection drops halfway through the body) and `missing` (`{"ok": true}` without the
`channel`, `ts`, … the bot needs). A malformed answer is reported like a refusal and never retried blindly: the
re-run reads Slack back and does only what is missing.
slack_sdk's retry handlers stay as `make_client` configures them; only their pauses are shortened so a run
takes milliseconds instead of a second (one test checks that Retry-After itself is honoured).

Default (CI) mode runs a sample: every kind in every flow, at one position (the read-back kinds, lost and
refused, at two), and in the approval a fault at each of its calls; `--full` runs every position of every kind. Each test id names the flow, the kind and the position: one id, one injected fault.
"""

from __future__ import annotations

import functools
import gc
import json
import re
import types
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import ID, START, Crisis, assert_valid_for_slack, is_full
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

import bot.incidents.desk
from bot.clock import ManualClock
from bot.localdesk import CAST, LocalCrisisDesk, start_local
from bot.models import Incident
from bot.wsgi import stop_http_server

DECLARE = "declare data-breach 2 Customer emails exposed"
OWNERS = ("anna", "bram", "chen", "dewi", "eli")  # data-breach level 2: every role but the spokesperson
# A clean declare by bram, the bot's first request (Bolt's token check, auth.test, ran at start-up: see
# test_a_token_check_slack_fails_at_start_up_is_retried_and_costs_no_request), users.info (bram's language, in the background), conversations.create, setTopic, invite, the header, five DMs,
# pins.add and three drafts. A guard test fails when the flow changes this count.
DECLARE_CALLS = 14
# anna approves the X draft, then chen: users.info (the clicker's language) and chat.update, twice.
APPROVE_CALLS = 4
# anna submits the resolve form: header + 3 draft redraws, the closing message, 3 closing drafts, 3 users.info
# (names for the report), 2 files.getUploadURLExternal, files.completeUploadExternal, 3 survey DMs.
RESOLVE_CALLS = 17
CLIENT_TIMEOUT = 0.5  # seconds, for the `timeout` kind only (the bot's default is 10)

KINDS: dict[str, dict[str, Any]] = {
    "5xx": {"error": "internal_error"},
    "429": {"error": "ratelimited", "retry_after": 0},
    "slow": {"error": "timeout", "hang_seconds": 0.15},  # answered (500) within the client's timeout: retried
    "timeout": {"error": "timeout", "hang_seconds": CLIENT_TIMEOUT + 0.3},  # the client gives up first
    "refused": {"error": "channel_not_found"},  # Slack says no; retrying would not help
    # Slack did it, but its answer never arrived (a read timeout): only reading Slack back avoids a repeat
    "lost": {"error": "lost_response", "hang_seconds": CLIENT_TIMEOUT + 0.3},
    # Slack did it, but its answer cannot be used: reported like a refusal, and the re-run reads Slack back
    "truncated": {"error": "truncated_json"},  # the JSON stops halfway
    "cut": {"error": "cut_connection"},  # the connection drops halfway through the body
    "missing": {"error": "missing_field"},  # `{"ok": true}` without `channel`, `ts`, …
}
MALFORMED = ("truncated", "cut", "missing")
# Methods whose answer the bot reads nothing from but `ok`: an answer missing every other field is no failure.
NOTHING_NEEDED = ("conversations.setTopic", "conversations.invite", "pins.add", "chat.update")
TIMED_OUT = ("timeout", "lost")  # kinds that need the short client timeout
RETRIED = ("5xx", "429", "slow")  # slack_sdk retries these: the flow completes in one go

# Default-mode samples: (first position, step) per kind and flow; --full runs range(calls) for every kind.
# CI's sample keeps every kind in every flow, and in the approval a fault at every call; each kind at one
# position, but the kinds that need Slack read back (lost, refused) at two: early and late in the flow.
SAMPLE = {
    "declare": {
        **{"5xx": (4, 14), "429": (2, 14), "slow": (1, 14), "timeout": (7, 14), "refused": (3, 10), "lost": (5, 8)},
        **{"truncated": (10, 14), "cut": (6, 14), "missing": (11, 14)},
    },
    "approve": {
        **{"5xx": (0, 2), "429": (1, 4), "slow": (3, 4), "timeout": (3, 4), "refused": (1, 2), "lost": (1, 2)},
        **{"truncated": (1, 4), "cut": (0, 4), "missing": (0, 4)},
    },
    "resolve": {
        **{"5xx": (6, 17), "429": (8, 17), "slow": (5, 17), "timeout": (14, 17), "refused": (1, 10), "lost": (8, 8)},
        **{"truncated": (12, 17), "cut": (13, 17), "missing": (11, 17)},
    },
}
CALLS = {"declare": DECLARE_CALLS, "approve": APPROVE_CALLS, "resolve": RESOLVE_CALLS}


def positions(flow: str, kind: str, full: bool) -> list[int]:
    if kind not in SAMPLE[flow]:
        return []
    start, step = (0, 1) if full else SAMPLE[flow][kind]
    return list(range(start, CALLS[flow], step))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `case` as (kind, position) for the flow a test is named after (`test_<flow>_…`)."""
    if "case" not in metafunc.fixturenames:
        return
    flow = metafunc.function.__name__.split("_")[1]  # test_<flow>_…
    full = is_full(metafunc.config)
    cases = [(kind, i) for kind in KINDS for i in positions(flow, kind, full)]
    metafunc.parametrize("case", cases, ids=[f"{kind}-at-call-{i}" for kind, i in cases])


# ---- a fresh desk per case -------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def quick_rate_limit_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """slack_sdk sleeps Retry-After + random() seconds; drop the random part (Retry-After itself stays)."""
    monkeypatch.setattr(builtin_handlers, "random", types.SimpleNamespace(random=lambda: 0.0))


@pytest.fixture(scope="module", autouse=True)
def playbooks_parsed_once() -> Iterator[None]:
    """Every fresh bot reads the same playbook files; parse them once per module (it costs 0.3 s a bot)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bot.incidents.desk, "load_playbooks", functools.cache(bot.incidents.desk.load_playbooks))
        yield


@contextmanager
def fresh_desk(
    path: Path, *, client_timeout: float | None = None, environ: dict[str, str] | None = None
) -> Iterator[Crisis]:
    """A new emulator and bot with every role owned (as `/crisis roles set` would), torn down quickly."""
    clock = ManualClock(START)
    local = start_local(db_path=path, clock=clock, environ=environ)
    for person in CAST:
        if person.role:
            local.desk.store.set_role_owners(person.role, [person.id])
    for handler in local.bot.app.client.retry_handlers:  # per-request clients share these handler objects
        handler.interval_calculator = FixedValueRetryIntervalCalculator(0.01)
    if client_timeout:
        local.bot.app.client.timeout = client_timeout  # Bolt copies it into each request's client
    try:
        yield Crisis(local, clock)
        local.settle()
        assert_valid_for_slack(local.emulator)
    finally:
        stop_quickly(local)


def stop_quickly(local: LocalCrisisDesk) -> None:
    """LocalCrisisDesk.stop() without waiting a second for waitress's loop to notice (it is a daemon thread),
    and with Bolt's worker threads ended: each holds its own SQLite connection, and dozens of bots in one
    process would otherwise run out of file descriptors."""
    local.activity.wait_idle(timeout=5)
    local.bot.runner.stop()
    stop_http_server(local.server, local.thread)
    local.server.task_dispatcher.shutdown()  # waitress's worker threads (TcpWSGIServer.close leaves them running)
    local.bot.app.listener_runner.listener_executor.shutdown(wait=True)
    local.emulator.stop()
    getattr(local.desk.store, "close_all", local.desk.store.close)()
    gc.collect()  # connections of ended threads close when collected


def inject(crisis: Crisis, kind: str, position: int) -> int:
    """Make the call at `position` (0 = the next one) fail; returns how many calls were made so far."""
    crisis.local.settle()
    crisis.emu.fail(None, times=1, after=position, **KINDS[kind])
    return len(crisis.emu.calls)


def fired(crisis: Crisis, since: int, kind: str) -> list:
    """The failed calls since `since` (the injected one; with `slow`/`timeout` the emulator records it late)."""
    if kind == "lost":
        crisis.emu.wait_for(lambda: [c for c in crisis.emu.calls[since:] if c.response.get("lost_response")])
        return [c for c in crisis.emu.calls[since:] if c.response.get("lost_response")]
    if kind in MALFORMED:
        return [c for c in crisis.emu.calls[since:] if c.response.get("malformed") == KINDS[kind]["error"]]
    if kind in ("slow", "timeout"):
        crisis.emu.wait_for(lambda: [c for c in crisis.emu.calls[since:] if c.response.get("error") == "timeout"])
    error = KINDS[kind]["error"]
    return [c for c in crisis.emu.calls[since:] if c.response.get("error") == error]


def final_answer(crisis: Crisis, who: str) -> str:
    """The declare's last word to `who`: the response_url answer, which may arrive before the ack's "Declaring…"."""
    notes = [e["text"] for e in crisis.emu.ephemerals(ID[who]) if not e["text"].startswith("Declaring a ")]
    return notes[-1] if notes else ""


def retried(crisis: Crisis, since: int, failed: Any) -> bool:
    """The failed call was made again and succeeded (users.info runs in the background: wait for it)."""
    try:
        crisis.emu.wait_for(
            lambda: [
                c
                for c in crisis.emu.calls[since:]
                if c.method == failed.method and c.status == 200 and c.at > failed.at
            ]
        )
    except TimeoutError:
        return False
    return True


# ---- what a run leaves behind --------------------------------------------------------------------------------
PAGED = "📟 Paged"
RANDOM_ID = re.compile(r"[A-Za-z0-9+/=]{5}")


def _message(m: dict[str, Any]) -> str:
    return json.dumps(
        {"text": m.get("text", ""), "blocks": _named(m.get("blocks"))}, sort_keys=True, ensure_ascii=False
    )


def _named(value: Any) -> Any:
    """Blocks without the random block_ids slack_sdk gives unnamed blocks (ours, like `draft-3`, stay)."""
    if isinstance(value, list):
        return [_named(v) for v in value]
    if isinstance(value, dict):
        return {
            k: _named(v)
            for k, v in value.items()
            if not (k == "block_id" and isinstance(v, str) and RANDOM_ID.fullmatch(v))
        }
    return value


def snapshot(crisis: Crisis) -> dict[str, Any]:
    """What people see in Slack and what the bot remembers, minus timestamps, order, and the channel page.

    A page in the channel ("📟 Paged: …") is left out: after a direct message failed, the re-run pages that
    owner in the channel as well. `paged_messages` counts them.
    """
    emu, store = crisis.emu, crisis.store
    db = store.db
    slack: dict[str, Any] = {"files": shared_files(crisis)}
    for channel_id in sorted(emu.ws.channels):
        channel = emu.channel(channel_id)
        assert channel is not None
        messages = [m for m in emu.messages(channel_id) if not m.get("text", "").startswith(PAGED)]
        by_ts = {m["ts"]: _message(m) for m in messages}
        slack[emu.channel_name(channel_id)] = {
            "members": sorted(channel["members"]),
            "topic": (channel.get("topic") or {}).get("value"),
            "messages": Counter(by_ts.values()),
            "pins": sorted(by_ts.get(ts, "?") for ts in channel["pins"]),
        }
    events = Counter(
        (r["kind"], r["actor"], r["data"])
        for r in db["events"].rows
        if r["kind"] not in ("setup_failed", "closing_failed")
    )
    drafts = [{k: v for k, v in r.items() if k != "message_ref"} for r in db["drafts"].rows]
    return {
        "slack": slack,
        "incidents": list(db["incidents"].rows),
        "drafts": drafts,
        "approvals": [{k: v for k, v in r.items() if k != "id"} for r in db["approvals"].rows],
        "events": events,
        "deliveries": sorted(r["key"] for r in db["deliveries"].rows if ":mention:" not in r["key"]),
        "acks": list(db["acks"].rows),
        "timers": list(db["timers"].rows),
        "outbox": [{k: v for k, v in r.items() if k not in ("id",)} for r in db["outbox"].rows],
    }


def shared_files(crisis: Crisis) -> list[str]:
    """Names of the files shared in a channel. An upload Slack never completed (files.completeUploadExternal
    refused) is not shared and nobody sees it; Slack discards it."""
    return sorted(f["name"] for f in crisis.emu.files if f["channels"])


def paged_messages(crisis: Crisis, incident: Incident) -> int:
    return sum(1 for m in crisis.emu.messages(incident.room_ref) if m.get("text", "").startswith(PAGED))


def assert_same(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal snapshots, with a readable difference (one part at a time) when not."""
    for part in expected:
        assert actual[part] == expected[part], part
    assert actual == expected


def assert_one_of_each(crisis: Crisis, incident: Incident) -> None:
    """The clean-run shape, spelled out: one incident and channel, one header (pinned), one DM per owner,
    one message per draft."""
    assert [i.id for i in crisis.store.incidents()] == [incident.id]
    created = [c for c in crisis.emu.calls_to("conversations.create") if c.response.get("ok")]
    assert len(created) == 1
    messages = crisis.emu.messages(incident.room_ref)
    headers = [m for m in messages if (m.get("blocks") or [{}])[0].get("type") == "header"]
    assert len(headers) == 1
    assert [p["ts"] for p in crisis.emu.pins(incident.room_ref)] == [headers[0]["ts"]]
    drafts = crisis.store.drafts(incident.id)
    posted = [m for m in messages if any(b.get("block_id", "").startswith("draft-") for b in m.get("blocks") or [])]
    assert sorted(m["ts"] for m in posted) == sorted(d.message_ref for d in drafts if d.message_ref)
    assert len(posted) == len(drafts) == 3
    for name in OWNERS:
        assert len([m for m in crisis.emu.dms(ID[name]) if incident.code in m.get("text", "")]) == 1, name
    assert len(crisis.events(incident, "pinged")) == len(OWNERS)
    assert len(crisis.events(incident, "declared")) == 1


def approve_x(crisis: Crisis, incident: Incident) -> None:
    for who in ("anna", "chen"):  # data-breach level 2: crisis lead and legal
        crisis.click_draft(who, incident, "x", "draft_approve")


def draft_buttons(crisis: Crisis, incident: Incident, network: str) -> list[str]:
    message = crisis.draft_message(incident, network)
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


RESOLUTION = {
    "summary": {"value": {"type": "plain_text_input", "value": "Portal closed, affected customers emailed"}},
    "impact": {"value": {"type": "plain_text_input", "value": "1,200 customers"}},
    "lessons": {"value": {"type": "plain_text_input", "value": "Pre-approve a holding statement"}},
}


def resolve(crisis: Crisis, incident: Incident) -> None:
    crisis.submit("anna", RESOLUTION)


def ready_to_resolve(crisis: Crisis) -> Incident:
    incident = crisis.declare(DECLARE)
    approve_x(crisis, incident)
    crisis.cmd("anna", "resolve", channel_id=incident.room_ref)
    assert crisis.emu.open_view(ID["anna"])["callback_id"] == "resolve"
    return incident


# ---- clean runs: the reference every faulty run must end at ----------------------------------------------------
@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Snapshots and Web API calls of a declare, an approval and a resolve without any failure."""
    path = tmp_path_factory.mktemp("clean")
    reference: dict[str, Any] = {}
    with fresh_desk(path / "declare.db") as crisis:
        before = len(crisis.emu.calls)
        incident = crisis.declare(DECLARE)
        crisis.local.settle()
        reference["declare_calls"] = [c.method for c in crisis.emu.calls[before:] if c.method != "response_url"]
        assert_one_of_each(crisis, incident)
        reference["declare"] = snapshot(crisis)
        before = len(crisis.emu.calls)
        approve_x(crisis, incident)
        reference["approve_calls"] = [c.method for c in crisis.emu.calls[before:] if c.method != "response_url"]
        reference["approve"] = snapshot(crisis)
    with fresh_desk(path / "resolve.db") as crisis:
        incident = ready_to_resolve(crisis)
        before = len(crisis.emu.calls)
        resolve(crisis, incident)
        reference["resolve_calls"] = [
            c.method for c in crisis.emu.calls[before:] if c.method not in ("response_url", "upload")
        ]
        reference["resolve"] = snapshot(crisis)
    return reference


def test_clean_runs_make_the_calls_the_fault_positions_assume(clean: dict[str, Any]) -> None:
    """If a flow gains or loses a Web API call, the position ranges below must follow (update the constants)."""
    declare = Counter(clean["declare_calls"])
    assert "auth.test" not in clean["declare_calls"]
    assert declare == Counter(
        {
            "chat.postMessage": 9,
            "users.info": 1,
            "conversations.create": 1,
            "conversations.setTopic": 1,
            "conversations.invite": 1,
            "pins.add": 1,
        }
    )
    assert len(clean["declare_calls"]) == DECLARE_CALLS
    assert (
        clean["approve_calls"]
        == ["users.info", "chat.update"] * 2
        == ["users.info", "chat.update"] * (APPROVE_CALLS // 2)
    )
    assert len(clean["resolve_calls"]) == RESOLVE_CALLS, clean["resolve_calls"]
    assert Counter(clean["resolve_calls"])["chat.postMessage"] == 7  # closing message, 3 drafts, 3 surveys


def test_a_second_clean_declare_gives_the_same_snapshot(tmp_path: Path, clean: dict[str, Any]) -> None:
    """The comparison itself is deterministic (otherwise every fault test below could fail by chance)."""
    with fresh_desk(tmp_path / "again.db") as crisis:
        crisis.declare(DECLARE)
        assert_same(snapshot(crisis), clean["declare"])


# ---- declare ----------------------------------------------------------------------------------------------------
def test_declare_survives_a_failure(tmp_path: Path, clean: dict[str, Any], case: tuple[str, int]) -> None:
    kind, position = case
    with fresh_desk(tmp_path / "crisis.db", client_timeout=CLIENT_TIMEOUT if kind in TIMED_OUT else None) as crisis:
        since = inject(crisis, kind, position)
        crisis.cmd("bram", DECLARE)
        failed = fired(crisis, since, kind)
        assert len(failed) == 1, f"the fault at call {position} did not fire exactly once"
        [incident] = crisis.store.incidents()
        answer = final_answer(crisis, "bram")
        setup_failed = crisis.events(incident, "setup_failed")
        if kind in RETRIED:
            assert retried(crisis, since, failed[0]), f"{failed[0].method} was not retried"
            assert setup_failed == [] and answer.startswith(f"✅ {incident.code} declared"), answer
        elif setup_failed:
            # told what failed, and how to finish: the same command again
            steps = setup_failed[0].data["steps"]
            assert answer.startswith(f"⚠️ {incident.code} is recorded, but Slack refused:"), answer
            assert "Run the same `/crisis declare` again" in answer
            wording = {
                "channel": "creating the channel",
                "topic": "setting the topic",
                "invite": "inviting the team",
                "header": "posting the header",
                "dm": "a direct message to a role owner",
                "pin": "pinning the header",
                "draft": "posting a draft",
                "mention": "paging the team",
            }
            for step in steps:
                assert wording[step.split(":")[0]] in answer, (step, answer)
            assert "Traceback" not in answer
        else:  # the failed call was one the flow can do without (the declarer's language), or needs nothing from
            assert failed[0].method == "users.info" or (kind == "missing" and failed[0].method in NOTHING_NEEDED), (
                failed[0].method
            )
            assert answer.startswith(f"✅ {incident.code} declared"), answer

        told = len(crisis.emu.ephemerals(ID["bram"]))
        crisis.cmd("bram", DECLARE)  # the same command again: finishes what is missing, never repeats
        incident = crisis.store.incident(incident.id)
        assert incident.setup_done_at is not None
        # the final answer (by response_url) may land before the ack's "Declaring…": look at both
        answers = [e["text"] for e in crisis.emu.ephemerals(ID["bram"])[told:]]
        assert any(incident.code in a for a in answers) and not any("Slack refused" in a for a in answers), answers
        if setup_failed:  # told what the second run finished, not "nothing new"
            assert any(f"✅ {incident.code} is set up now" in a and "Finished what was missing" in a for a in answers)
        assert_one_of_each(crisis, incident)
        # the header's own text paged everyone at declare: a DM sent late adds no channel page
        assert paged_messages(crisis, incident) == 0
        assert_same(snapshot(crisis), clean["declare"])


def test_declare_honours_retry_after_of_a_rate_limited_call(tmp_path: Path, clean: dict[str, Any]) -> None:
    with fresh_desk(tmp_path / "crisis.db") as crisis:
        crisis.emu.fail("conversations.create", error="ratelimited", retry_after=1)
        crisis.cmd("bram", DECLARE)
        creates = crisis.emu.calls_to("conversations.create")
        assert [c.status for c in creates] == [429, 200]
        assert creates[1].at - creates[0].at >= 1.0  # waited as long as Slack asked
        assert_same(snapshot(crisis), clean["declare"])


# ---- approve ------------------------------------------------------------------------------------------------------
def test_approve_survives_a_failure(tmp_path: Path, clean: dict[str, Any], case: tuple[str, int]) -> None:
    kind, position = case
    with fresh_desk(tmp_path / "crisis.db", client_timeout=CLIENT_TIMEOUT if kind in TIMED_OUT else None) as crisis:
        incident = crisis.declare(DECLARE)
        since = inject(crisis, kind, position)
        approve_x(crisis, incident)
        failed = fired(crisis, since, kind)
        assert len(failed) == 1, f"the fault at call {position} did not fire exactly once"
        x = crisis.drafts(incident)["x"]
        assert [(a.approver, a.role) for a in crisis.store.approvals(x.id)] == [
            (ID["anna"], "crisis_lead"),
            (ID["chen"], "legal"),
        ]
        if kind in RETRIED:
            assert draft_buttons(crisis, incident, "x") == ["draft_mark_posted", "draft_edit"]
        # whoever still sees an Approve button clicks it again: that redraws, and records nothing twice
        for who in ("anna", "chen"):
            if "draft_approve" in draft_buttons(crisis, incident, "x"):
                crisis.click_draft(who, incident, "x", "draft_approve")
        assert draft_buttons(crisis, incident, "x") == ["draft_mark_posted", "draft_edit"]
        assert len(crisis.events(incident, "approved")) == 2 and len(crisis.events(incident, "draft_ready")) == 1
        assert_same(snapshot(crisis), clean["approve"])


# ---- resolve ------------------------------------------------------------------------------------------------------
STEP_WORDING = {  # bot/chat/closing.py's steps, and the Provisioner's for the closing drafts
    "redraw": "showing the header and the earlier drafts as resolved",
    "closing": "posting the closing message",
    "draft": "posting a draft",
    "report": "uploading the evaluation report",
    "survey": "the survey DM to ",
}


def notices(crisis: Crisis, who: str, seen: int) -> list[dict[str, Any]]:
    """What `who` was told privately since `seen` (ephemerals; the fallback DM is not expected here)."""
    return crisis.emu.ephemerals(ID[who])[seen:]


def retry(crisis: Crisis, who: str, notice: dict[str, Any]) -> str:
    """Press Retry on the notice; returns what the notice says afterwards (the answer replaces it)."""
    crisis.click(who, "resolve_retry", ts=notice["ts"])
    [now] = [e for e in crisis.emu.ephemerals(ID[who]) if e["ts"] == notice["ts"]]
    return now["text"]


def retype(crisis: Crisis, who: str, incident: Incident) -> list[str]:
    """Type `/crisis resolve` again in the incident channel; returns the answers."""
    seen = len(crisis.emu.ephemerals(ID[who]))
    crisis.cmd(who, "resolve", channel_id=incident.room_ref)
    return [e["text"] for e in crisis.emu.ephemerals(ID[who])[seen:]]


def closing_counts(crisis: Crisis, incident: Incident) -> dict[str, Any]:
    """The resolve's visible results, counted: what a doubled or lost step would change."""
    messages = crisis.emu.messages(incident.room_ref)
    return {
        "closing": len([m for m in messages if m.get("text", "").startswith(f"✅ {incident.code} resolved")]),
        "closing_drafts": sorted(
            Counter(
                m["ts"]
                for m in messages
                for d in crisis.store.drafts(incident.id, "resolved")
                if d.message_ref == m["ts"]
            ).values()
        ),
        "files": shared_files(crisis),
        "surveys": {
            name: len([m for m in crisis.emu.dms(ID[name]) if m.get("text", "").startswith(f"🗳 {incident.code}")])
            for name in ID
        },
    }


def test_resolve_survives_a_failure(tmp_path: Path, clean: dict[str, Any], case: tuple[str, int]) -> None:
    kind, position = case
    with fresh_desk(tmp_path / "crisis.db", client_timeout=CLIENT_TIMEOUT if kind in TIMED_OUT else None) as crisis:
        incident = ready_to_resolve(crisis)
        seen = len(crisis.emu.ephemerals(ID["anna"]))
        since = inject(crisis, kind, position)
        resolve(crisis, incident)
        failed = fired(crisis, since, kind)
        assert len(failed) == 1, f"the fault at call {position} did not fire exactly once"
        incident = crisis.store.incident(incident.id)
        assert incident.status == "resolved" and len(crisis.events(incident, "resolved")) == 1
        assert crisis.emu.open_view(ID["anna"]) is None  # the form closed: the resolve itself went through
        refused = crisis.events(incident, "closing_failed")
        if (
            kind in RETRIED
            or failed[0].method == "users.info"
            or (kind == "missing" and failed[0].method in NOTHING_NEEDED)
        ):
            # retried; or only a display name for the report was missing (the report shows the user id); or the
            # answer lacked only what the bot does not read
            assert refused == [] and notices(crisis, "anna", seen) == []
            assert_same(snapshot(crisis), clean["resolve"])
            return
        # Not retried: the resolver is told which step Slack refused and how to do it again; everything after it
        # still happened, nothing is doubled.
        [event] = refused
        [notice] = notices(crisis, "anna", seen)
        text = notice["text"]
        assert text.startswith(f"⚠️ {incident.code} is resolved, but Slack refused: "), text
        assert f"Press *Retry* below, or type `/crisis resolve` again in <#{incident.room_ref}>" in text
        assert [e["action_id"] for b in notice["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
            "resolve_retry"
        ]
        assert len(event.data["steps"]) == 1, event.data
        [step] = event.data["steps"]
        assert STEP_WORDING[step.split(":")[0]] in text, (step, text)
        if step.startswith("survey:"):
            assert f"<@{step.split(':')[1]}>" in text
        counts = closing_counts(crisis, incident)
        assert counts["closing"] <= 1 and set(counts["closing_drafts"]) <= {1}
        assert all(n <= 1 for n in counts["surveys"].values()), counts

        # The re-run: the Retry button (even positions) or `/crisis resolve` typed again (odd positions).
        answers = [retry(crisis, "anna", notice)] if position % 2 == 0 else retype(crisis, "anna", incident)
        done = [a for a in answers if a.startswith(f"✅ {incident.code}: every closing step is done now.")]
        assert done and STEP_WORDING[step.split(":")[0]] in done[0], answers
        assert crisis.events(incident, "closing_failed") == [event]
        assert_same(snapshot(crisis), clean["resolve"])

        # Once more: nothing is missing, so nothing is done (no Web API call but the answer).
        before = len(crisis.emu.calls)
        answers = retype(crisis, "anna", incident)
        assert answers == [f"{incident.code} is already resolved and every closing step is done; nothing was changed."]
        assert [c.method for c in crisis.emu.calls[before:] if c.method != "response_url"] == []
        assert_same(snapshot(crisis), clean["resolve"])


def fail_report_and_a_survey(crisis: Crisis) -> None:
    """The report upload and the first survey DM are refused (the closing message and 3 drafts come first)."""
    crisis.local.settle()
    crisis.emu.fail("files.completeUploadExternal", error="channel_not_found")
    crisis.emu.fail("chat.postMessage", error="channel_not_found", after=4)


@pytest.mark.parametrize("language", ["en", "nl"])
def test_resolve_notice_names_the_refused_steps_and_how_to_redo_them(tmp_path: Path, language: str) -> None:
    environ = {"CRISISBOT_LANGUAGE": language} if language == "nl" else None
    with fresh_desk(tmp_path / "crisis.db", environ=environ) as crisis:
        incident = ready_to_resolve(crisis)
        seen = len(crisis.emu.ephemerals(ID["anna"]))
        fail_report_and_a_survey(crisis)
        resolve(crisis, incident)
        [event] = crisis.events(incident, "closing_failed")
        [survey] = [s for s in event.data["steps"] if s.startswith("survey:")]
        assert event.data["steps"] == ["report", survey]
        who, code, channel = survey.split(":")[1], incident.code, incident.room_ref
        [notice] = notices(crisis, "anna", seen)
        expected = {
            "en": (
                f"⚠️ {code} is resolved, but Slack refused: uploading the evaluation report, the survey DM to <@{who}>."
                f" Press *Retry* below, or type `/crisis resolve` again in <#{channel}>, to do only what is missing;"
                " nothing is done twice.",
                "Retry",
            ),
            "nl": (
                f"⚠️ {code} is afgesloten, maar Slack weigerde: het evaluatierapport uploaden, de enquête-DM aan"
                f" <@{who}>. Klik hieronder op *Opnieuw*, of typ `/crisis resolve` nog eens in <#{channel}>, om"
                " alleen te doen wat ontbreekt; niets gebeurt dubbel.",
                "Opnieuw",
            ),
        }[language]
        assert notice["text"] == expected[0]
        assert notice["blocks"][0]["text"]["text"] == expected[0]
        [button] = notice["blocks"][1]["elements"]
        assert (button["action_id"], button["text"]["text"], button["value"]) == (
            "resolve_retry",
            expected[1],
            str(incident.id),
        )
        assert shared_files(crisis) == [] and not [m for m in crisis.emu.dms(who) if m.get("text", "").startswith("🗳")]

        answer = retry(crisis, "anna", notice)
        assert (
            answer
            == {
                "en": f"✅ {code}: every closing step is done now. This time: uploading the evaluation report,"
                f" the survey DM to <@{who}>.",
                "nl": f"✅ {code}: alle afsluitende stappen zijn nu gedaan. Deze keer: het evaluatierapport uploaden,"
                f" de enquête-DM aan <@{who}>.",
            }[language]
        )
        assert (
            len(shared_files(crisis)) == 2
            and len([m for m in crisis.emu.dms(who) if m.get("text", "").startswith("🗳")]) == 1
        )


def test_resolve_rerun_that_cannot_look_a_tried_step_up_leaves_it_for_the_next(tmp_path: Path) -> None:
    """A closing step tried before (here a refused upload) is looked up in Slack before it is redone; when the
    look-up itself fails the step is not redone blindly but named again, with Retry, and the next Retry does it."""
    with fresh_desk(tmp_path / "crisis.db") as crisis:
        incident = ready_to_resolve(crisis)
        seen = len(crisis.emu.ephemerals(ID["anna"]))
        crisis.local.settle()
        crisis.emu.fail("files.completeUploadExternal", error="channel_not_found")
        resolve(crisis, incident)
        [notice] = notices(crisis, "anna", seen)
        assert crisis.store.delivery(f"{incident.id}:try:report") and shared_files(crisis) == []

        crisis.emu.fail("conversations.history", error="channel_not_found")
        calls = len(crisis.emu.calls)
        answer = retry(crisis, "anna", notice)
        assert [c.method for c in crisis.emu.calls[calls:] if c.method != "response_url"] == [
            "auth.test",
            "conversations.history",
        ]  # only the look-up: no upload while we cannot tell whether the first one landed
        assert answer.startswith(f"⚠️ {incident.code} is resolved, but Slack refused: uploading the evaluation report.")
        assert shared_files(crisis) == [] and crisis.store.delivery(f"{incident.id}:try:report")

        [notice] = [e for e in crisis.emu.ephemerals(ID["anna"]) if e["text"] == answer]
        answer = retry(crisis, "anna", notice)
        assert (
            answer == f"✅ {incident.code}: every closing step is done now. This time: uploading the evaluation report."
        )
        assert len(shared_files(crisis)) == 2 and crisis.store.delivery(f"{incident.id}:try:report") is None


def test_resolve_rerun_with_nothing_missing_says_so_and_changes_nothing(tmp_path: Path, clean: dict[str, Any]) -> None:
    with fresh_desk(tmp_path / "crisis.db") as crisis:
        incident = ready_to_resolve(crisis)
        seen = len(crisis.emu.ephemerals(ID["anna"]))
        resolve(crisis, incident)
        # a clean resolve tells the resolver nothing privately: the closing message in the channel is the answer
        assert notices(crisis, "anna", seen) == [] and crisis.events(incident, "closing_failed") == []
        before = len(crisis.emu.calls)
        answers = retype(crisis, "anna", incident)
        assert answers == [f"{incident.code} is already resolved and every closing step is done; nothing was changed."]
        assert [c.method for c in crisis.emu.calls[before:] if c.method != "response_url"] == []
        assert crisis.emu.open_view(ID["anna"]) is None  # resolving twice stays impossible: no form
        assert_same(snapshot(crisis), clean["resolve"])


def test_resolve_rerun_is_for_those_who_may_resolve(tmp_path: Path) -> None:
    with fresh_desk(tmp_path / "crisis.db") as crisis:
        incident = ready_to_resolve(crisis)
        seen = len(crisis.emu.ephemerals(ID["anna"]))
        fail_report_and_a_survey(crisis)
        resolve(crisis, incident)
        [notice] = notices(crisis, "anna", seen)
        missing = closing_counts(crisis, incident)
        # Only the crisis lead may resolve a data breach (playbooks/data-breach.yaml): the others are refused
        # in the ack, the refusal is on the timeline, and nothing is done.
        for who in ("bram", "chen", "gijs"):
            before = len(crisis.emu.calls)
            assert retype(crisis, who, incident) == [
                "You may not resolve this incident here. That is for: Crisis lead. Your attempt is on the timeline."
            ]
            assert [c.method for c in crisis.emu.calls[before:] if c.method not in ("response_url", "users.info")] == []
            assert crisis.events(incident, "refused")[-1].actor == ID[who]
        assert closing_counts(crisis, incident) == missing
        # The crisis lead hands the role to dewi: anna's Retry button is refused now, dewi's command works.
        crisis.store.set_role_owners("crisis_lead", [ID["dewi"]])
        crisis.click("anna", "resolve_retry", ts=notice["ts"])
        assert crisis.last_ephemeral("anna").startswith("You may not resolve this incident")
        assert closing_counts(crisis, incident) == missing
        answers = retype(crisis, "dewi", incident)
        assert any(a.startswith(f"✅ {incident.code}: every closing step is done now.") for a in answers), answers
        counts = closing_counts(crisis, incident)
        assert counts["files"] == [f"report-{incident.code}.md", f"report-{incident.code}.png"]
        # the survey goes to who took part up to the resolve: not to those refused afterwards, nor to dewi
        assert counts["surveys"] == {name: int(name in ("anna", "bram", "chen")) for name in ID}
        assert crisis.events(incident, "closing_failed")[-1].data["steps"] == ["report", f"survey:{ID['bram']}"]


def test_resolve_retry_double_click_is_done_once(tmp_path: Path, clean: dict[str, Any]) -> None:
    with fresh_desk(tmp_path / "crisis.db") as crisis:
        incident = ready_to_resolve(crisis)
        seen = len(crisis.emu.ephemerals(ID["anna"]))
        fail_report_and_a_survey(crisis)
        resolve(crisis, incident)
        [notice] = notices(crisis, "anna", seen)
        [actions] = [b for b in notice["blocks"] if b["type"] == "actions"]
        crisis.emu.latency = 0.05  # the first run is still uploading when the second click arrives
        crisis.emu.click(ID["anna"], "resolve_retry", ts=notice["ts"])
        # the second click comes from the same, not yet replaced, notice
        crisis.emu.click(
            ID["anna"], "resolve_retry", ts=notice["ts"], value=str(incident.id), block_id=actions["block_id"]
        )
        crisis.local.settle()
        crisis.emu.latency = 0.0
        uploads = [c for c in crisis.emu.calls_to("files.completeUploadExternal") if c.response.get("ok")]
        assert len(uploads) == 1
        assert len(crisis.emu.calls_to("files.completeUploadExternal")) == 2  # the refused one, then one upload
        assert_same(snapshot(crisis), clean["resolve"])
        [now] = [e for e in crisis.emu.ephemerals(ID["anna"]) if e["ts"] == notice["ts"]]
        assert now["blocks"] == [] or all(b["type"] != "actions" for b in now["blocks"])  # no Retry left


# ---- notices after a person's action: through the outbox ------------------------------------------------------
def channel_posts(crisis: Crisis, incident: Incident, prefix: str) -> list[dict[str, Any]]:
    return [m for m in crisis.emu.messages(incident.room_ref) if m.get("text", "").startswith(prefix)]


def escalation_posts_at(path: Path) -> int:
    """How many chat.postMessage calls a clean `/crisis escalate 3` makes before its notice (pages, DMs)."""
    with fresh_desk(path) as crisis:
        incident = crisis.declare(DECLARE)
        since = len(crisis.emu.calls)
        crisis.cmd("anna", "escalate 3", channel_id=incident.room_ref)
        posts = [c for c in crisis.emu.calls[since:] if c.method == "chat.postMessage"]
        return next(i for i, c in enumerate(posts) if c.args.get("text", "").startswith("⬆️"))


def test_escalation_notice_slack_refused_once_arrives_after_the_retry_exactly_once(tmp_path: Path) -> None:
    """The escalation notice was a best-effort post: one refusal lost it. It is an outbox row now, queued with the
    level change: refused once, it goes out at the retry, once, and nothing else is posted twice."""
    before = escalation_posts_at(tmp_path / "clean.db")
    with fresh_desk(tmp_path / "crisis.db") as crisis:
        incident = crisis.declare(DECLARE)
        crisis.emu.fail("chat.postMessage", error="channel_not_found", times=1, after=before)
        crisis.cmd("anna", "escalate 3", channel_id=incident.room_ref)
        assert crisis.store.incident(incident.id).level == 3
        assert channel_posts(crisis, incident, "⬆️") == []  # refused: waiting for its retry
        [row] = [m for m in crisis.store.outbox(incident.id) if m.kind == "escalation"]
        assert row.attempts == 1 and row.sent_at is None and row.failed_at is None
        crisis.clock.advance(seconds=21)  # the outbox's first backoff is 20 s
        crisis.local.tick()
        [notice] = channel_posts(crisis, incident, "⬆️")
        assert "level 3" in notice["text"] and "Spokesperson" in notice["text"]
        crisis.clock.advance(minutes=5)
        crisis.local.tick()
        assert len(channel_posts(crisis, incident, "⬆️")) == 1
        texts = Counter(m.get("text", "") for m in crisis.emu.messages(incident.room_ref))
        assert all(n == 1 for n in texts.values()), texts


def test_internal_update_post_slack_refused_once_arrives_after_the_retry_with_its_button(tmp_path: Path) -> None:
    """`/crisis update`'s post in the channel (with its Draft public update button) is retried like a reminder."""
    with fresh_desk(tmp_path / "crisis.db") as crisis:
        incident = crisis.declare(DECLARE)
        crisis.emu.fail("chat.postMessage", error="channel_not_found", times=1)
        crisis.cmd("dewi", "update Portal closed at 09:40", channel_id=incident.room_ref)
        assert crisis.last_ephemeral("dewi") == "Update posted in the channel and on the timeline."
        assert channel_posts(crisis, incident, "📝") == []
        crisis.clock.advance(seconds=21)
        crisis.local.tick()
        [update] = channel_posts(crisis, incident, "📝")
        assert "Portal closed at 09:40" in update["text"]
        [event] = crisis.events(incident, "status_update")
        buttons = [e for b in update["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert [(b["action_id"], b["value"]) for b in buttons] == [("draft_update", f"{incident.id}:{event.id}")]
