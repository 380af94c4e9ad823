"""What the application layer does for one request, on that request's port: declare and set up, escalate, the
redraws after a verb (bot/chat/after.py), resolve's closing steps (bot/chat/closing.py).

A platform adapter makes one `Flow` per request (its port carries the request's client) from what lives as long as
the process: the desk, the people's languages (bot/chat/people.py) and the outbox runner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.chat.after import After, Outbox
from bot.chat.closing import Closed, Closer, outcome
from bot.chat.drillmark import marked
from bot.chat.message import Message
from bot.chat.people import Languages, people
from bot.chat.port import Port, Refused
from bot.chat.setup import SetUp
from bot.chat.steps import StepKey
from bot.chat.wording import Wording
from bot.incidents import facts
from bot.incidents.declare import DeclareRequest, declare
from bot.incidents.desk import Desk
from bot.incidents.lifecycle import Resolved
from bot.incidents.roles import Person
from bot.models import Incident

log = logging.getLogger("crisisbot.chat")


class Flow:
    """The application layer on one request's port."""

    def __init__(self, desk: Desk, port: Port, languages: Languages, outbox: Outbox) -> None:
        self.desk, self.port, self.languages, self.outbox = desk, port, languages, outbox

    def wording_for(self, person: str, wait: bool = False) -> Wording:
        return self.languages.wording_for(self.port, person, wait)

    def people(self, users: list[str]) -> dict[str, Person]:
        """What the platform says about each account; raises SlackLookupFailed when it does not answer."""
        return people(self.port, users)

    # ---- declare -------------------------------------------------------------------------------
    def declare(self, request: DeclareRequest, tell: Callable[[str], None], told: Callable[[str], bool]) -> Incident:
        """Declare (or resume) and provision; `tell` the declarer how it went, in their own language.

        The incident (room, header, drafts) speaks the workspace's language; only the declarer's answers use
        theirs, looked up while the platform makes the room. A new declare's "declared" goes out in the set-up's
        last round (see SetUp.run in bot/chat/setup.py) through `told` (tells, and says whether it went out: a
        refused answer is tried again after the set-up); should a step of that round fail, a second message says
        which.
        """
        declarer = request.declared_by
        self.wording_for(declarer)  # starts (or joins) the look-up of their language; nothing waits for it here
        declared = declare(self.desk, request)
        incident = declared.incident

        def confirm(incident: Incident) -> bool:
            say = self.wording_for(declarer, wait=True)
            return told(say("declare.done", code=incident.code, channel=say.room(incident.room_ref)))

        result = SetUp(self.desk, self.port, self.languages.wording(incident.language)).run(
            incident, confirm=None if declared.existing else confirm
        )
        incident = result.incident
        say = self.wording_for(declarer, wait=True)
        channel = say.room(incident.room_ref)
        failed, done = [str(k) for k in result.failed], [str(k) for k in result.done]
        for notice in result.notices:  # the room was made in a lesser form than configured: what to do about it
            tell(say(notice, code=incident.code, channel=channel))
        if not result.complete:
            facts.record(self.desk, incident, facts.SetupFailed(failed))
            tell(say("declare.setup_failed", code=incident.code, steps=_steps(result.failed, say), channel=channel))
        elif declared.existing and done:  # a declare that failed or died midway, finished by typing it again
            tell(say("declare.resumed", code=incident.code, steps=_steps(result.done, say), channel=channel))
        elif not result.confirmed:
            key = "declare.existing" if declared.existing else "declare.done"
            tell(say(key, code=incident.code, channel=channel))
        return incident

    def provision(self, incident: Incident) -> list[str]:
        """Post whatever the incident has that the platform does not yet (new drafts, new people); the failures."""
        return [
            str(k) for k in SetUp(self.desk, self.port, self.languages.wording(incident.language)).run(incident).failed
        ]

    def escalate(self, incident: Incident, level: int | None, user: str, step: int = 0) -> None:
        """Change the level, page whoever it pulls in, redraw what the rule touches (bot/chat/after.py)."""
        self.after().escalate(incident, level, user, step, provision=self.provision)

    # ---- resolve -------------------------------------------------------------------------------
    def after_resolve(self, resolved: Resolved, user: str) -> None:
        """Redraw, post the closing message and drafts, upload the report, ask the team three questions.

        When the platform refused a step, the resolver is told which, with a Retry button (see
        bot/chat/closing.py); when all went through, the closing message in the room is the answer.
        """
        incident = resolved.incident
        result = self._close(incident)
        self.after().delivered(incident)  # a drill's scorecard, queued by the resolve: after the closing message
        if result.failed:
            told = outcome(result.incident, result, self.wording_for(user, wait=True), rerun=False)
            self.tell(user, incident.room_ref, told)

    def finish_resolve(self, incident: Incident, say: Wording) -> Message:
        """Re-run the closing steps not done yet; returns what to tell whoever asked, with Retry if still refused."""
        result = self._close(incident)
        return outcome(result.incident, result, say, rerun=True)

    def _close(self, incident: Incident) -> Closed:
        result = self.closer().run(incident)
        if result.failed:  # on the timeline too, for the evaluation
            facts.record(self.desk, incident, facts.ClosingFailed(result.failed))
        return result

    def closing_pending(self, incident: Incident) -> list[str]:
        """The closing steps of a resolved incident not yet done (from the store; no platform call)."""
        return self.closer().pending(incident)

    def closer(self) -> Closer:
        return Closer(self.desk, self.port, lambda person: self.wording_for(person, wait=True))

    # ---- redraws (the policy is bot/chat/after.py's) -------------------------------------------------
    def after(self) -> After:
        """The after-verb policy on this request's port; the notices its verbs queued go out through the outbox."""
        return After(self.desk, self.port, self.outbox, self.languages.wording)

    def tell(self, person: str, room: str | None, message: Message) -> None:
        """Tell `person` privately (in `room` where the platform can, else 1:1); a failure is logged."""
        about = self.desk.store.incident_by_room(room) if room else None  # a drill's notices carry its mark
        try:
            self.port.tell(person, room, marked(message, about, self.wording_for(person)))
        except (Refused, OSError) as exc:
            log.warning(
                "could not notify %s: %s", person, exc.reason if isinstance(exc, Refused) else type(exc).__name__
            )


def _steps(keys: list[StepKey], say: Wording) -> str:
    """Steps (`dm:U…`, `draft:3`) as the declarer reads them, each kind once."""
    return ", ".join(say(f"step.{kind}") for kind in dict.fromkeys(key.kind for key in keys))
