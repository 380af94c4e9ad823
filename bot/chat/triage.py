"""The triage card: a monitoring alert (or a group of them) in the watch channel, with Declare, Dismiss, Watch.

`card` draws it as a neutral Message from the triage's row (both renderers draw it); `TriageCards` delivers its
outbox rows (`triage_card`, addressed by triage: there is no incident yet). Posting uses the one try → look up →
record routine: the triage notes the card as tried before the post, the post carries a tag, and a run that died
between the platform's answer and the note finds the card by that tag instead of posting it twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from markupsafe import Markup

from bot.chat.message import Actions, Button, Fields, Message, Note, Part, Text, Verbatim
from bot.chat.port import Port, Tag
from bot.chat.wording import Wording
from bot.faults import crash_point
from bot.incidents.desk import Desk
from bot.messages import local_time
from bot.models import OutboxMessage, Triage

MAX_SHOWN_TEXT = 600  # of the first alert's post, shown verbatim on the card


def tag(triage: Triage) -> Tag:
    """What identifies a triage's card on the platform: each re-alert after a Watch is a card of its own."""
    return Tag(f"triage-{triage.id}", f"card:{triage.realerts}")


def card(desk: Desk, triage: Triage, say: Wording) -> Message:
    """The card as it stands: what was seen, what it suggests, and the buttons while it is undecided."""
    first = desk.store.first_alert(triage.id)
    data = first.data if first else {}
    fallback = say("triage.fallback", title=triage.title, source=triage.source)
    # A Text, not a Heading: the title is the alert's (untrusted), escaped as every user value in markup is.
    parts: list[Part] = [Text(say("triage.heading", title=triage.title))]
    parts.append(Fields(_facts(desk, triage, data, say)))
    if data.get("text"):
        text = str(data["text"])
        parts.append(Verbatim(text if len(text) <= MAX_SHOWN_TEXT else text[: MAX_SHOWN_TEXT - 1] + "…"))
    parts.append(Note(say("triage.detected", when=_when(desk, triage.detected_at, say))))
    decided = _decision(desk, triage, say)
    if decided:
        parts.append(Note(decided))
    buttons = _buttons(triage, say)
    if buttons:
        parts.append(Actions(tuple(buttons), id=f"triage:{triage.id}"))
    return Message(fallback, tuple(parts))


def _facts(desk: Desk, triage: Triage, data: dict[str, Any], say: Wording) -> tuple[str, ...]:
    book = desk.playbooks.get(triage.scenario or "")
    scenario = book.name.in_(say.language) if book else ""
    facts = [
        say("triage.source", source=triage.source, network=data.get("network") or "", author=data.get("author") or "")
    ]
    if book and triage.rule:
        terms = ", ".join(str(t) for t in data.get("terms") or []) or triage.rule
        facts.append(say("triage.rule", scenario=scenario, rule=say.dialect.code(triage.rule), terms=terms))
        facts.append(say("triage.suggested", scenario=scenario, level=triage.level))
    else:
        facts += [say("triage.no_rule"), say("triage.no_suggestion")]
    facts.append(say("triage.alerts", count=triage.alerts, held=triage.held_back, source=triage.source))
    facts.append(say("triage.reach", reach=f"{triage.reach:,}", sentiment=triage.sentiment))
    return tuple(facts)


def _decision(desk: Desk, triage: Triage, say: Wording) -> str | None:
    who = say.mention(triage.decided_by) if triage.decided_by else Markup("")
    if triage.status == "watching":
        return say("triage.watching", who=who, count=triage.watch_alerts or triage.alerts)
    if triage.status == "dismissed":
        return say("triage.dismissed", who=who, reason=triage.reason or "")
    if triage.status == "declared" and triage.incident_id:
        incident = desk.store.incident(triage.incident_id)
        return say("triage.declared", who=who, code=incident.code)
    if triage.realerts:
        return say("triage.realert", count=triage.alerts)
    return None


def _buttons(triage: Triage, say: Wording) -> list[Button]:
    buttons: list[Button] = []
    if triage.status in ("open", "watching"):
        value = str(triage.id)
        buttons.append(Button("triage_declare", say("button.triage_declare"), value, "primary"))
        buttons.append(Button("triage_dismiss", say("button.triage_dismiss"), value, "danger"))
        if triage.status == "open":
            buttons.append(Button("triage_watch", say("button.triage_watch"), value))
    if triage.url:
        buttons.append(Button("open_post", say("button.open_post"), str(triage.id), url=triage.url))
    return buttons


def _when(desk: Desk, at: datetime, say: Wording) -> str:
    return local_time(at, say.language, desk.settings.tz)


class TriageCards:
    """Delivers `triage_card` rows on one platform's port: post the card once, then redraw it in place."""

    def __init__(self, desk: Desk, port: Port) -> None:
        self.desk, self.port = desk, port

    def deliver(self, row: OutboxMessage) -> None:
        """Post or redraw the row's card; raises when the platform refused (the runner retries)."""
        assert row.triage_id is not None
        store = self.desk.store
        triage = store.triage(row.triage_id)
        room = self.desk.settings.watch_channel(triage.platform or "")
        if not room:
            raise RuntimeError(f"no watch channel is configured for {triage.platform}")
        say = Wording(self.desk.messages, self.desk.language, self.port.dialect)
        message = card(self.desk, triage, say)
        ref = triage.card_ref
        if ref is None and triage.card_tried_at is not None:  # a run that died may have posted it
            ref = self.port.find_posts(room, tag(triage).code, {tag(triage).step}).get(tag(triage).step)
            if ref is not None:
                store.update_triage(triage.id, card_ref=ref)
        if ref is not None:
            self.port.update(room, ref, message)
            return
        store.update_triage(triage.id, card_tried_at=self.desk.now())
        ref = self.port.post(room, message, tag(triage))
        crash_point("triage_posted")  # the platform has it, we have not noted it: the next run finds it by its tag
        store.update_triage(triage.id, card_ref=ref)
