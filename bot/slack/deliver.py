"""Turns outbox rows (role-addressed: "ping the crisis lead of CR-2026-014") into Slack messages."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime

from markupsafe import Markup
from slack_sdk import WebClient

from bot.chat.cards import first_response_rule
from bot.chat.message import Button, text_with_buttons
from bot.chat.wording import Wording
from bot.clock import parse_iso
from bot.faults import crash_point
from bot.incidents.desk import Desk
from bot.messages import local_time
from bot.models import Incident, NoticeKind, OutboxMessage
from bot.slack import readback, render
from bot.slack.flows import SlackDesk
from bot.slack.provision import channel_url, invite_people, uninvited_text
from bot.slack.text import channel_link, mention

log = logging.getLogger("crisisbot.slack")
USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
CONVERSATION_ID = re.compile(r"[CGD][A-Z0-9]{2,}")


class SlackDeliverer:
    def __init__(self, slack: SlackDesk, client: WebClient) -> None:
        self.slack, self.client = slack, client
        self.handlers: dict[NoticeKind, Callable[[Incident, OutboxMessage, Wording], None]] = {
            "header_refresh": lambda incident, _m, _s: self.slack.refresh_header(self.client, incident, strict=True),
            "first_response_reminder": self._reminder,
            "deadline_missed": self._deadline_missed,
            "ack_remind_owner": self._ack_remind_owner,
            "ack_page_backups": self._ack_page_backups,
            "ack_page_lead": self._ack_page_lead,
            "update_reminder": self._update_reminder,
            "gdpr_reminder": self._gdpr_reminder,
            "announce": self._announce,
        }

    @property
    def desk(self) -> Desk:
        return self.slack.desk

    def deliver(self, message: OutboxMessage) -> None:
        """Send one outbox row; raises when Slack refused (the runner retries).

        A row may need several Slack messages (a DM and a channel post); each one is recorded once Slack
        accepted it, so a retry or a restart sends only the ones still missing.
        """
        incident = self.desk.store.incident(message.incident_id)
        if not incident.channel_id:
            raise RuntimeError(f"{incident.code} has no channel yet")
        self._row, self._step, self._code = message, 0, incident.code
        self.handlers[message.kind](incident, message, self.slack.say(incident.language))

    _row: OutboxMessage | None = None
    _step = 0
    _code = ""

    def report_failure(self, message: OutboxMessage, error: str) -> None:
        """Tell the channel in plain words what did not go out; Slack's error is in the log (the runner's)."""
        self._row = None
        incident = self.desk.store.incident(message.incident_id)
        say = self.slack.say(incident.language)
        self._post(incident, say("outbox.failed", what=Markup(say(f"outbox.kind.{message.kind}"))))

    # ---- who to address ------------------------------------------------------------------------
    def holder(self, incident: Incident, role: str) -> str | None:
        """Who answers for `role` now: whoever acknowledged it, else its owner."""
        ack = self.desk.store.acks(incident.id).get(role)
        owners = self.desk.store.role_owners().get(role) or [None]
        return ack.user if ack else owners[0]

    def mentions(self, incident: Incident, roles: list[str], say: Wording) -> Markup:
        parts = []
        for role in roles:
            user = self.holder(incident, role)
            parts.append(f"{mention(user)} ({say.role(role)})" if user else say("outbox.nobody", role=say.role(role)))
        return Markup(", ".join(parts))  # our own mentions and role names: safe as they are

    # ---- kinds ---------------------------------------------------------------------------------
    def _reminder(self, incident: Incident, message: OutboxMessage, say: Wording) -> None:
        waiting = [
            say(
                "outbox.waiting_draft",
                network=say.network(w["network"]),
                roles=", ".join(say.role(r) for r in w["missing"]) or say("outbox.needs_edit"),
            )
            for w in message.data.get("waiting", [])
        ]
        text = say(
            "outbox.reminder",
            people=self.mentions(incident, ["crisis_lead", "social_media_manager"], say),
            left=message.data["left"],
            due=self._time(incident.first_response_due, say),
            waiting=Markup("\n".join(waiting)),
            late=message.data.get("late_minutes"),
        )
        self._post(incident, text)

    def _deadline_missed(self, incident: Incident, message: OutboxMessage, say: Wording) -> None:
        roles = message.data.get("roles", ["crisis_lead", "spokesperson"])
        rule = first_response_rule(say, self.desk.playbook(incident.scenario).deadlines.first_response_minutes)
        text = say(
            "outbox.deadline_missed",
            rule=rule,
            people=self.mentions(incident, roles, say),
            due=self._time(incident.first_response_due, say),
            late=message.data.get("late_minutes"),
        )
        buttons = []
        if incident.level < 3:
            buttons.append(
                Button(
                    "escalate",
                    say("button.escalate", level=incident.level + 1),
                    f"{incident.id}:{incident.level + 1}",
                    "danger",
                )
            )
        self._post(incident, text, buttons)
        for role in roles:
            user = self.holder(incident, role)
            if user:
                self._dm(
                    user,
                    say(
                        "outbox.deadline_missed_dm",
                        rule=rule,
                        code=incident.code,
                        title=incident.title,
                        channel=channel_link(incident.channel_id),
                    ),
                )

    def _ack_remind_owner(self, incident: Incident, message: OutboxMessage, say: Wording) -> None:
        role, owner = message.data["role"], message.data.get("owner")
        if not owner:
            self._post(incident, say("outbox.ack_no_owner", role=say.role(role), role_id=role))
            return
        self._dm(
            owner,
            say("outbox.ack_reminder_dm", role=say.role(role), code=incident.code),
            self._ack_button(incident, role, say),
        )
        self._post(incident, say("outbox.ack_reminder", user=mention(owner), role=say.role(role)))

    def _ack_page_backups(self, incident: Incident, message: OutboxMessage, say: Wording) -> None:
        role, backups = message.data["role"], message.data.get("backups") or []
        if not backups:
            self._post(incident, say("outbox.ack_no_backups", role=say.role(role)))
            return
        # A backup may be in the channel already (they own another role): Slack would then refuse the whole invite.
        failed = invite_people(self.client, str(incident.channel_id), backups)
        reachable = [u for u in backups if u not in failed]
        for user in reachable:
            self._dm(
                user,
                say(
                    "outbox.ack_backup_dm",
                    role=say.role(role),
                    code=incident.code,
                    title=incident.title,
                    channel=channel_link(incident.channel_id),
                ),
                self._ack_button(incident, role, say),
            )
        if reachable:
            self._post(
                incident,
                say("outbox.ack_backups", role=say.role(role), users=Markup(", ".join(mention(u) for u in reachable))),
            )
        if failed:
            self._post(incident, uninvited_text(failed, {u: [role] for u in failed}, say))

    def _ack_page_lead(self, incident: Incident, message: OutboxMessage, say: Wording) -> None:
        role = message.data["role"]
        lead = self.holder(incident, "crisis_lead")
        self._post(
            incident,
            say("outbox.ack_lead", lead=mention(lead) if lead else say("role.crisis_lead"), role=say.role(role)),
        )

    def _update_reminder(self, incident: Incident, message: OutboxMessage, say: Wording) -> None:
        due = self._time(parse_iso(message.data["due"]), say)
        text = say(
            "outbox.update_reminder",
            due=due,
            people=self.mentions(incident, message.data.get("roles", ["communications"]), say),
        )
        button = Button("draft_update", say("button.draft_update"), str(incident.id), "primary")
        self._post(incident, text, [button])

    def _gdpr_reminder(self, incident: Incident, message: OutboxMessage, say: Wording) -> None:
        hours = message.data["hours_left"]
        roles = message.data.get("roles", ["legal", "crisis_lead"])
        if hours < 0:  # past the deadline, also after the resolve: daily until it is recorded
            self._post(incident, say("gdpr_duty.overdue", hours=-hours, people=self.mentions(incident, roles, say)))
        else:
            key = "outbox.gdpr_due" if hours == 0 else "outbox.gdpr_reminder"
            people = self.mentions(incident, roles, say)
            # after the resolve the checklist has no buttons left: only the command stops the clock
            self._post(incident, say(key, hours=hours, people=people, resolved=incident.status == "resolved"))
        legal = self.holder(incident, "legal")
        if legal:
            key = "gdpr_duty.overdue_dm" if hours < 0 else "outbox.gdpr_dm"
            self._dm(legal, say(key, hours=abs(hours), code=incident.code, channel=channel_link(incident.channel_id)))

    def _announce(self, incident: Incident, message: OutboxMessage, say: Wording) -> None:
        book = self.desk.playbook(incident.scenario)
        text = say(
            f"announce.{message.data['what']}",
            code=incident.code,
            title=incident.title,
            scenario=book.name.in_(say.language),
            level=message.data.get("level", incident.level),
            channel=channel_link(incident.channel_id),
            drill=incident.drill,
        )
        self._once(message.data["channel"], text, None)

    # ---- sending -------------------------------------------------------------------------------
    def _ack_button(self, incident: Incident, role: str, say: Wording) -> list[Button]:
        buttons = [Button("acknowledge", say("button.acknowledge"), f"{incident.id}:{role}", "primary")]
        url = channel_url(incident.channel_id)
        if url:
            buttons.append(Button("open_channel", say("button.open_channel"), url=url))
        return buttons

    def _post(self, incident: Incident, text: str, buttons: list[Button] | None = None) -> None:
        self._once(incident.channel_id or "", text, buttons)

    def _dm(self, user: str, text: str, buttons: list[Button] | None = None) -> None:
        self._once(user, text, buttons)

    def _once(self, channel: str, text: str, buttons: list[Button] | None) -> None:
        """Post unless this step of the current outbox row was already accepted by Slack."""
        row = self._row
        if row is None:  # outside a delivery (report_failure): best effort, no bookkeeping
            self.client.chat_postMessage(
                channel=channel, text=text, blocks=render.blocks(text_with_buttons(text, buttons))
            )
            return
        key = f"outbox:{row.id}:{self._step}"
        self._step += 1
        store, code = self.desk.store, self._code
        if store.delivery(key) is not None:
            return

        def post() -> str:
            ts = self.client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=render.blocks(text_with_buttons(text, buttons)),
                metadata=readback.tag(code, key),
            ).get("ts")
            crash_point("slack_accepted")  # Slack has it, we have not noted it: the next run finds it by its tag
            return str(ts)

        def record(ts: str) -> None:  # under the outbox's own key, `outbox:<row>:<n>`
            with store.transaction():
                store.record_delivery(key, row.incident_id, ts, self.desk.now())
                store.forget_tries(row.incident_id, [key])

        look = lambda: self._look_up(channel, code, key)  # noqa: E731
        readback.once(store, row.incident_id, key, post, record=record, now=self.desk.now(), look=look)

    def _look_up(self, channel: str, code: str, step: str) -> str | None:
        """The ts of this step's message if a run that died had Slack post it; raises when Slack cannot say."""
        if USER_ID.fullmatch(channel):
            ref = readback.find_dm(self.client, channel, code, step)
            return ref.split(":", 1)[1] if ref else None
        if not CONVERSATION_ID.fullmatch(channel):  # given by name (the announcements channel): history needs the id
            channel = readback.channel_id(self.client, channel) or ""
        return readback.find_messages(self.client, channel, code, {step}).get(step) if channel else None

    def _time(self, when: datetime, say: Wording) -> str:
        return local_time(when, say.language, self.desk.settings.tz)
