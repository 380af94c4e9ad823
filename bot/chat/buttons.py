"""What each button does, for any chat platform: a small function of the click (`Clicked`), keyed by button id.

A button's value names what it acts on (`<incident>:<role>`, `<draft>:<version>`); the core re-reads that under
its write lock, never trusting the message the button was drawn on. The platform adapter parses its own request
into a `Clicked`, acknowledges it in time, and runs `press(BUTTONS[id], clicked)`; what it must do its own way
(answer privately, open a form, replace the clicked notice) is the protocol's methods.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal, Protocol

from bot.chat import forms, status
from bot.chat.after import promise_warning
from bot.chat.explain import explain
from bot.chat.flow import Flow
from bot.chat.message import Message
from bot.chat.wording import Wording
from bot.errors import AlreadyDone, CrisisError, NotAuthorized, PromiseLapsing, UsageError
from bot.incidents import checklist, drafts, lifecycle, roles, triage
from bot.incidents.desk import Desk

FormKind = Literal["edit", "reject", "survey", "declare", "dismiss"]


class Clicked(Protocol):
    """One click of a button, already acknowledged to the platform."""

    @property
    def desk(self) -> Desk: ...

    @property
    def user(self) -> str:
        """The clicker's person id (a Slack member id, a Teams person's Entra object id)."""
        ...

    @property
    def say(self) -> Wording:
        """The clicker's own wording (their language where we speak it)."""
        ...

    @property
    def flow(self) -> Flow:
        """The application layer on this request's port."""
        ...

    @property
    def value(self) -> str | None:
        """The button's value, as the platform delivered it (untrusted)."""
        ...

    def answer(self, text: str) -> None:
        """Tell the clicker privately, where the button was where the platform can; failures are logged."""
        ...

    def show(self, message: Message) -> None:
        """Show the clicker a message (it may have buttons) privately; failures are logged."""
        ...

    def open_form(self, kind: FormKind, **what: Any) -> None:
        """Open the form `kind` for the clicker: "edit"/"reject" with `draft=`, `incident=`; "survey" with
        `incident=`; "declare" with `prefill=` (bot/chat/forms.py's DeclarePrefill); "dismiss" with `triage=`.
        May raise the platform's own errors (the adapter handles them)."""
        ...

    def replace_notice(self, message: Message) -> None:
        """Put `message` in place of the private notice whose button was clicked (its buttons are done), where the
        platform can; elsewhere nothing. Failures are logged."""
        ...


Verb = Callable[[Clicked], None]


def press(verb: Verb, clicked: Clicked) -> None:
    """Run a button's verb; a refusal the person can act on is answered in their words (platform errors are the
    adapter's to handle)."""
    try:
        verb(clicked)
    except CrisisError as exc:
        clicked.answer(explain(exc, clicked.say))


def acknowledge(c: Clicked) -> None:
    incident_id, role = ids(c.value)
    incident = c.desk.store.incident(incident_id)
    roles.acknowledge(c.desk, incident, role, c.user)
    c.flow.after().refresh_dm(incident, c.user)  # first the clicker's own page: Teams answers the click with it
    c.flow.after().refresh_header(incident)


def checklist_done(c: Clicked) -> None:
    incident_id, item = ids(c.value)
    incident = c.desk.store.incident(incident_id)
    if checklist.complete_item(c.desk, incident, item, c.user):
        c.flow.after().refresh_header(incident)


def draft_approve(c: Clicked) -> None:
    draft_id, version = ids(c.value)
    c.flow.after().after_draft_change(drafts.approve_draft(c.desk, draft_id, number(version), c.user))


def draft_mark_posted(c: Clicked) -> None:
    draft_id, version = ids(c.value)
    try:
        outcome = drafts.mark_posted(c.desk, draft_id, number(version), c.user)
    except PromiseLapsing as exc:  # say so before it is public: offer a new time, or posting anyway
        c.show(promise_warning(explain(exc, c.say), str(c.value), c.say))
        return
    c.flow.after().after_draft_change(outcome)


def draft_post_anyway(c: Clicked) -> None:
    """From the warning about a lapsing promise: the poster knows, and posts the text as it is."""
    draft_id, version = ids(c.value)
    outcome = drafts.mark_posted(c.desk, draft_id, number(version), c.user, anyway=True)
    c.replace_notice(Message(c.say("promise.posted_anyway")))
    c.flow.after().after_draft_change(outcome)


def draft_redraft_time(c: Clicked) -> None:
    """From the warning about a lapsing promise: a new version with a fresh next-update time."""
    draft_id, version = ids(c.value)
    outcome = drafts.redraft_with_new_time(c.desk, draft_id, number(version), c.user)
    text = c.say("promise.redrafted", version=outcome.draft.version, at=outcome.draft.promise_text)
    c.replace_notice(Message(text))
    c.flow.after().after_draft_change(outcome)


def draft_edit(c: Clicked) -> None:
    draft_id, version = ids(c.value)
    draft, incident = drafts.check_may_edit(c.desk, draft_id, number(version), c.user)
    c.open_form("edit", draft=draft, incident=incident)


def draft_reject(c: Clicked) -> None:
    draft_id, version = ids(c.value)
    draft, incident = drafts.check_may_decide(c.desk, draft_id, number(version), c.user)
    c.open_form("reject", draft=draft, incident=incident)


def escalate(c: Clicked) -> None:
    incident_id, level = ids(c.value)
    c.flow.escalate(c.desk.store.incident(incident_id), number(level), c.user)


def draft_update(c: Clicked) -> None:
    """From an update reminder (`<incident>`) or an internal update (`<incident>:<event>`): one set per intent."""
    head, _, event_id = (c.value or "").partition(":")
    incident = c.desk.store.incident(number(head))
    made = drafts.draft_update(c.desk, incident, c.user, number(event_id) if event_id else None)
    c.flow.provision(made.incident)  # also posts what an earlier click could not (the platform refused it)
    if not made.changed:
        raise AlreadyDone("error.update_already_drafted", user=made.by)


def show_status(c: Clicked) -> None:
    incident = c.desk.store.incident(number(c.value or ""))
    if not roles.may_see(c.desk, incident, c.user):  # a button from someone else's list, or a forged value
        raise NotAuthorized("error.private_incident")
    c.show(Message(status.status_text(c.desk, incident, c.say)))


def survey_open(c: Clicked) -> None:
    c.open_form("survey", incident=c.desk.store.incident(number(c.value or "")))


def resolve_retry(c: Clicked) -> None:
    """The Retry button on the notice about refused closing steps: do the missing ones, once; the answer takes the
    notice's place, so a done Retry button does not linger."""
    incident = c.desk.store.incident(number(c.value))
    lifecycle.check_may_finish_resolve(c.desk, incident, c.user)
    c.replace_notice(c.flow.finish_resolve(incident, c.say))


def triage_declare(c: Clicked) -> None:
    """Declare from a triage card: the declare form, prefilled, with detection at the alert's own time."""
    found = triage.undecided(c.desk, number(c.value or ""))
    c.open_form("declare", prefill=forms.triage_prefill(found, c.desk.playbooks))


def triage_dismiss(c: Clicked) -> None:
    c.open_form("dismiss", triage=triage.undecided(c.desk, number(c.value or "")))


def triage_watch(c: Clicked) -> None:
    triage.watch(c.desk, number(c.value or ""), c.user)
    c.answer(c.say("triage.watching_ok"))


BUTTONS: dict[str, Verb] = {
    verb.__name__: verb
    for verb in (
        acknowledge,
        checklist_done,
        draft_approve,
        draft_mark_posted,
        draft_post_anyway,
        draft_redraft_time,
        draft_edit,
        draft_reject,
        escalate,
        draft_update,
        show_status,
        survey_open,
        resolve_retry,
        triage_declare,
        triage_dismiss,
        triage_watch,
    )
}


def ids(value: str | None) -> tuple[int, str]:
    """Split a button value `123:rest`; a malformed one is a usage error, not a crash."""
    head, _, rest = (value or "").partition(":")
    if not rest:
        raise UsageError("error.bad_button")
    return number(head), rest


def number(text: object) -> int:
    """An id or number from a button value or form metadata: ASCII digits (`²`.isdigit() is true too)."""
    if not (isinstance(text, int | str) and re.fullmatch(r"[0-9]{1,18}", str(text))):
        raise UsageError("error.bad_button")
    return int(str(text))
