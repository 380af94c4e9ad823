"""The records of the domain, as the store returns them (plain pydantic models, no Slack in sight)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

IncidentStatus = Literal["active", "resolved"]
DraftStatus = Literal["pending", "approved", "rejected", "posted"]
Decision = Literal["approved", "rejected"]

# What the timeline records, as stored in events.kind (the report's template and the metrics read these strings).
EventKind = Literal[
    # the declare and the team
    "declared",
    "acknowledged",
    "escalated",
    "deescalated",
    "refused",
    "checklist_done",
    "note",
    "status_update",
    "resolved",
    "survey_answer",
    # drafts and approvals
    "drafted",
    "edited",
    "approved",
    "rejected",
    "draft_ready",
    "approval_rule_changed",
    "posted",
    "first_response",
    # timers
    "reminder_sent",
    "deadline_missed",
    "ack_escalation",
    "update_reminder",
    "gdpr_reminder",
    # the GDPR duty
    "gdpr_notified",
    "gdpr_not_notified",
    # facts a chat adapter learned (bot/incidents/facts.py)
    "channel_created",
    "pinged",
    "setup_failed",
    "closing_failed",
    # the outbox gave up on messages at the resolve
    "outbox_dropped",
    # drills: injects, scorecard, after-action items (bot/incidents/drills/); schedules, readiness
    "drill_inject",
    "drill_scored",  # the drill's score when it ended (the drills contract's payload)
    "drill_action",
    "drill_action_done",
    "drill_action_reminder",
    "drill_started",  # a scheduled drill started by itself (its schedule's id)
    # detection: the alerts an incident was declared from, first on its timeline (bot/incidents/detection.py)
    "alert_received",
    "triaged",
]

# What an outbox row asks a chat adapter to say or do, as stored in outbox.kind (the adapter's handlers key on it).
NoticeKind = Literal[
    "header_refresh",
    "first_response_reminder",
    "deadline_missed",
    "ack_remind_owner",
    "ack_page_backups",
    "ack_page_lead",
    "update_reminder",
    "gdpr_reminder",
    "announce",
    # notices a verb queues after a person's action, in its own transaction (said by bot/chat/notices.py)
    "escalation",
    "first_response",
    "internal_update",
    "authority_notified",
    # drills: injects, scorecard, after-action items (bot/incidents/drills/)
    "drill_inject",
    "drill_scorecard",
    "drill_action_reminder",
    "drill_real_incident",
    # drills: schedules (rows of no incident yet: incident_id 0, the schedule in the data)
    "drill_heads_up",  # the day before a scheduled drill: the crisis lead (and, announced, the team) by DM
    "drill_setup",  # a scheduled drill was declared by its timer: set its room up on its platform
    # a triage card (addressed by triage, not incident): post it, or redraw it with its new counts
    "triage_card",
]


class Incident(BaseModel):
    id: int
    code: str
    scenario: str
    level: int
    title: str
    description: str = ""
    status: IncidentStatus = "active"
    drill: bool = False
    private: bool = False
    language: str = "en"
    platform: str = "slack"  # the chat platform it lives on (migration 9): `slack` or `teams`
    room_ref: str | None = None  # the incident's room on its platform (a Slack channel id, a Teams thread)
    room_name: str | None = None
    declared_by: str
    declared_at: datetime
    detected_at: datetime
    first_response_due: datetime
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    setup_done_at: datetime | None = None  # every set-up step done (bot/incidents/facts.py)

    @property
    def active(self) -> bool:
        return self.status == "active"


class Draft(BaseModel):
    id: int
    incident_id: int
    network: str
    language: str
    kind: str
    text: str
    version: int = 1
    status: DraftStatus = "pending"
    message_ref: str | None = None  # the draft's message on the platform (a Slack ts)
    created_at: datetime
    updated_at: datetime
    posted_at: datetime | None = None
    posted_by: str | None = None
    reject_reason: str | None = None
    promised_at: datetime | None = None  # the next update this version promises in public
    promise_text: str | None = None  # how the text says it, e.g. "22:00 CET"


class Approval(BaseModel):
    draft_id: int
    version: int
    approver: str
    role: str
    decision: Decision
    at: datetime
    reason: str | None = None


class Ack(BaseModel):
    incident_id: int
    role: str
    user: str
    at: datetime


class Event(BaseModel):
    id: int | None = None
    incident_id: int
    at: datetime
    actor: str
    kind: EventKind
    data: dict[str, Any] = Field(default_factory=dict)


class ChecklistMark(BaseModel):
    incident_id: int
    item_id: str
    done_by: str
    done_at: datetime


class Timer(BaseModel):
    """A moment the bot must act at, kept in SQLite so a restart neither loses nor repeats it."""

    id: int
    incident_id: int
    kind: str
    due_at: datetime
    fired_at: datetime | None = None
    cancelled_at: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)


# drills: schedules
class DrillSchedule(BaseModel):
    """A drill that starts by itself every `every_weeks` weeks, on `weekday` (0 = Monday) at `at_time` (HH:MM in
    the company's timezone); `next_start_at` is when its armed `drill_start` timer fires."""

    id: int
    scenario: str
    level: int
    every_weeks: int
    weekday: int
    at_time: str
    unannounced: bool = False
    platform: str = "slack"
    created_by: str
    created_at: datetime
    next_start_at: datetime
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None
    last_incident_id: int | None = None  # the drill it started last

    @property
    def active(self) -> bool:
        return self.cancelled_at is None


TriageStatus = Literal["open", "watching", "dismissed", "declared"]


class Triage(BaseModel):
    """Related monitoring alerts grouped into one card in the watch channel, and what the team decided."""

    id: int
    source: str
    group_key: str  # `rule:<scenario>:<rule>` or `url:<url>` or `alert:<source>:<key>`: what groups alerts
    scenario: str | None = None
    rule: str | None = None
    level: int = 1
    status: TriageStatus = "open"
    platform: str | None = None  # where its card goes (the watch channel's platform at the first alert)
    title: str
    url: str | None = None
    alerts: int = 1
    held_back: int = 0  # alerts of this source the rate limit kept off the channel while this card was its latest
    reach: int = 0
    sentiment: float | None = None
    detected_at: datetime  # the earliest alert's own time: the incident's detected_at when declared from it
    last_alert_at: datetime
    created_at: datetime
    card_ref: str | None = None
    card_tried_at: datetime | None = None
    watch_alerts: int | None = None  # alerts counted when someone chose Watch: re-alert once it has doubled
    realerts: int = 0  # cards posted again after a Watch (each card's tag says which one it is)
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    incident_id: int | None = None


class StoredAlert(BaseModel):
    """One accepted alert as its source sent it (capped), with the triage it joined."""

    id: int
    source: str
    alert_key: str
    triage_id: int
    held: bool = False
    received_at: datetime
    detected_at: datetime
    data: dict[str, Any] = Field(default_factory=dict)


class OutboxMessage(BaseModel):
    """What an effect must tell whom, addressed by incident and role (or by triage, before there is an incident);
    a chat adapter delivers it."""

    id: int
    incident_id: int | None = None
    triage_id: int | None = None
    kind: NoticeKind
    data: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    sent_at: datetime | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    failed_at: datetime | None = None
    last_error: str | None = None
