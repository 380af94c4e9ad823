"""What each `/crisis` subcommand does, once the text is parsed (bot/chat/commands.py): call the core, answer.

A handler answers the person who typed through `Typed.answer`: in the acknowledgement while the platform
waits for it, after it by the platform's reply channel. What a handler can decide without writing (a typo, a
refusal: Desk.checking) goes in the ack; anything it writes comes after it (`Typed.quiet` first), so the
only write before an ack stays the request's own record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from markupsafe import Markup

from bot.chat import drill_schedule, drillcards, status
from bot.chat.cards import first_response_rule
from bot.chat.commands import Command
from bot.chat.flow import Flow
from bot.chat.message import Message
from bot.chat.wording import Wording
from bot.errors import UsageError
from bot.ids import ROLES
from bot.incidents import checklist, gdpr, lifecycle, roles
from bot.incidents.declare import DEFAULT_LEVEL, DeclareRequest, find_repeat
from bot.incidents.desk import Desk
from bot.incidents.drills import actions
from bot.incidents.drills.injects import script_for
from bot.incidents.escalate import check_may_escalate
from bot.models import Incident


class Typed(Protocol):
    """One typed command as its platform hands it over: who typed it where, how to answer, and what the
    platform does for the handlers (drawing forms and answers); the rest is the application layer's (`flow`)."""

    @property
    def desk(self) -> Desk: ...

    @property
    def say(self) -> Wording:
        """In the language of the person who typed."""
        ...

    @property
    def user(self) -> str: ...

    @property
    def room(self) -> str | None:
        """Where it was typed (None: in a direct conversation)."""
        ...

    def answer(self, text: str) -> None:
        """A private answer: in the ack while the platform waits, after it by the platform's reply channel."""
        ...

    def quiet(self) -> None:
        """Acknowledge with nothing to say (yet): before work that writes, or that may take a while."""
        ...

    def progress(self, text: str) -> None:
        """Say the work has begun ("Declaring…"): where the platform must hear something at once (Slack's ack)
        it is the answer; where it need not, only once the work takes long enough for the silence to worry."""
        ...

    # ---- forms ----------------------------------------------------------------------------------------
    def open_declare_form(self) -> None: ...

    def open_resolve_form(self, incident: Incident, ask_authority: bool) -> None: ...

    def show(self, message: Message) -> None:
        """A private answer with parts (buttons, a choice) the platform draws; as `answer` otherwise."""
        ...

    # ---- what the platform does ---------------------------------------------------------------------------
    @property
    def flow(self) -> Flow:
        """The application layer on this request's port (bot/chat/flow.py): set-up, redraws, closing steps."""
        ...

    def declare(self, request: DeclareRequest) -> None:
        """Declare and set the incident up, answering the typer how it went (through the platform's reply)."""
        ...


def incident_here(run: Typed) -> Incident:
    """The incident whose room the command was typed in."""
    incident = run.desk.store.incident_by_room(run.room) if run.room else None
    if incident is None:
        raise UsageError("error.not_in_incident_channel")
    return incident


def open_declare_form(run: Typed, cmd: Command) -> None:
    run.quiet()
    run.open_declare_form()


def show_help(run: Typed, cmd: Command) -> None:
    desk, say = run.desk, run.say
    rules = {book.deadlines.first_response_minutes: book for book in desk.playbooks.values()}
    if len(rules) == 1:
        first_response: str = first_response_rule(say, next(iter(rules)))
    else:  # playbooks that differ are named, so the help says what each header will count
        first_response = "; ".join(
            f"{book.name.in_(say.language)}: {first_response_rule(say, book.deadlines.first_response_minutes)}"
            for book in desk.playbooks.values()
        )
    run.answer(say("help.text", first_response=Markup(first_response), scenarios=", ".join(desk.scenarios())))


def show_roles(run: Typed, cmd: Command) -> None:
    owners, say = run.desk.store.role_owners(), run.say
    lines = [say("roles.heading")]
    for role in ROLES:
        people = owners.get(role) or []
        if people:
            backups = Markup(", ").join(say.mention(u) for u in people[1:])
            lines.append(say("roles.line", role=say.role(role), owner=say.mention(people[0]), backups=backups))
        else:
            lines.append(say("roles.line_empty", role=say.role(role), role_id=Markup(role)))  # typeable id
    run.answer("\n".join(lines))


def set_roles(run: Typed, cmd: Command) -> None:
    role = roles.check_role(cmd.role)  # a typo is answered at once, before asking the platform about anyone
    run.quiet()  # asking about each person may take longer than the acknowledgement may wait
    people = run.flow.people(cmd.users)
    # Whether the one typing is a workspace admin: the platform not answering only leaves them their other rights.
    actor = people.get(run.user) or run.flow.port.person(run.user) or roles.Person(run.user)
    users = roles.set_role_owners(run.desk, actor, role, [people[u] for u in cmd.users])
    say = run.say
    backups = Markup(", ").join(say.mention(u) for u in users[1:])
    run.answer(say("roles.set_done", role=say.role(role), owner=say.mention(users[0]), backups=backups))


def declare(run: Typed, cmd: Command) -> None:
    desk, say = run.desk, run.say
    book = desk.playbook(cmd.scenario)  # unknown scenario → usage before anything happens
    # drills: a drill plays its scenario's script; a real declare typed in a drill room is sent to the crisis channel
    if cmd.name == "drill":
        script_for(desk, book.id)
    here = desk.store.incident_by_room(run.room) if run.room else None
    if cmd.name == "declare" and here is not None and here.drill and here.active:
        run.answer(say("exercise.declare_in_drill_room", code=here.code))
        return
    title = cmd.title or say("declare.drill_title", scenario=book.name.in_(say.language))
    request = DeclareRequest(
        scenario=cmd.scenario,
        level=cmd.level or DEFAULT_LEVEL,
        title=title,
        declared_by=run.user,
        drill=cmd.name == "drill",
    )
    repeat = find_repeat(desk, request)
    if repeat is not None and repeat.setup_done_at:  # a double submit: say so at once
        run.answer(say("declare.existing", code=repeat.code, channel=say.room(repeat.room_ref)))
        return
    run.progress(say("declare.working", scenario=book.name.in_(say.language)))
    run.declare(request)


def escalate(run: Typed, cmd: Command) -> None:
    incident = incident_here(run)
    step = 0 if cmd.level else (1 if cmd.name == "escalate" else -1)  # a step counts from the level when it is made
    with run.desk.checking():  # refusals in the ack
        check_may_escalate(run.desk, incident, cmd.level or incident.level + step, run.user)
    run.answer(run.say("command.working"))
    run.flow.escalate(incident, cmd.level or None, run.user, step=step)


def authority_notified(run: Typed, cmd: Command) -> None:
    incident = checklist.check_record_authority_notified(run.desk, incident_here(run), run.user)  # refusals in the ack
    run.quiet()
    if checklist.record_authority_notified(run.desk, incident, run.user):
        run.answer(run.say("command.done"))
        after = run.flow.after()
        after.refresh_header(incident)
        after.delivered(incident)  # the note in the room of who recorded the authority, queued by the verb
    else:
        run.answer(run.say("gdpr.already"))


def show_status(run: Typed, cmd: Command) -> None:
    incident = run.desk.store.incident_by_room(run.room) if run.room else None
    if incident is None:  # the incidents the typer may see, to choose from
        choice = status.choose(run.desk, run.say, run.user)
        run.show(Message(run.say("status.choose"), choice.parts))
    else:
        run.answer(status.status_text(run.desk, incident, run.say))


def list_incidents(run: Typed, cmd: Command) -> None:
    run.answer(status.list_text(run.desk, run.say, run.user))


def status_update(run: Typed, cmd: Command) -> None:
    """An internal update in the room, with a button to turn it into public update drafts."""
    incident = incident_here(run)
    run.quiet()  # recorded after the ack: "recorded" (or why not) follows it
    lifecycle.post_status_update(run.desk, incident, run.user, cmd.title)
    run.answer(run.say("update.recorded"))
    run.flow.after().delivered(incident)  # the update in the room, with its button, queued by the verb


def note(run: Typed, cmd: Command) -> None:
    incident = incident_here(run)
    run.quiet()  # recorded after the ack: "recorded" (or why not) follows it
    lifecycle.add_note(run.desk, incident, run.user, cmd.title)
    run.answer(run.say("note.recorded", code=incident.code))


def resolve(run: Typed, cmd: Command) -> None:
    incident = incident_here(run)
    if not incident.active:
        finish_resolve(run, incident)
        return
    with run.desk.checking():  # refuse before the form, not after it
        lifecycle.check_may_resolve(run.desk, incident, run.user)
    run.quiet()
    duty = gdpr.duty(run.desk, incident)
    run.open_resolve_form(incident, ask_authority=duty is not None and duty.notified_at is None)  # an open duty


def finish_resolve(run: Typed, incident: Incident) -> None:
    """`/crisis resolve` in a resolved incident: never a second resolve, but the closing steps the platform refused."""
    with run.desk.checking():  # refusals go in the ack
        lifecycle.check_may_finish_resolve(run.desk, incident, run.user)
    if not run.flow.closing_pending(incident):
        run.answer(run.say("resolve.nothing_missing", code=incident.code))
        return
    run.answer(run.say("resolve.finishing", code=incident.code))
    run.show(run.flow.finish_resolve(incident, run.say))


# drills: after-action items
def drill_action(run: Typed, cmd: Command) -> None:
    """Add an improvement to the drill's plan (the drill room, also after the resolve): owner and date required."""
    incident = incident_here(run)
    if cmd.due is None or not cmd.users:
        raise UsageError("exercise.error.action_usage")
    run.quiet()  # recorded after the ack
    item = actions.add_action(run.desk, incident, run.user, cmd.title, cmd.users[0], cmd.due)
    say = run.say
    run.answer(say("exercise.action_added", line=Markup(drillcards.action_line(item, say)), number=item.number))


def drill_action_done(run: Typed, cmd: Command) -> None:
    incident = incident_here(run)
    run.quiet()
    item = actions.finish_action(run.desk, incident, run.user, int(cmd.number or 0))
    run.answer(run.say("exercise.action_done", line=Markup(drillcards.action_line(item, run.say))))


HANDLERS: dict[str, Callable[[Typed, Command], None]] = {
    "": open_declare_form,
    "help": show_help,
    "roles": show_roles,
    "roles_set": set_roles,
    "declare": declare,
    "drill": declare,
    "escalate": escalate,
    "deescalate": escalate,
    "gdpr_notified": authority_notified,
    "status": show_status,
    "list": list_incidents,
    "update": status_update,
    "note": note,
    "resolve": resolve,
    # drills: after-action items
    "drill_action": drill_action,
    "drill_action_done": drill_action_done,
    # drills: schedules
    "drill_schedule": drill_schedule.schedule,
    "drill_schedule_list": drill_schedule.show_schedules,
    "drill_schedule_cancel": drill_schedule.cancel,
}
