"""The Adaptive Card renderer: every neutral part and every card the application layer makes, drawn for Teams and
validated against Microsoft's Adaptive Cards 1.5 schema (bot/sandbox/schemas/adaptive-card-1.5.json) and the
28 KB cap; hostile user text stays inert; draft cards carry user-specific views for the people who may decide."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import START

from bot.chat.audience import Restricted, restricted, who_may_press
from bot.chat.cards import draft_card, header_card, role_dm_card
from bot.chat.closing import Closed, outcome
from bot.chat.message import Actions, Button, Divider, Fields, Heading, Message, Note, Text, Verbatim
from bot.chat.status import choose, status_text
from bot.chat.wording import Wording
from bot.clock import ManualClock
from bot.config import load_settings
from bot.incidents import Desk, open_desk
from bot.incidents.approvals import approvers_for
from bot.incidents.declare import DeclareRequest, declare
from bot.incidents.drafts import approve_draft, mark_posted, reject_draft
from bot.incidents.lifecycle import resolve
from bot.incidents.roles import acknowledge
from bot.models import Incident
from bot.teams import render
from bot.teams.text import TEAMS, TeamsDialect, escape, fit, mention, thread_url

SCHEMA = json.loads((Path(render.__file__).parents[1] / "sandbox/schemas/adaptive-card-1.5.json").read_text())
VALIDATOR = jsonschema.Draft6Validator(SCHEMA)
# Entra object ids (the core's ids for Teams people) and their names
PEOPLE = {
    "anna": ("0a0a0a0a-0000-4000-8000-00000000000a", "Anna de Vries", "crisis_lead"),
    "bram": ("0b0b0b0b-0000-4000-8000-00000000000b", "Bram Jansen", "social_media_manager"),
    "chen": ("0c0c0c0c-0000-4000-8000-00000000000c", "Chen Wu", "legal"),
    "dewi": ("0d0d0d0d-0000-4000-8000-00000000000d", "Dewi Bakker", "communications"),
    "gijs": ("06060606-0000-4000-8000-000000000006", "Gijs Mulder", None),
}
ID = {name: guid for name, (guid, _, _) in PEOPLE.items()}
NAMES = {guid: real for guid, real, _ in PEOPLE.values()}


class Known:
    """The people the renderer asks: their names; no Teams ids (the entity carries the Entra object id)."""

    def display_name(self, person: str) -> str | None:
        return NAMES.get(person)

    def teams_id(self, person: str) -> str | None:
        return None


KNOWN = Known()
ROOM = "19:crisis0channel@thread.tacv2;messageid=1700000000001"
HOSTILE_LINE = "<at>Anna de Vries</at> **bold** _it_ ~s~ `c` [click](https://evil.example) # head {{DATE(x)}}"
HOSTILE = (
    "<at>Anna de Vries</at> **bold** _it_ ~s~ `c` [click](https://evil.example) # head\n- list\n1. one {{DATE(x)}}"
)


# Teams' own root property (Teams docs: "Mention support within Adaptive Cards", "Full width Adaptive Card"): not
# in the Adaptive Cards schema, whose root allows no other property, so checked on its own.
MSTEAMS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["width", "entities"],
    "properties": {
        "width": {"enum": ["Full"]},
        "entities": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["type", "text", "mentioned"],
                "properties": {
                    "type": {"enum": ["mention"]},
                    "text": {"type": "string", "pattern": "^<at>[^<>]+</at>$"},
                    "mentioned": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["id", "name"],
                        "properties": {"id": {"type": "string"}, "name": {"type": "string", "minLength": 1}},
                    },
                },
            },
        },
    },
}


def valid(card: dict[str, Any]) -> None:
    """Microsoft's schema accepts the card (Teams' `msteams` checked apart); as an activity it is within 28 KB;
    every mention entity's text is on the card."""
    core = {k: v for k, v in card.items() if k != "msteams"}
    errors = sorted(VALIDATOR.iter_errors(core), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors]
    jsonschema.validate(card["msteams"], MSTEAMS)
    shown = " ".join(texts(card))
    assert all(e["text"] in shown for e in card["msteams"]["entities"])
    assert render.size(render_activity(card)) <= render.MESSAGE_BYTES
    assert render.size(render_activity(card)) <= render.MESSAGE_BYTES


def render_activity(card: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "attachments": [{"contentType": render.CARD_TYPE, "content": card}]}


def texts(card: Any) -> list[str]:
    """Every text a person reads on the card (TextBlocks, facts, text runs, action titles)."""
    found: list[str] = []
    if isinstance(card, dict):
        for key in ("text", "title", "value"):
            if isinstance(card.get(key), str) and card.get("type") != "mention":
                found.append(card[key])
        for key, value in card.items():
            if key not in ("msteams", "data", "refresh"):
                found += texts(value)
    elif isinstance(card, list):
        for item in card:
            found += texts(item)
    return found


def actions(card: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(card, dict):
        if str(card.get("type", "")).startswith("Action.") and card is not card.get("refresh"):
            found.append(card)
        for key, value in card.items():
            if key != "refresh":
                found += actions(value)
    elif isinstance(card, list):
        for item in card:
            found += actions(item)
    return found


EVERY_PART = Message(
    "fallback *with* " + mention(ID["anna"]),
    (
        Heading("CR-2026-001 · Data breach"),
        Text("*Customer emails exposed*"),
        Text("Call the DPO · " + mention(ID["chen"]), Button("checklist_done", "Done", "1:dpo")),
        Fields(("*Level 2*\nSerious", "*Declared by*\n" + mention(ID["bram"]))),
        Fields(("one", "two", "three"), text="above the facts"),
        Verbatim("We are *looking* into it & <at>Anna de Vries</at> will update you.\nSecond line"),
        Verbatim("Final text: `as typed` & <b>", monospace=True),
        Note("updated at 09:00"),
        Divider(),
        Actions(
            (
                Button("draft_approve", "Approve", "3:1", "primary"),
                Button("draft_reject", "Reject", "3:1", "danger"),
                Button("open_channel", "Open the thread", url="https://teams.microsoft.com/l/message/x/1"),
            ),
            id="draft-3",
        ),
    ),
)


def test_every_part_renders_to_a_valid_adaptive_card():
    card = render.card(EVERY_PART, people=KNOWN)
    valid(card)
    assert (card["type"], card["version"], card["msteams"]["width"]) == ("AdaptiveCard", "1.5", "Full")
    body = card["body"]
    assert [b["type"] for b in body] == [
        "TextBlock",
        "TextBlock",
        "ColumnSet",
        "FactSet",
        "TextBlock",
        "ColumnSet",
        "ColumnSet",
        "RichTextBlock",
        "RichTextBlock",
        "TextBlock",
        "ActionSet",
    ]
    heading, bold = body[0], body[1]
    assert (heading["weight"], heading["size"], heading["text"]) == ("Bolder", "Medium", "CR-2026-001 · Data breach")
    assert bold == {"type": "TextBlock", "text": "**Customer emails exposed**", "wrap": True}
    done = body[2]["columns"][1]["items"][0]["actions"][0]
    assert done == {"type": "Action.Execute", "title": "Done", "verb": "checklist_done", "data": {"value": "1:dpo"}}
    assert body[2]["columns"][0]["items"][0]["text"] == "Call the DPO · <at>Chen Wu</at>"
    facts = body[3]["facts"]
    assert facts == [
        {"title": "Level 2", "value": "Serious"},
        {"title": "Declared by", "value": "<at>Bram Jansen</at>"},
    ]
    assert body[4]["text"] == "above the facts" and len(body[5]["columns"]) == 2 and len(body[6]["columns"]) == 1
    run, mono = body[7]["inlines"][0], body[8]["inlines"][0]
    assert run["text"].startswith("We are *looking* into it & <\u200bat>Anna de Vries<\u200b/at>")  # no mention
    assert run["text"].endswith("\nSecond line") and "fontType" not in run
    assert mono == {"type": "TextRun", "text": "Final text: `as typed` & <b>", "fontType": "Monospace"}
    note, row = body[9], body[10]
    assert (note["size"], note["isSubtle"]) == ("Small", True)
    assert row["separator"] is True  # the divider before the buttons
    approve, reject, link = row["actions"]
    assert (approve["verb"], approve["data"], approve["style"]) == ("draft_approve", {"value": "3:1"}, "positive")
    assert reject["style"] == "destructive"
    assert link == {
        "type": "Action.OpenUrl",
        "title": "Open the thread",
        "url": "https://teams.microsoft.com/l/message/x/1",
    }
    mentioned = {(e["text"], e["mentioned"]["id"], e["mentioned"]["name"]) for e in card["msteams"]["entities"]}
    assert mentioned == {  # Anna is named in the fallback text only: plain, no entity
        ("<at>Chen Wu</at>", ID["chen"], "Chen Wu"),
        ("<at>Bram Jansen</at>", ID["bram"], "Bram Jansen"),
    }
    assert card["fallbackText"] == "fallback with Anna de Vries"


def test_an_activity_carries_the_card_and_a_summary_and_plain_text_carries_its_mentions():
    drawn = render.activity(EVERY_PART, people=KNOWN)
    assert drawn["type"] == "message" and drawn["summary"] == "fallback with Anna de Vries"
    (attachment,) = drawn["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    valid(attachment["content"])
    text = render.activity(Message("Paging *now*: " + mention(ID["dewi"]) + "\nsecond line"), people=KNOWN)
    assert text["text"] == "Paging **now**: <at>Dewi Bakker</at>\n\nsecond line" and text["textFormat"] == "markdown"
    assert text["entities"] == [
        {"type": "mention", "text": "<at>Dewi Bakker</at>", "mentioned": {"id": ID["dewi"], "name": "Dewi Bakker"}}
    ]
    valid(render.card(Message("just text")))
    assert (
        render.plain("*Paged* " + mention(ID["dewi"]), NAMES.get) == "Paged Dewi Bakker"
    )  # names by a function  # a card of a message without parts: its text as a paragraph


def test_hostile_user_text_stays_inert(desk: Desk):
    say = Wording(desk.messages, "en", TEAMS)
    escaped = say("header.summary", title=HOSTILE_LINE, description=HOSTILE)
    card = render.card(Message("x", (Text(escaped), Fields((say("header.level", level=2, criteria=HOSTILE),)))))
    assert card["body"][0]["text"].startswith("**‹at›Anna de Vries‹/at› ∗∗bold∗∗")  # our bold, their marks inert
    valid(card)
    assert card["msteams"]["entities"] == []  # nothing a person typed mentions anyone
    for text in texts(card):
        assert "<at>" not in text and "](" not in text and "{{" not in text
        assert not re.search(r"(?m)^\s*(?:[-+]|\d+\.)\s", text), text  # no list starts
        assert "*" not in text.replace("**", "") and "_it_" not in text and "`c`" not in text and "#" not in text
    assert "Anna de Vries" in card["body"][0]["text"]  # the words are all there, as look-alikes


def test_escape_and_fit():
    assert escape("**x** _y_ <at>z</at> [a](b)") == "∗∗x∗∗ ˍyˍ ‹at›z‹/at› ［a］(b)"
    assert escape("- a\n  + b\n12. c\nnot - a list") == "‐ a\n  ＋ b\n12․ c\nnot - a list"
    token = mention(ID["anna"])
    assert str(token) == f"<at:{ID['anna']}>" and str(mention("U0ANNA")) == "—" and str(mention(None)) == "—"
    text = "x" * 10 + token + "y" * 10
    assert fit(text, 15) == "x" * 10 + "…"  # never half a mention
    link = TeamsDialect("tenant-1").room_link(ROOM)
    assert fit("ab " + link, 20) == "ab…"
    assert str(link).startswith("[Teams ↗](https://teams.microsoft.com/l/message/19%3Acrisis0channel%40thread.tacv2/")
    url = thread_url(ROOM, "tenant-1")
    assert url and url.endswith("/1700000000001?parentMessageId=1700000000001&tenantId=tenant-1")
    assert thread_url("a:personal-chat") is None and TEAMS.room_link(None) == "—"
    assert TEAMS.code("crisis roles set legal @person") == "`crisis roles set legal @person`"


def test_a_ten_kilobyte_text_is_cut_to_fit_the_cap():
    huge = escape(HOSTILE * 60)[:10_000]
    mentions = " ".join(mention(guid) for guid in ID.values())
    parts = (*tuple(Text(huge + " " + mentions) for _ in range(6)), Verbatim(HOSTILE * 100))
    drawn = render.activity(Message(huge, parts), people=KNOWN)
    assert render.size(drawn) <= render.MESSAGE_BYTES
    card = drawn["attachments"][0]["content"]
    valid(card)
    assert all(len(text) <= max(render.TEXT_LIMITS) + 200 for text in texts(card))
    assert all(t.endswith("…") for t in texts(card)[:6])  # cut, with an ellipsis
    assert len(drawn["summary"]) < 10_000


# ---- every real card the layer makes ---------------------------------------------------------------------
@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    desk = open_desk(load_settings(environ={"CRISISBOT_DB": str(tmp_path / "crisis.db")}), clock=ManualClock(START))
    for guid, _, role in PEOPLE.values():
        if role:
            desk.store.set_role_owners(role, [guid])
    yield desk


def incident_of(desk: Desk, title: str = "Customer emails exposed") -> Incident:
    request = DeclareRequest(scenario="data-breach", title=title, declared_by=ID["bram"], platform="teams")
    incident = declare(desk, request).incident
    return desk.store.update_incident(incident.id, room_ref=ROOM, room_name="crisis")


@pytest.mark.parametrize("language", ["en", "nl"])
def test_the_layers_cards_render_valid(desk: Desk, language: str):
    incident = incident_of(desk, "<at>Anna de Vries</at> **leak** [x](https://evil.example)")
    say = Wording(desk.messages, language, TeamsDialect("tenant-1"))
    acknowledge(desk, incident, "legal", ID["chen"])
    cards = [header_card(desk, incident, say)]
    cards += [draft_card(desk, incident, d, say) for d in desk.store.drafts(incident.id)]
    cards.append(role_dm_card(desk, incident, ID["chen"], ["legal"], say, say.dialect.room_url(ROOM)))
    cards.append(Message(status_text(desk, incident, say)))
    cards.append(choose(desk, say, ID["bram"]))
    for message in cards:
        card = render.card(message, people=KNOWN)
        valid(card)
        for text in texts(card):
            assert "<at:" not in text and "[x](" not in text
        named = {e["mentioned"]["id"] for e in card["msteams"]["entities"]}
        assert named <= set(ID.values())
    header = render.card(cards[0], people=KNOWN)
    named = {e["mentioned"]["name"] for e in header["msteams"]["entities"]}
    assert {"Bram Jansen", "Chen Wu"} <= named  # the declarer, and legal who acknowledged
    dm = render.card(cards[-3], people=KNOWN)
    assert any(a.get("type") == "Action.OpenUrl" and "teams.microsoft.com/l/message" in a["url"] for a in actions(dm))


def test_drafts_in_every_state_render_valid(desk: Desk):
    incident = incident_of(desk)
    say = Wording(desk.messages, "en", TEAMS)
    draft = desk.store.drafts(incident.id)[0]
    for role in approvers_for(desk, incident):
        approve_draft(desk, draft.id, draft.version, desk.store.role_owners()[role][0])
    approved = desk.store.draft(draft.id)
    assert approved.status == "approved"
    card = render.card(draft_card(desk, incident, approved, say), people=KNOWN)
    valid(card)
    mono = [r for b in card["body"] if b["type"] == "RichTextBlock" for r in b["inlines"]]
    assert mono and mono[0]["fontType"] == "Monospace" and mono[0]["text"] == approved.text  # ready to copy
    mark_posted(desk, draft.id, approved.version, ID["bram"], anyway=True)
    posted = render.card(draft_card(desk, incident, desk.store.draft(draft.id), say), people=KNOWN)
    valid(posted)
    assert actions(posted) == [] and "Bram Jansen" in " ".join(texts(posted))
    other = desk.store.drafts(incident.id)[1]
    reject_draft(desk, other.id, other.version, ID["chen"], "Too **vague** <at>Anna de Vries</at>")
    rejected = render.card(draft_card(desk, incident, desk.store.draft(other.id), say), people=KNOWN)
    valid(rejected)
    assert [a["verb"] for a in actions(rejected)] == ["draft_edit"]
    assert {e["mentioned"]["name"] for e in rejected["msteams"]["entities"]} == {"Chen Wu"}  # not the typed one


def test_the_closing_message_outcome_and_resolve_steps_render_valid(desk: Desk):
    incident = incident_of(desk)
    say = Wording(desk.messages, "en", TEAMS)
    summary = "Fixed **it** <at>Anna de Vries</at>\n- not a list"
    resolve(desk, incident, ID["anna"], summary=summary, impact="none", lessons="[more](https://evil.example)")
    closing = say("resolve.closing", code=incident.code, user=mention(ID["anna"]), took="1 h", summary=summary,
                  impact="none", lessons="[more](https://evil.example)")  # fmt: skip
    drawn = render.activity(Message(closing), people=KNOWN)  # posted as text, as bot/chat/closing.py does
    assert drawn["entities"] == [
        {"type": "mention", "text": "<at>Anna de Vries</at>", "mentioned": {"id": ID["anna"], "name": "Anna de Vries"}}
    ]
    assert drawn["text"].count("<at>") == 1 and "](" not in drawn["text"] and "\n- " not in drawn["text"]
    valid(render.card(Message(closing), people=KNOWN))
    resolved = desk.store.incident(incident.id)
    failed = outcome(resolved, Closed(resolved, failed=["closing", "report"]), say, rerun=False)
    done = outcome(resolved, Closed(resolved, did=["closing"]), say, rerun=True)
    for message in (failed, done):
        valid(render.card(message, people=KNOWN))
    (retry,) = actions(render.card(failed))
    assert (retry["verb"], retry["data"]) == ("resolve_retry", {"value": str(incident.id)})


# ---- user-specific views -----------------------------------------------------------------------------------
def test_a_draft_card_shows_its_decisions_only_to_who_may_decide(desk: Desk):
    incident = incident_of(desk)
    say = Wording(desk.messages, "en", TEAMS)
    draft = desk.store.drafts(incident.id)[0]
    message = draft_card(desk, incident, draft, say)
    rule = restricted(desk, message)
    assert rule is not None and rule.key == f"draft:{draft.id}"
    approvers = who_may_press(desk, incident, "draft_approve")
    assert approvers and ID["gijs"] not in approvers and set(rule.who["draft_approve"]) == set(approvers)
    assert who_may_press(desk, incident, "checklist_done") is None  # the verb decides; everyone sees it
    mri = [f"29:{p}" for p in rule.people]
    base = render.card(message, restricted=rule, user_ids=mri)
    valid(base)
    assert actions(base) == []  # everyone's card: no decision buttons
    assert base["refresh"] == {
        "action": {"type": "Action.Execute", "verb": "refresh", "data": {"value": f"draft:{draft.id}"}},
        "userIds": mri,
    }
    approver = approvers[0]
    mine = render.card(message, approver, restricted=rule, user_ids=mri)
    valid(mine)
    assert {a["verb"] for a in actions(mine)} >= {"draft_approve", "draft_reject"}
    intern = render.card(message, ID["gijs"], restricted=rule, user_ids=mri)
    assert actions(intern) == []
    approve_draft(desk, draft.id, draft.version, approver)  # the rule is the core's, as it is now
    assert restricted(desk, draft_card(desk, incident, desk.store.draft(draft.id), say)) is not None


def test_refresh_names_at_most_sixty_users():
    many = tuple(f"{i:08x}-0000-4000-8000-000000000000" for i in range(90))
    rule = Restricted("draft:1", {"draft_approve": many})
    message = Message("d", (Actions((Button("draft_approve", "Approve", "1:1"),), id="draft-1"),))
    card = render.card(message, restricted=rule, user_ids=[f"29:{p}" for p in rule.people])
    valid(card)
    assert len(card["refresh"]["userIds"]) == 60


def test_our_strike_marks_become_plain_text_and_a_typed_tilde_stays_inert():
    """Card markdown has no strikethrough: a done checklist item's `~…~` (ours) is dropped, a person's `~` kept."""
    typed = render.TEAMS.escape("~not ours~")
    card = render.card(Message("x", (Text(f"✅ ~Pause all scheduled posts~ · {typed}"),)), people=KNOWN)
    text = card["body"][0]["text"]
    assert text.startswith("✅ Pause all scheduled posts · ") and "~Pause" not in text
    assert "not ours" in text and "~not ours~" not in text  # escaped to look-alikes, never markup
