"""The triage card's buttons through the front door: Declare (the declare modal prefilled, the countdown from the
alert's time, the alerts first on the timeline), Dismiss with a reason, Watch and its re-alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import ID, INTAKE_SECRET, START, Crisis
from test_intake import alert, card_text, cards

from bot.report import render_report
from bot.sandbox.model import GENERAL_ID
from bot.sandbox.monitor import Monitor
from bot.sandbox.payloads import submitted_as_shown


def send(desk: Crisis, key: str = "a-1", **fields: Any) -> None:
    sent = Monitor(desk.local.intake_url, "coosto", INTAKE_SECRET).send(alert(key, **fields))
    assert sent.status == 202, sent.body


def click_card(desk: Crisis, who: str, action_id: str, card: dict[str, Any]) -> None:
    desk.click(who, action_id, channel_id=GENERAL_ID, ts=card["ts"])


def reason_given(text: str) -> dict[str, dict[str, dict[str, Any]]]:
    return {"reason": {"value": {"type": "plain_text_input", "value": text}}}


def buttons(card: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]


def test_declare_from_the_card_opens_the_form_prefilled_and_counts_from_detection(desk: Crisis) -> None:
    send(desk, "a-1", reach=60_000)
    send(desk, "a-2", reach=50_000, detected_at=(START - timedelta(minutes=9)).isoformat())
    [card] = cards(desk)
    click_card(desk, "bram", "triage_declare", card)
    view = desk.emu.open_view(ID["bram"])
    assert view is not None and view["callback_id"] == "declare"
    state = submitted_as_shown(view)
    assert state["scenario"]["value"]["selected_option"]["value"] == "data-breach"
    assert state["level"]["value"]["selected_option"]["value"] == "3"  # reach 110,000: the playbook's level 3
    assert state["title"]["value"]["value"] == "Customers say our portal leaked their data"
    detected = START - timedelta(minutes=9)
    assert state["detected"]["value"]["selected_date_time"] == int(detected.timestamp())
    desk.emu.submit_view(ID["bram"], view["id"], state)
    desk.local.settle()
    [incident] = desk.store.incidents()
    assert incident.detected_at == detected and incident.first_response_due == detected + timedelta(minutes=60)
    kinds = [e.kind for e in desk.events(incident)]
    assert kinds[:4] == ["alert_received", "alert_received", "triaged", "declared"]
    [triage] = desk.store.triages()
    assert triage.status == "declared" and triage.incident_id == incident.id and triage.decided_by == ID["bram"]
    [card] = cards(desk)
    assert buttons(card) == ["open_post"] and incident.code in str(card["blocks"])


def test_a_card_declared_once_is_not_declared_again(desk: Crisis) -> None:
    send(desk)
    [card] = cards(desk)
    click_card(desk, "bram", "triage_declare", card)
    click_card(desk, "chen", "triage_declare", card)  # both opened the form before either submitted
    first, second = desk.emu.open_view(ID["bram"]), desk.emu.open_view(ID["chen"])
    assert first is not None and second is not None
    desk.emu.submit_view(ID["bram"], first["id"], submitted_as_shown(first))
    desk.local.settle()
    other_title = {"title": {"value": {"type": "plain_text_input", "value": "Another title"}}}
    desk.emu.submit_view(ID["chen"], second["id"], submitted_as_shown(second) | other_title)
    desk.local.settle()
    [incident] = desk.store.incidents()
    assert "already declared this alert as " + incident.code in desk.last_ephemeral("chen")
    stale = {"value": "1", "block_id": "triage:1"}  # a client still showing the card as it was
    desk.click("dewi", "triage_declare", channel_id=GENERAL_ID, ts=card["ts"], **stale)
    assert "already declared" in desk.last_ephemeral("dewi") and desk.emu.open_view(ID["dewi"]) is None


def test_dismiss_keeps_the_reason_and_takes_the_buttons_away(desk: Crisis) -> None:
    send(desk)
    [card] = cards(desk)
    click_card(desk, "eli", "triage_dismiss", card)
    view = desk.emu.open_view(ID["eli"])
    assert view is not None and view["callback_id"] == "triage_dismiss"
    refused = desk.emu.submit_view(ID["eli"], view["id"], reason_given("  "))
    assert "why this is not a crisis" in str(refused.json)
    reason = "A parody account <!channel>"
    desk.emu.submit_view(ID["eli"], view["id"], reason_given(reason))
    desk.local.settle()
    [triage] = desk.store.triages()
    assert (triage.status, triage.reason, triage.decided_by) == ("dismissed", reason, ID["eli"])
    [card] = cards(desk)
    assert buttons(card) == ["open_post"] and "A parody account" in str(card["blocks"])
    assert "<!channel>" not in str(card["blocks"])
    desk.click("bram", "triage_dismiss", channel_id=GENERAL_ID, ts=card["ts"], value="1", block_id="triage:1")
    assert "already dismissed this alert: A parody account" in desk.last_ephemeral("bram")


def test_watch_snoozes_the_card_and_a_doubled_volume_alerts_again(desk: Crisis) -> None:
    send(desk, "w-1")
    send(desk, "w-2")
    [card] = cards(desk)
    click_card(desk, "bram", "triage_watch", card)
    assert "watching this alert" in desk.last_ephemeral("bram")
    desk.clock.advance(seconds=30)
    [card] = cards(desk)
    assert buttons(card) == ["triage_declare", "triage_dismiss", "open_post"]
    send(desk, "w-3")
    desk.clock.advance(seconds=30)
    assert len(cards(desk)) == 1  # three alerts: not yet double the two it had
    send(desk, "w-4")
    shown = cards(desk)
    assert len(shown) == 2 and "Growing again" in str(shown[-1]["blocks"])
    assert desk.store.triages()[0].status == "open"


def test_declare_from_a_message_prefills_the_form_and_counts_from_the_message(staffed: Crisis) -> None:
    staffed.clock.set(datetime.now(UTC) + timedelta(minutes=20))  # the message was said 20 minutes ago
    text = "Customer service: a customer says our app is down and werkt niet since this morning\nscreenshot: https://x.com/a/1"
    staffed.emu.user_message(ID["dewi"], GENERAL_ID, text)
    message = staffed.emu.messages(GENERAL_ID)[-1]
    staffed.emu.message_shortcut(ID["bram"], "declare_from_message", channel_id=GENERAL_ID, ts=message["ts"])
    staffed.local.settle()
    view = staffed.emu.open_view(ID["bram"])
    assert view is not None and view["callback_id"] == "declare"
    state = submitted_as_shown(view)
    assert state["scenario"]["value"]["selected_option"]["value"] == "service-outage"  # "down", "werkt niet"
    assert state["title"]["value"]["value"].startswith("Customer service: a customer says our app is down")
    assert "screenshot: https://x.com/a/1" in state["description"]["value"]["value"]
    sent_at = int(float(message["ts"]))
    assert state["detected"]["value"]["selected_date_time"] == sent_at
    staffed.emu.submit_view(ID["bram"], view["id"], state)
    staffed.local.settle()
    [incident] = staffed.store.incidents()
    assert incident.scenario == "service-outage" and int(incident.detected_at.timestamp()) == sent_at
    assert incident.first_response_due == incident.detected_at + timedelta(minutes=60)


def declare_one_dismiss_one(desk: Crisis, reason: str) -> None:
    """A breach alert and an outage alert: bram declares the breach from its card, eli dismisses the outage."""
    send(desk, "j-1")
    send(desk, "o-1", title="The app is down", text="werkt niet", matched_keywords=[], url="https://x.com/b/1")
    declared, dismissed = cards(desk)
    click_card(desk, "bram", "triage_declare", declared)
    view = desk.emu.open_view(ID["bram"])
    assert view is not None
    desk.emu.submit_view(ID["bram"], view["id"], submitted_as_shown(view))
    desk.local.settle()
    click_card(desk, "eli", "triage_dismiss", dismissed)
    form = desk.emu.open_view(ID["eli"])
    assert form is not None
    desk.emu.submit_view(ID["eli"], form["id"], reason_given(reason))
    desk.local.settle()


@pytest.mark.parametrize("language", ["en", "nl"])
def test_the_report_shows_detection_to_first_reply_and_each_sources_signal_quality(desk: Crisis, language: str) -> None:
    declare_one_dismiss_one(desk, "A test post by our own team")
    [incident] = desk.store.incidents()
    desk.clock.advance(minutes=20)
    desk.click_draft("chen", incident, "x", "draft_approve")  # level 1 of a data breach: legal approves
    desk.click_draft("bram", incident, "x", "draft_mark_posted")
    text = render_report(desk.local.desk, desk.store.incident(incident.id), language)
    detection = text.split("## Detecti")[1].split("\n## ")[0]
    rows = [line for line in detection.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 4
    assert rows[0].endswith("| 0.0 |") or rows[0].endswith("| 0,0 |")  # detected: the alert's own time
    assert rows[2].endswith("| 4.0 |") or rows[2].endswith("| 4,0 |")  # declared four minutes after the alert
    assert rows[3].endswith("| 24.0 |") or rows[3].endswith("| 24,0 |")  # the first reply, twenty minutes later
    quality = text.split("## Signa")[1].split("\n## ")[0]
    assert "| coosto | 2 | 2 | 1 | 1 |" in quality
    timeline = text.split("\n## Ti")[1]
    assert timeline.index("coosto") < timeline.index(incident.code)  # the alert is the first event


def test_alerts_after_the_declare_join_the_declared_card_and_after_a_dismissal_make_a_new_one(desk: Crisis) -> None:
    declare_one_dismiss_one(desk, "Planned maintenance")
    send(desk, "j-2")  # the breach is still being talked about: its card counts it
    send(desk, "o-2", title="Down again", text="werkt niet", matched_keywords=[], url="https://x.com/b/2")
    desk.clock.advance(seconds=30)
    shown = cards(desk)
    assert len(shown) == 3  # only the outage, dismissed before, comes back as a card of its own
    first = desk.store.triages()[0]
    assert first.status == "declared" and first.alerts == 2
    assert "*Alerts*\\n2" in card_text(shown[0]) and "Declared by" in card_text(shown[0])
