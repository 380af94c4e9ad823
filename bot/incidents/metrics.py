"""Post-incident metrics: how fast the team declared, acknowledged, approved, responded and updated.

Pure domain: reads the incident's append-only timeline (plus its drafts and the playbook) and returns
numbers; no Slack, no wording. Every duration is in minutes (float, one decimal), computed from event
times, and None where the thing never happened. Start points:

- detection → declaration, and detection → first public response (the promise to the public counts
  from the moment we knew, as the first-response deadline does);
- declaration → everything the team does (acknowledging, approving, escalating, resolving);
- a role's acknowledgement counts from when it was paged: at declaration, or at the escalation that
  pulled the role in;
- an approval counts from when the version it approves was created (drafted, or edited into existence).

The improvement hints are ids with the roles they concern; the report template words them.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from datetime import datetime
from itertools import pairwise
from typing import Any

from pydantic import BaseModel, Field

from bot.ids import ROLES
from bot.incidents import gdpr
from bot.incidents.desk import Desk
from bot.incidents.events import Acknowledged, LevelChanged, Resolution, payload
from bot.models import Event, EventKind, Incident
from bot.playbooks import Playbook

# Beyond these the report suggests an improvement.
SLOW_DECLARATION_MINUTES = 15.0
SLOW_APPROVAL_MINUTES = 15.0
# Posts of a public update round count once; these draft kinds are public updates after the first response.
UPDATE_KINDS = ("status_update", "resolved")
SURVEY_SCALE = range(1, 6)


class RoleAck(BaseModel):
    """One role the incident pulled in, and how fast its owner (or a backup) took it."""

    role: str
    user: str | None = None
    paged_minutes: float = 0.0  # declaration → the role was paged (0: at declaration; later: an escalation)
    minutes: float | None = None  # paged → acknowledged; None: never acknowledged
    window_minutes: int | None = None  # the level's ack_within_minutes; None: playbook unknown
    within_window: bool | None = None  # None: no window known


class ApprovalLatency(BaseModel):
    """How long one approver role took from a draft version's creation to its approval."""

    role: str
    count: int
    median_minutes: float
    max_minutes: float
    minutes: list[float]


class UpdateGap(BaseModel):
    """The time between two public posts (or from the last post to resolution) against the level's cadence."""

    at: datetime  # when the update went out (for the gap until resolution: when the incident was resolved)
    minutes: float
    allowed_minutes: int | None  # update_every_minutes of the level at the start of the gap
    kept: bool | None  # None: no cadence known
    until_resolution: bool = False  # no update came before the incident was resolved


class LevelChange(BaseModel):
    """An escalation or de-escalation."""

    at: datetime
    minutes: float  # since declaration
    actor: str
    from_level: int
    to_level: int
    new_roles: list[str] = Field(default_factory=list)


class SurveySummary(BaseModel):
    """The participants' answers to the evaluation survey (the latest answer of each participant counts)."""

    responses: int = 0
    q1_mean: float | None = None
    q2_mean: float | None = None
    comments: list[str] = Field(default_factory=list)


class Hint(BaseModel):
    """Something to improve, by id (the report template words it), with the roles it concerns."""

    id: str
    roles: list[str] = Field(default_factory=list)


class IncidentMetrics(BaseModel):
    """Everything the post-incident evaluation measures about one incident."""

    code: str
    scenario: str
    title: str
    drill: bool
    status: str
    declared_by: str
    detected_at: datetime
    declared_at: datetime
    resolved_at: datetime | None
    levels: list[int]  # the declared level, then each level it moved to
    detection_to_declaration_minutes: float
    roles: list[RoleAck]
    acknowledge_minutes: dict[str, float | None]  # role → paged → acknowledged
    all_acknowledged_minutes: float | None  # declaration → the last pulled-in role acknowledged
    first_approved_minutes: float | None  # declaration → the first draft fully approved
    first_response_minutes: float | None  # detection → the first public post
    first_response_target_minutes: float
    first_response_met: bool | None  # None: nothing posted yet and the deadline has not passed
    first_response_network: str | None
    updates: list[UpdateGap]
    updates_kept: int
    updates_missed: int
    approval_latency: dict[str, ApprovalLatency]  # role → latency, in the order of bot.ids.ROLES
    rejections: int
    escalations: list[LevelChange]
    reminders: int
    deadlines_missed: int
    ack_escalations: int
    update_reminders: int
    refused: int
    authority_notified_minutes: float | None  # detection → the data-protection authority was notified
    resolved_minutes: float | None  # declaration → resolution
    summary: str | None = None
    impact: str | None = None
    lessons: str | None = None
    survey: SurveySummary = Field(default_factory=SurveySummary)
    hints: list[Hint] = Field(default_factory=list)


def minutes_between(start: datetime, end: datetime) -> float:
    """Minutes from `start` to `end`, one decimal."""
    return round((end - start).total_seconds() / 60, 1)


def incident_metrics(desk: Desk, incident: Incident) -> IncidentMetrics:
    """Measure one incident from its timeline."""
    events = desk.store.events(incident.id)
    book = desk.playbooks.get(incident.scenario)
    declared = incident.declared_at
    changes = _level_changes(events, incident)
    start_level = _declared_level(events, incident)
    resolved_at = _resolved_at(events, incident)
    until = resolved_at or desk.now()  # the end of the incident, or of the incident so far
    roles = _role_acks(events, incident, book, start_level, changes, until)
    first_post = _first(events, "posted")
    target = minutes_between(incident.detected_at, incident.first_response_due)
    first_response = minutes_between(incident.detected_at, first_post.at) if first_post else None
    cadence = _Cadence(book, start_level, changes)
    updates = _update_gaps(_post_rounds(desk, incident, events), cadence, resolved_at)
    resolved = _last(events, "resolved")
    resolution = payload(resolved, Resolution) if resolved else None
    metrics = IncidentMetrics(
        code=incident.code,
        scenario=incident.scenario,
        title=incident.title,
        drill=incident.drill,
        status=incident.status,
        declared_by=incident.declared_by,
        detected_at=incident.detected_at,
        declared_at=declared,
        resolved_at=resolved_at,
        levels=[start_level, *(c.to_level for c in changes)],
        detection_to_declaration_minutes=minutes_between(incident.detected_at, declared),
        roles=roles,
        acknowledge_minutes={r.role: r.minutes for r in roles},
        all_acknowledged_minutes=_all_acknowledged(roles),
        first_approved_minutes=_minutes_to_first(events, declared, _is_ready),
        first_response_minutes=first_response,
        first_response_target_minutes=target,
        first_response_met=_met(first_response, target, events, incident, until),
        first_response_network=first_post.data.get("network") if first_post else None,
        updates=updates,
        updates_kept=sum(1 for u in updates if u.kept is True),
        updates_missed=sum(1 for u in updates if u.kept is False),
        approval_latency=_approval_latency(events),
        rejections=_count(events, "rejected"),
        escalations=changes,
        reminders=_count(events, "reminder_sent"),
        deadlines_missed=_count(events, "deadline_missed"),
        ack_escalations=_count(events, "ack_escalation"),
        update_reminders=_count(events, "update_reminder"),
        refused=_count(events, "refused"),
        authority_notified_minutes=_authority_minutes(desk, incident),
        resolved_minutes=minutes_between(declared, resolved_at) if resolved_at else None,
        summary=_text(resolution.summary) if resolution else None,
        impact=_text(resolution.impact) if resolution else None,
        lessons=_text(resolution.lessons) if resolution else None,
        survey=summarise_survey(events),
    )
    metrics.hints = improvement_hints(metrics)
    return metrics


# ---- timeline helpers ------------------------------------------------------------------------------
def _first(events: Iterable[Event], kind: EventKind) -> Event | None:
    return next((e for e in events if e.kind == kind), None)


def _last(events: list[Event], kind: EventKind) -> Event | None:
    return next((e for e in reversed(events) if e.kind == kind), None)


def _count(events: Iterable[Event], kind: EventKind) -> int:
    return sum(1 for e in events if e.kind == kind)


def _minutes_to_first(events: Iterable[Event], start: datetime, match: Callable[[Event], bool]) -> float | None:
    found = next((e for e in events if match(e)), None)
    return minutes_between(start, found.at) if found else None


def _authority_minutes(desk: Desk, incident: Incident) -> float | None:
    """Detection → the authority was notified (the time the team gave, which may be before it was recorded)."""
    found = gdpr.duty(desk, incident)
    return minutes_between(incident.detected_at, found.notified_at) if found and found.notified_at else None


def _is_ready(event: Event) -> bool:
    """A draft became fully approved: all approvals given, or an escalation's approval rule completed it."""
    return event.kind == "draft_ready" or (
        event.kind == "approval_rule_changed" and event.data.get("status") == "approved"
    )


def _text(value: Any) -> str | None:
    """A free-text field as one string (a list becomes one line per item); None when empty."""
    if isinstance(value, list):
        value = "\n".join(str(v) for v in value if str(v).strip())
    text = str(value).strip() if value is not None else ""
    return text or None


def _resolved_at(events: list[Event], incident: Incident) -> datetime | None:
    if incident.resolved_at is not None:
        return incident.resolved_at
    resolution = _first(events, "resolved")
    return resolution.at if resolution else None


def _met(
    first_response: float | None, target: float, events: list[Event], incident: Incident, until: datetime
) -> bool | None:
    """On time or not; None while nothing is posted and the deadline has not passed yet."""
    if first_response is not None:
        return first_response <= target
    missed = _first(events, "deadline_missed") is not None or until > incident.first_response_due
    return False if missed else None


# ---- levels and roles ------------------------------------------------------------------------------
def _declared_level(events: list[Event], incident: Incident) -> int:
    declared = _first(events, "declared")
    if declared and isinstance(level := declared.data.get("level"), int):
        return level
    changes = [e for e in events if e.kind in ("escalated", "deescalated")]
    return int(changes[0].data.get("from", incident.level)) if changes else incident.level


def _level_changes(events: list[Event], incident: Incident) -> list[LevelChange]:
    return [
        LevelChange(
            at=e.at,
            minutes=minutes_between(incident.declared_at, e.at),
            actor=e.actor,
            from_level=change.from_level,
            to_level=change.to_level,
            new_roles=list(change.new_roles or []),
        )
        for e in events
        if e.kind in ("escalated", "deescalated")
        for change in [payload(e, LevelChanged)]
    ]


def _level_at(start_level: int, changes: list[LevelChange], when: datetime) -> int:
    """The incident's level at `when`."""
    level = start_level
    for change in changes:
        if change.at <= when:
            level = change.to_level
    return level


def _role_acks(
    events: list[Event],
    incident: Incident,
    book: Playbook | None,
    start_level: int,
    changes: list[LevelChange],
    until: datetime,
) -> list[RoleAck]:
    """The roles pulled in (declared level, then each escalation's new roles), with their acknowledgements.

    `until` is the end of the incident (its resolution, or now): a role still inside its window then is
    neither late nor on time yet.
    """
    paged: dict[str, datetime] = {}
    if book is not None:
        paged = dict.fromkeys(book.level(start_level).roles, incident.declared_at)
    for change in changes:
        for role in change.new_roles:
            paged.setdefault(role, change.at)
    acks: dict[str, Event] = {}
    for event in events:
        taken = payload(event, Acknowledged).role if event.kind == "acknowledged" else None
        if taken:
            acks.setdefault(taken, event)
            paged.setdefault(taken, incident.declared_at)
    final_roles = set(book.level(incident.level).roles) if book else set(paged)
    seats = []
    for role, since in paged.items():
        if role not in final_roles and role not in acks:
            continue  # released by a de-escalation before anyone took it
        window = book.level(_level_at(start_level, changes, since)).ack_within_minutes if book else None
        seats.append(_seat(role, since, acks.get(role), incident.declared_at, window, until))
    return seats


def _seat(
    role: str, since: datetime, ack: Event | None, declared: datetime, window: int | None, until: datetime
) -> RoleAck:
    minutes = max(0.0, minutes_between(since, ack.at)) if ack else None
    if window is None:
        within = None
    elif minutes is not None:
        within = minutes <= window
    else:
        within = False if minutes_between(since, until) > window else None
    return RoleAck(
        role=role,
        user=ack.actor if ack else None,
        paged_minutes=minutes_between(declared, since),
        minutes=minutes,
        window_minutes=window,
        within_window=within,
    )


def _all_acknowledged(roles: list[RoleAck]) -> float | None:
    """Declaration → the moment the last pulled-in role acknowledged; None while one never did."""
    if not roles or any(r.minutes is None for r in roles):
        return None
    return round(max(r.paged_minutes + (r.minutes or 0.0) for r in roles), 1)


# ---- approvals ---------------------------------------------------------------------------------------
def _approval_latency(events: list[Event]) -> dict[str, ApprovalLatency]:
    """Per approver role: minutes from each draft version's creation to that role's approval of it."""
    created: dict[tuple[int, int], datetime] = {}
    for event in events:
        if event.kind == "drafted":
            created.setdefault((int(event.data["draft_id"]), 1), event.at)
        elif event.kind == "edited":
            created.setdefault((int(event.data["draft_id"]), int(event.data["version"])), event.at)
    latencies: dict[str, list[float]] = {}
    for event in events:
        if event.kind != "approved":
            continue
        key = (int(event.data["draft_id"]), int(event.data.get("version", 1)))
        if key in created:
            latencies.setdefault(event.data["role"], []).append(minutes_between(created[key], event.at))
    roles = sorted(latencies, key=lambda r: (ROLES.index(r) if r in ROLES else len(ROLES), r))
    return {
        role: ApprovalLatency(
            role=role,
            count=len(latencies[role]),
            median_minutes=round(statistics.median(latencies[role]), 1),
            max_minutes=max(latencies[role]),
            minutes=latencies[role],
        )
        for role in roles
    }


# ---- update cadence --------------------------------------------------------------------------------
class _Cadence:
    """The public-update interval of the level the incident was at, at any moment."""

    def __init__(self, book: Playbook | None, start_level: int, changes: list[LevelChange]) -> None:
        self.book, self.start_level, self.changes = book, start_level, changes

    def at(self, when: datetime) -> int | None:
        if self.book is None:
            return None
        return self.book.level(_level_at(self.start_level, self.changes, when)).update_every_minutes


def _update_gaps(
    rounds: list[tuple[datetime, str]], cadence: _Cadence, resolved_at: datetime | None
) -> list[UpdateGap]:
    """Each public update round against the cadence of the level at the start of its gap."""
    gaps = []
    for (since, _), (at, kind) in pairwise(rounds):
        if kind in UPDATE_KINDS:
            gaps.append(_gap(since, at, cadence.at(since)))
    if rounds and resolved_at and resolved_at > rounds[-1][0]:
        trailing = _gap(rounds[-1][0], resolved_at, cadence.at(rounds[-1][0]), until_resolution=True)
        if trailing.kept is False:  # resolving within the cadence needs no further update
            gaps.append(trailing)
    return gaps


def _gap(start: datetime, end: datetime, allowed: int | None, until_resolution: bool = False) -> UpdateGap:
    minutes = minutes_between(start, end)
    return UpdateGap(
        at=end,
        minutes=minutes,
        allowed_minutes=allowed,
        kept=None if allowed is None else minutes <= allowed,
        until_resolution=until_resolution,
    )


def _post_rounds(desk: Desk, incident: Incident, events: list[Event]) -> list[tuple[datetime, str]]:
    """The first post of each drafting round (the same message on several networks counts once), in order."""
    drafted = {int(e.data["draft_id"]): e for e in events if e.kind == "drafted" and "draft_id" in e.data}
    drafts = {d.id: d for d in desk.store.drafts(incident.id)}
    seen: set[Any] = set()
    rounds: list[tuple[datetime, str]] = []
    for event in events:
        if event.kind != "posted" or "draft_id" not in event.data:
            continue
        draft_id = int(event.data["draft_id"])
        origin = drafted.get(draft_id)
        draft = drafts.get(draft_id)
        kind = (origin.data.get("kind") if origin else None) or (draft.kind if draft else "")
        round_key: tuple[Any, ...] = (kind, origin.at if origin else (draft.created_at if draft else draft_id))
        if kind == "first_response":
            round_key = ("first_response",)
        if round_key not in seen:
            seen.add(round_key)
            rounds.append((event.at, kind))
    return rounds


# ---- survey ------------------------------------------------------------------------------------------
def summarise_survey(events: Iterable[Event]) -> SurveySummary:
    """Means of the two scale questions and every free-text answer; a participant's latest answer counts."""
    latest: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.kind == "survey_answer" and isinstance(event.data.get("questions"), dict):
            latest[event.actor] = event.data["questions"]
    if not latest:
        return SurveySummary()
    q1 = [v for a in latest.values() if (v := _scale(a.get("q1"))) is not None]
    q2 = [v for a in latest.values() if (v := _scale(a.get("q2"))) is not None]
    comments = [text for a in latest.values() if (text := _text(a.get("q3")))]
    return SurveySummary(responses=len(latest), q1_mean=_mean(q1), q2_mean=_mean(q2), comments=comments)


def _scale(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        return None
    return int(value) if int(value) in SURVEY_SCALE else None


def _mean(values: list[int]) -> float | None:
    return round(statistics.fmean(values), 1) if values else None


# ---- what to improve ---------------------------------------------------------------------------------
def improvement_hints(metrics: IncidentMetrics) -> list[Hint]:
    """What the numbers suggest changing before the next crisis, most important first."""
    hints: list[Hint] = []
    if metrics.first_response_met is False:
        hints.append(Hint(id="first_response_missed"))
    slow_acks = [r.role for r in metrics.roles if r.within_window is False]
    if slow_acks:
        hints.append(Hint(id="slow_acknowledgements", roles=slow_acks))
    slow_approvals = [r for r, lat in metrics.approval_latency.items() if lat.median_minutes > SLOW_APPROVAL_MINUTES]
    if slow_approvals:
        hints.append(Hint(id="slow_approvals", roles=slow_approvals))
    if metrics.detection_to_declaration_minutes > SLOW_DECLARATION_MINUTES:
        hints.append(Hint(id="declare_sooner"))
    if metrics.updates_missed:
        hints.append(Hint(id="updates_missed"))
    if metrics.rejections:
        hints.append(Hint(id="rejections"))
    if metrics.refused:
        hints.append(Hint(id="refused"))
    if metrics.resolved_at is not None and not metrics.lessons:
        hints.append(Hint(id="record_lessons"))
    return hints
