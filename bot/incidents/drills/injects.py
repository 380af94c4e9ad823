"""Scripted injects: one `drill_inject` timer per inject of the drill's script, armed at the declare.

Firing one records a `drill_inject` event (what the scorecard measures the team's answer from) and an outbox row
that posts its text in the drill room, in the same transaction as its effect: the level raised (as an escalation
would, with the new roles' acknowledge timers), or a role's holder made unavailable (their acknowledgement freed,
the backups paged as the acknowledge escalation pages them). A timer, so a restart neither loses nor repeats one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.errors import UsageError
from bot.incidents.desk import Desk
from bot.incidents.drills.scorecard import score_drill
from bot.incidents.drills.script import DrillScript, Inject
from bot.incidents.escalate import change_level
from bot.models import Incident, Timer

TIMER_KIND = "drill_inject"


def script_for(desk: Desk, scenario: str) -> DrillScript:
    """The drill script of `scenario`; a clear refusal when the scenario has none (nothing changed)."""
    desk.playbook(scenario)  # an unknown scenario is refused as such first
    script = desk.drill_scripts.get(scenario)
    if script is None:
        raise UsageError(
            "exercise.error.no_script",
            scenario=scenario,
            valid=", ".join(s for s in desk.scenarios() if s in desk.drill_scripts),
        )
    return script


def inject_timers(desk: Desk, incident: Incident) -> list[dict[str, Any]]:
    """A timer per inject, at its minute offset from the declare; and one at the script's end (the last
    expectation's time is up), when the drill is scored unless its resolve came first."""
    script = script_for(desk, incident.scenario)
    start = incident.declared_at
    rows = [
        {
            "incident_id": incident.id,
            "kind": TIMER_KIND,
            "due_at": start + timedelta(minutes=inject.at_minutes),
            "data": {"index": index},
        }
        for index, inject in enumerate(script.injects)
    ]
    end = {"incident_id": incident.id, "kind": TIMER_KIND, "due_at": start + timedelta(minutes=script.end_minutes())}
    return [*rows, {**end, "data": {"end": True}}]


def fire_inject(desk: Desk, incident: Incident, timer: Timer) -> bool:
    """Post the inject and apply its effect; the caller (bot/incidents/timers.py) holds the transaction."""
    if timer.data.get("end"):  # the script is played out: the drill ends here unless the resolve came first
        if not incident.drill or desk.store.events(incident.id, "drill_scored"):
            return False
        score_drill(desk, incident, ended="script")
        return True
    script = desk.drill_scripts.get(incident.scenario)
    index = int(timer.data.get("index", -1))
    if not incident.drill or script is None or not 0 <= index < len(script.injects):
        return False  # a script edited since the declare: nothing to post for this one
    inject = script.injects[index]
    now = desk.now()
    data: dict[str, Any] = {"index": index, "at_minutes": inject.at_minutes, "total": len(script.injects)}
    data.update(_effect(desk, incident, inject))
    desk.store.add_event(incident.id, now, "bot", "drill_inject", **data)
    desk.store.add_outbox(incident.id, "drill_inject", now, **data)
    if "level" in data or "unavailable_role" in data:
        desk.store.add_outbox_once(incident.id, "header_refresh", now)
    return True


def _effect(desk: Desk, incident: Incident, inject: Inject) -> dict[str, Any]:
    effect = inject.effect
    if effect is None:
        return {}
    if effect.raise_level is not None:
        if effect.raise_level <= incident.level:
            return {}  # the team escalated further already: nothing to raise
        incident, new_roles, _changed = change_level(desk, incident, effect.raise_level, "bot")
        owners = desk.store.role_owners()
        return {"level": incident.level, "new_roles": new_roles, "paged": _owners_of(owners, new_roles)}
    role = str(effect.make_unavailable)
    return _make_unavailable(desk, incident, role)


def _make_unavailable(desk: Desk, incident: Incident, role: str) -> dict[str, Any]:
    """The role's holder is out of reach: their acknowledgement is freed and the backups are paged."""
    owners = desk.store.role_owners().get(role, [])
    ack = desk.store.acks(incident.id).get(role)
    away = ack.user if ack else next(iter(owners), None)
    if ack is not None:
        desk.store.drop_ack(incident.id, role)
    backups = [u for u in owners if u != away]
    desk.store.add_event(incident.id, desk.now(), "bot", "ack_escalation", role=role, stage="page_backups")
    desk.store.add_outbox(
        incident.id, "ack_page_backups", desk.now(), role=role, owner=away, backups=backups, drill_unavailable=True
    )
    return {"unavailable_role": role, "unavailable": away}


def _owners_of(owners: dict[str, list[str]], roles: list[str]) -> dict[str, str]:
    return {role: owners[role][0] for role in roles if owners.get(role)}
