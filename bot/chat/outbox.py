"""Turns outbox rows (role-addressed: "ping the crisis lead of CR-2026-014") into messages on the platform.

Who a notice addresses is the core's data: the row's `roles`, written by bot/incidents/timers.py from its one
table (`ADDRESSED`), so the wording here cannot drift from the timers. What a notice says is a neutral Message
(text, and Buttons), drawn by the platform's renderer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from markupsafe import Markup

from bot.chat import drillcards, notices
from bot.chat.after import After, Unheld
from bot.chat.cards import first_response_rule
from bot.chat.drill_schedule import moment
from bot.chat.drillmark import marked
from bot.chat.message import Actions, Button, Message, Text, text_with_buttons
from bot.chat.port import Port, Tag
from bot.chat.setup import SetUp, uninvited_text
from bot.chat.steps import Runner, Step, StepKey
from bot.chat.triage import TriageCards
from bot.chat.wording import Wording
from bot.clock import parse_iso
from bot.faults import crash_point
from bot.incidents.desk import Desk
from bot.incidents.timers import ADDRESSED
from bot.messages import local_time
from bot.models import DrillSchedule, Incident, NoticeKind, OutboxMessage

log = logging.getLogger("crisisbot.chat")
Handler = Callable[[Incident, OutboxMessage, Wording], None]


class Deliverer:
    """bot/scheduler.py's Deliverer on a Port. `redraw_header` redraws the pinned header, raising when the
    platform refuses (for the runner to retry)."""

    def __init__(self, desk: Desk, port: Port, redraw_header: Callable[[Incident], None]) -> None:
        self.desk, self.port = desk, port
        self.handlers: dict[NoticeKind, Handler] = {
            "header_refresh": lambda incident, _m, _s: redraw_header(incident),
            "first_response_reminder": self._reminder,
            "deadline_missed": self._deadline_missed,
            "ack_remind_owner": self._ack_remind_owner,
            "ack_page_backups": self._ack_page_backups,
            "ack_page_lead": self._ack_page_lead,
            "update_reminder": self._update_reminder,
            "gdpr_reminder": self._gdpr_reminder,
            "announce": self._announce,
            "escalation": self._notice(notices.escalation),
            "first_response": self._notice(notices.first_response),
            "internal_update": self._notice(notices.internal_update),
            "authority_notified": self._notice(notices.authority_notified),
            # drills: injects, scorecard, after-action items
            "drill_inject": self._drill_inject,
            "drill_scorecard": self._notice(drillcards.scorecard),
            "drill_action_reminder": self._notice(drillcards.action_reminder),
            "drill_real_incident": self._notice(drillcards.real_incident),
        }
        self.triage = TriageCards(desk, port)

    def wording(self, language: str | None = None) -> Wording:
        return Wording(self.desk.messages, language or self.desk.language, self.port.dialect)

    def deliver(self, message: OutboxMessage) -> None:
        """Send one outbox row; raises when the platform refused (the runner retries).

        A row may need several messages (a DM and a room post); each one is recorded once the platform
        accepted it, so a retry or a restart sends only the ones still missing.
        """
        if message.triage_id is not None:  # a triage card: there is no incident (yet)
            self.triage.deliver(message)
            return
        if message.incident_id == 0:  # drills: schedules (a heads-up before the drill exists)
            self._row, self._step, self._code = message, 0, schedule_code(message)
            self._drill_heads_up(message)
            return
        incident = self.desk.store.incident(_incident_of(message))
        if message.kind == "drill_setup":  # drills: schedules (the room does not exist yet: this makes it)
            self._drill_setup(incident)
            return
        if not incident.room_ref:
            raise RuntimeError(f"{incident.code} has no channel yet")
        self._row, self._step, self._code, self._incident = message, 0, incident.code, incident
        self.handlers[message.kind](incident, message, self.wording(incident.language))

    _row: OutboxMessage | None = None
    _step = 0
    _code = ""
    _incident: Incident | None = None  # whose row is being delivered: a drill's messages carry the drill mark

    def report_failure(self, message: OutboxMessage, error: str) -> None:
        """Tell the room in plain words what did not go out; the platform's error is in the log (the runner's)."""
        self._row = None
        if message.triage_id is not None:  # nowhere to say it but the watch channel that refused it: the log has it
            return
        incident = self.desk.store.find_incident(message.incident_id or 0)
        if incident is None or not incident.room_ref:  # a heads-up, or a drill room never made: the log says it
            log.error("outbox %s (%s) could not be delivered, and there is no room to say so", message.id, message.kind)
            return
        self._incident = incident
        say = self.wording(incident.language)
        self._post(incident, say("outbox.failed", what=Markup(say(f"outbox.kind.{message.kind}"))))

    # ---- who to address ------------------------------------------------------------------------
    def holder(self, incident: Incident, role: str) -> str | None:
        """Who answers for `role` now: whoever acknowledged it, else its owner."""
        ack = self.desk.store.acks(incident.id).get(role)
        owners = self.desk.store.role_owners().get(role)
        return ack.user if ack else (owners[0] if owners else None)

    def mentions(self, incident: Incident, roles: list[str], say: Wording) -> Markup:
        parts = []
        for role in roles:
            user = self.holder(incident, role)
            parts.append(
                f"{say.mention(user)} ({say.role(role)})" if user else say("outbox.nobody", role=say.role(role))
            )
        return Markup(", ".join(parts))  # our own mentions and role names: safe as they are

    @staticmethod
    def roles(message: OutboxMessage) -> list[str]:
        """The roles the core addressed this notice to (its table, for a row written before rows named them)."""
        return list(message.data.get("roles") or ADDRESSED[message.kind])

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
            people=self.mentions(incident, self.roles(message), say),
            left=message.data["left"],
            due=self._time(incident.first_response_due, say),
            waiting=Markup("\n".join(waiting)),
            late=message.data.get("late_minutes"),
        )
        self._post(incident, text)

    def _deadline_missed(self, incident: Incident, message: OutboxMessage, say: Wording) -> None:
        roles = self.roles(message)
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
                        channel=say.room(incident.room_ref),
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
        self._post(incident, say("outbox.ack_reminder", user=say.mention(owner), role=say.role(role)))

    def _ack_page_backups(self, incident: Incident, message: OutboxMessage, say: Wording) -> None:
        role, backups = message.data["role"], message.data.get("backups") or []
        if not backups:
            self._post(incident, say("outbox.ack_no_backups", role=say.role(role)))
            return
        # A backup may be in the room already (they own another role): the port brings in everyone it can.
        failed = self.port.invite(str(incident.room_ref), [u for u in dict.fromkeys(backups) if u])
        reachable = [u for u in backups if u not in failed]
        for user in reachable:
            self._dm(
                user,
                say(
                    "outbox.ack_backup_dm",
                    role=say.role(role),
                    code=incident.code,
                    title=incident.title,
                    channel=say.room(incident.room_ref),
                ),
                self._ack_button(incident, role, say),
            )
        if reachable:
            self._post(
                incident,
                say(
                    "outbox.ack_backups",
                    role=say.role(role),
                    users=Markup(", ").join(say.mention(u) for u in reachable),
                ),
            )
        if failed:
            self._post(incident, uninvited_text(failed, {u: [role] for u in failed}, say))

    def _ack_page_lead(self, incident: Incident, message: OutboxMessage, say: Wording) -> None:
        role = message.data["role"]
        lead = self.holder(incident, "crisis_lead")
        self._post(
            incident,
            say("outbox.ack_lead", lead=say.mention(lead) if lead else say("role.crisis_lead"), role=say.role(role)),
        )

    def _update_reminder(self, incident: Incident, message: OutboxMessage, say: Wording) -> None:
        due = self._time(parse_iso(message.data["due"]), say)
        text = say("outbox.update_reminder", due=due, people=self.mentions(incident, self.roles(message), say))
        self._post(incident, text, [Button("draft_update", say("button.draft_update"), str(incident.id), "primary")])

    def _gdpr_reminder(self, incident: Incident, message: OutboxMessage, say: Wording) -> None:
        hours = message.data["hours_left"]
        roles = self.roles(message)
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
            self._dm(legal, say(key, hours=abs(hours), code=incident.code, channel=say.room(incident.room_ref)))

    def _announce(self, incident: Incident, message: OutboxMessage, say: Wording) -> None:
        book = self.desk.playbook(incident.scenario)
        text = say(
            f"announce.{message.data['what']}",
            code=incident.code,
            title=incident.title,
            scenario=book.name.in_(say.language),
            level=message.data.get("level", incident.level),
            channel=say.room(incident.room_ref),
            drill=incident.drill,
        )
        self._once(message.data["channel"], text, None, by_name=True)

    def _notice(self, make: notices.NoticeMaker) -> Handler:
        """The handler for a notice kind bot/chat/notices.py words: each of its messages one step."""

        def send(incident: Incident, row: OutboxMessage, say: Wording) -> None:
            for each in make(self.desk, incident, row, say):
                buttons = notices.buttons_of(each.message) or None
                if each.to:
                    self._dm(each.to, each.message.text, buttons)
                elif any(not isinstance(p, Text | Actions) for p in each.message.parts):  # a card (the scorecard)
                    self._once(incident.room_ref or "", each.message.text, None, whole=each.message)
                else:
                    self._post(incident, each.message.text, buttons)

        return send

    def _drill_inject(self, incident: Incident, message: OutboxMessage, say: Wording) -> None:
        """A drill's inject: whoever a raised level pulls in is brought into the room first, then told."""
        paged = [u for u in dict.fromkeys((message.data.get("paged") or {}).values()) if u]
        if paged:
            self.port.invite(str(incident.room_ref), paged)  # everyone it can; the inject names them all
        self._notice(drillcards.inject)(incident, message, say)
        if message.data.get("level"):  # the new level's approvers: each draft's approval line, as an escalation's
            after = After(self.desk, self.port, Unheld(), self.wording)
            for draft in self.desk.store.drafts(incident.id):
                after.refresh_draft(incident, draft)

    # ---- drills: schedules ----------------------------------------------------------------------
    def _drill_setup(self, incident: Incident) -> None:
        """Set up the room of a drill its schedule declared, as a typed declare does; what the platform refused is
        raised, for the runner to retry (a re-run does only the missing steps)."""
        result = SetUp(self.desk, self.port, self.wording(incident.language)).run(incident)
        if not result.complete:
            raise RuntimeError(f"{incident.code}: set-up steps refused: {', '.join(map(str, result.failed))}")

    def _drill_heads_up(self, message: OutboxMessage) -> None:
        """DM the crisis lead (and, for an announced drill, the team) the day before a scheduled drill."""
        schedule = self.desk.store.schedule_of(int(message.data["schedule_id"]))
        owners = self.desk.store.role_owners()
        people: dict[str, str] = {}  # person → the first role they are told as (the lead first: theirs says more)
        for role in self.roles(message):
            for user in owners.get(role, [])[:1]:
                people.setdefault(user, role)
        for user, role in people.items():
            say = self.wording()
            key = "drill_schedule.heads_up_lead" if role == "crisis_lead" else "drill_schedule.heads_up_team"
            self._dm(user, self._heads_up_text(schedule, key, parse_iso(message.data["start"]), say))

    def _heads_up_text(self, schedule: DrillSchedule, key: str, start: datetime, say: Wording) -> str:
        book = self.desk.playbook(schedule.scenario)
        return say(
            key,
            id=schedule.id,
            scenario=book.name.in_(say.language),
            level=schedule.level,
            start=moment(start, self.desk, say),
            unannounced=schedule.unannounced,
        )

    # ---- sending -------------------------------------------------------------------------------
    def _ack_button(self, incident: Incident, role: str, say: Wording) -> list[Button]:
        buttons = [Button("acknowledge", say("button.acknowledge"), f"{incident.id}:{role}", "primary")]
        url = say.dialect.room_url(incident.room_ref)
        if url:
            label = say("button.open_channel", space=say.dialect.space(incident.room_ref))
            buttons.append(Button("open_channel", label, url=url))
        return buttons

    def _post(self, incident: Incident, text: str, buttons: list[Button] | None = None) -> None:
        self._once(incident.room_ref or "", text, buttons)

    def _dm(self, user: str, text: str, buttons: list[Button] | None = None) -> None:
        self._once(user, text, buttons, person=True)

    def _once(
        self,
        where: str,
        text: str,
        buttons: list[Button] | None,
        person: bool = False,
        by_name: bool = False,
        whole: Message | None = None,
    ) -> None:
        """Send unless this step of the current outbox row was already accepted by the platform (`whole`: a
        message with its own parts, instead of `text` and `buttons`)."""
        incident = self._incident
        say = self.wording(incident.language if incident else None)
        message = marked(whole or text_with_buttons(text, buttons), incident, say)
        row = self._row
        if row is None:  # outside a delivery (report_failure): best effort, no bookkeeping
            self._send(where, message, None, person)
            return
        key = StepKey("outbox", f"{row.id}:{self._step}")  # recorded under its own key, `outbox:<row>:<n>`
        self._step += 1
        code = self._code

        def send() -> str:
            ref = self._send(where, message, Tag(code, str(key)), person)
            crash_point("slack_accepted")  # the platform has it, we have not noted it: the next run finds it by its tag
            return ref

        def look(_keys: set[StepKey]) -> dict[StepKey, str]:
            ref = self._look_up(where, code, str(key), person, by_name)
            return {key: ref} if ref else {}

        Runner(self.desk.store, _incident_of(row), self.desk.now, f"outbox {code}").once(Step(key, send, look=look))

    def _send(self, where: str, message: Message, tag: Tag | None, person: bool) -> str:
        if person:
            return self.port.dm(where, message, tag).split(":", 1)[1]  # noted as the message's ref, as before
        return self.port.post(where, message, tag)

    def _look_up(self, where: str, code: str, step: str, person: bool, by_name: bool) -> str | None:
        """The ref of this step's message if a run that died had the platform send it; raises when it cannot say."""
        if person:
            ref = self.port.find_dm(where, code, step)
            return ref.split(":", 1)[1] if ref else None
        room = self.port.room_by_name(where) if by_name else where  # a configured room: history needs its ref
        return self.port.find_posts(room, code, {step}).get(step) if room else None

    def _time(self, when: datetime, say: Wording) -> str:
        return local_time(when, say.language, self.desk.settings.tz)


def schedule_code(message: OutboxMessage) -> str:
    """What tags a schedule's messages in place of an incident's code (read-back finds them by it)."""
    return f"DS-{message.data.get('schedule_id', 0)}"


def _incident_of(message: OutboxMessage) -> int:
    """The incident a row is addressed to (every row but a triage card's has one)."""
    if message.incident_id is None:
        raise RuntimeError(f"outbox {message.id} ({message.kind}) is addressed to no incident")
    return message.incident_id
