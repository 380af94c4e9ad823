"""Close an incident on the platform: redraw it as resolved, the closing message, the closing drafts, the report,
the survey.

Like declare's set-up, every step is recorded in the store's `deliveries` once the platform accepted it
(`<incident>:redraw:header`, `:redraw:draft:<id>`, `:closing`, `:report`, `:survey:<user>`; the closing drafts
are the set-up's own `:draft:<id>`). A run the platform interrupted is finished by running it again (the Retry
button on the resolver's notice, or `/crisis resolve` typed again in the room): only what is missing is done,
nothing twice. Runs for one incident take turns (with declare's set-up too: one lock per incident), so a double
click or a retry during the first run does the missing steps once; the second finds nothing left to do.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from jinja2.exceptions import SecurityError
from markupsafe import Markup

from bot.chat.after import After, Unheld
from bot.chat.drillmark import marked, marked_text
from bot.chat.message import Button, Message, text_with_buttons
from bot.chat.port import Port, Refused, Tag
from bot.chat.setup import SetUp
from bot.chat.steps import LookUpFailed, Runner, Step, StepKey, one_run_at_a_time
from bot.chat.wording import Wording
from bot.errors import CrisisError
from bot.incidents import gdpr
from bot.incidents.desk import Desk
from bot.incidents.lifecycle import participants
from bot.messages import duration, public_time
from bot.models import Draft, Incident
from bot.report import write_report

log = logging.getLogger("crisisbot.chat")
PROVISION = StepKey("provision")  # the closing drafts (and anything declare left undone): the set-up's own steps


def report_name(incident: Incident) -> str:
    """The report's file name: how a later run recognises its upload in the room (a share has no tag)."""
    return f"report-{incident.code}.md"


@dataclass
class Closed:
    incident: Incident
    did: list[str] = field(default_factory=list)  # delivery names this run recorded
    failed: list[str] = field(default_factory=list)  # step names the platform refused

    @property
    def complete(self) -> bool:
        return not self.failed


class Closer:
    """The closing steps on one port. The redraws are the after-verb policy's (bot/chat/after.py), the closing
    drafts declare's set-up's (bot/chat/setup.py); `wording_for` is a person's wording in their own language
    (the locale cache's), the workspace's when not given."""

    def __init__(self, desk: Desk, port: Port, wording_for: Callable[[str], Wording] | None = None) -> None:
        self.desk, self.port = desk, port
        self.wording_for = wording_for or (lambda person: self.wording(None))

    def wording(self, language: str | None) -> Wording:
        return Wording(self.desk.messages, language or self.desk.language, self.port.dialect)

    # ---- what is missing -------------------------------------------------------------------------
    def pending(self, incident: Incident) -> list[str]:
        """The steps not yet done for `incident`, from the store alone (no platform call)."""
        done = self.desk.store.deliveries(incident.id)
        return [str(step.key) for step in self._steps(incident) if not self._done(incident, step.key, done)]

    def _done(self, incident: Incident, key: StepKey, done: dict[str, str]) -> bool:
        if key != PROVISION:
            return key.stored(incident.id) in done
        drafts = self.desk.store.drafts(incident.id)
        return self.desk.store.incident(incident.id).setup_done_at is not None and all(
            f"{incident.id}:draft:{d.id}" in done for d in drafts
        )

    # ---- the run ---------------------------------------------------------------------------------
    def run(self, incident: Incident) -> Closed:
        """Do every closing step not yet done, in the order people read them; report the ones refused."""
        with one_run_at_a_time(incident.id):  # the same lock as the set-up's: re-entrant
            incident = self.desk.store.incident(incident.id)
            result = Closed(incident)
            before = self.desk.store.deliveries(incident.id)
            for step in self._steps(incident):
                if self._done(incident, step.key, self.desk.store.deliveries(incident.id)):
                    continue
                if step.key == PROVISION:
                    result.failed += self._provision(incident)
                else:
                    self._do(incident, step, result)
            after = self.desk.store.deliveries(incident.id)
            names = [key.split(":", 1)[1] for key in after if key not in before]
            result.did = [name for name in names if not name.startswith("try:")]  # a try is bookkeeping
            result.incident = self.desk.store.incident(incident.id)
            return result

    def _steps(self, incident: Incident) -> list[Step]:
        store, port, code = self.desk.store, self.port, incident.code
        room = str(incident.room_ref)
        steps: list[Step] = []
        if store.delivery(f"{incident.id}:header") and incident.room_ref:
            steps.append(Step(StepKey("redraw", "header"), lambda: self._redraw(incident)))
        closing_kind = self.desk.playbook(incident.scenario).drafts.resolve
        for draft in store.drafts(incident.id):
            if draft.kind != closing_kind and draft.message_ref and incident.room_ref:
                steps.append(Step(StepKey("redraw", f"draft:{draft.id}"), partial(self._redraw, incident, draft)))
        closing = StepKey("closing")
        steps.append(
            Step(
                closing,
                lambda: self._closing(incident),
                look=_found(closing, lambda: port.find_posts(room, code, {"closing"}).get("closing")),
            )
        )
        steps.append(Step(PROVISION, lambda: ""))
        report = StepKey("report")
        steps.append(
            Step(
                report,
                lambda: self._report(incident),
                look=_found(report, lambda: port.find_upload(room, report_name(incident))),
            )
        )
        for person in participants(self.desk, incident, until_resolved=True):
            survey = StepKey("survey", person)
            look = _found(survey, partial(port.find_dm, person, code, str(survey)))
            steps.append(Step(survey, partial(self._survey, incident, person), look=look))
        return steps

    def _do(self, incident: Incident, step: Step, result: Closed) -> None:
        """Find the step on the platform if a dead run tried it; else note it as tried, do it, note it as done."""
        name = str(step.key)
        try:
            Runner(self.desk.store, incident.id, self.desk.now, f"resolve {incident.code}").once(step)
        except LookUpFailed as exc:  # could not check: not redone (it may be there), Retry
            self._refused(incident, name, exc.cause, result, reading_back=True)
        except (Refused, OSError) as exc:  # refused, or no answer once the retry handlers gave up
            self._refused(incident, name, exc, result)
        except (CrisisError, SecurityError) as exc:  # the report's template is broken: the rest still happens
            log.warning("resolve %s: step %s failed: %s", incident.code, name, exc)
            result.failed.append(name)

    def _refused(
        self, incident: Incident, name: str, exc: Refused | OSError, result: Closed, reading_back: bool = False
    ) -> None:
        why = exc.reason if isinstance(exc, Refused) else type(exc).__name__
        what = f"{name} (looking it up after a restart)" if reading_back else name
        log.warning("resolve %s: step %s failed: %s", incident.code, what, why)
        result.failed.append(name)

    # ---- steps -----------------------------------------------------------------------------------
    def _redraw(self, incident: Incident, draft: Draft | None = None) -> str:
        """The header (or an earlier draft) as resolved: no more checklist or approval buttons."""
        after = After(self.desk, self.port, Unheld(), self.wording)  # strict: a refusal is this step's, retried
        if draft is None:
            after.refresh_header(incident, strict=True)
        else:
            after.refresh_draft(incident, self.desk.store.draft(draft.id), strict=True)
        return "ok"

    def _provision(self, incident: Incident) -> list[str]:
        """Declare's set-up run again: posts the closing drafts (and whatever declare left undone); the failures."""
        return [str(k) for k in SetUp(self.desk, self.port, self.wording(incident.language)).run(incident).failed]

    def _closing(self, incident: Incident) -> str:
        say = self.wording(incident.language)
        event = self.desk.store.events(incident.id, "resolved")[0]
        took = (incident.resolved_at or event.at) - incident.detected_at
        text = say(
            "resolve.closing",
            code=incident.code,
            user=say.mention(event.actor),  # who resolved, also when someone else finishes the steps
            took=duration(took, say.language),
            summary=event.data["summary"],
            impact=event.data.get("impact", ""),
            lessons=event.data.get("lessons", ""),
        )
        duty = gdpr.duty(self.desk, incident)
        if duty is not None and duty.notified_at is None:  # said in the same message: no extra platform call
            due = public_time(duty.deadline, say.language, self.desk.settings.tz, self.desk.now(), self.desk.messages)
            text += "\n\n" + say("gdpr_duty.still_open", due=due, missed=duty.missed(self.desk.now()))
        return self.port.post(
            str(incident.room_ref), marked(Message(text), incident, say), Tag(incident.code, "closing")
        )

    def _report(self, incident: Incident) -> str:
        """The evaluation report (Markdown) and its timeline chart (PNG), uploaded to the incident's room."""
        say = self.wording(incident.language)
        with tempfile.TemporaryDirectory(prefix="crisisbot-report-") as folder:
            names = self.names(participants(self.desk, incident))
            markdown, chart = write_report(
                self.desk, incident, say.language, Path(folder) / report_name(incident), user_names=names
            )
            comment = marked_text(say("resolve.report", code=incident.code), incident, say)
            return self.port.upload(
                str(incident.room_ref),
                markdown,
                markdown.name,
                markdown.stem,
                comment,
                also=((chart, chart.name, chart.stem),),
            )

    def names(self, people: list[str]) -> dict[str, str]:
        """Display names for a report, so it reads "Anna de Vries" rather than an account id."""
        names = {}
        for person in people:
            try:
                names[person] = self.port.display_name(person) or person
            except (Refused, OSError, KeyError):
                continue
        return names

    def _survey(self, incident: Incident, person: str) -> str:
        say = self.wording_for(person)
        button = Button("survey_open", say("button.survey"), str(incident.id), "primary")
        text = say("survey.dm", code=incident.code, title=incident.title)
        message = marked(text_with_buttons(text, [button]), incident, say)
        return self.port.dm(person, message, Tag(incident.code, f"survey:{person}"))


def _found(key: StepKey, look: Callable[[], str | None]) -> Callable[[set[StepKey]], dict[StepKey, str]]:
    """A look-up of one step as the runner asks it (the refs of the keys found)."""

    def find(_keys: set[StepKey]) -> dict[StepKey, str]:
        ref = look()
        return {key: ref} if ref else {}

    return find


# ---- telling the resolver ----------------------------------------------------------------------------
def step_list(names: list[str], say: Wording) -> Markup:
    """Steps in words, each kind once; survey DMs name their people. Our own wording and mentions only."""
    words: list[str] = []
    people: list[str] = []
    for name in names:
        head, _, rest = name.partition(":")
        if head == "survey":
            people.append(rest)
        elif head != "ready":  # `ready` is bookkeeping, not a step anyone sees
            words.append(say(f"step.{head}"))
    if people:
        words.append(say("step.survey", people=Markup(", ").join(say.mention(p) for p in dict.fromkeys(people))))
    return Markup(", ".join(dict.fromkeys(words)))  # rendered UI strings: already escaped


def retry_button(incident: Incident, say: Wording) -> Button:
    return Button("resolve_retry", say("button.retry"), str(incident.id), "primary")


def outcome(incident: Incident, result: Closed, say: Wording, rerun: bool) -> Message:
    """What to tell whoever ran the closing steps: the refused steps and how to re-run them, or that all is done."""
    if result.failed:
        text = say(
            "resolve.steps_failed",
            code=incident.code,
            steps=step_list(result.failed, say),
            channel=say.room(incident.room_ref),
        )
        return text_with_buttons(text, [retry_button(incident, say)])
    if rerun and result.did:
        return Message(say("resolve.finished", code=incident.code, steps=step_list(result.did, say)))
    return Message(say("resolve.nothing_missing", code=incident.code))
