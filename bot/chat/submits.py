"""What happens after a form is submitted: the edit, reject, resolve and survey forms, once for every platform.

Every form follows one sequence. The core's read-only check runs first; what it refuses is shown in the form,
which stays open. Then the form is answered (Slack's ack closes the modal, Teams' task/submit answer closes the
dialog), and only then the verb runs, checking again under the write lock: what that second check refuses
(someone else was a moment faster) can no longer go in the closed form and reaches the person as a private
notice. A platform reads its own payload into a `Submitted` form; the sequence and its policy live here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from bot.chat.buttons import number
from bot.chat.message import Message
from bot.chat.wording import Wording
from bot.errors import AlreadyDone, CrisisError
from bot.incidents import drafts, gdpr, lifecycle
from bot.incidents.desk import Desk

if TYPE_CHECKING:
    from bot.chat.flow import Flow
    from bot.models import Incident


class Submitted(Protocol):
    """One submitted form, as a platform read it, with the platform's ways of answering it."""

    @property
    def user(self) -> str: ...

    @property
    def desk(self) -> Desk: ...

    @property
    def say(self) -> Wording: ...

    @property
    def replayed(self) -> bool:
        """Finished at start-up after a restart: the form was answered by the process that died."""
        ...

    def text(self, field: str) -> str: ...

    def choice(self, field: str) -> str: ...

    def hidden(self, key: str) -> object:
        """A value the form carries unseen (the draft, its version, the incident)."""
        ...

    def refused(self, field: str, exc: CrisisError) -> None:
        """The form stays open with the refusal under `field`; the refusal goes on the timeline after the answer."""
        ...

    def close(self) -> None:
        """Answer the form: it closes."""
        ...

    def notify(self, room: str | None, exc: CrisisError) -> None:
        """A refusal decided after the form closed: a private notice in `room`, else to the person directly."""
        ...

    def flow(self) -> Flow: ...


def edit_submitted(form: Submitted) -> None:
    desk, text = form.desk, form.text("text")
    try:
        draft_id, version = number(form.hidden("draft")), number(form.hidden("version"))
        _, incident = drafts.check_edit(desk, draft_id, form.user, text, version)
    except CrisisError as exc:
        form.refused("text", exc)
        return
    form.close()
    try:
        outcome = drafts.edit_draft(desk, draft_id, form.user, text, version)
    except CrisisError as exc:  # e.g. marked as posted between the check and the edit
        form.notify(incident.room_ref, exc)
        return
    form.flow().after().after_draft_change(outcome)


def reject_submitted(form: Submitted) -> None:
    desk, reason = form.desk, form.text("reason")
    try:
        draft_id, version = number(form.hidden("draft")), number(form.hidden("version"))
        _, incident = drafts.check_reject(desk, draft_id, version, form.user, reason)
    except CrisisError as exc:
        form.refused("reason", exc)
        return
    form.close()
    try:
        outcome = drafts.reject_draft(desk, draft_id, version, form.user, reason)
    except CrisisError as exc:  # e.g. marked as posted between the check and the reject
        form.notify(incident.room_ref, exc)
        return
    form.flow().after().after_draft_change(outcome)


def resolve_submitted(form: Submitted, authority: gdpr.Answer | None) -> None:
    """The resolve form, its authority answer (GDPR) already read and checked by the platform."""
    desk, summary = form.desk, form.text("summary")
    try:
        incident = desk.store.incident(number(form.hidden("incident")))
        if form.replayed and not incident.active:
            _finish_replayed_resolve(form, incident)
            return
        incident = lifecycle.check_resolve(desk, incident, form.user, summary)
    except AlreadyDone as exc:  # resolved by someone else a moment before: nothing to correct in this form
        form.close()
        form.notify(incident.room_ref, exc)
        return
    except CrisisError as exc:
        form.refused("summary", exc)
        return
    form.close()
    try:
        resolved = lifecycle.resolve(
            desk, incident, form.user, summary, form.text("impact"), form.text("lessons"), authority=authority
        )
    except CrisisError as exc:  # e.g. a backup lead's resolve came between the check and this one
        form.notify(incident.room_ref, exc)
        return
    form.flow().after_resolve(resolved, form.user)


def _finish_replayed_resolve(form: Submitted, incident: Incident) -> None:
    """This form resolved the incident and was answered, then the process died in the closing steps."""
    with form.desk.checking():
        lifecycle.check_may_finish_resolve(form.desk, incident, form.user)
    form.close()
    form.flow().after_resolve(lifecycle.Resolved(incident, []), form.user)


def survey_submitted(form: Submitted) -> None:
    try:
        incident = form.desk.store.incident(number(form.hidden("incident")))
        process, role_clarity = number(form.choice("q1")), number(form.choice("q2"))
        lifecycle.check_survey(process, role_clarity)
    except CrisisError as exc:
        form.refused("q1", exc)
        return
    form.close()
    lifecycle.answer_survey(form.desk, incident, form.user, process, role_clarity, form.text("q3"))
    form.flow().tell(form.user, None, Message(form.say("survey.thanks", code=incident.code)))
