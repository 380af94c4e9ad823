"""Monitoring alerts through the front door: signed HTTP requests to the real intake (`POST /intake/<source>`),
the triage card the bot posts in the watch channel of the Slack emulator, and the rows in the real SQLite file."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from conftest import INTAKE_SECRET as SECRET
from conftest import START, Crisis, db_rows

from bot.intake.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from bot.sandbox.model import GENERAL_ID
from bot.sandbox.monitor import Monitor


def alert(key: str = "a-1", **fields: Any) -> dict[str, Any]:
    return {
        "alert_key": key,
        "title": "Customers say our portal leaked their data",
        "text": "My data is for sale on a forum. Did you get hacked?",
        "url": f"https://x.com/someone/status/{key}",
        "network": "x",
        "author": "@someone",
        "reach": 1200,
        "sentiment": -0.6,
        "matched_keywords": ["hacked"],
        "detected_at": (START - timedelta(minutes=4)).isoformat(),
        **fields,
    }


def monitor(desk: Crisis, secret: str = SECRET, source: str = "coosto") -> Monitor:
    return Monitor(desk.local.intake_url, source, secret)


def cards(desk: Crisis) -> list[dict[str, Any]]:
    desk.local.tick()
    return [m for m in desk.emu.messages(GENERAL_ID) if "Possible crisis" in m.get("text", "")]


def card_text(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks", []), ensure_ascii=False)


def markup(node: Any) -> list[str]:
    """Every mrkdwn text in Block Kit (plain_text shows `<!here>` as typed: inert)."""
    if isinstance(node, list):
        return [text for item in node for text in markup(item)]
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "mrkdwn" else []
        return own + [text for value in node.values() for text in markup(value)]
    return []


def test_a_signed_alert_becomes_one_triage_card(desk: Crisis) -> None:
    sent = monitor(desk).send(alert())
    assert sent.status == 202 and sent.body["outcome"] == "new", sent.body
    [card] = cards(desk)
    shown = card_text(card)
    assert "Possible crisis" in shown and "coosto" in shown and "Data breach" in shown
    assert "leak_claims" in shown and "level 1" in shown and "1,200" in shown
    buttons = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == ["triage_declare", "triage_dismiss", "triage_watch", "open_post"]
    assert buttons[-1]["url"] == "https://x.com/someone/status/a-1"
    [triage] = desk.store.triages()
    assert triage.detected_at == START - timedelta(minutes=4) and triage.card_ref == card["ts"]


def test_the_same_alert_delivered_twice_makes_one_card(desk: Crisis) -> None:
    first = monitor(desk).send(alert())
    time.sleep(1.1)  # a source's retry is signed anew (another timestamp): not a replay, a duplicate
    again = monitor(desk).send(alert())
    assert (first.status, again.status) == (202, 202)
    assert again.body["outcome"] == "duplicate" and again.body["triage"] == first.body["triage"]
    assert len(cards(desk)) == 1
    assert len(desk.store.alerts()) == 1 and desk.store.triages()[0].alerts == 1


@pytest.mark.parametrize(
    "how",
    ["unsigned", "no timestamp", "stale", "from the future", "wrong secret", "tampered body", "not a number"],
)
def test_unsigned_stale_or_badly_signed_alerts_are_refused_and_change_nothing(desk: Crisis, how: str) -> None:
    before = db_rows(desk)
    body = json.dumps(alert()).encode()
    now = int(time.time())
    stamp = str(now)
    headers = {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature(SECRET, stamp, body)}
    if how == "unsigned":
        headers = {}
    elif how == "no timestamp":
        del headers[TIMESTAMP_HEADER]
    elif how in ("stale", "from the future"):
        stamp = str(now - 301 if how == "stale" else now + 301)
        headers = {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature(SECRET, stamp, body)}
    elif how == "wrong secret":
        headers[SIGNATURE_HEADER] = signature("guessed", stamp, body)
    elif how == "tampered body":
        body = body.replace(b"leaked", b"loaded")
    else:
        headers = {TIMESTAMP_HEADER: "soon", SIGNATURE_HEADER: signature(SECRET, "soon", body)}
    sent = monitor(desk).send(body, headers=headers)
    assert sent.status == 401 and sent.body["ok"] is False
    assert "Traceback" not in sent.body["error"] and SECRET not in sent.body["error"]
    assert cards(desk) == []
    assert db_rows(desk) == before


def test_an_unknown_source_is_refused(desk: Crisis) -> None:
    sent = monitor(desk, source="brandwatch").send(alert())
    assert sent.status == 401 and desk.store.alerts() == []


def test_a_replayed_request_is_refused(desk: Crisis) -> None:
    body = json.dumps(alert()).encode()
    stamp = str(int(time.time()))
    headers = {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature(SECRET, stamp, body)}
    assert monitor(desk).send(body, headers=headers).status == 202
    replayed = monitor(desk).send(body, headers=headers)
    assert replayed.status == 401 and "replayed" in replayed.body["error"]
    assert len(desk.store.alerts()) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"detected_at": "yesterday"}, "detected_at"),
        ({"detected_at": "2026-03-14T08:00:00"}, "detected_at"),  # no timezone
        ({"url": "javascript:alert(1)"}, "url"),
        ({"sentiment": -3}, "sentiment"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"alert_key": None}, "alert_key"),
    ],
)
def test_a_bad_alert_is_refused_with_what_to_fix_and_changes_nothing(
    desk: Crisis, change: dict[str, Any], field: str
) -> None:
    before = db_rows(desk)
    sent = monitor(desk).send(alert(**change))
    assert sent.status == 400 and field in sent.body["error"], sent.body
    assert db_rows(desk) == before


def test_not_json_and_too_large_are_refused(desk: Crisis) -> None:
    assert monitor(desk).send(b"<xml/>").status == 400
    huge = alert(text="x" * 70_000)
    assert monitor(desk).send(huge).status == 413
    assert desk.store.alerts() == []


def test_alert_text_is_escaped_and_capped(desk: Crisis) -> None:
    hostile = alert(
        title="<!channel> <@U0ANNA> *urgent* <https://evil.example|click>" + "!" * 500,
        text="<!here> " + "spam " * 1000,
        author="<@U0BRAM>",
    )
    assert monitor(desk).send(hostile).status == 202
    [card] = cards(desk)
    shown = " ".join([*markup(card["blocks"]), card["text"]])  # what Slack reads as markup: mentions, links
    assert "<!channel>" not in shown and "<!here>" not in shown and "<@U0ANNA>" not in shown
    assert "<https://evil.example" not in shown and "<@U0BRAM>" not in shown
    assert "&lt;!channel&gt;" in shown
    stored = desk.store.alerts()[0].data
    assert len(stored["text"]) <= 2000 and len(desk.store.triages()[0].title) <= 200


def test_related_alerts_group_into_one_card_that_counts_them(desk: Crisis) -> None:
    for n in range(3):
        assert monitor(desk).send(alert(f"g-{n}", reach=40_000)).status == 202
    [card] = cards(desk)
    [triage] = desk.store.triages()
    assert triage.alerts == 3 and triage.reach == 120_000
    assert triage.level == 3  # data-breach: reach 100,000 suggests level 3
    desk.clock.advance(seconds=30)  # the card's redraw waits a moment, so a burst redraws it once
    [card] = cards(desk)
    assert "120,000" in card_text(card) and "level 3" in card_text(card)


def test_unrelated_alerts_make_their_own_cards(desk: Crisis) -> None:
    monitor(desk).send(alert("d-1"))
    monitor(desk).send(alert("o-1", title="The app is down again", text="werkt niet", matched_keywords=[]))
    assert {t.scenario for t in desk.store.triages()} == {"data-breach", "service-outage"}
    assert len(cards(desk)) == 2


def test_a_burst_from_one_source_is_held_back_with_a_count(desk: Crisis) -> None:
    for n in range(6):  # six unrelated alerts; the source may open three cards per ten minutes
        sent = monitor(desk).send(alert(f"b-{n}", title=f"Mention {n}", text="", matched_keywords=[], url=None))
        assert sent.status == 202
    outcomes = [a.held for a in desk.store.alerts()]
    assert outcomes == [False, False, False, True, True, True]
    desk.clock.advance(seconds=30)
    shown = cards(desk)
    assert len(shown) == 3
    assert desk.store.triages()[-1].held_back == 3
    assert "+3 more from coosto held back" in card_text(shown[-1])


def test_a_meltwater_style_streaming_webhook_makes_one_alert_per_document(desk: Crisis) -> None:
    documents = [
        {
            "id": f"mw-{n}",
            "url": f"https://x.com/p/{n}",
            "published_date": (START - timedelta(minutes=6 - n)).isoformat(),
            "title": "Is the portal hacked?",
            "content": {"opening_text": "Our data is for sale, they say"},
            "source": {"name": "x", "reach": 5000},
            "author": {"name": "@reporter"},
            "enrichments": {"sentiment": "negative"},
            "matched": {"keywords": ["hacked"]},
        }
        for n in range(2)
    ]
    sent = monitor(desk, f"{SECRET}-meltwater", "meltwater").send({"hook_id": "h-1", "documents": documents})
    assert sent.status == 202 and [a["outcome"] for a in sent.body["alerts"]] == ["new", "grouped"], sent.body
    [triage] = desk.store.triages()
    assert triage.source == "meltwater" and triage.scenario == "data-breach" and triage.reach == 10_000
    assert triage.sentiment == -0.8 and triage.detected_at == START - timedelta(minutes=6)
    [card] = cards(desk)
    assert "@reporter" in card_text(card)


def test_a_batch_with_one_bad_document_is_refused_whole(desk: Crisis) -> None:
    documents = [{"id": "ok", "title": "Fine", "published_date": START.isoformat()}, {"id": "bad", "title": "No time"}]
    sent = monitor(desk, f"{SECRET}-meltwater", "meltwater").send({"documents": documents})
    assert sent.status == 400 and "document 2: detected_at" in sent.body["error"], sent.body
    assert desk.store.alerts() == []


def test_a_source_mapped_in_yaml_becomes_generic_alerts(desk: Crisis) -> None:
    mention = {"id": 7, "title": "Worst service ever, boycott!", "url": "https://reviews.example/7", "impact": 900}
    payload = {"mentions": [{"mention": mention | {"date": START.isoformat(), "sentiment": "negative"}}]}
    sent = monitor(desk, f"{SECRET}-brandwatch", "brandwatch").send(payload)
    assert sent.status == 202, sent.body
    [stored] = desk.store.alerts()
    assert stored.alert_key == "7" and stored.data["reach"] == 900
    assert desk.store.triages()[0].scenario == "negative-reviews"


def test_a_burst_joining_a_posted_card_redraws_it_once(desk: Crisis) -> None:
    monitor(desk).send(alert("c-0"))
    [card] = cards(desk)
    updates = len([c for c in desk.emu.calls if c.method == "chat.update"])
    for n in range(1, 6):
        assert monitor(desk).send(alert(f"c-{n}")).status == 202
    cards(desk)
    assert len([c for c in desk.emu.calls if c.method == "chat.update"]) == updates  # the redraw waits a moment
    desk.clock.advance(seconds=11)
    [card] = cards(desk)
    assert len([c for c in desk.emu.calls if c.method == "chat.update"]) == updates + 1
    assert "*Alerts*\\n6" in card_text(card)
