"""The one place that wires Slack input to the core: the Bolt app, its listeners and its middleware.

Every listener acknowledges first (Slack gives three seconds) and does the slow work after `ack()`;
Bolt then runs it on its worker threads. A Slack retry or a replayed request is dropped by the
`once_per_request` middleware; a double click is harmless because every core verb is idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from markupsafe import Markup
from slack_bolt import Ack, App, BoltResponse, Respond
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.errors import CrisisError, UsageError
from bot.incidents import checklist, drafts, roles
from bot.incidents.declare import DeclareRequest
from bot.incidents.desk import Desk
from bot.models import Incident
from bot.slack import commands, views
from bot.slack.blocks import plain
from bot.slack.flows import SlackDesk
from bot.slack.text import mention

log = logging.getLogger("crisisbot.slack")


def make_client(token: str, api_url: str, timeout: int = 10) -> WebClient:
    """A WebClient that retries 429 by Retry-After, 5xx and dropped connections (slack_sdk's own handlers)."""
    return WebClient(token=token, base_url=api_url, timeout=timeout, retry_handlers=[
        RateLimitErrorRetryHandler(max_retry_count=4),
        ServerErrorRetryHandler(max_retry_count=3),
        ConnectionErrorRetryHandler(max_retry_count=3),
    ])


def build_app(slack: SlackDesk, *, token: str, signing_secret: str, api_url: str) -> App:
    """The Bolt app for the desk, talking to the Web API at `api_url`."""
    desk = slack.desk
    app = App(signing_secret=signing_secret, client=make_client(token, api_url),
              token_verification_enabled=False, raise_error_for_unhandled_request=False)

    @app.middleware
    def once_per_request(req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        key = req.body.get("trigger_id") or req.body.get("event_id")
        if key and not desk.store.claim_request(str(key), desk.now()):
            log.info("dropped a repeated request (Slack retry %s)", req.headers.get("x-slack-retry-num", ["-"])[0])
            return BoltResponse(status=200, body="")
        return next()

    _register_command(app, slack)
    _register_actions(app, slack)
    _register_views(app, slack)
    return app


# ---- /crisis ---------------------------------------------------------------------------------------
def _register_command(app: App, slack: SlackDesk) -> None:
    desk = slack.desk

    @app.command("/crisis")
    @slack.activity.track
    def crisis(ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        say = slack.say()
        user, channel = command["user_id"], command.get("channel_id")
        acked = False

        def answer(text: str) -> None:
            nonlocal acked
            if acked:
                respond(response_type="ephemeral", replace_original=False, text=text)
            else:
                ack(response_type="ephemeral", text=text)
                acked = True

        try:
            cmd = commands.parse(command.get("text") or "")
            if cmd.name == "":
                ack()
                acked = True
                client.views_open(trigger_id=command["trigger_id"], view=views.declare_modal(desk, say, channel))
            elif cmd.name == "help":
                answer(say("help.text"))
            elif cmd.name == "roles":
                answer(_roles_text(slack, say))
            elif cmd.name == "roles_set":
                users = roles.set_role_owners(desk, user, cmd.role, cmd.users)
                answer(say("roles.set_done", role=say.role(roles.check_role(cmd.role)), owner=mention(users[0]),
                           backups=Markup(", ").join(mention(u) for u in users[1:])))
            elif cmd.name in ("escalate", "gdpr_notified"):
                incident = _incident_here(desk, channel)
                answer(say("command.working"))
                if cmd.name == "escalate":
                    slack.escalate(client, incident, cmd.level or min(incident.level + 1, 3), user)
                elif checklist.gdpr_notified(desk, incident, user):
                    slack.refresh_header(client, incident)
                    slack.post(client, incident.channel_id, say("gdpr.notified", user=mention(user)))
            else:
                book = desk.playbook(cmd.scenario)  # unknown scenario → usage before anything happens
                title = cmd.title or say("declare.drill_title", scenario=book.name.in_(say.language))
                answer(say("declare.working", scenario=book.name.in_(say.language)))
                request = DeclareRequest(scenario=cmd.scenario, level=cmd.level or 2, title=title,
                                         declared_by=user, drill=cmd.name == "drill")
                _, message = slack.declare(client, request)
                answer(message)
        except CrisisError as exc:
            answer(slack.explain(exc, say))


def _incident_here(desk: Desk, channel: str | None) -> Incident:
    """The incident whose channel the command was typed in."""
    incident = desk.store.incident_by_channel(channel) if channel else None
    if incident is None:
        raise UsageError("error.not_in_incident_channel")
    return incident


def _roles_text(slack: SlackDesk, say: Any) -> str:
    from bot.ids import ROLES

    owners = slack.desk.store.role_owners()
    lines = [say("roles.heading")]
    for role in ROLES:
        people = owners.get(role) or []
        if people:
            lines.append(say("roles.line", role=say.role(role), owner=mention(people[0]),
                             backups=Markup(", ").join(mention(u) for u in people[1:])))
        else:
            lines.append(say("roles.line_empty", role=say.role(role), role_id=Markup(role)))  # typeable id
    return "\n".join(lines)


# ---- buttons ---------------------------------------------------------------------------------------
def _ids(value: str | None) -> tuple[int, str]:
    """Split a button value `123:rest`; a malformed one is a usage error, not a crash."""
    head, _, rest = (value or "").partition(":")
    if not head.isdigit() or not rest:
        raise UsageError("error.bad_button")
    return int(head), rest


def _register_actions(app: App, slack: SlackDesk) -> None:
    desk = slack.desk

    def guarded(handler: Callable[..., None]) -> Callable[..., None]:
        """ack() at once, run the handler, tell the clicker ephemerally what went wrong."""

        def listener(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
            ack()
            say = slack.say()
            user = body.get("user", {}).get("id", "")
            action = (body.get("actions") or [{}])[0]
            try:
                handler(client, body, user, action.get("value"))
            except CrisisError as exc:
                _tell(client, body, respond, slack.explain(exc, say))
            except SlackApiError as exc:
                log.warning("action %s: Slack refused %s", action.get("action_id"), exc.response.get("error"))
                _tell(client, body, respond, say("error.slack_failed"))

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
        slack.after_draft_change(client, drafts.mark_posted(desk, draft_id, _int(version), user))

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
        incident = desk.store.incident(_int(value or ""))
        drafts.draft_update(desk, incident, user)
        slack.provision(client, incident)

    for handler in (acknowledge, checklist_done, draft_approve, draft_mark_posted, draft_edit, draft_reject,
                    escalate, draft_update):
        app.action(handler.__name__)(slack.activity.track(guarded(handler)))

    @app.action("open_channel")
    def open_channel(ack: Ack) -> None:
        ack()  # a link button: Slack opens the URL, we only confirm receipt


def _int(text: str) -> int:
    if not text.isdigit():
        raise UsageError("error.bad_button")
    return int(text)


def _tell(client: WebClient, body: dict[str, Any], respond: Respond, text: str) -> None:
    """An ephemeral answer to whoever clicked, wherever the button was."""
    try:
        if body.get("response_url"):
            respond(text=text, response_type="ephemeral", replace_original=False)
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
        user = body["user"]["id"]
        request = DeclareRequest(declared_by=user, **form.model_dump())
        try:
            _, message = slack.declare(client, request)
        except CrisisError as exc:
            message = slack.explain(exc, say)
        _notify(client, views.metadata(view).get("channel"), user, message)

    @app.view("draft_edit")
    @slack.activity.track
    def edit_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        meta = views.metadata(view)
        text = views.text_of(view.get("state", {}).get("values", {}), "text")
        try:
            outcome = drafts.edit_draft(desk, int(meta.get("draft", 0)), body["user"]["id"], text,
                                        int(meta.get("version", 0)))
        except CrisisError as exc:
            ack(response_action="errors", errors={"text": slack.explain(exc, slack.say())[:150]})
            return
        ack()
        slack.after_draft_change(client, outcome)

    @app.view("draft_reject")
    @slack.activity.track
    def reject_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        meta = views.metadata(view)
        reason = views.text_of(view.get("state", {}).get("values", {}), "reason")
        try:
            outcome = drafts.reject_draft(desk, int(meta.get("draft", 0)), int(meta.get("version", 0)),
                                          body["user"]["id"], reason)
        except CrisisError as exc:
            ack(response_action="errors", errors={"reason": slack.explain(exc, slack.say())[:150]})
            return
        ack()
        slack.after_draft_change(client, outcome)


def _notify(client: WebClient, channel: str | None, user: str, text: str) -> None:
    """Tell `user` privately: ephemeral where they started, else by DM."""
    try:
        if channel:
            client.chat_postEphemeral(channel=channel, user=user, text=text)
            return
    except SlackApiError:
        pass  # the bot is not in that channel: fall back to a DM
    try:
        client.chat_postMessage(channel=user, text=text)
    except SlackApiError as exc:
        log.warning("could not notify %s: %s", user, exc.response.get("error"))


__all__ = ["build_app", "make_client", "plain"]
