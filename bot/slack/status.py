"""`/crisis status` and `/crisis list`: the state of incidents as text a person scans in seconds."""

from __future__ import annotations

from markupsafe import Markup
from slack_sdk.models.blocks import SectionBlock

from bot.clock import parse_iso
from bot.incidents.desk import Desk
from bot.incidents.roles import seats
from bot.messages import local_time
from bot.models import Incident
from bot.slack.blocks import as_dicts, button, countdown_text, md
from bot.slack.text import Wording, channel_link, mention


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
            channel=channel_link(incident.channel_id),
        ),
        countdown_text(desk, incident, say).replace("\n", " "),
    ]
    for seat in seats(desk, incident):
        holder = seat.ack.user if seat.ack else seat.owner
        lines.append(
            say(
                "status.role",
                role=say.role(seat.role),
                user=mention(holder) if holder else "—",
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
        lines.append(say("status.next_update", at=local_time(due, say.language, desk.settings.tz)))
    return "\n".join(lines)


def list_text(desk: Desk, say: Wording) -> str:
    """Every active incident on a few lines each."""
    incidents = desk.store.incidents("active")
    if not incidents:
        return say("status.none")
    lines = [say("status.list_heading", count=len(incidents))]
    for incident in incidents:
        book = desk.playbook(incident.scenario)
        owners = Markup(", ").join(
            Markup(f"{say.role(seat.role)}: {mention(seat.ack.user if seat.ack else seat.owner)}")
            for seat in seats(desk, incident)
        )
        lines.append(
            say(
                "status.list_line",
                code=incident.code,
                title=incident.title,
                level=incident.level,
                scenario=book.name.in_(say.language),
                channel=channel_link(incident.channel_id),
                countdown=Markup(countdown_text(desk, incident, say).split("\n")[-1]),
                owners=owners,
            )
        )
    return "\n".join(lines)


def choose_blocks(desk: Desk, say: Wording) -> list[dict]:
    """Outside an incident channel: the active incidents, each with a Status button."""
    incidents = desk.store.incidents("active")
    if not incidents:
        return as_dicts([SectionBlock(text=md(say("status.none")))])
    blocks = [SectionBlock(text=md(say("status.choose")))]
    for incident in incidents[:45]:
        blocks.append(
            SectionBlock(
                text=md(say("status.choice", code=incident.code, title=incident.title, level=incident.level)),
                accessory=button(say("button.status"), "show_status", str(incident.id)),
            )
        )
    return as_dicts(blocks)
