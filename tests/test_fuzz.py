"""Fuzzing every way in: slash-command text, interaction payloads and modal submissions, signed as Slack signs
them and sent over HTTP to the running bot; and the `/crisis` parser on its own.

Whatever arrives, the bot answers below 500, never shows a person a traceback, changes nothing when the
input is invalid (incidents, drafts, approvals, acknowledgements and role owners are compared before and
after), and answers a slash command with something to read (or the form it asked for).

One bot serves the module. Fuzzed requests come from gijs (no role) or, for commands and forms, bram (social
media manager, no approver): a garbage value that happens to name a real draft still cannot approve it.
Default mode runs 40 examples per property (the pure parser 300); `--full` 500 (the parser 5000).
"""

from __future__ import annotations

import functools
import json
import string
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from conftest import FUZZ_EXAMPLES, ID, Crisis, staffed_desk
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.chat import commands
from bot.errors import CrisisError, UsageError
from bot.models import Incident
from bot.sandbox.model import APP_ID, TEAM_DOMAIN, VERIFICATION_TOKEN
from bot.sandbox.transport import BotResponse, events_url, send_signed

FORM = "application/x-www-form-urlencoded"
LEAKS = ("Traceback", 'File "/', "Exception", "Error:", "sqlite", "pydantic", "NoneType", "KeyError")


def examples(full: bool, default: int = 40, many: int = 500) -> Callable[[Any], Any]:
    """Hypothesis settings for a property, and a count of the examples it runs (for the README's figures)."""
    chosen = settings(
        max_examples=many if full else default,
        deadline=None,
        derandomize=not full,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )

    def count(test: Any) -> Any:
        inner = test.hypothesis.inner_test  # hypothesis' documented hook for wrapping each example's run

        @functools.wraps(inner)
        def counted(*args: Any, **kwargs: Any) -> Any:
            FUZZ_EXAMPLES[test.__name__] += 1
            return inner(*args, **kwargs)

        test.hypothesis.inner_test = counted
        return chosen(test)

    return count


# ---- one running desk --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crisis]:
    with staffed_desk(tmp_path_factory.mktemp("fuzz")) as crisis:
        crisis.declare()  # a real incident and real drafts for garbage to point at
        yield crisis
        crisis.local.settle()
        assert crisis.emu.problems == []


@pytest.fixture(scope="module")
def incident(desk: Crisis) -> Incident:
    return desk.store.incidents()[0]


def fingerprint(crisis: Crisis) -> dict[str, Any]:
    """The state a bad request must not change."""
    crisis.local.settle()
    db = crisis.store.db
    return {
        table: [json.dumps(r, sort_keys=True, default=str) for r in db[table].rows]
        for table in ("incidents", "drafts", "approvals", "acks", "role_owners")
    }


def new_notes(crisis: Crisis, who: str, seen: int) -> list[str]:
    return [e["text"] or json.dumps(e.get("blocks")) for e in crisis.emu.ephemerals(ID[who])[seen:]]


def assert_no_leak(*texts: str) -> None:
    for text in texts:
        for leak in LEAKS:
            assert leak not in text, (leak, text[:500])


def deliver(crisis: Crisis, body: str) -> BotResponse:
    return send_signed(events_url(crisis.emu.bot_url), crisis.emu.signing_secret, body, FORM)


# ---- strategies ------------------------------------------------------------------------------------------------------
WORDS = [
    "declare",
    "drill",
    "roles",
    "set",
    "help",
    "status",
    "list",
    "update",
    "note",
    "resolve",
    "escalate",
    "deescalate",
    "gdpr",
    "notified",
    "data-breach",
    "negative-reviews",
    "service-outage",
    "other",
    "DATA-BREACH",
    "1",
    "2",
    "3",
    "L2",
    "level3",
    "L-2",
    "0",
    "4",
    "-1",
    "99999999999999999999",
    "²",
    "٣",
    "crisis_lead",
    "legal",
    "social_media_manager",
    "spokesperson",
    "wizard",
    "<@U0ANNA|anna>",
    "<@U0GIJS>",
    "<@W0X|x>",
    "<@u0anna>",
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<#C0GENERAL|general>",
    "<https://evil.example|click>",
    "*bold*",
    "_it_",
    "~s~",
    "`code`",
    "```",
    "{{ 7*7 }}",
    "{% raw %}",
    "&amp;",
    "&lt;",
    "<",
    ">",
    "\\",
    "'",
    '"',
    "\x00",
    "\x1b[31m",
    "\u202e",
    "\u200b",
    "🚨",
    "CR-2026-001",
    "ẞ",
    "İ",
    "ﬁ",
]
SPACES = st.sampled_from([" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2028", "\u3000", "\x0b", "\x0c"])
ANY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)


@st.composite
def command_texts(draw: st.DrawFn) -> str:
    """Mostly command-shaped text; sometimes only whitespace, control characters or 40k characters."""
    shape = draw(st.sampled_from(["words", "words", "words", "text", "blank", "control", "huge"]))
    if shape == "text":
        return draw(ANY_TEXT)
    if shape == "blank":
        return "".join(draw(st.lists(SPACES, max_size=6)))
    if shape == "control":
        return "".join(draw(st.lists(st.sampled_from([chr(c) for c in range(32)] + ["\x7f", "declare"]), max_size=12)))
    parts = draw(st.lists(st.one_of(st.sampled_from(WORDS), ANY_TEXT), min_size=1, max_size=8))
    if shape == "huge":
        filler = draw(st.sampled_from(["x", "é", "<!channel>", "🚨", "a b "]))
        parts.append(filler * (40_000 // len(filler)))
    joined = ""
    for part in parts:
        joined += part + draw(SPACES)
    return joined[: draw(st.sampled_from([40_000, 3_000, 200]))]


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=12,
)
ACTION_IDS = [
    "acknowledge",
    "checklist_done",
    "draft_approve",
    "draft_mark_posted",
    "draft_edit",
    "draft_reject",
    "escalate",
    "draft_update",
    "show_status",
    "survey_open",
    "open_channel",
    "nonsense",
    "",
    "draft_approve ",
]
VALUES = st.one_of(
    st.sampled_from(
        [
            "abc",
            "1:",
            ":",
            "99999:1",
            "1:1",
            "1:2",
            "1:abc",
            "-1:1",
            "1:-1",
            "",
            "0:0",
            "1:legal",
            "1:wizard",
            "1:pause_scheduled_posts ",
            "²:1",
            "1:²",
            "٣:1",
            "１:1",
            "9" * 30 + ":1",
            "9" * 5000 + ":1",
            "1:" + "9" * 5000,
            "1" * 19,
            "1:1:1",
            " 1:1",
            "1 :1",
            "\x00:1",
        ]
    ),
    ANY_TEXT,
    st.none(),
    st.integers(),
    JSONISH,
)
USERS = st.sampled_from(["gijs", "bram"])


# ---- the parser alone ---------------------------------------------------------------------------------------------
def test_parse_raises_nothing_but_usage_errors(full: bool) -> None:
    @examples(full, default=300, many=5000)
    @given(text=st.one_of(command_texts(), ANY_TEXT, st.text(string.printable, max_size=80)))
    def parse(text: str) -> None:
        try:
            command = commands.parse(text)
        except UsageError as exc:
            assert exc.key.startswith("error.")
            assert all(len(str(v)) <= 80 for v in exc.params.values()), exc.params  # echoes stay short
            return
        assert command.name in (
            "",
            "help",
            "declare",
            "drill",
            "roles",
            "roles_set",
            "escalate",
            "deescalate",
            "gdpr_notified",
            "status",
            "list",
            "update",
            "note",
            "resolve",
        )
        if command.level is not None:
            assert command.level in (1, 2, 3)
        assert all(u[:1] in "UW" and u.isalnum() for u in command.users)

    parse()


# ---- slash commands over HTTP ----------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:Generating overly large repr")  # a 40k-character falsifying example
def test_slash_command_text(desk: Crisis, full: bool) -> None:
    @examples(full)
    @given(text=command_texts(), who=USERS)
    @example(text="drill " + "é" * 39_990, who="gijs")  # echoed in full once: over Slack's 40k limit
    @example(text="roles set " + "x" * 39_990 + " <@U0ANNA>", who="bram")
    @example(text="declare data-breach 2 " + "<!channel>" * 3_990, who="gijs")
    @example(text=" \t\u3000\n", who="gijs")
    def typed(text: str, who: str) -> None:
        before, seen = fingerprint(desk), len(desk.emu.ephemerals(ID[who]))
        views, problems = len(desk.emu.views(ID[who])), len(desk.emu.problems)
        response = desk.cmd(who, text)
        assert 200 <= response.status < 500, (response.status, response.body[:300])
        assert desk.emu.problems[problems:] == [], (text[:200], response.body[:300])  # Slack took every answer
        notes = new_notes(desk, who, seen)
        assert_no_leak(response.body, *notes)
        opened = desk.emu.views(ID[who])[views:]
        if opened:  # `/crisis` alone opens the declare form: that is the answer
            assert [v["callback_id"] for v in opened] == ["declare"] and not text.split()
            desk.emu.close_view(ID[who])
        else:
            assert notes and all(n.strip() for n in notes), (text[:200], notes)
        after = fingerprint(desk)
        if after != before:
            command = commands.parse(text)  # only a valid declare or drill may add an incident (and its drafts)
            assert command.name in ("declare", "drill"), (text[:200], command)
            assert len(after["incidents"]) == len(before["incidents"]) + 1
            assert after["approvals"] == before["approvals"] and after["role_owners"] == before["role_owners"]

    typed()


# ---- clicks ---------------------------------------------------------------------------------------------------------
def click_body(crisis: Crisis, who: str, action: dict[str, Any], incident: Incident, n: int) -> str:
    user = {"id": ID[who], "username": who, "name": who, "team_id": crisis.emu.team_id}
    payload = {
        "type": "block_actions",
        "user": user,
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": f"fuzz.{n}.{who}",
        "team": {"id": crisis.emu.team_id, "domain": TEAM_DOMAIN},
        "container": {"type": "message", "message_ts": "1.000001", "channel_id": incident.room_ref},
        "channel": {"id": incident.room_ref, "name": "crisis"},
        "actions": [action],
        "response_url": f"{crisis.emu.base_url}response/{crisis.emu.ws.issue_hook(ID[who], incident.room_ref)}",
    }
    return urlencode({"payload": json.dumps(payload)})


def test_clicks_with_garbage_values_and_unknown_actions(desk: Crisis, incident: Incident, full: bool) -> None:
    counter = iter(range(10**9))

    @examples(full)
    @given(action_id=st.sampled_from(ACTION_IDS), value=VALUES, extra=st.dictionaries(ANY_TEXT, JSONISH, max_size=2))
    def clicked(action_id: str, value: Any, extra: dict[str, Any]) -> None:
        who = "gijs"  # no role: whatever the value names, nothing may change (bram may draft updates)
        before, seen = fingerprint(desk), len(desk.emu.ephemerals(ID[who]))
        action = {**extra, "action_id": action_id, "block_id": "fuzz", "type": "button", "action_ts": "1.0"}
        if value is not None:
            action["value"] = value
        response = deliver(desk, click_body(desk, who, action, incident, next(counter)))
        desk.local.settle()
        assert 200 <= response.status < 500, (response.status, response.body[:300])
        assert_no_leak(response.body, *new_notes(desk, who, seen))
        assert fingerprint(desk) == before
        for view in desk.emu.views(ID[who]):
            if not view["closed"]:
                desk.emu.close_view(ID[who])

    clicked()


def test_interaction_payloads_that_are_not_what_slack_sends(desk: Crisis, full: bool) -> None:
    @examples(full)
    @given(
        payload=st.one_of(
            JSONISH,
            st.dictionaries(
                st.sampled_from(
                    [
                        "type",
                        "user",
                        "actions",
                        "view",
                        "trigger_id",
                        "team",
                        "channel",
                        "container",
                        "callback_id",
                        "message",
                        "response_url",
                        "api_app_id",
                    ]
                ),
                JSONISH,
                max_size=6,
            ),
        ),
        raw=st.booleans(),
        kind=st.sampled_from(
            [
                None,
                "block_actions",
                "view_submission",
                "message_action",
                "shortcut",
                "view_closed",
                "block_suggestion",
                "nonsense",
            ]
        ),
    )
    def sent(payload: Any, raw: bool, kind: str | None) -> None:
        before = fingerprint(desk)
        if kind and isinstance(payload, dict):
            payload = {**payload, "type": kind}
        body = urlencode({"payload": json.dumps(payload) if not raw else str(payload)})
        response = deliver(desk, body)
        desk.local.settle()
        assert 200 <= response.status < 500, (response.status, response.body[:300])
        assert_no_leak(response.body)
        assert fingerprint(desk) == before

    sent()


# ---- modal submissions ----------------------------------------------------------------------------------------------
OPTION_VALUES = st.one_of(
    VALUES,
    st.sampled_from(
        ["data-breach", "other", "nope", "1", "2", "3", "4", "0", "5", "6", "-1", "²", "99999999999999999999"]
    ),
)
STATE_VALUE = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.just("plain_text_input"),
            "value": st.one_of(st.none(), ANY_TEXT, JSONISH, st.sampled_from(["", "   ", "x" * 5000, "<!channel>"])),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("static_select"),
            "selected_option": st.one_of(st.none(), JSONISH, st.fixed_dictionaries({"value": OPTION_VALUES})),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("datetimepicker"),
            "selected_date_time": st.one_of(st.integers(-(2**63), 2**63), st.floats(), ANY_TEXT, st.none()),
        }
    ),
    st.fixed_dictionaries({"type": st.just("checkboxes"), "selected_options": JSONISH}),
    JSONISH,
)


def state_values(draw: st.DrawFn, blocks: list[str]) -> Any:
    """view.state.values: mostly well-formed with odd values, sometimes any JSON."""
    if draw(st.integers(0, 4)) == 0:
        return draw(JSONISH)
    values: dict[str, Any] = {}
    for block in draw(st.lists(st.sampled_from([*blocks, "nonsense"]), max_size=len(blocks) + 1, unique=True)):
        values[block] = {draw(st.sampled_from(["value", "value", "other"])): draw(STATE_VALUE)}
    return values


FORMS = {
    "declare": ["scenario", "level", "title", "description", "detected", "private"],
    "draft_edit": ["text"],
    "draft_reject": ["reason"],
    "resolve": ["summary", "impact", "lessons"],
    "survey": ["q1", "q2", "q3"],
}
METADATA = st.one_of(
    JSONISH.map(json.dumps),
    ANY_TEXT,
    st.none(),
    st.builds(
        lambda k, v: json.dumps({k: v}),
        st.sampled_from(["draft", "version", "incident", "channel"]),
        st.one_of(VALUES, st.integers(-(2**70), 2**70), st.sampled_from([1, 2, "1", "abc", None, [1], 1.5])),
    ),
    st.builds(
        lambda d, v: json.dumps({"draft": d, "version": v}),
        st.sampled_from([1, 2, 3, "1", "x", -1, 10**30]),
        st.sampled_from([1, 2, 0, "1", "v", None, 10**30]),
    ),
)


@st.composite
def submissions(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    callback = draw(st.sampled_from([*FORMS, "nonsense"]))
    view = {
        "id": "VFUZZ",
        "type": "modal",
        "callback_id": callback,
        "hash": "1.x",
        "state": {"values": state_values(draw, FORMS.get(callback, ["x"]))},
    }
    metadata = draw(METADATA)
    if metadata is not None:
        view["private_metadata"] = metadata
    if draw(st.integers(0, 9)) == 0:
        view = draw(st.dictionaries(st.sampled_from(["callback_id", "state", "private_metadata", "id"]), JSONISH))
        view.setdefault("callback_id", callback)
    return callback, view


def is_valid_declare(view: dict[str, Any]) -> bool:
    """Whether the declare form's values make a valid declaration (then one new incident is right)."""
    values = (view.get("state") or {}).get("values") if isinstance(view.get("state"), dict) else None
    if not isinstance(values, dict):
        return False

    def picked(block: str) -> Any:
        found = values.get(block, {}).get("value") if isinstance(values.get(block), dict) else None
        return found if isinstance(found, dict) else {}

    option = picked("scenario").get("selected_option")
    title = picked("title").get("value")
    return (
        isinstance(option, dict)
        and option.get("value") in ("data-breach", "negative-reviews", "other", "service-outage")
        and isinstance(title, str)
        and bool(title.split())
    )


def test_modal_submissions_with_garbage_state(desk: Crisis, full: bool) -> None:
    counter = iter(range(10**9))

    @examples(full)
    @given(submission=submissions(), who=USERS)
    def submitted(submission: tuple[str, dict[str, Any]], who: str) -> None:
        callback, view = submission
        before, seen = fingerprint(desk), len(desk.emu.ephemerals(ID[who]))
        user = {"id": ID[who], "username": who, "name": who, "team_id": desk.emu.team_id}
        payload = {
            "type": "view_submission",
            "user": user,
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": f"fuzz.view.{next(counter)}",
            "team": {"id": desk.emu.team_id, "domain": TEAM_DOMAIN},
            "view": view,
            "response_urls": [],
        }
        response = deliver(desk, urlencode({"payload": json.dumps(payload)}))
        desk.local.settle()
        assert 200 <= response.status < 500, (callback, response.status, response.body[:300])
        assert_no_leak(response.body, *new_notes(desk, who, seen))
        if response.json is not None and response.json.get("response_action") == "errors":
            errors = response.json.get("errors")
            assert (
                isinstance(errors, dict) and errors and all(isinstance(v, str) and v.strip() for v in errors.values())
            ), errors
        after = fingerprint(desk)
        if after != before:
            assert callback == "declare" and is_valid_declare(view), (callback, view)
            assert len(after["incidents"]) == len(before["incidents"]) + 1
            assert after["approvals"] == before["approvals"] and after["role_owners"] == before["role_owners"]
        desk.emu.clear_faults()

    submitted()


# ---- errors a person reads: every UI key renders, with any value -----------------------------------------------------
def test_every_usage_error_renders_for_any_echoed_value(desk: Crisis, full: bool) -> None:
    """Whatever a person typed and the error echoes back renders to a sentence (never a template error)."""
    slack = desk.local.bot.slack

    @examples(full)
    @given(
        key=st.sampled_from(
            [
                "error.unknown_command",
                "error.unknown_scenario",
                "error.bad_level",
                "error.no_mention",
                "error.unknown_role",
                "error.title_too_long",
                "error.stale_draft",
                "error.over_limit",
            ]
        ),
        value=st.one_of(ANY_TEXT, st.sampled_from(["{{ 7*7 }}", "{% for x in () %}", "<!channel>", "`", "\x00"])),
    )
    def explained(key: str, value: str) -> None:
        params = {
            p: value
            for p in ("command", "scenario", "level", "word", "role", "limit", "length", "seen", "current", "network")
        }
        params["valid"] = "a, b"
        text = slack.explain(CrisisError(key, **params), slack.wording())
        assert text.strip()
        if "7*7" in value:
            assert "49" not in text  # shown as typed, never evaluated
        assert_no_leak(text)

    explained()
