"""What the Slack adapter does for each input: call the core, then redraw what changed in Slack."""

from __future__ import annotations

import logging
from typing import Any

from markupsafe import Markup
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import CrisisError, NotAuthorized
from bot.ids import NETWORKS, ROLES
from bot.incidents.declare import DeclareRequest, declare
from bot.incidents.desk import Desk
from bot.incidents.drafts import DraftOutcome
from bot.incidents.escalate import escalate
from bot.messages import duration
from bot.models import Draft, Incident
from bot.slack.activity import Activity
from bot.slack.blocks import draft_blocks, header_blocks, role_dm_blocks
from bot.slack.provision import Provisioner, channel_url
from bot.slack.text import Wording, channel_link, escape_entities, mention

log = logging.getLogger("crisisbot.slack")


class SlackDesk:
    """The domain desk seen from Slack: wording, redraws and the declare flow."""

    def __init__(self, desk: Desk, activity: Activity) -> None:
        self.desk = desk
        self.activity = activity

    def say(self, language: str | None = None) -> Wording:
        return Wording(self.desk.messages, language or self.desk.language)

    def explain(self, exc: CrisisError, say: Wording) -> str:
        """The user-facing sentence for a domain error, with role ids turned into role names."""
        params: dict[str, Any] = dict(exc.params)
        if "allowed" in params:
            params["allowed"] = ", ".join(say.role(r) for r in params["allowed"])
        if "valid" in params:  # our own ids, as code so they stay typeable (escaping turns `_` into `ˍ`)
            params["valid"] = Markup(", ".join(f"`{escape_entities(v)}`" for v in str(params["valid"]).split(", ")))
        if params.get("network") in NETWORKS:
            params["network"] = say.network(params["network"])
        if params.get("role") in ROLES:
            params["role"] = say.role(params["role"])
        if isinstance(exc, NotAuthorized) and exc.key == "error.not_authorized":
            params.setdefault("action", "")
            params["action"] = say(f"action.{params['action']}") if params["action"] else ""
        try:
            return say(exc.key, **params)
        except Exception:  # a missing variable in a translated string must not hide the real error
            log.exception("UI string %s failed to render", exc.key)
            return say("error.generic")

    # ---- declare -------------------------------------------------------------------------------
    def declare(self, client: WebClient, request: DeclareRequest) -> tuple[Incident, str]:
        """Declare (or resume) and provision; returns the incident and what to tell the declarer."""
        declared = declare(self.desk, request)
        incident = declared.incident
        say = self.say(incident.language)
        result = Provisioner(self.desk, client, say).run(incident)
        incident = result.incident
        if not result.complete:
            steps = ", ".join(say(f"step.{s.split(':')[0]}") for s in dict.fromkeys(result.failed))
            self.desk.store.add_event(incident.id, self.desk.now(), "bot", "setup_failed", steps=result.failed)
            return incident, say("declare.setup_failed", code=incident.code, steps=steps,
                                 channel=channel_link(incident.channel_id))
        key = "declare.existing" if declared.existing else "declare.done"
        return incident, say(key, code=incident.code, channel=channel_link(incident.channel_id))

    def provision(self, client: WebClient, incident: Incident) -> list[str]:
        """Post whatever the incident has that Slack does not yet (new drafts, new people); returns failures."""
        return Provisioner(self.desk, client, self.say(incident.language)).run(incident).failed

    def escalate(self, client: WebClient, incident: Incident, level: int, user: str) -> None:
        """Change the level, then page whoever it pulls in and redraw everything the rule touches."""
        outcome = escalate(self.desk, incident, level, user)
        incident = outcome.incident
        say = self.say(incident.language)
        self.provision(client, incident)
        self.refresh_header(client, incident)
        for draft in outcome.changed_drafts:
            self.refresh_draft(client, incident, draft)
        key = "escalate.up" if level > outcome.previous_level else "escalate.down"
        self.post(client, incident.channel_id, say(
            key, user=mention(user), code=incident.code, level=level,
            roles=", ".join(say.role(r) for r in outcome.new_roles)))

    # ---- redraws -------------------------------------------------------------------------------
    def refresh_header(self, client: WebClient, incident: Incident, strict: bool = False) -> None:
        """Redraw the pinned header; `strict` raises when Slack refuses (for the outbox to retry)."""
        ts = self.desk.store.delivery(f"{incident.id}:header")
        if not (ts and incident.channel_id):
            return
        say = self.say(incident.language)
        blocks = header_blocks(self.desk, incident, say)
        text = say("header.fallback", code=incident.code, title=incident.title)
        if strict:
            client.chat_update(channel=incident.channel_id, ts=ts, blocks=blocks, text=text)
        else:
            self._update(client, incident.channel_id, ts, blocks, text)

    def refresh_draft(self, client: WebClient, incident: Incident, draft: Draft) -> None:
        if not (draft.message_ts and incident.channel_id):
            return
        say = self.say(incident.language)
        self._update(client, incident.channel_id, draft.message_ts, draft_blocks(self.desk, incident, draft, say),
                     say("draft.fallback", network=say.network(draft.network)))

    def refresh_dm(self, client: WebClient, incident: Incident, user: str) -> None:
        ref = self.desk.store.delivery(f"{incident.id}:dm:{user}")
        if not ref:
            return
        channel, ts = ref.split(":", 1)
        say = self.say(incident.language)
        roles = [r for r, who in _owners_in(self.desk, incident).items() if who == user]
        blocks = role_dm_blocks(self.desk, incident, user, roles, say, channel_url(incident.channel_id))
        self._update(client, channel, ts, blocks, say("dm.fallback", code=incident.code, title=incident.title))

    def after_draft_change(self, client: WebClient, outcome: DraftOutcome) -> None:
        """Redraw the draft; when this was the first public response, the header and a note too."""
        if not outcome.changed:
            return
        self.refresh_draft(client, outcome.incident, outcome.draft)
        if outcome.first_response:
            incident = outcome.incident
            say = self.say(incident.language)
            self.refresh_header(client, incident)
            took = (incident.first_response_at or self.desk.now()) - incident.detected_at
            key = "posted.first_late" if incident.first_response_at > incident.first_response_due else "posted.first"
            self.post(client, incident.channel_id, say(
                key, network=say.network(outcome.draft.network), user=mention(outcome.draft.posted_by),
                took=duration(took, say.language)))

    def post(self, client: WebClient, channel: str | None, text: str) -> None:
        if not channel:
            return
        try:
            client.chat_postMessage(channel=channel, text=text)
        except SlackApiError as exc:
            log.warning("chat.postMessage to %s failed: %s", channel, exc.response.get("error"))

    def _update(self, client: WebClient, channel: str, ts: str, blocks: list[dict], text: str) -> None:
        try:
            client.chat_update(channel=channel, ts=ts, blocks=blocks, text=text)
        except SlackApiError as exc:
            # The state is already saved; the next redraw of this message shows it.
            log.warning("chat.update %s/%s failed: %s", channel, ts, exc.response.get("error"))


def _owners_in(desk: Desk, incident: Incident) -> dict[str, str | None]:
    owners = desk.store.role_owners()
    level = desk.playbook(incident.scenario).level(incident.level)
    return {role: (owners.get(role) or [None])[0] for role in level.roles}


def user_markup(user: str) -> Markup:
    return mention(user)
