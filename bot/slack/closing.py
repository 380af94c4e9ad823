"""Close an incident in Slack: redraw it as resolved, the closing message, the closing drafts, the report, the survey.

Like declare's Provisioner, every step is recorded in the store's `deliveries` once Slack accepted it
(`<incident>:redraw:header`, `:redraw:draft:<id>`, `:closing`, `:report`, `:survey:<user>`; the closing drafts
are the Provisioner's own `:draft:<id>`). A run Slack interrupted is finished by running it again (the Retry
button on the resolver's notice, or `/crisis resolve` typed again in the channel): only what is missing is done,
nothing twice. Runs for one incident take turns (with declare's set-up too: one lock per incident), so a double
click or a retry during the first run does the missing steps once; the second finds nothing left to do.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2.exceptions import SecurityError
from markupsafe import Markup
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.chat.message import Button, text_with_buttons
from bot.chat.wording import Wording
from bot.errors import CrisisError
from bot.incidents import gdpr
from bot.incidents.lifecycle import participants
from bot.messages import duration, public_time
from bot.models import Draft, Incident
from bot.report import write_report
from bot.slack import readback, render
from bot.slack.provision import one_run_at_a_time
from bot.slack.render import MESSAGE_LIMIT
from bot.slack.text import channel_link, fit, mention

if TYPE_CHECKING:
    from bot.slack.flows import SlackDesk

log = logging.getLogger("crisisbot.slack")
PROVISION = "provision"  # the closing drafts (and anything declare left undone): the Provisioner's own steps


def report_name(incident: Incident) -> str:
    """The report's file name: how a later run recognises its upload in the channel (a share has no metadata)."""
    return f"report-{incident.code}.md"


@dataclass
class Step:
    name: str
    call: Callable[[], str]  # does it; returns the ref to note
    # a step that is not safe to repeat: its ref in Slack, or None when not there
    look: Callable[[], str | None] | None = None


@dataclass
class Closed:
    incident: Incident
    did: list[str] = field(default_factory=list)  # delivery names this run recorded
    failed: list[str] = field(default_factory=list)  # step names Slack refused

    @property
    def complete(self) -> bool:
        return not self.failed


class Closer:
    def __init__(self, slack: SlackDesk, client: WebClient) -> None:
        self.slack, self.desk, self.client = slack, slack.desk, client

    # ---- what is missing -------------------------------------------------------------------------
    def pending(self, incident: Incident) -> list[str]:
        """The steps not yet done for `incident`, from the store alone (no Slack call)."""
        done = self.desk.store.deliveries(incident.id)
        return [step.name for step in self._steps(incident) if not self._done(incident, step.name, done)]

    def _done(self, incident: Incident, name: str, done: dict[str, str]) -> bool:
        if name != PROVISION:
            return f"{incident.id}:{name}" in done
        drafts = self.desk.store.drafts(incident.id)
        return self.desk.store.incident(incident.id).setup_done_at is not None and all(
            f"{incident.id}:draft:{d.id}" in done for d in drafts
        )

    # ---- the run ---------------------------------------------------------------------------------
    def run(self, incident: Incident) -> Closed:
        """Do every closing step not yet done, in the order people read them; report the ones Slack refused."""
        with one_run_at_a_time(incident.id):  # the same lock as the Provisioner's: re-entrant
            incident = self.desk.store.incident(incident.id)
            result = Closed(incident)
            before = self.desk.store.deliveries(incident.id)
            for step in self._steps(incident):
                if self._done(incident, step.name, self.desk.store.deliveries(incident.id)):
                    continue
                if step.name == PROVISION:
                    result.failed += self.slack.provision(self.client, incident)
                else:
                    self._do(incident, step, result)
            after = self.desk.store.deliveries(incident.id)
            names = [key.split(":", 1)[1] for key in after if key not in before]
            result.did = [name for name in names if not name.startswith("try:")]  # a try is bookkeeping
            result.incident = self.desk.store.incident(incident.id)
            return result

    def _steps(self, incident: Incident) -> list[Step]:
        store, client, code = self.desk.store, self.client, incident.code
        channel = str(incident.channel_id)
        steps: list[Step] = []
        if store.delivery(f"{incident.id}:header") and incident.channel_id:
            steps.append(Step("redraw:header", lambda: self._redraw(incident)))
        closing_kind = self.desk.playbook(incident.scenario).drafts.resolve
        for draft in store.drafts(incident.id):
            if draft.kind != closing_kind and draft.message_ts and incident.channel_id:
                steps.append(Step(f"redraw:draft:{draft.id}", lambda draft=draft: self._redraw(incident, draft)))
        steps.append(
            Step(
                "closing",
                lambda: self._closing(incident),
                look=lambda: readback.find_messages(client, channel, code, {"closing"}).get("closing"),
            )
        )
        steps.append(Step(PROVISION, lambda: ""))
        steps.append(
            Step(
                "report",
                lambda: self._report(incident),
                look=lambda: readback.find_file(client, channel, report_name(incident)),
            )
        )
        for person in participants(self.desk, incident, until_resolved=True):
            name = f"survey:{person}"
            steps.append(
                Step(
                    name,
                    lambda person=person: self._survey(incident, person),
                    look=lambda person=person, name=name: readback.find_dm(client, person, code, name),
                )
            )
        return steps

    def _do(self, incident: Incident, step: Step, result: Closed) -> None:
        """Find the step in Slack if a dead run tried it; else note it as tried, do it, and note it as done."""
        store = self.desk.store
        try:
            readback.once(
                store,
                incident.id,
                step.name,
                step.call,
                record=lambda ref: store.record_deliveries(incident.id, {step.name: ref}, self.desk.now()),
                now=self.desk.now(),
                look=step.look,
            )
        except readback.LookUpFailed as exc:  # could not check: not redone (it may be there), Retry
            self._refused(incident, step.name, exc.cause, result, reading_back=True)
        except (SlackApiError, OSError) as exc:  # refused, or no answer once the retry handlers gave up
            self._refused(incident, step.name, exc, result)
        except (CrisisError, SecurityError) as exc:  # the report's template is broken: the rest still happens
            log.warning("resolve %s: step %s failed: %s", incident.code, step.name, exc)
            result.failed.append(step.name)

    def _refused(
        self, incident: Incident, name: str, exc: SlackApiError | OSError, result: Closed, reading_back: bool = False
    ) -> None:
        why = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
        what = f"{name} (looking it up after a restart)" if reading_back else name
        log.warning("resolve %s: step %s failed: %s", incident.code, what, why)
        result.failed.append(name)

    # ---- steps -----------------------------------------------------------------------------------
    def _redraw(self, incident: Incident, draft: Draft | None = None) -> str:
        """The header (or an earlier draft) as resolved: no more checklist or approval buttons."""
        if draft is None:
            self.slack.refresh_header(self.client, incident, strict=True)
        else:
            self.slack.refresh_draft(self.client, incident, self.desk.store.draft(draft.id), strict=True)
        return "ok"

    def _closing(self, incident: Incident) -> str:
        say = self.slack.say(incident.language)
        event = self.desk.store.events(incident.id, "resolved")[0]
        took = (incident.resolved_at or event.at) - incident.detected_at
        text = say(
            "resolve.closing",
            code=incident.code,
            user=mention(event.actor),  # who resolved, also when someone else finishes the steps
            took=duration(took, say.language),
            summary=event.data["summary"],
            impact=event.data.get("impact", ""),
            lessons=event.data.get("lessons", ""),
        )
        duty = gdpr.duty(self.desk, incident)
        if duty is not None and duty.notified_at is None:  # said in the same message: no extra Slack call
            due = public_time(duty.deadline, say.language, self.desk.settings.tz, self.desk.now(), self.desk.messages)
            text += "\n\n" + say("gdpr_duty.still_open", due=due, missed=duty.missed(self.desk.now()))
        response = self.client.chat_postMessage(
            channel=incident.channel_id, metadata=readback.tag(incident.code, "closing"), text=fit(text, MESSAGE_LIMIT)
        )
        return str(response["ts"])

    def _report(self, incident: Incident) -> str:
        """The evaluation report (Markdown) and its timeline chart (PNG), uploaded to the incident channel."""
        say = self.slack.say(incident.language)
        with tempfile.TemporaryDirectory(prefix="crisisbot-report-") as folder:
            names = self.slack.user_names(self.client, participants(self.desk, incident))
            markdown, chart = write_report(
                self.desk, incident, say.language, Path(folder) / report_name(incident), user_names=names
            )
            response = self.client.files_upload_v2(
                channel=incident.channel_id,
                initial_comment=say("resolve.report", code=incident.code),
                file_uploads=[
                    {"file": str(markdown), "filename": markdown.name, "title": markdown.stem},
                    {"file": str(chart), "filename": chart.name, "title": chart.stem},
                ],
            )
        return ",".join(str(f.get("id", "")) for f in response.get("files") or []) or "ok"

    def _survey(self, incident: Incident, user: str) -> str:
        say = self.slack.say_to(self.client, user, wait=True)
        button = Button("survey_open", say("button.survey"), str(incident.id), "primary")
        text = say("survey.dm", code=incident.code, title=incident.title)
        response = self.client.chat_postMessage(
            channel=user,
            text=text,
            blocks=render.blocks(text_with_buttons(text, [button])),
            metadata=readback.tag(incident.code, f"survey:{user}"),
        )
        return f"{response['channel']}:{response['ts']}"


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
        words.append(say("step.survey", people=Markup(", ").join(mention(p) for p in dict.fromkeys(people))))
    return Markup(", ".join(dict.fromkeys(words)))  # rendered UI strings: already escaped


def retry_button(incident: Incident, say: Wording) -> Button:
    return Button("resolve_retry", say("button.retry"), str(incident.id), "primary")


def outcome(incident: Incident, result: Closed, say: Wording, rerun: bool) -> tuple[str, list[dict] | None]:
    """What to tell whoever ran the closing steps: the refused steps and how to re-run them, or that all is done."""
    if result.failed:
        text = say(
            "resolve.steps_failed",
            code=incident.code,
            steps=step_list(result.failed, say),
            channel=channel_link(incident.channel_id),
        )
        return text, render.blocks(text_with_buttons(text, [retry_button(incident, say)]))
    if rerun and result.did:
        return say("resolve.finished", code=incident.code, steps=step_list(result.did, say)), None
    return say("resolve.nothing_missing", code=incident.code), None
