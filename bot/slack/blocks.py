"""Block Kit for incident messages: the pinned header, the drafts, the role DMs. Built with slack_sdk's models."""

from __future__ import annotations

from datetime import datetime

from markupsafe import Markup
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.chat.wording import Wording
from bot.incidents import gdpr
from bot.incidents.approvals import approval_state
from bot.incidents.desk import Desk
from bot.incidents.drafts import networks_for
from bot.incidents.roles import RoleSeat, seats
from bot.messages import duration, limit_of, local_time, measured_length, public_time
from bot.messages import first_response_rule as rule_wording
from bot.models import Draft, Incident
from bot.slack.text import escape_entities, fit, mention, pieces

# Slack's documented limits for the fields the bot fills (Block Kit reference)
SECTION_LIMIT = 3000  # a section's text, a context element's text
FIELD_LIMIT = 2000  # each of a section's fields
HEADER_LIMIT = 150
BUTTON_LIMIT = 75
MESSAGE_LIMIT = 40_000  # a message's top-level text (Slack answers msg_too_long past it)


def as_dicts(blocks: list[Block]) -> list[dict]:
    return [b.to_dict() for b in blocks]


def md(text: str, limit: int = SECTION_LIMIT) -> MarkdownTextObject:
    """A mrkdwn text object that fits Slack's limit for where it goes, however long escaping made it."""
    return MarkdownTextObject(text=fit(text, limit))


def pt(text: str, limit: int, emoji: bool = True) -> PlainTextObject:
    return PlainTextObject(text=fit(text, limit) or "—", emoji=emoji)


def button(label: str, action_id: str, value: str, style: str | None = None) -> ButtonElement:
    return ButtonElement(text=pt(label, BUTTON_LIMIT), action_id=action_id, value=value, style=style)


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


# ---- the pinned header -------------------------------------------------------------------------------
def header_blocks(desk: Desk, incident: Incident, say: Wording) -> list[dict]:
    """The incident's pinned header: what, who, the countdown, the roles and the first-hour checklist."""
    book = desk.playbook(incident.scenario)
    tz = desk.settings.tz
    lang = say.language
    blocks: list[Block] = [
        HeaderBlock(
            text=fit(
                say("header.title", code=incident.code, scenario=book.name.in_(lang), drill=incident.drill),
                HEADER_LIMIT,
            )
        ),
        SectionBlock(text=md(say("header.summary", title=incident.title, description=incident.description))),
        SectionBlock(
            fields=[
                md(
                    say("header.level", level=incident.level, criteria=book.level(incident.level).criteria.in_(lang)),
                    FIELD_LIMIT,
                ),
                md(
                    say(
                        "header.declared",
                        user=mention(incident.declared_by),
                        at=local_time(incident.declared_at, lang, tz),
                    ),
                    FIELD_LIMIT,
                ),
                md(countdown_text(desk, incident, say), FIELD_LIMIT),
                *[md(text, FIELD_LIMIT) for text in (authority_text(desk, incident, say),) if text],
                md(say("header.status." + incident.status), FIELD_LIMIT),
                md(networks_text(desk, incident, say), FIELD_LIMIT),
            ]
        ),
        SectionBlock(text=md(roles_text(seats(desk, incident), say, desk))),
        DividerBlock(),
        SectionBlock(text=md(say("header.first_hour"))),
    ]
    done = desk.store.checklist(incident.id)
    for item in book.checklist.first_hour:
        mark = done.get(item.id)
        text = item.text.in_(lang)
        if mark:
            blocks.append(
                SectionBlock(
                    text=md(
                        say(
                            "checklist.done",
                            item=text,
                            user=mention(mark.done_by),
                            at=local_time(mark.done_at, lang, tz),
                        )
                    )
                )
            )
        else:
            owner = say.role(item.role) if item.role else ""
            blocks.append(
                SectionBlock(
                    text=md(say("checklist.open", item=text, role=owner)),
                    accessory=button(say("button.done"), "checklist_done", f"{incident.id}:{item.id}")
                    if incident.active
                    else None,
                )
            )
    if book.level(incident.level).advice:
        blocks.append(ContextBlock(elements=[md(book.level(incident.level).advice.in_(lang))]))
    blocks.append(ContextBlock(elements=[md(say("header.updated", at=local_time(desk.now(), lang, tz)))]))
    return as_dicts(blocks)


def countdown_text(desk: Desk, incident: Incident, say: Wording) -> str:
    """First-response state: time left, overdue by how much, or when it was posted."""
    lang, tz = say.language, desk.settings.tz
    due = incident.first_response_due
    rule = first_response_rule(say, desk.playbook(incident.scenario).deadlines.first_response_minutes)
    if incident.first_response_at is not None:
        took = incident.first_response_at - incident.detected_at
        return say(
            "countdown.posted",
            rule=rule,
            at=local_time(incident.first_response_at, lang, tz),
            took=duration(took, lang),
            late=incident.first_response_at > due,
        )
    now = desk.now()
    if now > due:
        return say("countdown.overdue", rule=rule, due=local_time(due, lang, tz), late=duration(now - due, lang))
    return say("countdown.left", rule=rule, due=local_time(due, lang, tz), left=duration(due - now, lang))


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
                say(
                    "roles.acknowledged",
                    role=name,
                    user=mention(seat.ack.user),
                    at=local_time(seat.ack.at, say.language, desk.settings.tz),
                )
            )
        elif seat.owner:
            lines.append(say("roles.waiting", role=name, user=mention(seat.owner)))
        else:
            lines.append(say("roles.unassigned", role=name, role_id=Markup(seat.role)))  # typeable id
    return "\n".join(lines)


# ---- drafts ------------------------------------------------------------------------------------------
def draft_blocks(desk: Desk, incident: Incident, draft: Draft, say: Wording) -> list[dict]:
    """One public draft with its length, approvals and the buttons its state allows."""
    length, limit = measured_length(draft.network, draft.text), limit_of(draft.network)
    blocks: list[Block] = [
        SectionBlock(
            text=md(
                say(
                    "draft.heading",
                    network=say.network(draft.network),
                    kind=say(f"draft.kind.{draft.kind}"),
                    version=draft.version,
                    length=length,
                    limit=limit,
                )
            )
        )
    ]
    if draft.status in ("approved", "posted"):
        blocks.append(SectionBlock(text=md(say("draft.final_intro"))))
        for part in pieces(escape_entities(draft.text), SECTION_LIMIT - 8):
            blocks.append(SectionBlock(text=md(f"```{part}```")))
    else:
        for part in _chunks(draft.text, SECTION_LIMIT):
            blocks.append(SectionBlock(text=PlainTextObject(text=part, emoji=False)))
    closing = draft.kind == desk.playbook(incident.scenario).drafts.resolve  # approved after the resolve
    summary = _resolve_summary(desk, incident) if closing and draft.status in ("pending", "rejected") else ""
    if summary:
        # The internal summary is not public wording: offered to the editor as a starting point, not pasted in.
        blocks.append(ContextBlock(elements=[md(say("draft.summary_hint", summary=summary))]))
    blocks.append(ContextBlock(elements=[md(_approval_line(desk, incident, draft, say))]))
    if draft.network == "facebook" and draft.status != "posted":  # the plan: Facebook's statement is pinned
        blocks.append(ContextBlock(elements=[md(say("publish.pin_facebook"))]))
    value = f"{draft.id}:{draft.version}"
    buttons = {
        "pending": [
            button(say("button.approve"), "draft_approve", value, "primary"),
            button(say("button.edit"), "draft_edit", value),
            button(say("button.reject"), "draft_reject", value, "danger"),
        ],
        "rejected": [button(say("button.edit"), "draft_edit", value)],
        "approved": [
            button(say("button.mark_posted"), "draft_mark_posted", value, "primary"),
            button(say("button.edit"), "draft_edit", value),
        ],
        "posted": [],
    }[draft.status]
    if buttons and (incident.active or closing):
        blocks.append(ActionsBlock(block_id=f"draft-{draft.id}", elements=buttons))
    return as_dicts(blocks)


def _resolve_summary(desk: Desk, incident: Incident) -> str:
    resolved = desk.store.events(incident.id, "resolved")
    return str(resolved[-1].data.get("summary", "")) if resolved else ""  # md() fits it to the limit


def _approval_line(desk: Desk, incident: Incident, draft: Draft, say: Wording) -> str:
    lang, tz = say.language, desk.settings.tz
    if draft.status == "posted" and draft.posted_at:
        return say("draft.posted", user=mention(draft.posted_by), at=local_time(draft.posted_at, lang, tz))
    if draft.status == "rejected":
        rejection = next(
            (a for a in reversed(desk.store.approvals(draft.id, draft.version)) if a.decision == "rejected"), None
        )
        return say(
            "draft.rejected", user=mention(rejection.approver if rejection else None), reason=draft.reject_reason or ""
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
                    user=mention(approval.approver),
                    at=local_time(approval.at, lang, tz),
                )
            )
    # Each part is our own rendered wording (user values already escaped), so it goes in as Markup.
    return say("draft.approvals", list=Markup(" · ".join(parts)))


# ---- role DMs ----------------------------------------------------------------------------------------
def role_dm_blocks(
    desk: Desk, incident: Incident, user: str, roles: list[str], say: Wording, channel_url: str | None
) -> list[dict]:
    """The DM that pages one person for their roles in an incident, one Acknowledge per role."""
    book = desk.playbook(incident.scenario)
    acks = desk.store.acks(incident.id)
    blocks: list[Block] = [
        SectionBlock(
            text=md(
                say(
                    "dm.intro",
                    code=incident.code,
                    title=incident.title,
                    scenario=book.name.in_(say.language),
                    level=incident.level,
                    channel=_channel_ref(incident),
                )
            )
        ),
    ]
    for role in roles:
        ack = acks.get(role)
        if ack is not None:
            blocks.append(
                SectionBlock(
                    text=md(
                        say(
                            "dm.acknowledged",
                            role=say.role(role),
                            user=mention(ack.user),
                            at=local_time(ack.at, say.language, desk.settings.tz),
                        )
                    )
                )
            )
        else:
            blocks.append(
                SectionBlock(
                    text=md(say("dm.role", role=say.role(role))),
                    accessory=button(say("button.acknowledge"), "acknowledge", f"{incident.id}:{role}", "primary")
                    if incident.active
                    else None,
                )
            )
    if channel_url:
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text=PlainTextObject(text=say("button.open_channel")), action_id="open_channel", url=channel_url
                    )
                ]
            )
        )
    return as_dicts(blocks)


def _channel_ref(incident: Incident):
    from bot.slack.text import channel_link

    return channel_link(incident.channel_id)


def plain(text: str) -> list[dict]:
    """A single mrkdwn section: for ephemeral replies."""
    return text_with_buttons(text)


def text_with_buttons(text: str, buttons: list[ButtonElement] | None = None) -> list[dict]:
    """A mrkdwn section (cut to Slack's limit) with an actions row when there are buttons."""
    blocks: list[Block] = [SectionBlock(text=md(text))]
    if buttons:
        blocks.append(ActionsBlock(elements=buttons))
    return as_dicts(blocks)


def when(at: datetime, desk: Desk, say: Wording) -> str:
    return local_time(at, say.language, desk.settings.tz)
