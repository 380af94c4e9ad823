"""The after-action part of a drill's evaluation report: the score, what went well, what did not, the plan.

What went well and what did not are read off the drill's kept scorecard (the `drill_scored` event; the card as it
stands for a drill not ended yet), so the report and the room's scorecard never disagree; the improvement plan is
the drill's `drill_action` items as they stand now. The report template words each point (messages/<lang>/
report.md.j2, `point`): here are only ids and already formatted values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.incidents.desk import Desk
from bot.incidents.drills import actions
from bot.incidents.drills.scorecard import scorecard
from bot.messages import day_text
from bot.models import Incident

Minutes = Callable[[float | None], str | None]
Person = Callable[[str | None], str]


def after_action(desk: Desk, incident: Incident, language: str, minutes: Minutes, person: Person) -> dict[str, Any]:
    """The report's drill section: score and rule, went well / did not (points by id), the improvement plan."""
    kept = desk.store.events(incident.id, "drill_scored")
    card = kept[0].data if kept else scorecard(desk, incident)
    well, not_well = _points(desk, incident, card, language, minutes, person)
    plan = [
        {
            "number": item.number,
            "text": item.text,
            "owner": person(item.owner),
            "due": day_text(item.due, language),
            "done": item.done_by is not None,
            "done_by": person(item.done_by),
        }
        for item in actions.items(desk, incident)
    ]
    return {"score": card["score"], "rule": card["rule"], "well": well, "not_well": not_well, "actions": plan}


def _points(
    desk: Desk, incident: Incident, card: dict[str, Any], language: str, minutes: Minutes, person: Person
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    well: list[dict[str, Any]] = []
    not_well: list[dict[str, Any]] = []
    roles = card.get("roles", {})
    late = [r for r, seat in roles.items() if not seat.get("within")]
    (not_well if late else well).append(
        {"id": "assemble", "minutes": minutes(card.get("assemble_minutes")), "late_roles": late}
    )
    posted, target = card.get("first_posted_minutes"), card.get("target_minutes")
    on_target = posted is not None and target is not None and posted <= target
    (well if on_target else not_well).append(
        {"id": "first_reply", "minutes": minutes(posted), "target": minutes(target)}
    )
    script = desk.drill_scripts.get(incident.scenario)
    for result in card.get("injects", []):
        if not result.get("expected"):
            continue
        index = int(result["index"])
        text = script.injects[index].text.in_(language) if script and index < len(script.injects) else ""
        point = {
            "id": "inject",
            "number": index + 1,
            "minute": result.get("at_minutes"),
            "text": text,
            "answered": minutes(result.get("answered_minutes")),
            "late": minutes(result.get("late_minutes")),
            "within": result.get("within_minutes"),
        }
        (well if result.get("on_time") else not_well).append(point)
    checklist = card.get("checklist", {})
    complete = checklist.get("done") == checklist.get("total")
    (well if complete else not_well).append({"id": "checklist", **checklist})
    if card.get("updates_missed"):
        not_well.append({"id": "cadence", "kept": card.get("updates_kept", 0), "missed": card["updates_missed"]})
    for stalled in card.get("stalled", []):
        not_well.append(
            {
                "id": "stalled",
                "role": stalled["role"],
                "user": person(stalled.get("user")),
                "minutes": minutes(stalled.get("max_minutes")),
                "waiting": stalled.get("waiting"),
            }
        )
    return well, not_well
