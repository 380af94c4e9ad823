"""`/crisis status` and `/crisis list`: the state of incidents as text a person scans in seconds.

What they show (which incidents, most urgent first, and what of each); the platform only draws it."""

from __future__ import annotations

from markupsafe import Markup

from bot.chat.cards import countdown_text, when
from bot.chat.message import Button, Message, Note, Part, Text
from bot.chat.wording import Wording
from bot.clock import parse_iso
from bot.incidents.desk import Desk
from bot.incidents.roles import may_see, seats
from bot.models import Incident


def status_text(desk: Desk, incident: Incident, say: Wording) -> str:
    """One incident: level, countdown, who holds which role, where each draft stands, the checklist."""
    book = desk.playbook(incident.scenario)
    lines = [
        say(
            "status.title",
            code=incident.code,
            title=incident.title,
            scenario=book.name.in_(say.language),
            level=incident.level,
            status=say(f"status.state.{incident.status}"),
            channel=say.room(incident.room_ref),
        ),
        countdown_text(desk, incident, say).replace("\n", " "),
    ]
    for seat in seats(desk, incident):
        holder = seat.ack.user if seat.ack else seat.owner
        lines.append(
            say(
                "status.role",
                role=say.role(seat.role),
                user=say.mention(holder) if holder else "—",
                acknowledged=seat.ack is not None,
            )
        )
    for draft in desk.store.drafts(incident.id):
        lines.append(
            say(
                "status.draft",
                network=say.network(draft.network),
                kind=say(f"draft.kind.{draft.kind}"),
                version=draft.version,
                state=say(f"status.draft_state.{draft.status}"),
            )
        )
    items = book.checklist.first_hour
    done = desk.store.checklist(incident.id)
    lines.append(say("status.checklist", done=sum(i.id in done for i in items), total=len(items)))
    update = [t for t in desk.store.pending_timers(incident.id) if t.kind == "update"]
    if update:
        due = parse_iso(update[0].data["update_due"])  # the update's own time, not its reminder's
        lines.append(say("status.next_update", at=when(due, desk, say)))
    return "\n".join(lines)


# Slack truncates a message's text past 40,000 characters and advises at most 4,000 for it to read well; a
# message holds at most 50 blocks. The list stays within the advice, the chooser within the block limit
# (Slack's are the strictest of the platforms we draw on: what fits there fits elsewhere).
LIST_CHARACTERS = 4000
CHOOSER_BLOCKS = 50


def by_urgency(incidents: list[Incident]) -> list[Incident]:
    """Most urgent first: still waiting for a first public response, the earliest due (so the most overdue) first;
    then those already answered, the highest level first, the newest first within a level."""
    waiting = sorted((i for i in incidents if i.first_response_at is None), key=lambda i: i.first_response_due)
    answered = sorted(
        (i for i in incidents if i.first_response_at is not None), key=lambda i: (-i.level, -i.declared_at.timestamp())
    )
    return waiting + answered


def visible_active(desk: Desk, user: str) -> list[Incident]:
    """The active incidents `user` may see (a private one only by the people it is for), most urgent first."""
    owners = desk.store.role_owners()
    return by_urgency([i for i in desk.store.incidents("active") if may_see(desk, i, user, owners)])


def list_text(desk: Desk, say: Wording, user: str) -> str:
    """The active incidents `user` may see on a few lines each, as many as fit, then how many more there are."""
    incidents = visible_active(desk, user)
    if not incidents:
        return say("status.none")
    lines = [say("status.list_heading", count=len(incidents))]
    room = LIST_CHARACTERS - len(say("status.more", count=len(incidents))) - 1
    used = len(lines[0])
    for shown, incident in enumerate(incidents):
        line = _list_line(desk, incident, say)
        if used + 1 + len(line) > room:
            lines.append(say("status.more", count=len(incidents) - shown))
            break
        lines.append(line)
        used += 1 + len(line)
    return "\n".join(lines)


def _list_line(desk: Desk, incident: Incident, say: Wording) -> str:
    book = desk.playbook(incident.scenario)
    owners = Markup(", ").join(
        Markup(f"{say.role(seat.role)}: {say.mention(seat.ack.user if seat.ack else seat.owner)}")
        for seat in seats(desk, incident)
    )
    return say(
        "status.list_line",
        code=incident.code,
        title=incident.title,
        level=incident.level,
        scenario=book.name.in_(say.language),
        channel=say.room(incident.room_ref),
        countdown=Markup(countdown_text(desk, incident, say).split("\n")[-1]),
        owners=owners,
    )


def choose(desk: Desk, say: Wording, user: str) -> Message:
    """Outside an incident channel: the active incidents `user` may see, each with a Status button."""
    incidents = visible_active(desk, user)
    if not incidents:
        return Message(say("status.none"), (Text(say("status.none")),))
    parts: list[Part] = [Text(say("status.choose"))]
    room = CHOOSER_BLOCKS - 2  # the question above, the "and N more" below
    for incident in incidents[:room]:
        parts.append(
            Text(
                say("status.choice", code=incident.code, title=incident.title, level=incident.level),
                Button("show_status", say("button.status"), str(incident.id)),
            )
        )
    if len(incidents) > room:
        parts.append(Note(say("status.more", count=len(incidents) - room)))
    return Message(say("status.choose"), tuple(parts))
