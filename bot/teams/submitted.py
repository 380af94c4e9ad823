"""Dialogs opened and submitted (task/fetch, task/submit), and the bot being installed.

A fetch answers the form (bot/teams/dialogs.py) once the core's read-only check lets the person do what it is for;
a submit is checked the same way first, its refusal shown in the dialog with the values kept, then answered
(the dialog closes) and carried out after the answer: the verb checks again under the write lock, and what it
refuses then reaches the person in their 1:1 chat. The sequence is bot/chat/submits.py's, as for Slack's modals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.chat import forms, submits
from bot.chat.buttons import number
from bot.chat.explain import explain
from bot.chat.flow import Flow
from bot.chat.message import Message
from bot.chat.port import Refused
from bot.chat.wording import Wording
from bot.errors import CrisisError
from bot.incidents import drafts, lifecycle, triage
from bot.incidents.declare import DeclareRequest
from bot.incidents.desk import Desk
from bot.teams import dialogs
from bot.teams.clicks import Reply
from bot.teams.typed import TeamsTyped

if TYPE_CHECKING:
    from bot.teams.agent import Bot

log = logging.getLogger("crisisbot.teams")
PLATFORM = "teams"


@dataclass
class Submit:
    """One submitted dialog: who, what it says, the answer Teams waits for."""

    bot: Bot
    activity: dict[str, Any]
    user: str
    say: Wording
    kind: str
    meta: dict[str, Any]
    values: dict[str, Any]
    reply: Reply

    replayed = False  # a dialog a dead process had answered is finished at start-up (bot/teams/replay.py)

    @property
    def desk(self) -> Desk:
        return self.bot.desk

    def text(self, field: str) -> str:
        return dialogs.text(self.values, field)

    def choice(self, field: str) -> str:
        return dialogs.text(self.values, field)

    def hidden(self, key: str) -> object:
        return self.meta.get(key)

    def flow(self) -> Flow:
        return self.bot.flow()

    def refuse(self, errors: forms.FieldErrors) -> None:
        """The dialog stays open: the form again, the values kept, the refusal on top (a form that cannot be drawn
        again, its incident or draft unknown, is the refusal alone)."""
        try:
            self.reply.offer(dialogs.form(self.bot.desk, self.kind, self.say, self.meta, self.values, errors))
        except CrisisError:
            self.reply.offer(dialogs.notice("\n".join(dict.fromkeys(errors.values()))))

    def refused(self, field: str, exc: CrisisError) -> None:
        self.refuse({field: explain(exc, self.say)})
        self.bot.desk.record_refusal(exc)

    def close(self) -> None:
        self.reply.offer(None)

    def notify(self, room: str | None, exc: CrisisError) -> None:
        """A refusal decided after the dialog closed: in the person's 1:1 chat (Teams has no private notice in
        a channel, `room`)."""
        self.bot.flow().tell(self.user, None, Message(explain(exc, self.say)))


def dialog(bot: Bot, activity: dict[str, Any], name: str, reply: Reply, user: str) -> None:
    say = bot.wording_for(user)
    value = activity.get("value")
    data = value.get("data") if isinstance(value, dict) else None
    data = data if isinstance(data, dict) else {}
    kind, meta = data.get("dialog"), dialogs.meta_of(data)
    if kind not in dialogs.KINDS:
        reply.offer(dialogs.notice(say("error.bad_button")))
        return
    try:
        if name == "task/fetch":
            reply.offer(fetched(bot, kind, user, say, meta))
        else:
            SUBMITS[kind](Submit(bot, activity, user, say, kind, meta, data, reply))
    except CrisisError as exc:  # a forged or stale id in the metadata, or a refusal the check made
        if not reply.offer(dialogs.notice(explain(exc, say))):
            bot.flow().tell(user, None, Message(explain(exc, say)))


def fetched(bot: Bot, kind: str, user: str, say: Wording, meta: dict[str, Any]) -> dict[str, Any]:
    """The form, once the core's check lets `user` do what it is for (else why not, in the dialog)."""
    desk = bot.desk
    if kind in ("edit", "reject"):
        check = drafts.check_may_edit if kind == "edit" else drafts.check_may_decide
        check(desk, number(meta.get("draft")), number(meta.get("version")), user)
    elif kind == "resolve":
        with desk.checking():
            lifecycle.check_may_resolve(desk, desk.store.incident(number(meta.get("incident"))), user)
    elif kind == "survey":
        desk.store.incident(number(meta.get("incident")))
    elif kind == "dismiss":
        triage.undecided(desk, number(meta.get("triage")))
    elif kind == "declare" and meta.get("triage") is not None:  # from a triage card: the form starts filled in
        found = triage.undecided(desk, number(meta.get("triage")))
        return dialogs.form(desk, kind, say, meta, dialogs.prefilled(forms.triage_prefill(found, desk.playbooks), desk))
    return dialogs.form(desk, kind, say, meta)


# ---- submits ---------------------------------------------------------------------------------------------------
def declare_submitted(form: Submit) -> None:
    bot = form.bot
    parsed, errors = dialogs.declared(form.values, bot.desk, form.say)
    if parsed is None:
        form.refuse(errors)
        return
    form.close()
    triage_id = form.meta.get("triage")  # from a triage card: its alerts go on the timeline first
    request = DeclareRequest(
        declared_by=form.user,
        platform=PLATFORM,
        triage_id=number(triage_id) if triage_id is not None else None,
        **parsed.model_dump(),
    )
    with TeamsTyped(bot.desk, bot.port, bot.flow(), form.activity, form.user, form.say) as run:
        try:
            run.declare(request)
        except CrisisError as exc:
            run.answer(explain(exc, form.say))


def dismiss_submitted(form: Submit) -> None:
    reason = form.text("reason")
    if not " ".join(reason.split()):
        form.refuse({"reason": form.say("triage.reason_needed")})
        return
    form.close()
    try:
        triage.dismiss(form.bot.desk, number(form.meta.get("triage")), form.user, reason)
        text = form.say("triage.dismissed_ok")
    except CrisisError as exc:
        text = explain(exc, form.say)
    form.bot.flow().tell(form.user, None, Message(text))


def resolve_submitted(form: Submit) -> None:
    desk, say = form.desk, form.say
    choice = (form.text("authority") or "not_yet") if form.meta.get("ask_authority") else None
    authority, errors = forms.authority_answer(choice, dialogs.moment(form.values, "authority", desk), desk.now(), say)
    if errors:
        form.refuse(errors)
        return
    submits.resolve_submitted(form, authority)


SUBMITS: dict[str, Callable[[Submit], None]] = {
    "declare": declare_submitted,
    "edit": submits.edit_submitted,
    "reject": submits.reject_submitted,
    "resolve": resolve_submitted,
    "survey": submits.survey_submitted,
    "dismiss": dismiss_submitted,
}


# ---- installed ------------------------------------------------------------------------------------------------
HELLO = "teams:hello"  # the request key (handled_requests) of greeting the crisis channel


def installed(bot: Bot, activity: dict[str, Any]) -> None:
    """The app added to a team (installationUpdate) or the bot to its members (conversationUpdate): remember the
    team, and greet the crisis channel the first time."""
    desk = bot.desk
    channel_data = activity.get("channelData")
    team_data = channel_data.get("team") if isinstance(channel_data, dict) else None
    team = team_data.get("id") if isinstance(team_data, dict) else None
    if team and desk.store.platform_ref(PLATFORM, "team") != team:
        desk.store.put_platform_ref(PLATFORM, "team", team, desk.now())
    if not _joined(activity) or not desk.settings.teams_crisis_channel:
        return
    # An install brings two activities at once (installationUpdate, conversationUpdate): one key, one greeting,
    # claimed before the post (a greeting Teams refused is not repeated; the log says so).
    if not desk.store.claim_request(HELLO, desk.now()):
        return
    say = bot.languages.wording()
    try:
        hello = say("teams.hello", space=desk.settings.teams_incident_space)
        bot.port.post(desk.settings.teams_crisis_channel, Message(hello))
    except (Refused, OSError) as exc:
        log.warning(
            "could not greet the crisis channel: %s", exc.reason if isinstance(exc, Refused) else type(exc).__name__
        )


def _joined(activity: dict[str, Any]) -> bool:
    if activity.get("type") == "installationUpdate":
        return str(activity.get("action") or "").startswith("add")
    bot_id = (activity.get("recipient") or {}).get("id")
    return any(isinstance(m, dict) and m.get("id") == bot_id for m in activity.get("membersAdded") or [])
