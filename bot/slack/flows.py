"""What the Slack adapter does for each input: call the core, then redraw what changed in Slack."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from markupsafe import Markup
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.chat.after import After, Outbox, Unheld
from bot.chat.closing import Closed, Closer, outcome
from bot.chat.explain import explain
from bot.chat.people import Languages
from bot.chat.setup import SetUp
from bot.chat.wording import Wording
from bot.errors import CrisisError
from bot.incidents import facts
from bot.incidents.declare import DeclareRequest, declare
from bot.incidents.desk import Desk
from bot.incidents.drafts import DraftOutcome
from bot.incidents.lifecycle import Resolved
from bot.models import Draft, Incident
from bot.slack.activity import Activity
from bot.slack.port import SlackPort, drawn
from bot.slack.render import MESSAGE_LIMIT
from bot.slack.text import SLACK, channel_link, fit, mention

log = logging.getLogger("crisisbot.slack")


class SlackDesk:
    """The domain desk seen from Slack: wording, redraws and the declare flow."""

    def __init__(self, desk: Desk, activity: Activity) -> None:
        self.desk = desk
        self.activity = activity
        self.languages = Languages(desk, SLACK)  # what every request learnt of a person's language
        self.outbox: Outbox = Unheld()  # the timer runner, once the bot has one (bot/slack/server.py)

    def wording(self, language: str | None = None) -> Wording:
        return self.languages.wording(language)

    def wording_for(self, client: WebClient, user: str, wait: bool = False) -> Wording:
        """Wording in the user's own Slack language where we speak it (bot/chat/people.py)."""
        return self.languages.wording_for(SlackPort(client), user, wait)

    def explain(self, exc: CrisisError, say: Wording) -> str:
        return explain(exc, say)  # wording, not Slack: bot/chat/explain.py

    # ---- declare -------------------------------------------------------------------------------
    def declare(self, client: WebClient, request: DeclareRequest, tell: Callable[[str], None]) -> Incident:
        """Declare (or resume) and provision; `tell` the declarer how it went, in their own language.

        The incident (channel, header, drafts) speaks the workspace's language; only the declarer's answers use
        theirs, looked up while Slack makes the channel. A new declare's "declared" goes out in the set-up's last
        round (see SetUp.run in bot/chat/setup.py); should a step of that round fail, a second message says which.
        """
        declarer = request.declared_by
        self.wording_for(client, declarer)  # starts (or joins) the look-up of their language; nothing waits for it here
        declared = declare(self.desk, request)
        incident = declared.incident

        def confirm(incident: Incident) -> bool:
            text = self.wording_for(client, declarer, wait=True)(
                "declare.done", code=incident.code, channel=channel_link(incident.room_ref)
            )
            return _told(tell, text)

        result = SetUp(self.desk, SlackPort(client), self.wording(incident.language)).run(
            incident, confirm=None if declared.existing else confirm
        )
        incident = result.incident
        say = self.wording_for(client, declarer, wait=True)
        channel = channel_link(incident.room_ref)
        failed, done = [str(k) for k in result.failed], [str(k) for k in result.done]
        if not result.complete:
            facts.record(self.desk, incident, facts.SetupFailed(failed))
            tell(say("declare.setup_failed", code=incident.code, steps=_steps(failed, say), channel=channel))
        elif declared.existing and done:  # a declare that failed or died midway, finished by typing it again
            tell(say("declare.resumed", code=incident.code, steps=_steps(done, say), channel=channel))
        elif not result.confirmed:
            key = "declare.existing" if declared.existing else "declare.done"
            tell(say(key, code=incident.code, channel=channel))
        return incident

    def provision(self, client: WebClient, incident: Incident) -> list[str]:
        """Post whatever the incident has that Slack does not yet (new drafts, new people); returns failures."""
        return [
            str(k) for k in SetUp(self.desk, SlackPort(client), self.wording(incident.language)).run(incident).failed
        ]

    def escalate(self, client: WebClient, incident: Incident, level: int | None, user: str, step: int = 0) -> None:
        """Change the level, page whoever it pulls in, redraw what the rule touches (bot/chat/after.py)."""
        self.after(client).escalate(
            incident, level, user, step, provision=lambda changed: self.provision(client, changed)
        )

    # ---- resolve -------------------------------------------------------------------------------
    def after_resolve(self, client: WebClient, resolved: Resolved, user: str) -> None:
        """Redraw, post the closing message and drafts, upload the report, ask the team three questions.

        When Slack refused a step, the resolver is told which, with a Retry button (see bot/chat/closing.py);
        when all went through, the closing message in the channel is the answer.
        """
        incident = resolved.incident
        result = self._close(client, incident)
        if result.failed:
            told = outcome(result.incident, result, self.wording_for(client, user, wait=True), rerun=False)
            self.notify(client, incident.room_ref, user, told.text, drawn(told))

    def finish_resolve(
        self, client: WebClient, incident: Incident, say: Wording
    ) -> tuple[str, list[dict[str, Any]] | None]:
        """Re-run the closing steps not done yet; returns what to tell whoever asked, with Retry if still refused."""
        result = self._close(client, incident)
        told = outcome(result.incident, result, say, rerun=True)
        return told.text, drawn(told)

    def _close(self, client: WebClient, incident: Incident) -> Closed:
        result = self.closer(client).run(incident)
        if result.failed:  # on the timeline too, for the evaluation
            facts.record(self.desk, incident, facts.ClosingFailed(result.failed))
        return result

    def closing_pending(self, client: WebClient, incident: Incident) -> list[str]:
        """The closing steps of a resolved incident not yet done (from the store; no Slack call)."""
        return self.closer(client).pending(incident)

    def closer(self, client: WebClient) -> Closer:
        return Closer(self.desk, SlackPort(client), lambda person: self.wording_for(client, person, wait=True))

    # ---- redraws (the policy is bot/chat/after.py's) -------------------------------------------------
    def after(self, client: WebClient) -> After:
        """The after-verb policy on this request's client; the notices its verbs queued go out through the outbox."""
        return After(self.desk, SlackPort(client), self.outbox, self.wording)

    def refresh_header(self, client: WebClient, incident: Incident, strict: bool = False) -> None:
        """Redraw the pinned header; `strict` raises when Slack refuses (for the outbox to retry)."""
        self.after(client).refresh_header(incident, strict)

    def refresh_draft(self, client: WebClient, incident: Incident, draft: Draft, strict: bool = False) -> None:
        """Redraw a draft's message; `strict` raises when Slack refuses (for a step that is re-run)."""
        self.after(client).refresh_draft(incident, draft, strict)

    def refresh_dm(self, client: WebClient, incident: Incident, user: str) -> None:
        self.after(client).refresh_dm(incident, user)

    def after_draft_change(self, client: WebClient, outcome: DraftOutcome) -> None:
        """Redraw the draft; when this was the first public response, the header too, then its note goes out."""
        self.after(client).after_draft_change(outcome)

    def warn_promise(self, client: WebClient, channel: str | None, user: str, exc: CrisisError, value: str) -> None:
        """The text promises an update that is (nearly) due: say so, with a redraft and a post-anyway button."""
        say = self.wording_for(client, user, wait=True)
        self.after(client).warn_promise(channel, user, self.explain(exc, say), value, say)

    def delivered(self, client: WebClient, incident: Incident) -> None:
        """Deliver the notice a verb queued (an internal update, the authority notified) now, not at the next tick."""
        self.after(client).delivered(incident)

    def notify(
        self, client: WebClient, channel: str | None, user: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        """Tell `user` privately: ephemeral in `channel`, else (not a member, or Slack did not answer) by DM."""
        text = fit(text, MESSAGE_LIMIT)
        try:
            if channel:
                client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks)
                return
        except (SlackApiError, OSError):
            pass  # the bot or the person is not in that channel, or Slack did not answer: a DM instead
        try:
            client.chat_postMessage(channel=user, text=text, blocks=blocks)
        except (SlackApiError, OSError) as exc:
            log.warning("could not notify %s: %s", user, why(exc))


def _told(tell: Callable[[str], None], text: str) -> bool:
    """Tell, and say whether it went out (a refused answer is tried again after the set-up)."""
    try:
        tell(text)
    except (SlackApiError, OSError) as exc:
        log.warning("could not answer the declarer: %s", why(exc))
        return False
    return True


def _steps(names: list[str], say: Wording) -> str:
    """Step names (`dm:U…`, `draft:3`) as the declarer reads them, each kind once."""
    return ", ".join(say(f"step.{kind}") for kind in dict.fromkeys(name.split(":")[0] for name in names))


def user_markup(user: str) -> Markup:
    return mention(user)


def why(exc: Exception) -> str:
    """Slack's error code, or the kind of network failure (e.g. a timeout once the retries gave up)."""
    return exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
