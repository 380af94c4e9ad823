"""What each `/crisis` subcommand does in Slack, once the text is parsed. Wired in bot/slack/app.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from slack_bolt import Ack, Respond
from slack_sdk import WebClient

from bot.chat.commands import Command
from bot.chat.wording import Wording
from bot.errors import UsageError
from bot.ids import ROLES
from bot.incidents import checklist, gdpr, lifecycle, roles
from bot.incidents.declare import DEFAULT_LEVEL, DeclareRequest, find_repeat
from bot.incidents.escalate import check_may_escalate
from bot.models import Incident
from bot.slack import status, views
from bot.slack.blocks import MESSAGE_LIMIT, first_response_rule
from bot.slack.flows import SlackDesk
from bot.slack.text import channel_link, fit, mention


@dataclass
class Invocation:
    """One `/crisis` request: who, where, and how to answer them (the ack first, then respond)."""

    slack: SlackDesk
    client: WebClient
    ack: Ack
    respond: Respond
    command: dict[str, Any]
    say: Wording
    acked: bool = field(default=False)

    @property
    def user(self) -> str:
        return self.command["user_id"]

    @property
    def channel(self) -> str | None:
        return self.command.get("channel_id")

    def answer(self, text: str = "", blocks: list[dict] | None = None) -> None:
        """Ephemeral answer: in the ack while Slack waits, by response_url after that."""
        text = fit(text, MESSAGE_LIMIT)
        if self.acked:
            self.respond(response_type="ephemeral", replace_original=False, text=text, blocks=blocks)
        else:
            self.ack(response_type="ephemeral", text=text, blocks=blocks)
            self.acked = True

    def silent_ack(self) -> None:
        if not self.acked:
            self.ack()
            self.acked = True

    def incident_here(self) -> Incident:
        """The incident whose channel the command was typed in."""
        incident = self.slack.desk.store.incident_by_channel(self.channel) if self.channel else None
        if incident is None:
            raise UsageError("error.not_in_incident_channel")
        return incident


def open_declare_form(run: Invocation, cmd: Command) -> None:
    run.silent_ack()
    run.client.views_open(
        trigger_id=run.command["trigger_id"], view=views.declare_modal(run.slack.desk, run.say, run.channel)
    )


def show_help(run: Invocation, cmd: Command) -> None:
    desk = run.slack.desk
    rules = {book.deadlines.first_response_minutes: book for book in desk.playbooks.values()}
    if len(rules) == 1:
        first_response = first_response_rule(run.say, next(iter(rules)))
    else:  # playbooks that differ are named, so the help says what each header will count
        first_response = "; ".join(
            f"{book.name.in_(run.say.language)}: {first_response_rule(run.say, book.deadlines.first_response_minutes)}"
            for book in desk.playbooks.values()
        )
    run.answer(run.say("help.text", first_response=Markup(first_response), scenarios=", ".join(desk.scenarios())))


def show_roles(run: Invocation, cmd: Command) -> None:
    owners = run.slack.desk.store.role_owners()
    lines = [run.say("roles.heading")]
    for role in ROLES:
        people = owners.get(role) or []
        if people:
            lines.append(
                run.say(
                    "roles.line",
                    role=run.say.role(role),
                    owner=mention(people[0]),
                    backups=Markup(", ").join(mention(u) for u in people[1:]),
                )
            )
        else:
            lines.append(run.say("roles.line_empty", role=run.say.role(role), role_id=Markup(role)))  # typeable id
    run.answer("\n".join(lines))


def set_roles(run: Invocation, cmd: Command) -> None:
    role = roles.check_role(cmd.role)  # a typo is answered at once, before asking Slack about anyone
    run.silent_ack()  # asking Slack about each person may take longer than the acknowledgement may wait
    people = run.slack.people(run.client, cmd.users)
    # Whether the one typing is a workspace admin: Slack not answering only leaves them their other rights.
    actor = people.get(run.user) or run.slack.person(run.client, run.user) or roles.Person(run.user)
    users = roles.set_role_owners(run.slack.desk, actor, role, [people[u] for u in cmd.users])
    run.answer(
        run.say(
            "roles.set_done",
            role=run.say.role(role),
            owner=mention(users[0]),
            backups=Markup(", ").join(mention(u) for u in users[1:]),
        )
    )


def declare(run: Invocation, cmd: Command) -> None:
    desk, say = run.slack.desk, run.say
    book = desk.playbook(cmd.scenario)  # unknown scenario → usage before anything happens
    title = cmd.title or say("declare.drill_title", scenario=book.name.in_(say.language))
    request = DeclareRequest(
        scenario=cmd.scenario,
        level=cmd.level or DEFAULT_LEVEL,
        title=title,
        declared_by=run.user,
        drill=cmd.name == "drill",
    )
    repeat = find_repeat(desk, request)
    if repeat is not None and desk.store.delivery(f"{repeat.id}:ready"):  # a double submit: say so at once
        run.answer(say("declare.existing", code=repeat.code, channel=channel_link(repeat.channel_id)))
        return
    run.answer(say("declare.working", scenario=book.name.in_(say.language)))
    run.slack.declare(run.client, request, run.answer)


def escalate(run: Invocation, cmd: Command) -> None:
    incident = run.incident_here()
    step = 0 if cmd.level else (1 if cmd.name == "escalate" else -1)  # a step counts from the level when it is made
    with run.slack.desk.checking():  # refusals in the ack
        check_may_escalate(run.slack.desk, incident, cmd.level or incident.level + step, run.user)
    run.answer(run.say("command.working"))
    run.slack.escalate(run.client, incident, cmd.level or None, run.user, step=step)


def gdpr_notified(run: Invocation, cmd: Command) -> None:
    incident = checklist.check_gdpr_notified(run.slack.desk, run.incident_here(), run.user)  # refusals in the ack
    run.silent_ack()
    if checklist.gdpr_notified(run.slack.desk, incident, run.user):
        run.answer(run.say("command.done"))
        run.slack.refresh_header(run.client, incident)
        run.slack.post(
            run.client, incident.channel_id, run.slack.say(incident.language)("gdpr.notified", user=mention(run.user))
        )
    else:
        run.answer(run.say("gdpr.already"))


def show_status(run: Invocation, cmd: Command) -> None:
    desk = run.slack.desk
    incident = desk.store.incident_by_channel(run.channel) if run.channel else None
    if incident is None:
        run.answer(run.say("status.choose"), blocks=status.choose_blocks(desk, run.say, run.user))
    else:
        run.answer(status.status_text(desk, incident, run.say))


def list_incidents(run: Invocation, cmd: Command) -> None:
    run.answer(status.list_text(run.slack.desk, run.say, run.user))


def status_update(run: Invocation, cmd: Command) -> None:
    """An internal update in the channel, with a button to turn it into public update drafts."""
    incident = run.incident_here()
    run.silent_ack()  # recorded after the ack: "recorded" (or why not) follows it
    event = lifecycle.post_status_update(run.slack.desk, incident, run.user, cmd.title)
    run.answer(run.say("update.recorded"))
    run.slack.post_update(run.client, incident, run.user, cmd.title, event.id or 0)


def note(run: Invocation, cmd: Command) -> None:
    incident = run.incident_here()
    run.silent_ack()  # recorded after the ack: "recorded" (or why not) follows it
    lifecycle.add_note(run.slack.desk, incident, run.user, cmd.title)
    run.answer(run.say("note.recorded", code=incident.code))


def resolve(run: Invocation, cmd: Command) -> None:
    incident = run.incident_here()
    if not incident.active:
        finish_resolve(run, incident)
        return
    with run.slack.desk.checking():  # refuse before the form, not after it
        lifecycle.check_may_resolve(run.slack.desk, incident, run.user)
    run.silent_ack()
    duty = gdpr.duty(run.slack.desk, incident)
    ask = duty is not None and duty.notified_at is None  # an open notification duty: ask where it stands
    run.client.views_open(
        trigger_id=run.command["trigger_id"], view=views.resolve_modal(incident.id, incident.code, run.say, ask)
    )


def finish_resolve(run: Invocation, incident: Incident) -> None:
    """`/crisis resolve` in a resolved incident: never a second resolve, but the closing steps Slack refused."""
    with run.slack.desk.checking():  # refusals go in the ack
        lifecycle.check_may_finish_resolve(run.slack.desk, incident, run.user)
    if not run.slack.closing_pending(run.client, incident):
        run.answer(run.say("resolve.nothing_missing", code=incident.code))
        return
    run.answer(run.say("resolve.finishing", code=incident.code))
    text, blocks = run.slack.finish_resolve(run.client, incident, run.say)
    run.answer(text, blocks)


HANDLERS: dict[str, Callable[[Invocation, Command], None]] = {
    "": open_declare_form,
    "help": show_help,
    "roles": show_roles,
    "roles_set": set_roles,
    "declare": declare,
    "drill": declare,
    "escalate": escalate,
    "deescalate": escalate,
    "gdpr_notified": gdpr_notified,
    "status": show_status,
    "list": list_incidents,
    "update": status_update,
    "note": note,
    "resolve": resolve,
}
