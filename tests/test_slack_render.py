"""The Block Kit renderer: every neutral part drawn as slack_sdk's models draw it, within Slack's limits."""

from __future__ import annotations

from slack_sdk.models.blocks import Block

from bot.chat.message import (
    Actions,
    Button,
    Divider,
    Fields,
    Heading,
    Message,
    Note,
    Text,
    Verbatim,
    text_with_buttons,
)
from bot.sandbox.validate import validate_message_blocks
from bot.slack import render
from bot.slack.text import escape

EVERY_PART = Message(
    "fallback",
    (
        Heading("INC-1 · Data breach"),
        Text("*Customer emails exposed*"),
        Text("Call the DPO", Button("checklist_done", "Done", "1:dpo")),
        Fields(("*Level* 2", "*Declared by* <@U0ANNA>")),
        Verbatim("We are *looking* into it & will update you."),
        Verbatim("Final text: `as typed` & <b>", monospace=True),
        Note("updated at 09:00"),
        Divider(),
        Actions(
            (
                Button("draft_approve", "Approve", "3:1", "primary"),
                Button("draft_reject", "Reject", "3:1", "danger"),
                Button("open_channel", "Open the channel", url="https://slack.com/app_redirect?channel=C1"),
            ),
            id="draft-3",
        ),
    ),
)


def _valid(blocks: list[dict]) -> None:
    """Slack's models accept every block and draw it back the same; the emulator's validator sees no problem."""
    for block in blocks:
        model = Block.parse(block)
        assert model is not None
        model.validate_json()
        assert model.to_dict() == block
    assert validate_message_blocks(blocks) == []


def test_every_part_type_renders_to_valid_block_kit():
    blocks = render.blocks(EVERY_PART)
    _valid(blocks)
    assert [b["type"] for b in blocks] == [
        "header",
        "section",
        "section",
        "section",
        "section",
        "section",
        "context",
        "divider",
        "actions",
    ]
    assert blocks[0]["text"] == {"type": "plain_text", "text": "INC-1 · Data breach", "emoji": True}
    assert blocks[2]["accessory"]["action_id"] == "checklist_done" and blocks[2]["accessory"]["value"] == "1:dpo"
    assert [f["text"] for f in blocks[3]["fields"]] == ["*Level* 2", "*Declared by* <@U0ANNA>"]
    assert blocks[4]["text"] == {"type": "plain_text", "text": EVERY_PART.parts[4].text, "emoji": False}
    assert blocks[5]["text"] == {"type": "mrkdwn", "text": "```Final text: `as typed` &amp; &lt;b&gt;```"}
    assert blocks[8]["block_id"] == "draft-3"
    approve, reject, link = blocks[8]["elements"]
    assert (approve["style"], reject["style"], "style" in link) == ("primary", "danger", False)
    assert link["url"].endswith("C1") and "value" not in link


def test_a_message_without_parts_has_no_blocks():
    assert render.blocks(Message("only text")) == []


def test_text_with_buttons_is_a_section_and_a_row():
    blocks = render.blocks(text_with_buttons("Retry?", [Button("resolve_retry", "Retry", "7", "primary")]))
    _valid(blocks)
    assert [b["type"] for b in blocks] == ["section", "actions"]
    assert render.plain("hello") == [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}]


def test_long_text_is_cut_to_each_limit_without_splitting_an_entity():
    typed = "&" * 5000  # every character grows to `&amp;` when escaped
    blocks = render.blocks(
        Message(
            "",
            (
                Heading("x" * 500),
                Text(escape(typed), Button("a", "b" * 200, "v")),
                Fields((escape(typed),)),
                Note(escape(typed)),
            ),
        )
    )
    _valid(blocks)
    heading, section, fields, note = blocks
    assert len(heading["text"]["text"]) <= render.HEADER_LIMIT
    assert len(section["text"]["text"]) <= render.SECTION_LIMIT
    assert len(section["accessory"]["text"]["text"]) <= render.BUTTON_LIMIT
    assert len(fields["fields"][0]["text"]) <= render.FIELD_LIMIT
    assert len(note["elements"][0]["text"]) <= render.SECTION_LIMIT
    for text in (section["text"]["text"], fields["fields"][0]["text"], note["elements"][0]["text"]):
        assert text.endswith("&amp;…")  # whole entities, then the ellipsis


def test_long_verbatim_text_takes_as_many_sections_as_it_needs():
    typed = "<" * 4000 + "tail"
    code = render.blocks(Message("", (Verbatim(typed, monospace=True),)))
    _valid(code)
    pieces = [b["text"]["text"].removeprefix("```").removesuffix("```") for b in code]
    assert all(len(b["text"]["text"]) <= render.SECTION_LIMIT for b in code)
    assert "".join(pieces) == "&lt;" * 4000 + "tail"  # nothing lost, no entity split between two pieces
    plain = render.blocks(Message("", (Verbatim("y" * 7000),)))
    _valid(plain)
    assert [len(b["text"]["text"]) for b in plain] == [3000, 3000, 1000]
