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
import re
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ID, Crisis, db_rows, declare, next_day
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.model import GENERAL_ID
from bot.slack.text import ELLIPSIS, escape, fit

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

    messages = team.emu.messages(incident.channel_id)
    header = next(m for m in messages if m["blocks"][0]["type"] == "header")
    summary = header["blocks"][1]["text"]["text"]
    assert "Promo page leaked" in summary and "&lt;tr&gt;&lt;td&gt;&amp;lt;b" in summary
    assert_cut_cleanly(summary, 3000)
    assert len(team.drafts(incident)) == 3 and all(d.message_ts for d in team.drafts(incident).values())
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
    message = team.emu.message(incident.channel_id, x.message_ts)
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
    team.cmd("dewi", f"update {update}", channel_id=incident.channel_id)
    [posted] = [m for m in team.emu.messages(incident.channel_id) if "R&amp;D" in m.get("text", "")]
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
