"""Readiness over time: every scored drill's score per scenario and each role's time to acknowledge, with the trend.

Read from the one `drill_scored` event a drill gets when it ends (the drills contract's payload), never from the
platform. `crisisbot drills` prints it (`--chart` draws it as a PNG); App Home shows the last drill and its score.
Wording lives in messages/<language>/ui.yaml (`readiness.*`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from babel.dates import format_date

from bot.ids import ROLES
from bot.incidents.desk import Desk
from bot.messages import locale_of

CHART_SIZE_INCHES = (10, 6.5)
CHART_DPI = 110


@dataclass(frozen=True)
class Scored:
    """One drill's score, as its `drill_scored` event says it."""

    code: str
    scenario: str
    at: datetime  # when it was scored (the drill's end)
    score: int
    roles: dict[str, float | None]  # minutes to acknowledge; None: never acknowledged


@dataclass(frozen=True)
class Readiness:
    drills: list[Scored]  # oldest first

    def by_scenario(self) -> dict[str, list[Scored]]:
        grouped: dict[str, list[Scored]] = defaultdict(list)
        for drill in self.drills:
            grouped[drill.scenario].append(drill)
        return dict(grouped)

    def by_role(self) -> dict[str, list[float | None]]:
        """Each role's minutes to acknowledge, drill after drill (only the drills that paged it)."""
        grouped: dict[str, list[float | None]] = defaultdict(list)
        for drill in self.drills:
            for role, minutes in drill.roles.items():
                grouped[role].append(minutes)
        return {role: grouped[role] for role in [*ROLES, *sorted(set(grouped) - set(ROLES))] if role in grouped}


def readiness(desk: Desk) -> Readiness:
    """Every scored drill, oldest first."""
    drills = []
    for event in desk.store.events_of_kind("drill_scored"):
        incident = desk.store.find_incident(event.incident_id)
        if incident is None or not incident.drill:
            continue  # the score of a drill only: a real incident is never scored as one
        data = event.data
        roles = {str(role): (seat or {}).get("ack_minutes") for role, seat in dict(data.get("roles") or {}).items()}
        drills.append(
            Scored(incident.code, str(data.get("scenario", incident.scenario)), event.at, int(data["score"]), roles)
        )
    return Readiness(drills)


def trend(values: list[float | None]) -> float | None:
    """The last value less the one before it (of those known); None with fewer than two."""
    known = [v for v in values if v is not None]
    return round(known[-1] - known[-2], 1) if len(known) >= 2 else None


# ---- as text -----------------------------------------------------------------------------------------
def text(desk: Desk, history: Readiness, language: str) -> str:
    """The history for `crisisbot drills`: per scenario its scores and trend, per role its times and trend."""

    def say(key: str, **params: object) -> str:
        return desk.messages.ui(language, f"readiness.{key}", **params)

    if not history.drills:
        return say("none")
    lines = [say("heading", count=len(history.drills)), ""]
    for scenario, drills in history.by_scenario().items():
        last = drills[-1]
        book = desk.playbooks.get(scenario)
        lines.append(
            say(
                "scenario",
                scenario=book.name.in_(language) if book else scenario,
                count=len(drills),
                score=last.score,
                code=last.code,
                date=_date(last.at, desk, language),
                trend=_whole(trend([float(d.score) for d in drills])),
            )
        )
        lines.append(say("scores", scores=" → ".join(str(d.score) for d in drills)))
    lines += ["", say("roles_heading")]
    for role, minutes in history.by_role().items():
        lines.append(
            say(
                "role",
                role=desk.messages.ui(language, f"role.{role}") if role in ROLES else role,
                times=" → ".join(say("minutes", minutes=m) if m is not None else "—" for m in minutes),
                trend=trend(minutes),
            )
        )
    return "\n".join(lines)


def _whole(value: float | None) -> int | None:
    return None if value is None else round(value)


def _date(at: datetime, desk: Desk, language: str) -> str:
    return format_date(at.astimezone(desk.settings.tz), format="medium", locale=locale_of(language))


# ---- as a chart --------------------------------------------------------------------------------------
def draw_chart(desk: Desk, history: Readiness, language: str, path: Path) -> Path:
    """Above, one line per scenario: its drills' scores (0–100) by date; below, each role's minutes to acknowledge,
    drill after drill (a gap where it never acknowledged)."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the chart is a file
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def say(key: str) -> str:
        return desk.messages.ui(language, f"readiness.{key}")

    figure = Figure(figsize=CHART_SIZE_INCHES, dpi=CHART_DPI)
    FigureCanvasAgg(figure)
    scores, roles = figure.subplots(2, 1, sharex=True)
    number = {id(d): i + 1 for i, d in enumerate(history.drills)}  # drill 1, 2, … in the order they were scored
    for scenario, drills in history.by_scenario().items():
        book = desk.playbooks.get(scenario)
        label = book.name.in_(language) if book else scenario
        scores.plot([number[id(d)] for d in drills], [d.score for d in drills], marker="o", label=label)
    scores.set_ylim(0, 100)
    scores.set_ylabel(say("chart_y"), fontsize=9)
    scores.set_title(say("chart_title"), fontsize=12)
    for role in history.by_role():
        seen = [(number[id(d)], d.roles[role]) for d in history.drills if role in d.roles]
        name = desk.messages.ui(language, f"role.{role}") if role in ROLES else role
        roles.plot(
            [n for n, _ in seen], [m if m is not None else float("nan") for _, m in seen], marker=".", label=name
        )
    roles.set_ylabel(say("chart_roles"), fontsize=9)
    roles.set_xlabel(say("chart_x"), fontsize=9)
    roles.set_xticks(range(1, len(history.drills) + 1), [d.code for d in history.drills], fontsize=8)
    for axes in (scores, roles):
        axes.grid(color="#dddddd")
        if history.drills:
            axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.subplots_adjust(left=0.09, right=0.78, top=0.92, bottom=0.12, hspace=0.15)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=CHART_DPI, metadata={"Software": None})
    return path
