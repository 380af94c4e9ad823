"""What a drill says: the injects, the scorecard, the improvement plan and its reminders (the drill's mark on
every message is bot/chat/drillmark.py's).

The scorecard is drawn from the one `drill_scored`
event the core wrote (bot/incidents/drills/scorecard.py), never recomputed: what was posted is what was kept.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from markupsafe import Markup

from bot.chat.message import Actions, Button, Divider, Fields, Heading, Message, Note, Text
from bot.chat.notices import Notice
from bot.chat.wording import Wording
from bot.incidents.desk import Desk
from bot.incidents.drills.actions import ActionItem
from bot.messages import day_text
from bot.models import Incident, OutboxMessage


# ---- notices -------------------------------------------------------------------------------------------
def inject(desk: Desk, incident: Incident, row: OutboxMessage, say: Wording) -> list[Notice]:
    """The inject in the drill room (with what it expects and what it changed), and a DM to whoever a raised
    level pulled in."""
    data = row.data
    script = desk.drill_scripts.get(incident.scenario)
    index = int(data["index"])
    if script is None or index >= len(script.injects):
        return []
    scripted = script.injects[index]
    expect = scripted.expect
    paged: dict[str, str] = data.get("paged") or {}
    text = say(
        "exercise.inject",
        number=index + 1,
        total=data.get("total", len(script.injects)),
        minute=data.get("at_minutes", scripted.at_minutes),
        text=scripted.text.in_(say.language),
        expect=Markup(_expectation(expect.kind, expect.role, expect.network, expect.within_minutes, say))
        if expect
        else "",
        level=data.get("level"),
        paged=Markup(", ".join(f"{say.mention(u)} ({say.role(r)})" for r, u in paged.items())),  # our own words
        away=say.mention(data["unavailable"]) if data.get("unavailable") else "",
        role=say.role(data["unavailable_role"]) if data.get("unavailable_role") else "",
    )
    notices = [Notice(Message(text, (Text(text),)))]
    for role, user in paged.items():
        dm = say(
            "exercise.paged_dm",
            code=incident.code,
            level=data.get("level"),
            role=say.role(role),
            channel=say.room(incident.room_ref),
        )
        button = Button("acknowledge", say("button.acknowledge"), f"{incident.id}:{role}", "primary")
        notices.append(Notice(Message(dm, (Text(dm), Actions((button,)))), to=user))
    return notices


def _expectation(kind: str, role: str | None, network: str | None, minutes: int, say: Wording) -> str:
    return say(
        f"exercise.expect.{kind}",
        role=say.role(role) if role else "",
        network=say.network(network) if network else "",
        minutes=minutes,
    )


def real_incident(desk: Desk, incident: Incident, row: OutboxMessage, say: Wording) -> list[Notice]:
    """A real incident was declared while this drill runs: one notice in the drill room."""
    text = say("exercise.real_incident", code=row.data["code"], title=row.data["title"])
    return [Notice(Message(text, (Text(text),)))]


def action_reminder(desk: Desk, incident: Incident, row: OutboxMessage, say: Wording) -> list[Notice]:
    """An improvement item is due and still open: its owner and the crisis lead, in the drill room."""
    data = row.data
    leads = desk.store.role_owners().get("crisis_lead", [])
    lead = next(iter(leads), None)
    text = say(
        "exercise.action_reminder",
        number=data["number"],
        code=incident.code,
        text=data["text"],
        owner=say.mention(data["owner"]),
        lead=say.mention(lead) if lead and lead != data["owner"] else "",
        due=day_text(date.fromisoformat(data["due"]), say.language),
    )
    return [Notice(Message(text, (Text(text),)))]


def action_line(item: ActionItem, say: Wording) -> str:
    """One item of the improvement plan, as the room reads it (added, or listed)."""
    return say(
        "exercise.action_line",
        number=item.number,
        text=item.text,
        owner=say.mention(item.owner),
        due=day_text(item.due, say.language),
        done=say.mention(item.done_by) if item.done_by else "",
    )


# ---- the scorecard -------------------------------------------------------------------------------------
def scorecard(desk: Desk, incident: Incident, row: OutboxMessage, say: Wording) -> list[Notice]:
    """The scorecard in the drill room, from the kept `drill_scored` event."""
    event = next((e for e in desk.store.events(incident.id, "drill_scored") if e.id == row.data["event_id"]), None)
    if event is None:
        return []
    return [Notice(scorecard_message(incident, event.data, say))]


def scorecard_message(incident: Incident, card: dict[str, Any], say: Wording) -> Message:
    """The scorecard as a neutral message: the score and its parts, then each measure the issue names."""
    m = _Minutes(say)
    parts_score = card.get("parts", {})
    fields = tuple(say(f"exercise.part.{name}", points=m(value)) for name, value in parts_score.items())
    roles = [
        say("exercise.role_line", role=say.role(role), minutes=m(seat.get("ack_minutes")), within=seat.get("within"))
        for role, seat in card["roles"].items()
    ]
    networks = [
        say(
            "exercise.network_line",
            network=say.network(network),
            approved=m(seat.get("approved_minutes")),
            posted=m(seat.get("posted_minutes")),
        )
        for network, seat in card.get("networks", {}).items()
    ]
    injects = [_inject_line(result, say, m) for result in card.get("injects", [])]
    stalled = [
        say(
            "exercise.stalled_line",
            role=say.role(s["role"]),
            user=say.mention(s["user"]) if s.get("user") else "",
            minutes=m(s.get("max_minutes")),
            waiting=say.network(s["waiting"]) if s.get("waiting") else "",
        )
        for s in card.get("stalled", [])
    ]
    lines = {
        "assemble": say("exercise.assemble", minutes=m(card.get("assemble_minutes")), roles=Markup("\n".join(roles))),
        "first": say(
            "exercise.first_reply",
            approved=m(card.get("first_approved_minutes")),
            posted=m(card.get("first_posted_minutes")),
            target=m(card.get("target_minutes")),
            networks=Markup("\n".join(networks)),
        ),
        "injects": say(
            "exercise.injects",
            on_time=card["injects_on_time"],
            total=card["injects_total"],
            lines=Markup("\n".join(injects)),
        ),
        "rest": say(
            "exercise.rest",
            done=card.get("checklist", {}).get("done", 0),
            total=card.get("checklist", {}).get("total", 0),
            kept=card.get("updates_kept", 0),
            missed=card.get("updates_missed", 0),
            stalled=Markup("\n".join(stalled)),
            gdpr=card.get("gdpr") is not None,
            notified=m((card.get("gdpr") or {}).get("notified_minutes")),
            hours=(card.get("gdpr") or {}).get("deadline_hours"),
        ),
    }
    heading = say("exercise.scorecard_title", code=incident.code, score=card["score"])
    body: list[Any] = [Heading(heading), Fields(fields), *(Text(t) for t in lines.values()), Divider()]
    if card.get("ended") == "script":
        body.append(Note(say("exercise.script_ended")))
    body.append(Note(say("exercise.rule", rule=card["rule"])))
    fallback = say("exercise.scorecard_fallback", code=incident.code, score=card["score"])
    return Message(fallback, tuple(body))


def _inject_line(result: dict[str, Any], say: Wording, m: _Minutes) -> str:
    expected = result.get("expected")
    what = (
        _expectation(expected, result.get("role"), result.get("network"), int(result["within_minutes"]), say)
        if expected
        else ""
    )
    return say(
        "exercise.inject_line",
        number=int(result["index"]) + 1,
        minute=result.get("at_minutes"),
        what=Markup(what),
        on_time=result.get("on_time"),
        answered=m(result.get("answered_minutes")),
        late=m(result.get("late_minutes")),
    )


class _Minutes:
    """A measured number of minutes as people read it: `12`, `7.5`; "" for never (the wording says "not")."""

    def __init__(self, say: Wording) -> None:
        self.say = say

    def __call__(self, value: float | int | None) -> str:
        if value is None:
            return ""
        number = round(float(value), 1)
        return (
            str(int(number))
            if number.is_integer()
            else str(number).replace(".", "," if self.say.language == "nl" else ".")
        )
