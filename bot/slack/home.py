"""The App Home tab: one person's crisis desk — their incidents, the drafts waiting for them, their roles.

Slack shows the tab when the person opens the app; the bot answers `app_home_opened` with `views.publish`.
The view is built from the store each time (nothing is cached), so it is never more wrong than the moment
it was drawn. Buttons carry the same action_ids and values as in the channel and the DM, so the listeners
in `bot.slack.app` handle a click from the Home tab like any other.

Wording lives in `messages/<language>/home.yaml`; role, network and button names come from ui.yaml so
they read the same everywhere. A company's messages folder copied before home.yaml existed falls back
to the shipped file for that language.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_date
from jinja2 import StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup
from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.chat.cards import countdown_text
from bot.chat.message import Button
from bot.chat.wording import Wording
from bot.config import default_dir
from bot.ids import LANGUAGES, ROLES
from bot.incidents.approvals import approval_state, approvers_for
from bot.incidents.desk import Desk
from bot.incidents.roles import may_see, roles_in, roles_of
from bot.messages import load_ui_file, local_time, locale_of
from bot.models import Ack, Draft, Incident
from bot.slack.flows import SlackDesk
from bot.slack.render import FIELD_LIMIT, HEADER_LIMIT, SECTION_LIMIT, button, md, pt
from bot.slack.text import channel_link, escape, fit, mention

log = logging.getLogger("crisisbot.slack")

MAX_BLOCKS = 100  # Slack's limit for a Home tab view
DRAFT_PREVIEW = 500  # characters of a draft shown on the Home tab; the full text is in the channel
RECENT_RESOLVED = 5

_REGISTERED = "_crisisbot_home_registered"  # marker on the Bolt app: the listener is wired once
_BUSY = "crisisbot_home_busy"  # in the Bolt context: the busy count the listener must close
_register_lock = threading.Lock()


# ---- wording -----------------------------------------------------------------------------------------
def _finalize(value: Any) -> Any:
    """Escape every string value for mrkdwn unless it is Markup the bot built (mentions, its own wording)."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return escape(value)


_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, finalize=_finalize)


def home_file(root: Path, language: str) -> Path:
    """`<root>/<language>/home.yaml`, or the shipped one when a company's copied folder predates it."""
    language = language if language in LANGUAGES else "en"
    for base in (root, default_dir("messages")):
        path = base / language / "home.yaml"
        if path.is_file():
            return path
    return root / language / "home.yaml"  # load_ui_file reports it as a ConfigError with the path


@lru_cache(maxsize=16)
def _templates(path: Path) -> dict[str, Template]:
    return {key: _ENV.from_string(source) for key, source in load_ui_file(path).items()}


class HomeWording:
    """The Home tab's strings in one language; `.ui` is the shared ui.yaml wording (roles, buttons…)."""

    def __init__(self, slack: SlackDesk, language: str) -> None:
        self.ui: Wording = slack.say(language)
        self.language = self.ui.language
        self.path = home_file(slack.desk.messages.root, language)
        self._strings = _templates(self.path)

    def __call__(self, key: str, /, **params: Any) -> str:
        template = self._strings.get(key)
        if template is None:
            raise KeyError(f"Home string {key!r} missing in {self.path}")
        return template.render(**params).strip()

    def own(self, text: str) -> Markup:
        """Wording the bot rendered itself (already escaped), to pass into another string as is."""
        return Markup(text)

    def role(self, role: str) -> Markup:
        return Markup(self.ui.role(role))


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


# ---- blocks ------------------------------------------------------------------------------------------
def _preview(text: str) -> str:
    return fit(text.strip() or "—", DRAFT_PREVIEW)


def _when(at: datetime, desk: Desk, say: HomeWording) -> str:
    return local_time(at, say.language, desk.settings.tz)


def _scenario_name(desk: Desk, incident: Incident, language: str) -> str:
    book = desk.playbooks.get(incident.scenario)
    return book.name.in_(language) if book else incident.scenario


def _incident_blocks(desk: Desk, part: _Part, user: str, owners: dict[str, list[str]], say: HomeWording) -> list[Block]:
    incident = part.incident
    line = say(
        "incidents.line",
        drill=incident.drill,
        code=incident.code,
        title=incident.title,
        scenario=_scenario_name(desk, incident, say.language),
        level=incident.level,
        channel=channel_link(incident.channel_id),
    )
    lines = [say("incidents.your_part")]
    if part.declared:
        lines.append(say("incidents.declared"))
    for role in part.roles:
        ack, backup = part.acks.get(role), user in owners.get(role, [])[1:]
        if ack is not None and ack.user == user:
            lines.append(say("incidents.acked_you", role=say.role(role), backup=backup, at=_when(ack.at, desk, say)))
        elif ack is not None:
            lines.append(
                say(
                    "incidents.acked_other",
                    role=say.role(role),
                    backup=backup,
                    user=mention(ack.user),
                    at=_when(ack.at, desk, say),
                )
            )
        else:
            lines.append(say("incidents.waiting", role=say.role(role), backup=backup))
    blocks: list[Block] = [
        SectionBlock(
            text=md(line),
            fields=[
                md(countdown_text(desk, incident, say.ui), FIELD_LIMIT),
                md("\n".join(lines), FIELD_LIMIT),
            ],
        )
    ]
    if incident.active:
        for role in part.roles:
            if role in part.acks or user not in owners.get(role, []):
                continue  # taken already (by anyone), or not theirs to take: only owners and backups may
            blocks.append(
                SectionBlock(
                    block_id=f"home-ack-{incident.id}-{role}",
                    text=md(
                        say(
                            "incidents.ack_prompt",
                            code=incident.code,
                            role=say.role(role),
                            backup=user in owners.get(role, [])[1:],
                        )
                    ),
                    accessory=button(
                        Button("acknowledge", say.ui("button.acknowledge"), f"{incident.id}:{role}", "primary")
                    ),
                )
            )
    return blocks


def _draft_blocks(item: _Waiting, say: HomeWording) -> list[Block]:
    draft, incident = item.draft, item.incident
    heading = say(
        "drafts.line",
        network=say.own(say.ui.network(draft.network)),
        code=incident.code,
        kind=say.own(say.ui(f"draft.kind.{draft.kind}")),
        version=draft.version,
        roles=Markup(", ").join(say.role(r) for r in item.mine),
        others=Markup(", ").join(say.role(r) for r in item.others),
    )
    value = f"{draft.id}:{draft.version}"
    return [
        SectionBlock(text=md(heading)),
        SectionBlock(text=pt(_preview(draft.text), SECTION_LIMIT, emoji=False)),
        ActionsBlock(
            block_id=f"home-draft-{draft.id}",
            elements=[
                button(Button("draft_approve", say.ui("button.approve"), value, "primary")),
                button(Button("draft_edit", say.ui("button.edit"), value)),
                button(Button("draft_reject", say.ui("button.reject"), value, "danger")),
            ],
        ),
    ]


def _roles_blocks(user: str, owners: dict[str, list[str]], say: HomeWording) -> list[Block]:
    lines = []
    for role in ROLES:
        people = owners.get(role) or []
        if user in people:
            rank = people.index(user)
            lines.append(
                say("roles.owner", role=say.role(role))
                if rank == 0
                else say("roles.backup", role=say.role(role), rank=rank)
            )
    if not lines:
        return [SectionBlock(text=md(say("roles.none")))]
    return [SectionBlock(text=md("\n".join(lines))), ContextBlock(elements=[md(say("roles.hint"))])]


def _resolved_blocks(desk: Desk, user: str, owners: dict[str, list[str]], say: HomeWording) -> list[Block]:
    # A private incident's title is shown only to the people who were part of it. Read newest first and stop
    # at enough: years of history must not be loaded to show a few lines.
    visible = (i for i in desk.store.recently_resolved() if may_see(desk, i, user, owners))
    shown = list(itertools.islice(visible, RECENT_RESOLVED))
    if not shown:
        return [SectionBlock(text=md(say("resolved.none")))]
    tz = desk.settings.tz
    return [
        SectionBlock(
            text=md(
                say(
                    "resolved.line",
                    drill=i.drill,
                    code=i.code,
                    title=i.title,
                    date=format_date(
                        (i.resolved_at or i.declared_at).astimezone(tz), format="medium", locale=locale_of(say.language)
                    ),
                )
            )
        )
        for i in shown
    ]


def _fit(groups: list[list[Block]], budget: int) -> tuple[list[Block], int]:
    """The whole groups that fit in `budget` blocks, in order, and how many were left off."""
    out: list[Block] = []
    for index, group in enumerate(groups):
        if len(out) + len(group) > budget:
            return out, len(groups) - index
        out += group
    return out, 0


def home_view(slack: SlackDesk, user: str, language: str) -> dict:
    """The Home tab for `user`: their active incidents, drafts waiting for them, their roles, recent closures."""
    desk = slack.desk
    say = HomeWording(slack, language)
    owners = desk.store.role_owners()
    active = list(reversed(desk.store.incidents(status="active")))  # newest first
    parts = [p for p in (_part(desk, i, user, owners) for i in active) if p is not None]
    waiting = [w for i in active for w in _waiting_for(desk, i, user)]

    incident_groups = [_incident_blocks(desk, p, user, owners, say) for p in parts]
    draft_groups = [_draft_blocks(w, say) for w in waiting]
    tail: list[Block] = [
        DividerBlock(),
        HeaderBlock(text=pt(say("roles.heading"), HEADER_LIMIT)),
        *_roles_blocks(user, owners, say),
        DividerBlock(),
        HeaderBlock(text=pt(say("resolved.heading"), HEADER_LIMIT)),
        *_resolved_blocks(desk, user, owners, say),
        ContextBlock(elements=[md(say("updated", at=_when(desk.now(), desk, say)))]),
    ]
    # Fixed: the title, the two list headings and the divider between them, the tail, and one line under
    # each list for its empty state or its "…and N more".
    room = MAX_BLOCKS - (4 + len(tail)) - 2
    # Incidents first; the drafts keep what they need, or at least half the room when both overflow.
    incident_budget = max(room // 2, room - sum(map(len, draft_groups)))
    incident_blocks, incidents_left = _fit(incident_groups, incident_budget)
    draft_blocks_, drafts_left = _fit(draft_groups, room - len(incident_blocks))

    blocks: list[Block] = [
        HeaderBlock(text=pt(say("title"), HEADER_LIMIT)),
        HeaderBlock(text=pt(say("incidents.heading", count=len(parts)), HEADER_LIMIT)),
    ]
    if incident_blocks:
        blocks += incident_blocks
        if incidents_left:
            blocks.append(ContextBlock(elements=[md(say("more", count=incidents_left))]))
    else:
        blocks.append(SectionBlock(text=md(say("incidents.none_yours" if active else "incidents.none"))))
    blocks += [DividerBlock(), HeaderBlock(text=pt(say("drafts.heading", count=len(waiting)), HEADER_LIMIT))]
    if draft_blocks_:
        blocks += draft_blocks_
        if drafts_left:
            blocks.append(ContextBlock(elements=[md(say("drafts.more", count=drafts_left))]))
    else:
        blocks.append(SectionBlock(text=md(say("drafts.none"))))
    blocks += tail
    return View(type="home", callback_id="home", blocks=blocks[:MAX_BLOCKS]).to_dict()


# ---- Slack -------------------------------------------------------------------------------------------
def publish_home(slack: SlackDesk, client: WebClient, user: str) -> None:
    """Draw `user`'s Home tab (in the workspace language). A refusal is logged: the state is already saved."""
    try:
        client.views_publish(user_id=user, view=home_view(slack, user, slack.desk.language))
    except SlackApiError as exc:
        log.warning("views.publish for %s failed: %s", user, exc.response.get("error"))


def from_home(body: dict[str, Any]) -> bool:
    """Whether an interaction payload came from a Home tab (so the clicker's Home should be redrawn)."""
    return (body.get("view") or {}).get("type") == "home"


def register_home(app: App, slack: SlackDesk) -> None:
    """Answer `app_home_opened` with the person's Home tab. Safe to call more than once for the same app."""
    with _register_lock:
        if getattr(app, _REGISTERED, False):
            return
        setattr(app, _REGISTERED, True)

    def count_as_busy(context: BoltContext, next: Callable[[], None]) -> None:
        # Bolt acknowledges an event *before* its listener starts on a worker thread, so the listener's own
        # tracking may begin after the 200 went out. This listener middleware runs on the request thread,
        # before the ack: it opens the busy count and the listener closes it (`settle()` then waits for it).
        work = slack.activity.working()
        work.__enter__()
        context[_BUSY] = work
        next()

    @app.event("app_home_opened", middleware=[count_as_busy])
    @slack.activity.track
    def home_opened(event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        work = context.get(_BUSY)
        try:
            user = event.get("user")
            if event.get("tab") != "home" or not user:
                return  # the Messages tab, or a malformed event
            publish_home(slack, client, user)
        finally:
            if work is not None:
                work.__exit__(None, None, None)


__all__ = ["HomeWording", "from_home", "home_file", "home_view", "publish_home", "register_home"]
