"""The incident's messages as neutral parts: the pinned header, the drafts, the role DMs.

What they say and which buttons they offer is decided here; a platform's renderer (`bot/slack/render.py` for
Block Kit) draws them and applies its own limits. User values are escaped by the Wording that renders each
string; mentions and room links come from its dialect.
"""

from __future__ import annotations

from datetime import datetime

from markupsafe import Markup

from bot.chat.drillmark import marked
from bot.chat.message import Actions, Button, Divider, Fields, Heading, Message, Note, Part, Text, Verbatim
from bot.chat.wording import Wording
from bot.incidents import gdpr
from bot.incidents.approvals import approval_state
from bot.incidents.desk import Desk
from bot.incidents.drafts import networks_for
from bot.incidents.drills.schedule import SYSTEM
from bot.incidents.roles import RoleSeat, seats
from bot.messages import duration, limit_of, local_time, measured_length, public_time
from bot.messages import first_response_rule as rule_wording
from bot.models import Ack, Draft, Incident


def declarer(incident: Incident, say: Wording) -> str:
    """Who declared: a mention, or (a drill its schedule started) the schedule."""
    if incident.declared_by == SYSTEM:  # drills: schedules
        return say("drill_schedule.declarer")
    return say.mention(incident.declared_by)


# ---- the pinned header -------------------------------------------------------------------------------
def header_card(desk: Desk, incident: Incident, say: Wording) -> Message:
    """The incident's pinned header: what, who, the countdown, the roles and the first-hour checklist."""
    book = desk.playbook(incident.scenario)
    lang = say.language
    parts: list[Part] = [
        Heading(say("header.title", code=incident.code, scenario=book.name.in_(lang), drill=incident.drill)),
        Text(say("header.summary", title=incident.title, description=incident.description)),
        Fields(
            (
                say("header.level", level=incident.level, criteria=book.level(incident.level).criteria.in_(lang)),
                say("header.declared", user=declarer(incident, say), at=when(incident.declared_at, desk, say)),
                countdown_text(desk, incident, say),
                *[text for text in (authority_text(desk, incident, say),) if text],
                say("header.status." + incident.status),
                networks_text(desk, incident, say),
            )
        ),
        Text(roles_text(seats(desk, incident), say, desk)),
        Divider(),
        Text(say("header.first_hour")),
        *_checklist(desk, incident, say),
    ]
    advice = book.level(incident.level).advice
    if advice:
        parts.append(Note(advice.in_(lang)))
    parts.append(Note(say("header.updated", at=when(desk.now(), desk, say))))
    return marked(
        Message(say("header.fallback", code=incident.code, title=incident.title), tuple(parts)), incident, say
    )


def _checklist(desk: Desk, incident: Incident, say: Wording) -> list[Part]:
    """The first-hour checklist: done items with who and when, open ones with their owner and a Done button."""
    done = desk.store.checklist(incident.id)
    parts: list[Part] = []
    for item in desk.playbook(incident.scenario).checklist.first_hour:
        mark = done.get(item.id)
        text = item.text.in_(say.language)
        if mark:
            at = when(mark.done_at, desk, say)
            parts.append(Text(say("checklist.done", item=text, user=say.mention(mark.done_by), at=at)))
        else:
            owner = say.role(item.role) if item.role else ""
            done_button = Button("checklist_done", say("button.done"), f"{incident.id}:{item.id}")
            parts.append(Text(say("checklist.open", item=text, role=owner), done_button if incident.active else None))
    return parts


def countdown_text(desk: Desk, incident: Incident, say: Wording) -> str:
    """First-response state: time left, overdue by how much, or when it was posted."""
    lang = say.language
    due = incident.first_response_due
    rule = first_response_rule(say, desk.playbook(incident.scenario).deadlines.first_response_minutes)
    if incident.first_response_at is not None:
        took = incident.first_response_at - incident.detected_at
        return say(
            "countdown.posted",
            rule=rule,
            at=when(incident.first_response_at, desk, say),
            took=duration(took, lang),
            late=incident.first_response_at > due,
        )
    now = desk.now()
    if now > due:
        return say("countdown.overdue", rule=rule, due=when(due, desk, say), late=duration(now - due, lang))
    return say("countdown.left", rule=rule, due=when(due, desk, say), left=duration(due - now, lang))


def first_response_rule(say: Wording, minutes: int) -> Markup:
    """The playbook's first-response rule, in the words of the written plan (the same routine)."""
    return Markup(rule_wording(say.messages, say.language, minutes))


def authority_text(desk: Desk, incident: Incident, say: Wording) -> str:
    """A data breach's 72-hour notification duty: due when, time left or late, or notified when; else ""."""
    found = gdpr.duty(desk, incident)
    if found is None:
        return ""
    lang, tz, now = say.language, desk.settings.tz, desk.now()
    due = public_time(found.deadline, lang, tz, now, desk.messages)
    if found.notified_at is not None:
        at = public_time(found.notified_at, lang, tz, now, desk.messages)
        return say("gdpr_duty.header_notified", at=at, late=found.late)
    if found.missed(now):
        return say("gdpr_duty.header_overdue", due=due, late=duration(now - found.deadline, lang))
    return say("gdpr_duty.header_left", due=due, left=duration(found.deadline - now, lang))


def networks_text(desk: Desk, incident: Incident, say: Wording) -> str:
    """Which networks have a reply out and which still have nothing (each network is posted on its own)."""
    out = {d.network for d in desk.store.drafts(incident.id) if d.status == "posted"}
    networks = networks_for(desk, incident)
    return say(
        "publish.header",
        out=", ".join(say.network(n) for n in networks if n in out),
        missing=", ".join(say.network(n) for n in networks if n not in out),
    )


def roles_text(role_seats: list[RoleSeat], say: Wording, desk: Desk) -> str:
    lines = [say("header.roles")]
    for seat in role_seats:
        name = say.role(seat.role)
        if seat.ack is not None:
            lines.append(
                say("roles.acknowledged", role=name, user=say.mention(seat.ack.user), at=when(seat.ack.at, desk, say))
            )
        elif seat.owner:
            lines.append(say("roles.waiting", role=name, user=say.mention(seat.owner)))
        else:
            lines.append(say("roles.unassigned", role=name, role_id=Markup(seat.role)))  # typeable id
    return "\n".join(lines)


# ---- drafts ------------------------------------------------------------------------------------------
def draft_card(desk: Desk, incident: Incident, draft: Draft, say: Wording) -> Message:
    """One public draft with its length, approvals and the buttons its state allows."""
    length, limit = measured_length(draft.network, draft.text), limit_of(draft.network)
    kind = say(f"draft.kind.{draft.kind}")
    network = say.network(draft.network)
    parts: list[Part] = [
        Text(say("draft.heading", network=network, kind=kind, version=draft.version, length=length, limit=limit))
    ]
    if incident.drill:  # practice text: never to be posted on the real network
        parts.insert(0, Text(say("exercise.draft")))
    if draft.status in ("approved", "posted"):
        # The final text as a code block: exactly what goes out, ready to copy.
        parts += [Text(say("draft.final_intro")), Verbatim(draft.text, monospace=True)]
    else:
        parts.append(Verbatim(draft.text))
    closing = draft.kind == desk.playbook(incident.scenario).drafts.resolve  # approved after the resolve
    summary = _resolve_summary(desk, incident) if closing and draft.status in ("pending", "rejected") else ""
    if summary:
        # The internal summary is not public wording: offered to the editor as a starting point, not pasted in.
        parts.append(Note(say("draft.summary_hint", summary=summary)))
    parts.append(Note(_approval_line(desk, incident, draft, say)))
    if draft.network == "facebook" and draft.status != "posted":  # the plan: Facebook's statement is pinned
        parts.append(Note(say("publish.pin_facebook")))
    buttons = _draft_buttons(draft, say)
    if buttons and (incident.active or closing):
        parts.append(Actions(buttons, id=f"draft-{draft.id}"))
    return marked(Message(say("draft.fallback", network=network), tuple(parts)), incident, say)


def _draft_buttons(draft: Draft, say: Wording) -> tuple[Button, ...]:
    """What a draft's state allows: decide a pending one, rework a rejected one, mark an approved one posted."""
    value = f"{draft.id}:{draft.version}"
    edit = Button("draft_edit", say("button.edit"), value)
    return {
        "pending": (
            Button("draft_approve", say("button.approve"), value, "primary"),
            edit,
            Button("draft_reject", say("button.reject"), value, "danger"),
        ),
        "rejected": (edit,),
        "approved": (Button("draft_mark_posted", say("button.mark_posted"), value, "primary"), edit),
        "posted": (),
    }[draft.status]


def _resolve_summary(desk: Desk, incident: Incident) -> str:
    resolved = desk.store.events(incident.id, "resolved")
    return str(resolved[-1].data.get("summary", "")) if resolved else ""  # the renderer fits it to the limit


def _approval_line(desk: Desk, incident: Incident, draft: Draft, say: Wording) -> str:
    if draft.status == "posted" and draft.posted_at:
        return say("draft.posted", user=say.mention(draft.posted_by), at=when(draft.posted_at, desk, say))
    if draft.status == "rejected":
        rejection = next(
            (a for a in reversed(desk.store.approvals(draft.id, draft.version)) if a.decision == "rejected"), None
        )
        return say(
            "draft.rejected",
            user=say.mention(rejection.approver if rejection else None),
            reason=draft.reject_reason or "",
        )
    parts = []
    for role, approval in approval_state(desk, incident, draft).items():
        if approval is None:
            parts.append(say("draft.awaiting", role=say.role(role)))
        else:
            parts.append(
                say(
                    "draft.approved_by",
                    role=say.role(role),
                    user=say.mention(approval.approver),
                    at=when(approval.at, desk, say),
                )
            )
    # Each part is our own rendered wording (user values already escaped), so it goes in as Markup.
    return say("draft.approvals", list=Markup(" · ".join(parts)))


# ---- role DMs ----------------------------------------------------------------------------------------
def role_dm_card(
    desk: Desk,
    incident: Incident,
    user: str,
    roles: list[str],
    say: Wording,
    channel_url: str | None,
    acks: dict[str, Ack] | None = None,
) -> Message:
    """The DM that pages one person for their roles in an incident, one Acknowledge per role (`acks`: the
    incident's acknowledgements when the caller has just read them)."""
    book = desk.playbook(incident.scenario)
    acks = desk.store.acks(incident.id) if acks is None else acks
    intro = say(
        "dm.intro",
        code=incident.code,
        title=incident.title,
        scenario=book.name.in_(say.language),
        level=incident.level,
        channel=say.room(incident.room_ref),
    )
    parts: list[Part] = [Text(intro)]
    for role in roles:
        ack = acks.get(role)
        if ack is not None:
            at = when(ack.at, desk, say)
            parts.append(Text(say("dm.acknowledged", role=say.role(role), user=say.mention(ack.user), at=at)))
        else:
            acknowledge = Button("acknowledge", say("button.acknowledge"), f"{incident.id}:{role}", "primary")
            parts.append(Text(say("dm.role", role=say.role(role)), acknowledge if incident.active else None))
    if channel_url:
        label = say("button.open_channel", space=say.dialect.space(incident.room_ref))
        parts.append(Actions((Button("open_channel", label, url=channel_url),)))
    return marked(Message(say("dm.fallback", code=incident.code, title=incident.title), tuple(parts)), incident, say)


def when(at: datetime, desk: Desk, say: Wording) -> str:
    """A moment in the desk's timezone, in the wording's language."""
    return local_time(at, say.language, desk.settings.tz)
