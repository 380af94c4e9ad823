"""The one place that wires Slack input to the core: the Bolt app, its listeners and its middleware.

Every listener acknowledges first (Slack gives three seconds) and does the slow work after `ack()`;
Bolt then runs it on its worker threads. A Slack retry or a replayed request is dropped by the
`once_per_request` middleware; a double click is harmless because every core verb is idempotent and
decides under the write lock on the state it reads there (Desk.deciding), not on what the button was drawn from.
The same middleware records what each request asks for until its listener is done, so a process killed after an
ack finishes the request at its next start (bot/slack/replay.py).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import re
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import Ack, App, BoltResponse, Respond
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.chat import status
from bot.errors import AlreadyDone, CrisisError, NotAuthorized, PromiseLapsing, UsageError
from bot.faults import crash_point
from bot.incidents import checklist, drafts, lifecycle, roles
from bot.incidents.declare import DeclareRequest
from bot.incidents.desk import Desk
from bot.slack import commands, replay, subcommands, views
from bot.slack.acking import prompt_ack
from bot.slack.flows import SlackDesk, why
from bot.slack.home import from_home, publish_home, register_home
from bot.slack.render import plain
from bot.slack.subcommands import Invocation
from bot.slack.text import fit
from bot.store import disk_full

log = logging.getLogger("crisisbot.slack")
LISTENER_THREADS = 32
ERROR_LIMIT = 150  # a field error shown under a modal input: one short sentence


class BadAnswer(OSError):
    """Slack answered, but not usably: the body was cut off or is not JSON, or an `ok` answer lacks a field the
    bot needs. Slack may have done the call, so it is not retried blindly: like a lost answer (an OSError to every
    caller) the step is reported as refused, and a re-run reads Slack back before doing it again."""


# The fields each method's `ok` answer must carry for the bot (and slack_sdk's upload helper, which reads them
# with .get() and would fail later with a TypeError): dotted paths.
NEEDED: dict[str, tuple[str, ...]] = {
    "auth.test": ("user_id",),
    "conversations.create": ("channel.id", "channel.name"),
    "conversations.open": ("channel.id",),
    "chat.postMessage": ("channel", "ts"),
    "users.info": ("user",),
    "files.getUploadURLExternal": ("upload_url", "file_id"),
    "files.completeUploadExternal": ("files",),
}


class CrisisWebClient(WebClient):
    """slack_sdk's client with a crash point after every Web API call Slack answered (restart tests), and
    BadAnswer for an answer the bot cannot use."""

    def api_call(self, api_method: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        try:
            response = super().api_call(api_method, *args, **kwargs)
        except (json.JSONDecodeError, UnicodeDecodeError, http.client.HTTPException) as exc:
            raise BadAnswer(f"{api_method}: unreadable answer ({type(exc).__name__})") from exc
        crash_point("web_api_call")
        missing = [path for path in NEEDED.get(api_method, ()) if _absent(response.data, path)]
        if missing:
            raise BadAnswer(f"{api_method}: answer without {', '.join(missing)}")
        return response


def _absent(data: Any, path: str) -> bool:
    for key in path.split("."):
        if not isinstance(data, dict) or data.get(key) in (None, ""):
            return True
        data = data[key]
    return False


def make_client(token: str, api_url: str, timeout: int = 10) -> WebClient:
    """A WebClient that retries 429 by Retry-After, 5xx and dropped connections (slack_sdk's own handlers)."""
    return CrisisWebClient(
        token=token,
        base_url=api_url,
        timeout=timeout,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=4),
            ServerErrorRetryHandler(max_retry_count=3),
            ConnectionErrorRetryHandler(max_retry_count=3),
        ],
    )


def build_app(slack: SlackDesk, *, token: str, signing_secret: str, api_url: str) -> App:
    """The Bolt app for the desk, talking to the Web API at `api_url`."""
    desk = slack.desk
    app = App(
        signing_secret=signing_secret,
        client=make_client(token, api_url),
        token_verification_enabled=False,
        raise_error_for_unhandled_request=False,
        # Bolt's default is 5 workers: five declares or resolves at work after their ack held every other
        # request's listener, and so its ack, until one finished. One per HTTP thread and then some.
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="crisisbot-listener"),
    )
    app.middleware(prompt_ack)  # first: the ack leaves as soon as it is made (bot/slack/acking.py)

    @app.middleware
    def our_client(req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        """Bolt hands listeners a plain WebClient per request: use ours, so their calls pass the crash point."""
        if type(req.context.client) is WebClient:
            req.context.client.__class__ = CrisisWebClient  # same settings and retries; only adds the crash point
        return next()

    @app.middleware
    def once_per_request(req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        """Drop a repeat; record what a new request asks for (the one write before the ack), so that a process
        killed after acknowledging it finishes it at the next start (bot/slack/replay.py)."""
        key = req.body.get("trigger_id") or req.body.get("event_id")
        replayed = req.context.get(replay.REPLAYED)
        if key and not replayed and not _claim(desk, str(key), replay.recordable(req.body)):
            log.info("dropped a repeated request (Slack retry %s)", req.headers.get("x-slack-retry-num", ["-"])[0])
            return BoltResponse(status=200, body="")
        if key:
            req.context[replay.REQUEST_KEY] = str(key)
        return next()

    app.listener_runner.listener_completion_handler = replay.FinishRequest(desk)
    slack.activity.on_failure = lambda exc, kwargs: answer_failure(slack, exc, kwargs)

    @app.error
    def unexpected(error: Exception, body: dict[str, Any], response: BoltResponse | None) -> BoltResponse | None:
        """A failure outside the listeners (a middleware): logged, and a slash command still gets an answer."""
        log.error("a request failed outside its listener (a middleware)", exc_info=error)
        if response is not None and body.get("command"):
            text = slack.say()("error.cannot_save" if disk_full(error) else "error.unexpected")
            return BoltResponse(status=200, body={"response_type": "ephemeral", "text": text})
        return None

    _register_command(app, slack)
    _register_actions(app, slack)
    _register_views(app, slack)
    _register_lifecycle(app, slack)
    register_home(app, slack)
    return app


def answer_failure(slack: SlackDesk, exc: Exception, kwargs: dict[str, Any]) -> None:
    """A listener failed in a way nobody foresaw: the details go to the log, the person gets plain words.

    Before the ack the words are the ack itself; after it they go by response_url, else by DM.
    """
    log.error("a request failed", exc_info=exc)
    text = slack.say()("error.cannot_save" if disk_full(exc) else "error.unexpected")
    ack, respond = kwargs.get("ack"), kwargs.get("respond")
    command = kwargs.get("command")
    body = kwargs.get("body") or command or {}
    try:
        if ack is not None and ack.response is None:
            if command is not None:
                ack(response_type="ephemeral", text=text)
                return
            ack()  # a form closes; the words follow by DM
        if respond is not None and body.get("response_url"):
            respond(text=text, response_type="ephemeral", replace_original=False)
            return
        user = body.get("user_id") or (body.get("user") or {}).get("id") or (kwargs.get("event") or {}).get("user")
        client = kwargs.get("client")
        if user and client is not None:
            client.chat_postMessage(channel=user, text=text)
    except (SlackApiError, OSError) as error:
        log.warning("could not tell the user about the failure: %s", why(error))


def _claim(desk: Desk, key: str, body: str) -> bool:
    """Claim the request's key; on a full disk let the request through unclaimed, so it is still answered (help
    needs no write; a verb that must save fails at its own write and says so) instead of Slack's dispatch_failed."""
    try:
        return desk.store.claim_request(key, desk.now(), body)
    except sqlite3.OperationalError as exc:
        if not disk_full(exc):
            raise
        log.error("the disk is full: request %s is handled without its idempotency key", key)
        return True


# ---- /crisis ---------------------------------------------------------------------------------------
def _register_command(app: App, slack: SlackDesk) -> None:
    @app.command("/crisis")
    @slack.activity.track
    def crisis(ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        run = Invocation(slack, client, ack, respond, command, slack.say_to(client, command["user_id"]))
        try:
            cmd = commands.parse(command.get("text") or "")
            subcommands.HANDLERS[cmd.name](run, cmd)
        except CrisisError as exc:
            run.answer(slack.explain(exc, run.say))
        except (SlackApiError, OSError) as exc:  # e.g. a form whose trigger expired (a request finished at start-up)
            log.warning("/crisis %s: Slack refused %s", (command.get("text") or "").split(" ")[0], why(exc))
            with contextlib.suppress(SlackApiError, OSError):  # Slack may refuse this too; the log line stays
                run.answer(run.say("error.command_failed"))


# ---- buttons ---------------------------------------------------------------------------------------
def _ids(value: str | None) -> tuple[int, str]:
    """Split a button value `123:rest`; a malformed one is a usage error, not a crash."""
    head, _, rest = (value or "").partition(":")
    if not rest:
        raise UsageError("error.bad_button")
    return _int(head), rest


def _register_actions(app: App, slack: SlackDesk) -> None:
    desk = slack.desk

    def guarded(handler: Callable[..., None]) -> Callable[..., None]:
        """ack() at once, run the handler, tell the clicker ephemerally what went wrong."""

        def listener(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
            ack()
            user = body.get("user", {}).get("id", "")
            say = slack.say_to(client, user, wait=True) if user else slack.say()  # acked already: we may look
            action = (body.get("actions") or [{}])[0]
            try:
                handler(client, body, user, action.get("value"))
            except CrisisError as exc:
                _tell(client, body, respond, slack.explain(exc, say))
            except (SlackApiError, OSError) as exc:  # refused, or no answer in time
                log.warning("action %s: Slack refused %s", action.get("action_id"), why(exc))
                _tell(client, body, respond, say("error.slack_failed"))
            if from_home(body):  # redraw the clicker's Home, whether the click worked or not
                publish_home(slack, client, user)

        listener.__name__ = handler.__name__
        return listener

    def acknowledge(client: WebClient, body: dict, user: str, value: str | None) -> None:
        incident_id, role = _ids(value)
        incident = desk.store.incident(incident_id)
        roles.acknowledge(desk, incident, role, user)
        slack.refresh_header(client, incident)
        slack.refresh_dm(client, incident, user)

    def checklist_done(client: WebClient, body: dict, user: str, value: str | None) -> None:
        incident_id, item = _ids(value)
        incident = desk.store.incident(incident_id)
        if checklist.complete_item(desk, incident, item, user):
            slack.refresh_header(client, incident)

    def draft_approve(client: WebClient, body: dict, user: str, value: str | None) -> None:
        draft_id, version = _ids(value)
        slack.after_draft_change(client, drafts.approve_draft(desk, draft_id, _int(version), user))

    def draft_mark_posted(client: WebClient, body: dict, user: str, value: str | None) -> None:
        draft_id, version = _ids(value)
        try:
            outcome = drafts.mark_posted(desk, draft_id, _int(version), user)
        except PromiseLapsing as exc:  # say so before it is public: offer a new time, or posting anyway
            slack.warn_promise(client, body.get("channel", {}).get("id"), user, exc, str(value))
            return
        slack.after_draft_change(client, outcome)

    def draft_post_anyway(client: WebClient, body: dict, user: str, value: str | None) -> None:
        """From the warning about a lapsing promise: the poster knows, and posts the text as it is."""
        draft_id, version = _ids(value)
        outcome = drafts.mark_posted(desk, draft_id, _int(version), user, anyway=True)
        _replace_notice(body, slack.say_to(client, user)("promise.posted_anyway"))
        slack.after_draft_change(client, outcome)

    def draft_redraft_time(client: WebClient, body: dict, user: str, value: str | None) -> None:
        """From the warning about a lapsing promise: a new version with a fresh next-update time."""
        draft_id, version = _ids(value)
        outcome = drafts.redraft_with_new_time(desk, draft_id, _int(version), user)
        say = slack.say_to(client, user)
        _replace_notice(body, say("promise.redrafted", version=outcome.draft.version, at=outcome.draft.promise_text))
        slack.after_draft_change(client, outcome)

    def draft_edit(client: WebClient, body: dict, user: str, value: str | None) -> None:
        draft_id, version = _ids(value)
        draft, incident = drafts.check_may_edit(desk, draft_id, _int(version), user)
        client.views_open(trigger_id=body["trigger_id"], view=views.edit_modal(draft, slack.say(incident.language)))

    def draft_reject(client: WebClient, body: dict, user: str, value: str | None) -> None:
        draft_id, version = _ids(value)
        draft, incident = drafts.check_may_decide(desk, draft_id, _int(version), user)
        client.views_open(trigger_id=body["trigger_id"], view=views.reject_modal(draft, slack.say(incident.language)))

    def escalate(client: WebClient, body: dict, user: str, value: str | None) -> None:
        incident_id, level = _ids(value)
        slack.escalate(client, desk.store.incident(incident_id), _int(level), user)

    def draft_update(client: WebClient, body: dict, user: str, value: str | None) -> None:
        """From an update reminder (`<incident>`) or an internal update (`<incident>:<event>`): one set per intent."""
        head, _, event_id = (value or "").partition(":")
        incident = desk.store.incident(_int(head))
        made = drafts.draft_update(desk, incident, user, _int(event_id) if event_id else None)
        slack.provision(client, made.incident)  # also posts what an earlier click could not (Slack refused it)
        if not made.changed:
            raise AlreadyDone("error.update_already_drafted", user=made.by)

    def show_status(client: WebClient, body: dict, user: str, value: str | None) -> None:
        incident = desk.store.incident(_int(value or ""))
        if not roles.may_see(desk, incident, user):  # a button from someone else's list, or a forged value
            raise NotAuthorized("error.private_incident")
        _tell(client, body, None, status.status_text(desk, incident, slack.say_to(client, user)))

    def survey_open(client: WebClient, body: dict, user: str, value: str | None) -> None:
        incident = desk.store.incident(_int(value or ""))
        client.views_open(
            trigger_id=body["trigger_id"],
            view=views.survey_modal(incident.id, incident.code, slack.say_to(client, user)),
        )

    for handler in (
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
    ):
        app.action(handler.__name__)(slack.activity.track(guarded(handler)))

    @app.action("resolve_retry")
    @slack.activity.track
    def resolve_retry(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        """The Retry button on the notice about refused closing steps: do the missing ones, once."""
        ack()
        user = body.get("user", {}).get("id", "")
        say = slack.say_to(client, user, wait=True)
        try:
            incident = desk.store.incident(_int((body.get("actions") or [{}])[0].get("value")))
            lifecycle.check_may_finish_resolve(desk, incident, user)
            text, blocks = slack.finish_resolve(client, incident, say)
        except CrisisError as exc:
            _tell(client, body, respond, slack.explain(exc, say))
            return
        try:  # the answer takes the notice's place, so a done Retry button does not linger
            respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=True)
        except (SlackApiError, OSError) as exc:
            log.warning("resolve_retry: could not answer %s: %s", user, why(exc))

    @app.action("open_channel")
    def open_channel(ack: Ack) -> None:
        ack()  # a link button: Slack opens the URL, we only confirm receipt


def _int(text: object) -> int:
    """An id or number from a button value or form metadata: ASCII digits (`²`.isdigit() is true too)."""
    if not (isinstance(text, int | str) and re.fullmatch(r"[0-9]{1,18}", str(text))):
        raise UsageError("error.bad_button")
    return int(str(text))


def _replace_notice(body: dict[str, Any], text: str) -> None:
    """Replace the ephemeral notice whose button was clicked (its buttons are done) with `text`."""
    url = body.get("response_url")
    if not (url and body.get("container", {}).get("is_ephemeral")):
        return
    try:
        Respond(response_url=url)(text=text, response_type="ephemeral", replace_original=True)
    except (SlackApiError, OSError) as exc:
        log.warning("could not replace the notice: %s", type(exc).__name__)


def _tell(client: WebClient, body: dict[str, Any], respond: Respond | None, text: str) -> None:
    """An ephemeral answer to whoever clicked, wherever the button was."""
    try:
        if body.get("response_url") and respond is not None:
            respond(text=text, response_type="ephemeral", replace_original=False)
        elif body.get("channel", {}).get("id") and body.get("container", {}).get("type") == "message":
            client.chat_postEphemeral(channel=body["channel"]["id"], user=body["user"]["id"], text=text)
        else:
            client.chat_postMessage(channel=body["user"]["id"], text=text)
    except (SlackApiError, OSError) as exc:
        log.warning("could not tell the user: %s", exc)


# ---- modals ----------------------------------------------------------------------------------------
def _register_views(app: App, slack: SlackDesk) -> None:
    desk = slack.desk

    @app.view("declare")
    @slack.activity.track
    def declare_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        say = slack.say()
        form, errors = views.parse_declare(view.get("state", {}).get("values", {}), desk.now(), say)
        if form is None:
            ack(response_action="errors", errors=errors)
            return
        if form.scenario not in desk.playbooks:
            ack(response_action="errors", errors={"scenario": say("modal.declare.need_scenario")})
            return
        ack()
        user, channel = body["user"]["id"], views.metadata(view).get("channel")
        request = DeclareRequest(declared_by=user, **form.model_dump())

        def tell(text: str) -> None:
            slack.notify(client, channel, user, text)

        try:
            slack.declare(client, request, tell)
        except CrisisError as exc:
            tell(slack.explain(exc, say))

    @app.view("draft_edit")
    @slack.activity.track
    def edit_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        meta = views.metadata(view)
        text = views.text_of(view.get("state", {}).get("values", {}), "text")
        try:
            outcome = drafts.edit_draft(
                desk, _int(meta.get("draft")), body["user"]["id"], text, _int(meta.get("version"))
            )
        except CrisisError as exc:
            ack(response_action="errors", errors={"text": fit(slack.explain(exc, slack.say()), ERROR_LIMIT)})
            return
        ack()
        slack.after_draft_change(client, outcome)

    @app.view("draft_reject")
    @slack.activity.track
    def reject_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        meta = views.metadata(view)
        reason = views.text_of(view.get("state", {}).get("values", {}), "reason")
        try:
            outcome = drafts.reject_draft(
                desk, _int(meta.get("draft")), _int(meta.get("version")), body["user"]["id"], reason
            )
        except CrisisError as exc:
            ack(response_action="errors", errors={"reason": fit(slack.explain(exc, slack.say()), ERROR_LIMIT)})
            return
        ack()
        slack.after_draft_change(client, outcome)


def _register_lifecycle(app: App, slack: SlackDesk) -> None:
    desk = slack.desk

    @app.view("resolve")
    @slack.activity.track
    def resolve_submitted(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: dict[str, Any]
    ) -> None:
        user = body["user"]["id"]
        values = view.get("state", {}).get("values", {})
        authority, errors = views.parse_authority(values, desk.now(), slack.say_to(client, user))
        if errors:
            ack(response_action="errors", errors=errors)
            return
        try:
            incident = desk.store.incident(_int(views.metadata(view).get("incident")))
            if context.get(replay.REPLAYED) and not incident.active:
                # this form resolved it and was acknowledged, then the process died in the closing steps
                lifecycle.check_may_finish_resolve(desk, incident, user)
                ack()
                slack.after_resolve(client, lifecycle.Resolved(incident, []), user)
                return
            resolved = lifecycle.resolve(
                desk,
                incident,
                user,
                views.text_of(values, "summary"),
                views.text_of(values, "impact"),
                views.text_of(values, "lessons"),
                authority=authority,
            )
        except AlreadyDone as exc:  # resolved by someone else a moment before: nothing to correct in this form
            ack()
            slack.notify(client, incident.channel_id, user, slack.explain(exc, slack.say_to(client, user, wait=True)))
            return
        except CrisisError as exc:
            ack(
                response_action="errors",
                errors={"summary": fit(slack.explain(exc, slack.say_to(client, user)), ERROR_LIMIT)},
            )
            return
        ack()
        slack.after_resolve(client, resolved, user)

    @app.view("survey")
    @slack.activity.track
    def survey_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user = body["user"]["id"]
        values = view.get("state", {}).get("values", {})
        say = slack.say_to(client, user)
        try:
            incident = desk.store.incident(_int(views.metadata(view).get("incident")))
            lifecycle.answer_survey(
                desk,
                incident,
                user,
                _int(views.selected_of(values, "q1")),
                _int(views.selected_of(values, "q2")),
                views.text_of(values, "q3"),
            )
        except CrisisError as exc:
            ack(response_action="errors", errors={"q1": fit(slack.explain(exc, say), ERROR_LIMIT)})
            return
        ack()
        slack.notify(client, None, user, say("survey.thanks", code=incident.code))

    @app.shortcut("add_to_timeline")
    @slack.activity.track
    def add_to_timeline(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        user = body.get("user", {}).get("id", "")
        say = slack.say_to(client, user)
        message = body.get("message") or {}
        try:
            incident = desk.store.incident_by_channel(body.get("channel", {}).get("id", ""))
            if incident is None:
                raise UsageError("error.shortcut_not_in_incident")
            lifecycle.add_note(
                desk, incident, user, message.get("text", ""), author=message.get("user"), ts=message.get("ts")
            )
            text = say("note.recorded", code=incident.code)
        except CrisisError as exc:
            text = slack.explain(exc, say)
        _tell(client, body, respond, text)


__all__ = ["build_app", "make_client", "plain"]
