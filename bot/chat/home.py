"""A person's home screen (Slack's App Home tab): their incidents, the drafts waiting for them, their roles.

It is built from the store each time (nothing is cached), so it is never more wrong than the moment it was
drawn. Buttons carry the same ids and values as in the channel and the DM, so a click on the home screen is
handled like any other. A platform whose view holds a limited number of parts shows whole groups only: it
chooses how many fit (`Home.parts`), the "…and N more" lines say the rest.

Wording lives in `messages/<language>/home.yaml` (`Wording.home`); role, network and button names come from
ui.yaml so they read the same everywhere.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from babel.dates import format_date
from markupsafe import Markup

from bot.chat.cards import countdown_text, when
from bot.chat.drill_schedule import moment
from bot.chat.message import Actions, Button, Divider, Fields, Heading, Note, Part, Text, Verbatim
from bot.chat.wording import Wording
from bot.ids import ROLES
from bot.incidents.approvals import approval_state, approvers_for
from bot.incidents.desk import Desk
from bot.incidents.roles import may_see, roles_in, roles_of
from bot.messages import locale_of
from bot.models import Ack, Draft, Incident

DRAFT_PREVIEW = 500  # characters of a draft shown on the home screen; the full text is in the channel
RECENT_RESOLVED = 5
Group = tuple[Part, ...]


# ---- what the person is part of ----------------------------------------------------------------------
@dataclass(frozen=True)
class _Part:
    """A person's part in one incident: the roles they hold there and whether they declared it."""

    incident: Incident
    roles: list[str]
    acks: dict[str, Ack]
    declared: bool


def _part(desk: Desk, incident: Incident, user: str, owners: dict[str, list[str]]) -> _Part | None:
    """None when `user` neither declared the incident nor holds (owns, backs up, acknowledged) a role in it."""
    acks = desk.store.acks(incident.id)
    roles = roles_in(desk, incident, user, owners, acks)
    declared = incident.declared_by == user
    if not roles and not declared:
        return None
    return _Part(incident, roles, acks, declared)


@dataclass(frozen=True)
class _Waiting:
    """A pending draft that needs `user`'s approval in `mine`; `others` are the other roles still missing."""

    draft: Draft
    incident: Incident
    mine: list[str]
    others: list[str]


def _waiting_for(desk: Desk, incident: Incident, user: str) -> list[_Waiting]:
    """Pending drafts of an active incident whose current version misses an approval in a role `user` holds."""
    if not incident.active or incident.scenario not in desk.playbooks:
        return []
    approvers = approvers_for(desk, incident)
    held = roles_of(desk, incident, user) & set(approvers)
    if not held:
        return []
    waiting = []
    for draft in desk.store.drafts(incident.id):
        if draft.status != "pending":
            continue
        missing = [role for role, approval in approval_state(desk, incident, draft).items() if approval is None]
        mine = [r for r in missing if r in held]
        if mine:
            waiting.append(_Waiting(draft, incident, mine, [r for r in missing if r not in held]))
    return waiting


# ---- the screen --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Home:
    """The home screen's content: the incident and draft groups (each shown whole or not at all) and the rest."""

    say: Wording
    any_active: bool
    incidents: list[Group]
    drafts: list[Group]
    tail: Group

    def parts(self, incidents: int, drafts: int) -> list[Part]:
        """The screen with the first `incidents` incident groups and `drafts` draft groups, and how many more."""
        say = self.say
        parts: list[Part] = [
            Heading(say.home("title")),
            Heading(say.home("incidents.heading", count=len(self.incidents))),
        ]
        if incidents:
            parts += [part for group in self.incidents[:incidents] for part in group]
            if incidents < len(self.incidents):
                parts.append(Note(say.home("more", count=len(self.incidents) - incidents)))
        else:
            parts.append(Text(say.home("incidents.none_yours" if self.any_active else "incidents.none")))
        parts += [Divider(), Heading(say.home("drafts.heading", count=len(self.drafts)))]
        if drafts:
            parts += [part for group in self.drafts[:drafts] for part in group]
            if drafts < len(self.drafts):
                parts.append(Note(say.home("drafts.more", count=len(self.drafts) - drafts)))
        else:
            parts.append(Text(say.home("drafts.none")))
        return parts + list(self.tail)


def home(desk: Desk, user: str, say: Wording) -> Home:
    """`user`'s home screen: their active incidents, drafts waiting for them, their roles, recent closures."""
    owners = desk.store.role_owners()
    active = list(reversed(desk.store.incidents(status="active")))  # newest first
    parts = [p for p in (_part(desk, i, user, owners) for i in active) if p is not None]
    waiting = [w for i in active for w in _waiting_for(desk, i, user)]
    tail: Group = (
        Divider(),
        Heading(say.home("roles.heading")),
        *_roles_parts(user, owners, say),
        Divider(),
        Heading(say.home("resolved.heading")),
        *_resolved_parts(desk, user, owners, say),
        Divider(),
        Heading(say.home("drills.heading")),
        *_drill_parts(desk, user, owners, say),
        Note(say.home("updated", at=when(desk.now(), desk, say))),
    )
    return Home(
        say,
        any_active=bool(active),
        incidents=[_incident_group(desk, p, user, owners, say) for p in parts],
        drafts=[_draft_group(w, say) for w in waiting],
        tail=tail,
    )


def _role(say: Wording, role: str) -> Markup:
    """A role's name: our own wording (already escaped), passed into a home string as it is."""
    return Markup(say.role(role))


def _scenario_name(desk: Desk, incident: Incident, language: str) -> str:
    book = desk.playbooks.get(incident.scenario)
    return book.name.in_(language) if book else incident.scenario


def _incident_group(desk: Desk, part: _Part, user: str, owners: dict[str, list[str]], say: Wording) -> Group:
    incident = part.incident
    line = say.home(
        "incidents.line",
        drill=incident.drill,
        code=incident.code,
        title=incident.title,
        scenario=_scenario_name(desk, incident, say.language),
        level=incident.level,
        channel=say.room(incident.room_ref),
    )
    group: list[Part] = [Fields((countdown_text(desk, incident, say), _your_part(desk, part, user, owners, say)), line)]
    if incident.active:
        for role in part.roles:
            if role in part.acks or user not in owners.get(role, []):
                continue  # taken already (by anyone), or not theirs to take: only owners and backups may
            prompt = say.home(
                "incidents.ack_prompt", code=incident.code, role=_role(say, role), backup=user in owners[role][1:]
            )
            acknowledge = Button("acknowledge", say("button.acknowledge"), f"{incident.id}:{role}", "primary")
            group.append(Text(prompt, acknowledge, id=f"home-ack-{incident.id}-{role}"))
    return tuple(group)


def _your_part(desk: Desk, part: _Part, user: str, owners: dict[str, list[str]], say: Wording) -> str:
    """The person's part in the incident: declared it, and each role they hold, acknowledged or waiting."""
    lines = [say.home("incidents.your_part")]
    if part.declared:
        lines.append(say.home("incidents.declared"))
    for role in part.roles:
        ack, backup = part.acks.get(role), user in owners.get(role, [])[1:]
        name = _role(say, role)
        if ack is not None and ack.user == user:
            lines.append(say.home("incidents.acked_you", role=name, backup=backup, at=when(ack.at, desk, say)))
        elif ack is not None:
            at, who = when(ack.at, desk, say), say.mention(ack.user)
            lines.append(say.home("incidents.acked_other", role=name, backup=backup, user=who, at=at))
        else:
            lines.append(say.home("incidents.waiting", role=name, backup=backup))
    return "\n".join(lines)


def _draft_group(item: _Waiting, say: Wording) -> Group:
    draft, incident = item.draft, item.incident
    heading = say.home(
        "drafts.line",
        network=Markup(say.network(draft.network)),
        code=incident.code,
        kind=Markup(say(f"draft.kind.{draft.kind}")),
        version=draft.version,
        roles=Markup(", ").join(_role(say, r) for r in item.mine),
        others=Markup(", ").join(_role(say, r) for r in item.others),
    )
    value = f"{draft.id}:{draft.version}"
    buttons = (
        Button("draft_approve", say("button.approve"), value, "primary"),
        Button("draft_edit", say("button.edit"), value),
        Button("draft_reject", say("button.reject"), value, "danger"),
    )
    preview = say.dialect.fit(draft.text.strip() or "—", DRAFT_PREVIEW)
    return (Text(heading), Verbatim(preview), Actions(buttons, id=f"home-draft-{draft.id}"))


def _roles_parts(user: str, owners: dict[str, list[str]], say: Wording) -> list[Part]:
    lines = []
    for role in ROLES:
        people = owners.get(role) or []
        if user in people:
            rank = people.index(user)
            name = _role(say, role)
            lines.append(
                say.home("roles.owner", role=name) if rank == 0 else say.home("roles.backup", role=name, rank=rank)
            )
    if not lines:
        return [Text(say.home("roles.none"))]
    return [Text("\n".join(lines)), Note(say.home("roles.hint"))]


def _resolved_parts(desk: Desk, user: str, owners: dict[str, list[str]], say: Wording) -> list[Part]:
    # A private incident's title is shown only to the people who were part of it. Read newest first and stop
    # at enough: years of history must not be loaded to show a few lines.
    visible = (i for i in desk.store.recently_resolved() if may_see(desk, i, user, owners))
    shown = list(itertools.islice(visible, RECENT_RESOLVED))
    if not shown:
        return [Text(say.home("resolved.none"))]
    tz, locale = desk.settings.tz, locale_of(say.language)
    return [
        Text(
            say.home(
                "resolved.line",
                drill=i.drill,
                code=i.code,
                title=i.title,
                date=format_date((i.resolved_at or i.declared_at).astimezone(tz), format="medium", locale=locale),
            )
        )
        for i in shown
    ]


# drills: readiness
def _drill_parts(desk: Desk, user: str, owners: dict[str, list[str]], say: Wording) -> list[Part]:
    """The last scored drill and its score, and the next scheduled one (an unannounced one only to the crisis lead
    and the admins: to the rest of the team it would not be unannounced)."""
    scored = desk.store.events_of_kind("drill_scored")
    last = desk.store.find_incident(scored[-1].incident_id) if scored else None
    if last is not None and scored:
        date = format_date(scored[-1].at.astimezone(desk.settings.tz), format="medium", locale=locale_of(say.language))
        score = int(scored[-1].data.get("score", 0))
        name = _scenario_name(desk, last, say.language)
        lines = [say.home("drills.last", code=last.code, scenario=name, date=date, score=score)]
    else:
        lines = [say.home("drills.last_none")]
    insider = user in owners.get("crisis_lead", []) or user in desk.settings.admins
    upcoming = next((s for s in desk.store.schedules() if insider or not s.unannounced), None)
    if upcoming is None:
        lines.append(say.home("drills.next_none"))
    else:
        book = desk.playbooks.get(upcoming.scenario)
        lines.append(
            say.home(
                "drills.next",
                scenario=book.name.in_(say.language) if book else upcoming.scenario,
                level=upcoming.level,
                at=moment(upcoming.next_start_at, desk, say),
                unannounced=upcoming.unannounced,
            )
        )
    return [Text("\n".join(lines))]
