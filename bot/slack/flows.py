"""What the Slack adapter does for each input: call the core, then redraw what changed in Slack."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from markupsafe import Markup
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.chat import cards
from bot.chat.cards import first_response_rule
from bot.chat.explain import explain
from bot.chat.message import Button, text_with_buttons
from bot.chat.wording import Wording
from bot.errors import CrisisError, SlackLookupFailed
from bot.ids import LANGUAGES
from bot.incidents import facts
from bot.incidents.declare import DeclareRequest, declare
from bot.incidents.desk import Desk
from bot.incidents.drafts import DraftOutcome
from bot.incidents.escalate import escalate
from bot.incidents.lifecycle import Resolved
from bot.incidents.roles import Person
from bot.messages import duration
from bot.models import Draft, Incident
from bot.slack import render
from bot.slack.activity import Activity
from bot.slack.closing import Closed, Closer, outcome
from bot.slack.provision import Provisioner, channel_url
from bot.slack.render import MESSAGE_LIMIT
from bot.slack.text import SLACK, channel_link, fit, mention

log = logging.getLogger("crisisbot.slack")
LANGUAGE_CACHE_SECONDS = 3600


class SlackDesk:
    """The domain desk seen from Slack: wording, redraws and the declare flow."""

    def __init__(self, desk: Desk, activity: Activity) -> None:
        self.desk = desk
        self.activity = activity
        self._languages: dict[str, tuple[str, float]] = {}
        self._looking: dict[str, Future[str]] = {}  # look-ups in flight, joined instead of asked twice
        self._looking_lock = threading.Lock()

    def say(self, language: str | None = None) -> Wording:
        return Wording(self.desk.messages, language or self.desk.language, SLACK)

    def say_to(self, client: WebClient, user: str, wait: bool = False) -> Wording:
        """Wording in the user's own Slack language where we speak it, else the workspace's.

        Before an ack there is no time for a users.info round trip: unless `wait`, an unknown user gets
        the workspace language this once while their locale is looked up in the background.
        """
        cached = self._languages.get(user)
        if cached and cached[1] > time.monotonic():
            return self.say(cached[0])
        lookup = self._look_up(client, user)
        return self.say(lookup.result()) if wait else self.say()

    def _look_up(self, client: WebClient, user: str) -> Future[str]:
        """The user's language from Slack, on a thread of its own; a look-up already under way is joined."""
        with self._looking_lock:
            pending = self._looking.get(user)
            if pending is not None:
                return pending
            future: Future[str] = Future()
            self._looking[user] = future

        def look() -> None:
            try:
                future.set_result(self.user_language(client, user))
            except BaseException as exc:  # never leave a waiter hanging
                future.set_exception(exc)
            finally:
                with self._looking_lock:
                    self._looking.pop(user, None)

        threading.Thread(target=look, name="crisisbot-locale", daemon=True).start()
        return future

    def user_names(self, client: WebClient, users: list[str]) -> dict[str, str]:
        """Display names for a report, so it reads "Anna de Vries" rather than a user id."""
        names = {}
        for user in users:
            try:
                profile = client.users_info(user=user)["user"]
            except (SlackApiError, OSError, KeyError):
                continue
            names[user] = profile.get("real_name") or profile.get("name") or user
        return names

    def people(self, client: WebClient, users: list[str]) -> dict[str, Person]:
        """What Slack says about each account (users.info), for a verb that must know who it is dealing with.

        An account Slack does not know is an answer; Slack not answering raises, for the person asking to retry.
        """
        found: dict[str, Person] = {}
        for user in dict.fromkeys(users):
            person = self.person(client, user)
            if person is None:
                raise SlackLookupFailed("error.roles_set_check_failed", person=user)
            found[user] = person
        return found

    def person(self, client: WebClient, user: str) -> Person | None:
        """What Slack says about one account; None when Slack did not answer (logged)."""
        try:
            info = client.users_info(user=user)["user"]
        except SlackApiError as exc:
            if exc.response.get("error") in ("user_not_found", "user_not_visible"):
                return Person(user, known=False)
            log.warning("users.info %s: %s", user, why(exc))
            return None
        except (OSError, KeyError) as exc:
            log.warning("users.info %s: %s", user, type(exc).__name__)
            return None
        return Person(
            user,
            deactivated=bool(info.get("deleted")),
            bot=bool(info.get("is_bot")) or user == "USLACKBOT",
            workspace_admin=bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner")),
        )

    def user_language(self, client: WebClient, user: str) -> str:
        """Look the user's locale up in Slack (and remember it for an hour)."""
        language = self.desk.language
        try:
            locale = client.users_info(user=user, include_locale=True)["user"].get("locale") or ""
            if locale[:2] in LANGUAGES:
                language = locale[:2]
        except (SlackApiError, OSError, KeyError):
            pass  # Slack gave no locale: the workspace language is a fine answer
        self._languages[user] = (language, time.monotonic() + LANGUAGE_CACHE_SECONDS)
        return language

    def explain(self, exc: CrisisError, say: Wording) -> str:
        return explain(exc, say)  # wording, not Slack: bot/chat/explain.py

    # ---- declare -------------------------------------------------------------------------------
    def declare(self, client: WebClient, request: DeclareRequest, tell: Callable[[str], None]) -> Incident:
        """Declare (or resume) and provision; `tell` the declarer how it went, in their own language.

        The incident (channel, header, drafts) speaks the workspace's language; only the declarer's answers use
        theirs, looked up while Slack makes the channel. A new declare's "declared" goes out in the set-up's last
        round (see Provisioner.run); should a step of that round fail, a second message says which.
        """
        declarer = request.declared_by
        self.say_to(client, declarer)  # starts (or joins) the look-up of their language; nothing waits for it here
        declared = declare(self.desk, request)
        incident = declared.incident

        def confirm(incident: Incident) -> bool:
            text = self.say_to(client, declarer, wait=True)(
                "declare.done", code=incident.code, channel=channel_link(incident.channel_id)
            )
            return _told(tell, text)

        result = Provisioner(self.desk, client, self.say(incident.language)).run(
            incident, confirm=None if declared.existing else confirm
        )
        incident = result.incident
        say = self.say_to(client, declarer, wait=True)
        channel = channel_link(incident.channel_id)
        if not result.complete:
            facts.record(self.desk, incident, facts.SetupFailed(result.failed))
            tell(say("declare.setup_failed", code=incident.code, steps=_steps(result.failed, say), channel=channel))
        elif declared.existing and result.done:  # a declare that failed or died midway, finished by typing it again
            tell(say("declare.resumed", code=incident.code, steps=_steps(result.done, say), channel=channel))
        elif not result.confirmed:
            key = "declare.existing" if declared.existing else "declare.done"
            tell(say(key, code=incident.code, channel=channel))
        return incident

    def provision(self, client: WebClient, incident: Incident) -> list[str]:
        """Post whatever the incident has that Slack does not yet (new drafts, new people); returns failures."""
        return Provisioner(self.desk, client, self.say(incident.language)).run(incident).failed

    def escalate(self, client: WebClient, incident: Incident, level: int | None, user: str, step: int = 0) -> None:
        """Change the level (to `level`, or `step` from where it is), then page whoever it pulls in and redraw
        everything the rule touches."""
        outcome = escalate(self.desk, incident, level, user, step)
        incident = outcome.incident
        level = incident.level
        say = self.say(incident.language)
        self.provision(client, incident)
        self.refresh_header(client, incident)
        for draft in outcome.changed_drafts:
            self.refresh_draft(client, incident, draft)
        key = "escalate.up" if level > outcome.previous_level else "escalate.down"
        self.post(
            client,
            incident.channel_id,
            say(
                key,
                user=mention(user),
                code=incident.code,
                level=level,
                roles=", ".join(say.role(r) for r in outcome.new_roles),
            ),
        )

    # ---- resolve -------------------------------------------------------------------------------
    def after_resolve(self, client: WebClient, resolved: Resolved, user: str) -> None:
        """Redraw, post the closing message and drafts, upload the report, ask the team three questions.

        When Slack refused a step, the resolver is told which, with a Retry button (see bot/slack/closing.py);
        when all went through, the closing message in the channel is the answer.
        """
        incident = resolved.incident
        result = self._close(client, incident)
        if result.failed:
            text, blocks = outcome(result.incident, result, self.say_to(client, user, wait=True), rerun=False)
            self.notify(client, incident.channel_id, user, text, blocks)

    def finish_resolve(self, client: WebClient, incident: Incident, say: Wording) -> tuple[str, list[dict] | None]:
        """Re-run the closing steps not done yet; returns what to tell whoever asked, with Retry if still refused."""
        result = self._close(client, incident)
        return outcome(result.incident, result, say, rerun=True)

    def _close(self, client: WebClient, incident: Incident) -> Closed:
        result = Closer(self, client).run(incident)
        if result.failed:  # on the timeline too, for the evaluation
            facts.record(self.desk, incident, facts.ClosingFailed(result.failed))
        return result

    def closing_pending(self, client: WebClient, incident: Incident) -> list[str]:
        """The closing steps of a resolved incident not yet done (from the store; no Slack call)."""
        return Closer(self, client).pending(incident)

    # ---- redraws -------------------------------------------------------------------------------
    def refresh_header(self, client: WebClient, incident: Incident, strict: bool = False) -> None:
        """Redraw the pinned header; `strict` raises when Slack refuses (for the outbox to retry)."""
        ts = self.desk.store.delivery(f"{incident.id}:header")
        if not (ts and incident.channel_id):
            return
        say = self.say(incident.language)
        blocks = render.blocks(cards.header_card(self.desk, incident, say))
        text = say("header.fallback", code=incident.code, title=incident.title)
        if strict:
            client.chat_update(channel=incident.channel_id, ts=ts, blocks=blocks, text=text)
        else:
            self._update(client, incident.channel_id, ts, blocks, text)

    def refresh_draft(self, client: WebClient, incident: Incident, draft: Draft, strict: bool = False) -> None:
        """Redraw a draft's message; `strict` raises when Slack refuses (for a step that is re-run)."""
        if not (draft.message_ts and incident.channel_id):
            return
        say = self.say(incident.language)
        blocks = render.blocks(cards.draft_card(self.desk, incident, draft, say))
        text = say("draft.fallback", network=say.network(draft.network))
        if strict:
            client.chat_update(channel=incident.channel_id, ts=draft.message_ts, blocks=blocks, text=text)
        else:
            self._update(client, incident.channel_id, draft.message_ts, blocks, text)

    def refresh_dm(self, client: WebClient, incident: Incident, user: str) -> None:
        ref = self.desk.store.delivery(f"{incident.id}:dm:{user}")
        if not ref:
            return
        channel, ts = ref.split(":", 1)
        say = self.say(incident.language)
        roles = [r for r, who in _owners_in(self.desk, incident).items() if who == user]
        blocks = render.blocks(
            cards.role_dm_card(self.desk, incident, user, roles, say, channel_url(incident.channel_id))
        )
        self._update(client, channel, ts, blocks, say("dm.fallback", code=incident.code, title=incident.title))

    def after_draft_change(self, client: WebClient, outcome: DraftOutcome) -> None:
        """Redraw the draft; when this was the first public response, the header and a note too."""
        if not outcome.changed:  # a repeat click: redraw anyway, it repairs a message a refused update left stale
            self.refresh_draft(client, outcome.incident, outcome.draft)
            return
        self.refresh_draft(client, outcome.incident, outcome.draft)
        if outcome.draft.status == "posted" and not outcome.first_response:  # the header lists what is out where
            self.refresh_header(client, outcome.incident)
        if outcome.first_response:
            incident = outcome.incident
            say = self.say(incident.language)
            self.refresh_header(client, incident)
            took = (incident.first_response_at or self.desk.now()) - incident.detected_at
            key = "posted.first_late" if incident.first_response_at > incident.first_response_due else "posted.first"
            self.post(
                client,
                incident.channel_id,
                say(
                    key,
                    rule=first_response_rule(
                        say, self.desk.playbook(incident.scenario).deadlines.first_response_minutes
                    ),
                    network=say.network(outcome.draft.network),
                    user=mention(outcome.draft.posted_by),
                    took=duration(took, say.language),
                ),
            )

    def warn_promise(self, client: WebClient, channel: str | None, user: str, exc: CrisisError, value: str) -> None:
        """The text promises an update that is (nearly) due: say so, with a redraft and a post-anyway button."""
        say = self.say_to(client, user, wait=True)
        text = self.explain(exc, say)
        buttons = [
            Button("draft_redraft_time", say("promise.button_redraft"), value, "primary"),
            Button("draft_post_anyway", say("promise.button_anyway"), value),
        ]
        self.notify(client, channel, user, text, render.blocks(text_with_buttons(text, buttons)))

    def post_update(self, client: WebClient, incident: Incident, user: str, text: str, event_id: int) -> None:
        """The internal update in the channel, with a button that turns it into public update drafts."""
        say = self.say(incident.language)
        body = say("update.posted", user=mention(user), text=text)
        button = Button("draft_update", say("button.public_update"), f"{incident.id}:{event_id}")
        blocks = render.blocks(text_with_buttons(body, [button]))
        try:
            client.chat_postMessage(channel=incident.channel_id, text=fit(body, 3000), blocks=blocks)
        except (SlackApiError, OSError) as exc:
            log.warning("update post in %s failed: %s", incident.code, why(exc))

    def notify(
        self, client: WebClient, channel: str | None, user: str, text: str, blocks: list[dict] | None = None
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

    def post(self, client: WebClient, channel: str | None, text: str) -> None:
        if not channel:
            return
        try:
            client.chat_postMessage(channel=channel, text=fit(text, MESSAGE_LIMIT))
        except (SlackApiError, OSError) as exc:
            log.warning("chat.postMessage to %s failed: %s", channel, why(exc))

    def _update(self, client: WebClient, channel: str, ts: str, blocks: list[dict], text: str) -> None:
        try:
            client.chat_update(channel=channel, ts=ts, blocks=blocks, text=text)
        except (SlackApiError, OSError) as exc:  # a timeout too: what follows a redraw must still happen
            # The state is already saved; the next redraw of this message shows it.
            log.warning("chat.update %s/%s failed: %s", channel, ts, why(exc))


def _told(tell: Callable[[str], None], text: str) -> bool:
    """Tell, and say whether it went out (a refused answer is tried again after the set-up)."""
    try:
        tell(text)
    except (SlackApiError, OSError) as exc:
        log.warning("could not answer the declarer: %s", why(exc))
        return False
    return True


def _owners_in(desk: Desk, incident: Incident) -> dict[str, str | None]:
    owners = desk.store.role_owners()
    level = desk.playbook(incident.scenario).level(incident.level)
    return {role: (owners.get(role) or [None])[0] for role in level.roles}


def _steps(names: list[str], say: Wording) -> str:
    """Step names (`dm:U…`, `draft:3`) as the declarer reads them, each kind once."""
    return ", ".join(say(f"step.{kind}") for kind in dict.fromkeys(name.split(":")[0] for name in names))


def user_markup(user: str) -> Markup:
    return mention(user)


def why(exc: Exception) -> str:
    """Slack's error code, or the kind of network failure (e.g. a timeout once the retries gave up)."""
    return exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
