"""User text that grows when it is escaped still fits every Slack limit, through the front door.

`&` becomes `&amp;` and `<` becomes `&lt;`: a 2,000-character description of pasted HTML is 8,000 characters
once escaped, and Slack refuses a section over 3,000. Every text the bot sends passes through one function,
`bot.slack.text.fit`, which cuts at a boundary that keeps entities and mentions whole and ends with "…".
The emulator refuses what Slack refuses (it checks Slack's documented limits), so a text that does not fit
fails these tests the way it would fail in Slack.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import ID, START, Crisis, db_rows, declare, is_full, next_day
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.clock import ManualClock
from bot.config import default_dir
from bot.localdesk import start_local
from bot.models import Incident
from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.model import GENERAL_ID
from bot.sandbox.process import HOST, MODULE, free_port, serve_env
from bot.slack.text import ELLIPSIS, escape, fit
from bot.store import Store, disk_full

PASTED_HTML = ("<tr><td>&lt;b&gt;</td><td>Q&A</td></tr>\n" * 60)[:2000]  # 4,400 characters once escaped
# A cut entity shows as "&am" or "&l" in Slack; a cut mention as a raw "<@U0…".
BROKEN = re.compile(r"&(?!amp;|lt;|gt;)|<(?![@#!][A-Z0-9^|]+[^<>]*>)")


@pytest.fixture
def team(shared: Crisis) -> Iterator[Crisis]:
    """The module's desk a day on; afterwards every message and view it sent was valid for Slack."""
    with next_day(shared, valid_blocks=True) as crisis:
        yield crisis


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every text object's text in the blocks (sections, fields, context elements, headers)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


def assert_cut_cleanly(text: str, limit: int) -> None:
    assert len(text) <= limit, len(text)
    assert text.endswith(ELLIPSIS), text[-40:]
    assert not BROKEN.search(text), BROKEN.search(text)


def open_declare_form(crisis: Crisis, who: str) -> None:
    crisis.cmd(who, "")
    assert crisis.emu.open_view(ID[who]) is not None


def declare_by_form(crisis: Crisis, who: str, title: str, description: str) -> None:
    open_declare_form(crisis, who)
    crisis.submit(
        who,
        {
            "scenario": {"value": {"type": "static_select", "selected_option": {"value": "data-breach"}}},
            "level": {"value": {"type": "static_select", "selected_option": {"value": "2"}}},
            "title": {"value": {"type": "plain_text_input", "value": title}},
            "description": {"value": {"type": "plain_text_input", "value": description}},
        },
    )


# ---- declare ------------------------------------------------------------------------------------------
def test_a_description_of_pasted_html_declares_fully_with_the_description_cut_cleanly(team: Crisis) -> None:
    assert len(PASTED_HTML) == 2000 and len(escape(PASTED_HTML)) > 3000
    seen = len(team.emu.ephemerals(ID["bram"]))
    declare_by_form(team, "bram", "Promo page leaked", PASTED_HTML)
    [incident] = [i for i in team.store.incidents() if i.title == "Promo page leaked"]
    assert incident.description == PASTED_HTML.strip()  # stored as typed

    messages = team.emu.messages(incident.room_ref)
    header = next(m for m in messages if m["blocks"][0]["type"] == "header")
    summary = header["blocks"][1]["text"]["text"]
    assert "Promo page leaked" in summary and "&lt;tr&gt;&lt;td&gt;&amp;lt;b" in summary
    assert_cut_cleanly(summary, 3000)
    assert len(team.drafts(incident)) == 3 and all(d.message_ref for d in team.drafts(incident).values())
    for name in ("anna", "chen", "dewi", "eli"):
        assert [m for m in team.emu.dms(ID[name]) if incident.code in m["text"]], name
    told = [e["text"] for e in team.emu.ephemerals(ID["bram"])[seen:]]
    assert any(t.startswith(f"✅ {incident.code} declared") for t in told), told
    assert team.events(incident, "setup_failed") == []


# ---- reject -------------------------------------------------------------------------------------------
def test_a_reject_reason_of_ampersands_is_shown_cut_and_the_approve_button_goes(team: Crisis) -> None:
    incident = declare(team, "Leak with a loud reviewer")
    x = team.drafts(incident)["x"]
    team.click_draft("chen", incident, "x", "draft_reject")
    team.submit("chen", {"reason": {"value": {"type": "plain_text_input", "value": "&" * 1000}}})
    draft = team.drafts(incident)["x"]
    assert (draft.status, draft.reject_reason) == ("rejected", "&" * 1000)
    message = team.emu.message(incident.room_ref, x.message_ref)
    buttons = [e["text"]["text"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["Edit"]
    [line] = [b["elements"][0]["text"] for b in message["blocks"] if b["type"] == "context"]
    assert "&amp;&amp;" in line
    assert_cut_cleanly(line, 3000)


def test_a_reject_reason_longer_than_the_form_allows_is_a_field_error_and_changes_nothing(team: Crisis) -> None:
    incident = declare(team, "Leak with a verbose reviewer")
    team.click_draft("chen", incident, "x", "draft_reject")
    before = db_rows(team)
    response = team.submit("chen", {"reason": {"value": {"type": "plain_text_input", "value": "why " * 300}}})
    assert response.json is not None and response.json["response_action"] == "errors"
    assert "1000" in response.json["errors"]["reason"]
    assert db_rows(team) == before and team.drafts(incident)["x"].status == "pending"


# ---- updates ------------------------------------------------------------------------------------------
def test_an_internal_update_that_grows_when_escaped_is_posted_cut_cleanly(team: Crisis) -> None:
    incident = declare(team, "Leak with a long update")
    update = ("R&D <team> says: " * 200)[:3000]
    team.cmd("dewi", f"update {update}", channel_id=incident.room_ref)
    [posted] = [m for m in team.emu.messages(incident.room_ref) if "R&amp;D" in m.get("text", "")]
    assert_cut_cleanly(posted["text"], 3000)
    section = posted["blocks"][0]["text"]["text"]
    assert section.startswith("📣") or "<@U0DEWI>" in section
    assert_cut_cleanly(section, 3000)


# ---- the one cutting function -------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["&", "<", ">", "a", " ", "é", "🚨", "*"]), max_size=400).map("".join),
    st.lists(st.sampled_from(["<@U0ANNA>", "<#C0GENERAL>", "ok "]), max_size=4).map("".join),
    st.integers(min_value=1, max_value=500),
)
def test_fit_never_splits_an_entity_or_a_mention(user: str, ours: str, limit: int) -> None:
    text = ours + escape(user) + ours
    cut = fit(text, limit)
    assert len(cut) <= limit
    if len(text) <= limit:
        assert cut == text
    else:
        assert cut.endswith(ELLIPSIS) and text.startswith(cut[: -len(ELLIPSIS)])
        assert not BROKEN.search(cut)
        assert html.unescape(cut[: -len(ELLIPSIS)]) in html.unescape(text)


# ---- the emulator refuses what Slack refuses ----------------------------------------------------------
def _refused(call: Any) -> str:
    with pytest.raises(SlackApiError) as caught:
        call()
    return str(caught.value.response["error"])


def _md(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


@pytest.mark.parametrize(
    ("what", "limit", "blocks"),
    [
        ("section text", 3000, lambda n: [{"type": "section", "text": _md("s" * n)}]),
        ("section field", 2000, lambda n: [{"type": "section", "fields": [_md("f" * n)]}]),
        ("header", 150, lambda n: [{"type": "header", "text": {"type": "plain_text", "text": "h" * n}}]),
        ("context element", 3000, lambda n: [{"type": "context", "elements": [_md("c" * n)]}]),
        (
            "button value",
            2000,
            lambda n: [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "a",
                            "text": {"type": "plain_text", "text": "B"},
                            "value": "v" * n,
                        }
                    ],
                }
            ],
        ),
    ],
)
def test_the_emulator_enforces_slacks_documented_limits(emu: SlackEmulator, what: str, limit: int, blocks) -> None:
    client = WebClient(token=emu.token, base_url=emu.api_url)
    assert client.chat_postMessage(channel=GENERAL_ID, text="x", blocks=blocks(limit))["ok"], what
    assert _refused(lambda: client.chat_postMessage(channel=GENERAL_ID, text="x", blocks=blocks(limit + 1))) == (
        "invalid_blocks"
    ), what


def test_the_emulator_refuses_a_message_text_over_40000_and_a_topic_over_250(emu: SlackEmulator) -> None:
    client = WebClient(token=emu.token, base_url=emu.api_url)
    assert client.chat_postMessage(channel=GENERAL_ID, text="t" * 40_000)["ok"]
    assert _refused(lambda: client.chat_postMessage(channel=GENERAL_ID, text="t" * 40_001)) == "msg_too_long"
    assert _refused(lambda: client.conversations_setTopic(channel=GENERAL_ID, topic="t" * 251)) == "too_long"
    assert json.dumps(emu.messages(GENERAL_ID)).count("t" * 40_000) == 1


# ---- a full disk ----------------------------------------------------------------------------------------
def fill_the_disk(store: Store, other: Incident, now: datetime) -> None:
    """No room left for the database: the file is capped at its size (SQLite's max_page_count), and the room
    left in the tables' pages is used up (by another incident's rows), so the bot's next write fails with
    SQLITE_FULL, as on a full disk."""
    store.limit_size(store.db.execute("PRAGMA page_count").fetchone()[0])
    writers = (  # big rows first, then small ones for the gaps they leave (a short note must not fit either)
        lambda n: store.record_delivery(f"{other.id}:filler:{n}", other.id, "x" * 40, now),
        lambda n: store.add_event(other.id, now, "someone", "note", text="x" * 40),
        lambda n: store.add_event(other.id, now, "s", "note", text=""),
        lambda n: store.claim_request(f"filler-{n}", now),
    )
    for write in writers:
        with pytest.raises(sqlite3.OperationalError) as full:
            for n in range(10_000):
                write(n)
        assert disk_full(full.value)


def test_a_full_disk_still_answers_every_command_and_a_rerun_finishes_the_half_made_declare(
    staffed: Crisis, monkeypatch: pytest.MonkeyPatch
) -> None:
    crisis, store = staffed, staffed.store
    earlier = declare(crisis, "Yesterday's leak", scenario="negative-reviews")
    crisis.clock.advance(days=1)
    create = crisis.emu.ws.create_channel

    def create_then_fill(*args: Any, **kwargs: Any) -> Any:  # the disk fills up while Slack makes the channel
        channel = create(*args, **kwargs)
        fill_the_disk(store, earlier, crisis.clock.now())
        return channel

    monkeypatch.setattr(crisis.emu.ws, "create_channel", create_then_fill)
    seen = len(crisis.emu.ephemerals(ID["bram"]))
    crisis.cmd("bram", "declare data-breach 2 Disk full during a leak")
    [incident] = [i for i in store.incidents() if i.id != earlier.id]
    assert incident.room_ref is None and len(crisis.emu.calls_to("conversations.create")) == 2  # half made
    monkeypatch.setattr(crisis.emu.ws, "create_channel", create)

    seen_anna = len(crisis.emu.ephemerals(ID["anna"]))
    crisis.cmd("bram", "declare data-breach 2 Disk full during a leak")  # again, still full
    crisis.cmd("anna", "note A journalist called", channel_id=earlier.room_ref)
    crisis.click_draft("anna", earlier, "x", "draft_approve")  # a click: its answer comes by response_url
    for who, since in (("bram", seen), ("anna", seen_anna)):
        told = [e["text"] for e in crisis.emu.ephemerals(ID[who])[since:]]
        assert [t for t in told if "cannot save right now" in t], told
        assert not [t for t in told if "dispatch_failed" in t or "Error" in t], told
    assert len([t for t in told if "cannot save right now" in t]) == 2, told  # the note and the click
    assert crisis.store.approvals(crisis.drafts(earlier)["x"].id) == []
    crisis.cmd("gijs", "help")
    assert crisis.last_ephemeral("gijs").startswith("*Crisis Desk*")
    crisis.cmd("gijs", "list")
    assert "dispatch_failed" not in crisis.last_ephemeral("gijs") and crisis.last_ephemeral("gijs")

    store.limit_size(None)  # room again
    crisis.cmd("bram", "declare data-breach 2 Disk full during a leak")
    [incident] = [i for i in store.incidents() if i.id != earlier.id]
    assert len(crisis.emu.calls_to("conversations.create")) == 2 and incident.room_ref
    messages = crisis.emu.messages(incident.room_ref)
    assert len([m for m in messages if m["blocks"] and m["blocks"][0]["type"] == "header"]) == 1
    assert len(drafts := crisis.drafts(incident)) == 3 and all(d.message_ref for d in drafts.values())
    for name in ("anna", "chen", "dewi", "eli"):
        assert len([m for m in crisis.emu.dms(ID[name]) if incident.code in m["text"]]) == 1, name
    assert crisis.last_ephemeral("bram").startswith(f"✅ {incident.code} is set up now"), crisis.last_ephemeral("bram")


# ---- no exception, URL or raw Slack answer ever reaches a person ------------------------------------------
LEAK = re.compile(r"Error|Exception|Traceback|https?://|\{'ok'|'error'|\"ok\"|_not_found|fatal_|not_in_channel")
FAULT_KINDS = ("channel_not_found", "fatal_error", "not_in_channel")
SWEEP_CALLS = 36  # the Web API calls of the whole crisis


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fault" in metafunc.fixturenames:
        # --full: every kind at every call; CI: calls 0, 9, 18 and 27, each kind at one of them at least
        full = is_full(metafunc.config)
        cases = [
            (kind, n)
            for i, kind in enumerate(FAULT_KINDS)
            for n in (range(SWEEP_CALLS) if full else range(i * 9, SWEEP_CALLS, 27))
        ]
        metafunc.parametrize("fault", cases, ids=[f"{kind}-at-call-{n}" for kind, n in cases])


def everything_people_see(emu: SlackEmulator) -> list[str]:
    """Every text of every message, ephemeral, DM and view the bot made, as people see it."""
    seen: list[str] = []
    with emu.ws.lock:
        channels = list(emu.ws.channels)
    for channel in channels:
        for message in emu.messages(channel):
            seen += [message.get("text", ""), *texts(message.get("blocks") or [])]
    for user in ID.values():
        for note in emu.ephemerals(user):
            seen += [note.get("text", ""), *texts(note.get("blocks") or [])]
    for view in emu.views():
        seen += [*texts(view.get("blocks") or []), *(view.get("errors") or {}).values()]
    return [t for t in seen if t]


def test_a_slack_failure_anywhere_in_a_crisis_is_told_in_plain_words(team: Crisis, fault: tuple[str, int]) -> None:
    kind, position = fault
    team.emu.fail(None, error=kind, times=1, after=position)  # one Web API call, somewhere in the flow, refused
    title = f"Leak while Slack fails call {position}"
    incident = declare(team, title)
    if not team.store.incident(incident.id).setup_done_at:  # told that Slack refused a step: run it again
        team.cmd("bram", f"declare data-breach 2 {title}")
    for who in ("anna", "chen"):
        team.click_draft(who, incident, "x", "draft_approve")
    team.click_draft("chen", incident, "facebook", "draft_reject")
    if team.emu.open_view(ID["chen"]):
        team.submit("chen", {"reason": {"value": {"type": "plain_text_input", "value": "Too vague"}}})
    team.cmd("dewi", "update Export stopped", channel_id=incident.room_ref)
    team.cmd("anna", "escalate 3", channel_id=incident.room_ref)
    team.cmd("anna", "resolve", channel_id=incident.room_ref)
    if team.emu.open_view(ID["anna"]):
        team.submit("anna", {"summary": {"value": {"type": "plain_text_input", "value": "Export stopped"}}})
    leaks = [t for t in everything_people_see(team.emu) if LEAK.search(t)]
    assert leaks == []


def test_an_undeliverable_reminder_is_reported_in_plain_words(tmp_path) -> None:
    clock = ManualClock(START)
    environ = {"CRISISBOT_ANNOUNCEMENTS_CHANNEL": "C0GONE"}  # a channel that was deleted: Slack refuses every post
    with start_local(db_path=tmp_path / "crisis.db", clock=clock, environ=environ) as local:
        crisis = Crisis(local, clock)
        crisis.set_roles()
        incident = declare(crisis, "Leak nobody announces")
        for _ in range(8):  # the announcement is tried six times with backoff, then given up
            clock.advance(minutes=10)
            local.tick()
        [report] = [m["text"] for m in crisis.emu.messages(incident.room_ref) if "after several tries" in m["text"]]
        assert "the announcement to leadership" in report and "Slack did not accept it" in report
        assert not LEAK.search(report), report
        assert [t for t in everything_people_see(crisis.emu) if LEAK.search(t)] == []


def test_a_broken_template_is_told_to_the_declarer_in_plain_words(tmp_path) -> None:
    messages = tmp_path / "messages"
    shutil.copytree(default_dir("messages"), messages)
    x = messages / "en" / "drafts" / "data-breach" / "first_response.x.j2"
    x.write_text(x.read_text(encoding="utf-8") + "{{ no_such_value }}", encoding="utf-8")  # edited after `check`
    clock = ManualClock(START)
    with start_local(
        db_path=tmp_path / "crisis.db", clock=clock, environ={"CRISISBOT_MESSAGES": str(messages)}
    ) as local:
        crisis = Crisis(local, clock)
        crisis.set_roles()
        crisis.cmd("bram", "declare data-breach 2 Leak with a broken template")
        told = [e["text"] for e in crisis.emu.ephemerals(ID["bram"])]
        assert [t for t in told if "ran into a problem and could not finish this" in t], told
        assert [t for t in everything_people_see(crisis.emu) if LEAK.search(t) or "no_such_value" in t] == []


# ---- crisisbot serve on a database or config it cannot use ------------------------------------------------
def _corrupt(folder: Path) -> Path:
    path = folder / "crisis.db"
    path.write_bytes(bytes(range(256)) * 20)
    return path


def _damaged(folder: Path) -> Path:  # a SQLite header, then garbage
    path = folder / "crisis.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\x13\x37" * 4000)
    return path


def _read_only(folder: Path) -> Path:
    path = folder / "crisis.db"
    Store(path).close_all()  # a good database, from before
    if os.geteuid() == 0:  # root writes through file modes: make it immutable, which stops root too
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o444)
    return path


def _a_folder(folder: Path) -> Path:
    (folder / "crisis.db").mkdir()
    return folder / "crisis.db"


def _missing_folder(folder: Path) -> Path:
    return folder / "no" / "such" / "folder" / "crisis.db"


@pytest.mark.parametrize(
    ("make", "expected"),
    [  # CI: a file that is no database and one it may not write; --full: every way a path can be unusable
        (_corrupt, "not a SQLite database"),
        pytest.param(_damaged, "the database file is damaged", marks=pytest.mark.slow),
        (_read_only, "the database is read-only"),
        pytest.param(_a_folder, "is a folder, not a database file", marks=pytest.mark.slow),
        pytest.param(_missing_folder, "does not exist — create it", marks=pytest.mark.slow),
    ],
    ids=["corrupt", "damaged", "read-only", "a-folder", "missing-folder"],
)
def test_crisisbot_serve_on_a_database_it_cannot_use_exits_2_with_one_clear_line(
    tmp_path: Path, make: Any, expected: str
) -> None:
    db = make(tmp_path)
    try:
        stderr = _serve_refuses(tmp_path, db)
    finally:
        if os.geteuid() == 0 and db.is_file():
            subprocess.run(["chattr", "-i", str(db)], check=False)
    assert expected in stderr and str(db) in stderr and " — " in stderr, stderr  # what is wrong — what to do


def test_crisisbot_serve_with_a_config_that_is_not_utf8_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "crisisbot.yaml"
    config.write_bytes("company:\n  name: Café Noël\n".encode("cp1252"))
    stderr = _serve_refuses(tmp_path, tmp_path / "crisis.db", {"CRISISBOT_CONFIG": str(config)})
    assert f"{config}:2: not UTF-8 text" in stderr and "save the file as UTF-8" in stderr


def _serve_refuses(folder: Path, db: Path, extra: dict[str, str] | None = None) -> str:
    """Run the real `crisisbot serve`; it must exit 2 at once with one line on stderr and no traceback."""
    env = {**serve_env("http://127.0.0.1:9/api/", db, free_port()), **(extra or {})}
    done = subprocess.run(
        [*MODULE, "serve", "--host", HOST], env=env, capture_output=True, text=True, timeout=60, cwd=folder
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_an_approved_draft_full_of_ampersands_is_cut_into_pieces_that_split_no_entity(team: Crisis) -> None:
    incident = declare(team, "Leak with an ampersand-heavy LinkedIn post")
    team.click_draft("chen", incident, "linkedin", "draft_edit")
    text = ("R&D! " * 600)[:2989]  # 5,380 characters once escaped: two sections
    team.submit("chen", {"text": {"value": {"type": "plain_text_input", "value": text}}})
    for who in ("anna", "chen"):
        team.click_draft(who, incident, "linkedin", "draft_approve")
    assert team.drafts(incident)["linkedin"].status == "approved"
    message = team.draft_message(incident, "linkedin")
    parts = [t.strip("`") for t in texts(message["blocks"]) if t.startswith("```")]
    assert len(parts) == 2 and "".join(parts) == text.replace("&", "&amp;")
    assert not [p for p in parts if BROKEN.search(p)], [p[-12:] for p in parts]
