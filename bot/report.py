"""The post-incident evaluation report: Markdown from `messages/<lang>/report.md.j2`, plus a timeline chart.

`crisisbot report` and the Slack adapter (at resolve) call `write_report`. Python gathers the facts
(`incident_metrics`, the timeline) into plain dicts of already formatted values; every word lives in the
template, rendered in Jinja2's sandbox with StrictUndefined like every template a comms lead may edit.
The chart's labels come from the same template: its top-level `{% set chart = {...} %}`, `role_names`
and `network_names`. A company messages folder written by an older `crisisbot init` has no report
template yet; the shipped default is used then.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from babel.dates import format_datetime
from babel.numbers import format_decimal
from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from bot.config import default_dir
from bot.errors import ConfigError
from bot.incidents.desk import Desk
from bot.incidents.metrics import IncidentMetrics, incident_metrics, minutes_between
from bot.messages import duration, local_time, locale_of, tidy
from bot.models import Event, Incident

CHART_SIZE_INCHES = (10.0, 4.0)
CHART_DPI = 100  # 1000 × 400 pixels
CHART_MAX_MINUTES = 360.0  # "the first hours": later events stay in the Markdown timeline only
CHART_LABELS = ("title", "x_axis", "target", "detected", "declared", "acknowledged", "approved", "posted",
                "level", "later")
MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
CHANNEL = re.compile(r"<#(C[A-Z0-9]+)(?:\|([^>]*))?>")
LINK = re.compile(r"<(https?://[^|>]+)(?:\|([^>]*))?>")
TEXT_FIELDS = ("text", "reason", "summary", "impact", "lessons", "title")


def report_template_path(language: str) -> str:
    """The report template's path below the messages folder."""
    return f"{language}/report.md.j2"


def render_report(desk: Desk, incident: Incident, language: str, user_names: dict[str, str] | None = None,
                  chart: str | None = None) -> str:
    """The evaluation report of `incident` as Markdown, in `language`.

    `user_names` maps Slack user ids to names (ids are shown as they are otherwise); `chart` is the file
    name of the timeline chart to embed, relative to where the Markdown is written.
    """
    return _render(desk, incident, language, user_names or {}, chart).text


def render_timeline_chart(desk: Desk, incident: Incident, language: str, path: Path) -> Path:
    """Draw the incident's first hours as a PNG at `path` (1000 × 400 px); returns `path`."""
    rendered = _render(desk, incident, language, {}, None)
    _draw_chart(desk, incident, rendered, Path(path))
    return Path(path)


def write_report(desk: Desk, incident: Incident, language: str, output: Path | None = None,
                 user_names: dict[str, str] | None = None) -> tuple[Path, Path]:
    """Write the Markdown report and its chart side by side; returns (markdown, png).

    The default is `report-<code>.md` in the working directory; the chart has the same name with `.png`.
    """
    markdown = Path(output) if output else Path.cwd() / f"report-{incident.code}.md"
    chart = markdown.with_suffix(".png")
    if chart == markdown:  # `--output report.png`: keep both files
        chart = markdown.with_name(markdown.name + ".png")
    markdown.parent.mkdir(parents=True, exist_ok=True)
    rendered = _render(desk, incident, language, user_names or {}, chart.name)
    _draw_chart(desk, incident, rendered, chart)
    markdown.write_text(rendered.text, encoding="utf-8")
    return markdown, chart


# ---- rendering -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Rendered:
    text: str
    exported: dict[str, Any]  # the template's top-level {% set %} values: chart labels, role names, …
    context: dict[str, Any]
    metrics: IncidentMetrics


def report_environment(root: Path) -> SandboxedEnvironment:
    """The sandbox the report renders in: the company's messages first, the shipped defaults second."""
    loader = ChoiceLoader([FileSystemLoader(str(root)), FileSystemLoader(str(default_dir("messages")))])
    return SandboxedEnvironment(loader=loader, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _render(desk: Desk, incident: Incident, language: str, user_names: dict[str, str],
            chart: str | None) -> _Rendered:
    metrics = incident_metrics(desk, incident)
    context = report_context(desk, incident, metrics, language, user_names, chart)
    root = desk.messages.root
    path = report_template_path(language)
    env = report_environment(root)
    try:
        module = env.get_template(path).make_module(context)
    except TemplateNotFound:
        raise ConfigError([f"{root / path}:1: report template missing — valid languages have one, "
                           "e.g. messages/en/report.md.j2"]) from None
    except SecurityError:
        raise  # a template reaching for Python is not a typo to explain
    except Exception as exc:  # a broken edit of the template: name the file and line, never a traceback
        message = exc.message if isinstance(exc, TemplateError) and exc.message else str(exc)
        raise ConfigError([f"{root / path}:{_template_line(exc, path)}: {message}"]) from exc
    exported = {k: v for k, v in vars(module).items() if not k.startswith("_")}
    return _Rendered(tidy(str(module)) + "\n", exported, context, metrics)


def _template_line(exc: Exception, path: str) -> int:
    line = getattr(exc, "lineno", None)
    if line:
        return int(line)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(path)]
    return (frames[-1].lineno or 1) if frames else 1


class _Format:
    """Numbers, times and people the way the reader's language writes them, in the company's timezone."""

    def __init__(self, desk: Desk, incident: Incident, language: str, user_names: dict[str, str]) -> None:
        self.language, self.tz, self.names, self.incident = language, desk.settings.tz, user_names, incident
        self.locale = locale_of(language)

    def minutes(self, value: float | None) -> str | None:
        """`25.0` / `25,0`."""
        return None if value is None else format_decimal(value, format="#,##0.0", locale=self.locale)

    def whole(self, value: float) -> str:
        return format_decimal(round(value), format="#,##0", locale=self.locale)

    def words(self, minutes: float | None) -> str | None:
        """`25 minutes` / `25 minuten`; `3 hours` from two hours on."""
        return None if minutes is None else duration(timedelta(minutes=minutes), self.language)

    def time(self, when: datetime, with_date: bool = False) -> str:
        if with_date:
            return format_datetime(when.astimezone(self.tz), "d MMM HH:mm", locale=self.locale)
        return local_time(when, self.language, self.tz)

    def moment(self, when: datetime) -> str:
        """A full date and time: `14 Mar 2026, 10:00`."""
        return format_datetime(when.astimezone(self.tz), "d MMM y, HH:mm", locale=self.locale)

    def person(self, user: str | None) -> str:
        """A name from `user_names`, else the plain user id; never a Slack mention."""
        if not user:
            return ""
        return self.names.get(user, user)

    def text(self, value: Any) -> str:
        """Free text with Slack's mentions, channel links and links turned into plain words."""
        text = "" if value is None else str(value)
        text = MENTION.sub(lambda m: self.person(m.group(1)), text)
        text = CHANNEL.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
        return LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(2) else m.group(1), text)


def report_context(desk: Desk, incident: Incident, metrics: IncidentMetrics, language: str,
                   user_names: dict[str, str], chart: str | None) -> dict[str, Any]:
    """Every fact the report template shows, as plain dicts and already formatted strings."""
    f = _Format(desk, incident, language, user_names)
    book = desk.playbooks.get(incident.scenario)
    events = desk.store.events(incident.id)
    return {
        "language": language,
        "company": desk.settings.company.name,
        "timezone": desk.settings.company.timezone,
        "incident": _header(incident, metrics, f, book.name.in_(language) if book else incident.scenario),
        "resolution": {"summary": f.text(metrics.summary) if metrics.summary else "",
                       "impact": f.text(metrics.impact) if metrics.impact else "",
                       "lessons": f.text(metrics.lessons) if metrics.lessons else ""},
        "metrics": _key_metrics(metrics, f),
        "counts": {"reminders": metrics.reminders, "deadlines_missed": metrics.deadlines_missed,
                   "ack_escalations": metrics.ack_escalations, "update_reminders": metrics.update_reminders,
                   "refused": metrics.refused, "rejections": metrics.rejections},
        "roles": [_role(r, f) for r in metrics.roles],
        "approvals": [{"role": lat.role, "count": lat.count, "median": f.minutes(lat.median_minutes),
                       "max": f.minutes(lat.max_minutes)} for lat in metrics.approval_latency.values()],
        "updates": _updates(metrics, f, book.level(incident.level).update_every_minutes if book else None),
        "escalations": [{"time": f.time(c.at), "offset": f.minutes(c.minutes), "actor": f.person(c.actor),
                         "from": c.from_level, "to": c.to_level, "up": c.to_level > c.from_level,
                         "new_roles": c.new_roles} for c in metrics.escalations],
        "timeline": _timeline(events, incident, f),
        "checklist_items": {item.id: item.text.in_(language) for item in book.checklist.all_items()} if book else {},
        "survey": {"responses": metrics.survey.responses, "q1": f.minutes(metrics.survey.q1_mean),
                   "q2": f.minutes(metrics.survey.q2_mean), "comments": [f.text(c) for c in metrics.survey.comments]},
        "hints": [{"id": h.id, "roles": h.roles} for h in metrics.hints],
        "chart_file": chart,
    }


def _header(incident: Incident, metrics: IncidentMetrics, f: _Format, scenario_name: str) -> dict[str, Any]:
    return {
        "code": incident.code, "title": f.text(incident.title), "description": f.text(incident.description),
        "scenario": incident.scenario, "scenario_name": scenario_name, "levels": metrics.levels,
        "drill": incident.drill, "resolved": incident.status == "resolved" or metrics.resolved_at is not None,
        "declared_by": f.person(incident.declared_by), "declared_at": f.moment(incident.declared_at),
        "detected_at": f.moment(incident.detected_at),
        "resolved_at": f.moment(metrics.resolved_at) if metrics.resolved_at else None,
        "duration": f.words(metrics.resolved_minutes),
    }


def _key_metrics(metrics: IncidentMetrics, f: _Format) -> dict[str, Any]:
    return {
        "detection_to_declaration": f.minutes(metrics.detection_to_declaration_minutes),
        "all_acknowledged": f.minutes(metrics.all_acknowledged_minutes),
        "first_approved": f.minutes(metrics.first_approved_minutes),
        "first_response": f.minutes(metrics.first_response_minutes),
        "first_response_words": f.words(metrics.first_response_minutes),
        "first_response_target": f.words(metrics.first_response_target_minutes),
        "first_response_met": metrics.first_response_met,
        "first_response_network": metrics.first_response_network,
        "resolved": f.minutes(metrics.resolved_minutes),
        "authority_notified": f.words(metrics.authority_notified_minutes),
        "updates_kept": metrics.updates_kept,
        "updates_missed": metrics.updates_missed,
    }


def _role(seat: Any, f: _Format) -> dict[str, Any]:
    return {"role": seat.role, "user": f.person(seat.user),
            "paged": f.minutes(seat.paged_minutes) if seat.paged_minutes else None,
            "minutes": f.minutes(seat.minutes), "window": f.words(seat.window_minutes),
            "within": seat.within_window}


def _updates(metrics: IncidentMetrics, f: _Format, cadence: int | None) -> dict[str, Any]:
    return {
        "cadence": f.words(cadence),
        "kept": metrics.updates_kept,
        "missed": metrics.updates_missed,
        "gaps": [{"time": f.time(u.at), "minutes": f.minutes(u.minutes), "allowed": f.words(u.allowed_minutes),
                  "kept": u.kept, "until_resolution": u.until_resolution} for u in metrics.updates],
    }


def _timeline(events: list[Event], incident: Incident, f: _Format) -> list[dict[str, Any]]:
    """Every event in order, with people as names or plain ids and times in the company's timezone."""
    days = {e.at.astimezone(f.tz).date() for e in events}
    with_date = len(days) > 1
    rows = []
    for event in events:
        data = dict(event.data)
        for key in TEXT_FIELDS:
            if key in data:
                data[key] = f.text(data[key])
        if "user" in data:
            data["user"] = f.person(str(data["user"]))
        if isinstance(data.get("minutes"), int | float):
            data["minutes"] = f.minutes(data["minutes"])
        for key in ("due", "detected_at"):
            if isinstance(data.get(key), str):
                data[key] = _clock(data[key], f)
        rows.append({"time": f.time(event.at, with_date),
                     "offset": f.whole(max(0.0, minutes_between(incident.detected_at, event.at))),
                     "actor": f.person(event.actor), "bot": event.actor == "bot", "kind": event.kind, "data": data})
    return rows


def _clock(value: str, f: _Format) -> str:
    try:
        return f.time(datetime.fromisoformat(value))
    except ValueError:
        return value


# ---- the chart -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Marker:
    row: str
    minutes: float
    label: str


def _chart_markers(events: list[Event], incident: Incident, exported: dict[str, Any]) -> list[_Marker]:
    roles = exported.get("role_names", {})
    networks = exported.get("network_names", {})
    first_posted = True
    markers = [_Marker("declared", 0.0, exported["chart"]["detected"])]
    for e in events:
        at = minutes_between(incident.detected_at, e.at)
        if e.kind == "declared":
            markers.append(_Marker("declared", at, exported["chart"]["declared"]))
        elif e.kind == "acknowledged":
            markers.append(_Marker("acknowledged", at, roles.get(e.data.get("role"), e.data.get("role", ""))))
        elif e.kind == "draft_ready" or (e.kind == "approval_rule_changed" and e.data.get("status") == "approved"):
            markers.append(_Marker("approved", at, networks.get(e.data.get("network"), e.data.get("network", ""))))
        elif e.kind == "posted":
            label = networks.get(e.data.get("network"), e.data.get("network", ""))
            markers.append(_Marker("first_response" if first_posted else "posted", at, label))
            first_posted = False
        elif e.kind in ("escalated", "deescalated"):
            markers.append(_Marker("level", at, f"{e.data.get('from')}→{e.data.get('to')}"))
    return markers


def _chart_labels(exported: dict[str, Any], path: str) -> dict[str, str]:
    labels = exported.get("chart")
    if not isinstance(labels, dict) or not set(CHART_LABELS) <= set(labels):
        wanted = ", ".join(f'"{key}": "…"' for key in CHART_LABELS)
        raise ConfigError([f"{path}:1: the report needs `{{% set chart = {{{wanted}}} %}}` at top level"])
    return {key: str(labels[key]) for key in CHART_LABELS}


def _draw_chart(desk: Desk, incident: Incident, rendered: _Rendered, path: Path) -> None:
    """Markers per row along minutes since detection, with the first-response target as a vertical line."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the chart is a file
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = _chart_labels(rendered.exported, report_template_path(rendered.context["language"]))
    metrics = rendered.metrics
    events = desk.store.events(incident.id)
    markers = _chart_markers(events, incident, {**rendered.exported, "chart": labels})
    target = metrics.first_response_target_minutes
    last = max((m.minutes for m in markers), default=0.0)
    right = min(CHART_MAX_MINUTES, max(target * 1.25, last * 1.08 + 5))
    shown = [m for m in markers if m.minutes <= right]

    figure = Figure(figsize=CHART_SIZE_INCHES, dpi=CHART_DPI)
    FigureCanvasAgg(figure)
    figure.subplots_adjust(left=0.15, right=0.98, top=0.88, bottom=0.2)
    axes = figure.add_subplot()
    rows = ["declared", "acknowledged", "approved", "posted", "level"]
    styles = {"declared": ("D", "#555555"), "acknowledged": ("o", "#1f77b4"), "approved": ("^", "#2ca02c"),
              "posted": ("s", "#9467bd"), "first_response": ("*", "#9467bd"), "level": ("P", "#d62728")}
    y_of = {row: len(rows) - 1 - i for i, row in enumerate(rows)}
    per_row: dict[str, int] = {}
    for marker in shown:
        row = "posted" if marker.row == "first_response" else marker.row
        shape, color = styles[marker.row]
        size = 180 if marker.row == "first_response" else 60
        axes.scatter([marker.minutes], [y_of[row]], marker=shape, s=size, color=color, zorder=3)
        nth = per_row[row] = per_row.get(row, -1) + 1  # alternate above and below: neighbours stay readable
        axes.annotate(marker.label, (marker.minutes, y_of[row]), xytext=(0, 9 if nth % 2 == 0 else -15),
                      textcoords="offset points", ha="center", fontsize=8, color="#333333")
    axes.axvline(target, color="#d62728", linestyle="--", linewidth=1.5, zorder=2)
    if target < right:
        axes.axvspan(target, right, color="#d62728", alpha=0.05, zorder=0)
    axes.annotate(f"{labels['target']}: {round(target)} min", (target, len(rows) - 0.45), xytext=(4, 0),
                  textcoords="offset points", color="#d62728", ha="left", fontsize=9)
    axes.set_yticks([y_of[r] for r in rows], [labels[r] for r in rows])
    axes.set_ylim(-0.7, len(rows) - 0.2)
    axes.set_xlim(-right * 0.02, right)
    axes.set_xticks(_ticks(right), [_tick_label(m, incident, desk) for m in _ticks(right)])
    axes.set_xlabel(labels["x_axis"])
    axes.grid(axis="x", color="#dddddd", zorder=0)
    axes.set_title(f"{incident.code} · {rendered.context['incident']['scenario_name']} — {labels['title']}",
                   fontsize=12)
    if len(shown) < len(markers):
        figure.text(0.98, 0.02, labels["later"], ha="right", fontsize=8, color="#777777")
    figure.savefig(path, format="png", dpi=CHART_DPI, metadata={"Software": None})


def _ticks(right: float) -> list[float]:
    step = 10 if right <= 90 else 15 if right <= 150 else 30 if right <= 240 else 60
    return [float(m) for m in range(0, int(right) + 1, step)]


def _tick_label(minutes: float, incident: Incident, desk: Desk) -> str:
    clock = local_time(incident.detected_at + timedelta(minutes=minutes), "en", desk.settings.tz)
    return f"{round(minutes)}\n{clock}"
