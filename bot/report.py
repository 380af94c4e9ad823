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
from jinja2 import ChoiceLoader, FileSystemLoader, TemplateError, TemplateNotFound
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from bot import signals
from bot.afteraction import after_action
from bot.clock import parse_iso
from bot.config import default_dir
from bot.errors import ConfigError
from bot.ids import LANGUAGES
from bot.incidents import gdpr
from bot.incidents.desk import Desk
from bot.incidents.metrics import IncidentMetrics, RoleAck, incident_metrics, minutes_between
from bot.messages import duration, local_time, locale_of, tidy
from bot.models import Event, Incident
from bot.templating import sandbox

CHART_SIZE_INCHES = (10.0, 4.0)
CHART_DPI = 100  # 1000 × 400 pixels
CHART_MAX_MINUTES = 360.0  # "the first hours": later events stay in the Markdown timeline only
CHART_LABELS = (
    "title",
    "x_axis",
    "target",
    "detected",
    "declared",
    "not_acknowledged",
    "approved",
    "posted",
    "level",
    "later",
)
MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
CHANNEL = re.compile(r"<#(C[A-Z0-9]+)(?:\|([^>]*))?>")
LINK = re.compile(r"<(https?://[^|>]+)(?:\|([^>]*))?>")
TEXT_FIELDS = ("text", "reason", "summary", "impact", "lessons", "title")


def report_template_path(language: str) -> str:
    """The report template's path below the messages folder."""
    return f"{language}/report.md.j2"


def render_report(
    desk: Desk, incident: Incident, language: str, user_names: dict[str, str] | None = None, chart: str | None = None
) -> str:
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


def write_report(
    desk: Desk, incident: Incident, language: str, output: Path | None = None, user_names: dict[str, str] | None = None
) -> tuple[Path, Path]:
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
    return sandbox("document", loader)


def _render(desk: Desk, incident: Incident, language: str, user_names: dict[str, str], chart: str | None) -> _Rendered:
    metrics = incident_metrics(desk, incident)
    context = report_context(desk, incident, metrics, language, user_names, chart)
    root = desk.messages.root
    path = report_template_path(language)
    env = report_environment(root)
    try:
        module = env.get_template(path).make_module(context)
    except TemplateNotFound:
        valid = ", ".join(LANGUAGES)
        raise ConfigError(
            [f"{root / path}:1: no report template for {language!r} — valid languages: {valid}"]
        ) from None
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

    def __init__(self, desk: Desk, language: str, user_names: dict[str, str], events: list[Event]) -> None:
        self.language, self.tz, self.names = language, desk.settings.tz, user_names
        self.locale = locale_of(language)
        # An incident that ran past midnight shows the date with every time, not just the clock.
        self.with_date = len({e.at.astimezone(self.tz).date() for e in events}) > 1

    def minutes(self, value: float | None) -> str | None:
        """`25.0` / `25,0`."""
        return None if value is None else format_decimal(value, format="#,##0.0", locale=self.locale)

    def whole(self, value: float) -> str:
        return format_decimal(round(value), format="#,##0", locale=self.locale)

    def words(self, minutes: float | None) -> str | None:
        """`25 minutes` / `25 minuten`; `3 hours` from two hours on."""
        return None if minutes is None else duration(timedelta(minutes=minutes), self.language)

    def time(self, when: datetime) -> str:
        """`10:25`, or `14 Mar 10:25` when the incident spans more than one day."""
        if self.with_date:
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


def report_context(
    desk: Desk,
    incident: Incident,
    metrics: IncidentMetrics,
    language: str,
    user_names: dict[str, str],
    chart: str | None,
) -> dict[str, Any]:
    """Every fact the report template shows, as plain dicts and already formatted strings."""
    events = desk.store.events(incident.id)
    f = _Format(desk, language, user_names, events)
    book = desk.playbooks.get(incident.scenario)
    return {
        "language": language,
        "company": desk.settings.company.name,
        "timezone": desk.settings.company.timezone,
        "incident": _header(incident, metrics, f, book.name.in_(language) if book else incident.scenario),
        "resolution": {
            "summary": f.text(metrics.summary) if metrics.summary else "",
            "impact": f.text(metrics.impact) if metrics.impact else "",
            "lessons": f.text(metrics.lessons) if metrics.lessons else "",
        },
        "metrics": _key_metrics(metrics, f),
        "authority": _authority(desk, incident, f),
        "counts": {
            "reminders": metrics.reminders,
            "deadlines_missed": metrics.deadlines_missed,
            "ack_escalations": metrics.ack_escalations,
            "update_reminders": metrics.update_reminders,
            "refused": metrics.refused,
            "rejections": metrics.rejections,
        },
        "roles": [_role(r, f) for r in metrics.roles],
        "approvals": [
            {
                "role": lat.role,
                "count": lat.count,
                "median": f.minutes(lat.median_minutes),
                "max": f.minutes(lat.max_minutes),
            }
            for lat in metrics.approval_latency.values()
        ],
        "updates": _updates(metrics, f, book.level(incident.level).update_every_minutes if book else None),
        "escalations": [
            {
                "time": f.time(c.at),
                "offset": f.minutes(c.minutes),
                "actor": f.person(c.actor),
                "from": c.from_level,
                "to": c.to_level,
                "up": c.to_level > c.from_level,
                "new_roles": c.new_roles,
            }
            for c in metrics.escalations
        ],
        "timeline": _timeline(events, incident, f),
        "detection": signals.detection(desk, incident, f.minutes, f.moment),
        "sources": signals.sources(desk),
        "checklist_items": {item.id: item.text.in_(language) for item in book.checklist.all_items()} if book else {},
        "survey": {
            "responses": metrics.survey.responses,
            "q1": f.minutes(metrics.survey.q1_mean),
            "q2": f.minutes(metrics.survey.q2_mean),
            "comments": [f.text(c) for c in metrics.survey.comments],
        },
        "hints": [{"id": h.id, "roles": h.roles} for h in metrics.hints],
        "chart_file": chart,
        "drill": after_action(desk, incident, language, f.minutes, f.person) if incident.drill else None,
    }


def _header(incident: Incident, metrics: IncidentMetrics, f: _Format, scenario_name: str) -> dict[str, Any]:
    return {
        "code": incident.code,
        "title": f.text(incident.title),
        "description": f.text(incident.description),
        "scenario": incident.scenario,
        "scenario_name": scenario_name,
        "levels": metrics.levels,
        "drill": incident.drill,
        "resolved": incident.status == "resolved" or metrics.resolved_at is not None,
        "declared_by": f.person(incident.declared_by),
        "declared_at": f.moment(incident.declared_at),
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


def _authority(desk: Desk, incident: Incident, f: _Format) -> dict[str, Any] | None:
    """The GDPR notification duty, judged now: on time, late, missed (deadline passed, none recorded) or open."""
    found = gdpr.duty(desk, incident)
    if found is None:
        return None
    if found.notified_at is not None:
        status = "late" if found.late else "on_time"
    else:
        status = "missed" if found.missed(desk.now()) else "open"
    return {
        "status": status,
        "deadline": f.moment(found.deadline),
        "notified_at": f.moment(found.notified_at) if found.notified_at else None,
        "open_at_resolve": found.open_at_resolve,
    }


def _role(seat: RoleAck, f: _Format) -> dict[str, Any]:
    return {
        "role": seat.role,
        "user": f.person(seat.user),
        "paged": f.minutes(seat.paged_minutes) if seat.paged_minutes else None,
        "minutes": f.minutes(seat.minutes),
        "window": f.words(seat.window_minutes),
        "within": seat.within_window,
    }


def _updates(metrics: IncidentMetrics, f: _Format, cadence: int | None) -> dict[str, Any]:
    return {
        "cadence": f.words(cadence),
        "kept": metrics.updates_kept,
        "missed": metrics.updates_missed,
        "gaps": [
            {
                "time": f.time(u.at),
                "minutes": f.minutes(u.minutes),
                "allowed": f.words(u.allowed_minutes),
                "kept": u.kept,
                "until_resolution": u.until_resolution,
            }
            for u in metrics.updates
        ],
    }


def _timeline(events: list[Event], incident: Incident, f: _Format) -> list[dict[str, Any]]:
    """Every event in order, with people as names or plain ids and times in the company's timezone."""
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
        for key in ("due", "detected_at", "notified_at", "deadline"):
            if isinstance(data.get(key), str):
                data[key] = _clock(data[key], f)
        rows.append(
            {
                "time": f.time(event.at),
                "offset": f.whole(max(0.0, minutes_between(incident.detected_at, event.at))),
                "actor": f.person(event.actor),
                "bot": event.actor == "bot",
                "kind": event.kind,
                "data": data,
            }
        )
    return rows


def _clock(value: str, f: _Format) -> str:
    try:
        return f.time(parse_iso(value))
    except ValueError:
        return value


# ---- the chart -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Marker:
    row: str  # declared | approved | posted | first_response | level
    minutes: float  # since detection
    label: str


@dataclass(frozen=True)
class _Span:
    """A role from being paged to acknowledging (`end` None: never acknowledged)."""

    label: str
    start: float
    end: float | None


STYLES = {
    "declared": ("D", "#555555"),
    "approved": ("^", "#2ca02c"),
    "posted": ("s", "#9467bd"),
    "first_response": ("*", "#9467bd"),
    "level": ("P", "#d62728"),
}
ACK_COLOR, MISSING_COLOR, TARGET_COLOR = "#1f77b4", "#d62728", "#d62728"


def _chart_markers(
    events: list[Event], incident: Incident, labels: dict[str, str], networks: dict[str, str]
) -> list[_Marker]:
    """Detection, declaration, each draft fully approved, each post and each level change."""
    markers = [_Marker("declared", 0.0, labels["detected"])]
    posted_before = False
    for e in events:
        at = minutes_between(incident.detected_at, e.at)
        raw = e.data.get("network", "")
        network = str(networks.get(str(raw), raw))
        if e.kind == "declared":
            markers.append(_Marker("declared", at, labels["declared"]))
        elif e.kind == "draft_ready" or (e.kind == "approval_rule_changed" and e.data.get("status") == "approved"):
            markers.append(_Marker("approved", at, network))
        elif e.kind == "posted":
            markers.append(_Marker("posted" if posted_before else "first_response", at, network))
            posted_before = True
        elif e.kind in ("escalated", "deescalated"):
            markers.append(_Marker("level", at, f"{e.data.get('from')}→{e.data.get('to')}"))
    return markers


def _role_spans(metrics: IncidentMetrics, role_names: dict[str, str]) -> list[_Span]:
    offset = metrics.detection_to_declaration_minutes
    return [
        _Span(
            str(role_names.get(r.role, r.role)),
            offset + r.paged_minutes,
            None if r.minutes is None else offset + r.paged_minutes + r.minutes,
        )
        for r in metrics.roles
    ]


def _chart_labels(exported: dict[str, Any], path: str) -> dict[str, str]:
    labels = exported.get("chart")
    if not isinstance(labels, dict) or not set(CHART_LABELS) <= set(labels):
        wanted = ", ".join(f'"{key}": "…"' for key in CHART_LABELS)
        raise ConfigError([f"{path}:1: the report needs `{{% set chart = {{{wanted}}} %}}` at top level"])
    return {key: str(labels[key]) for key in CHART_LABELS}


def _draw_chart(desk: Desk, incident: Incident, rendered: _Rendered, path: Path) -> None:
    """One row per role (paged → acknowledged) between rows of milestones, along minutes since detection."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the chart is a file
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = _chart_labels(rendered.exported, report_template_path(rendered.context["language"]))
    markers = _chart_markers(
        desk.store.events(incident.id), incident, labels, dict(rendered.exported.get("network_names") or {})
    )
    spans = _role_spans(rendered.metrics, dict(rendered.exported.get("role_names") or {}))
    target = rendered.metrics.first_response_target_minutes
    last = max([m.minutes for m in markers] + [s.end or s.start for s in spans])
    right = min(CHART_MAX_MINUTES, max(target * 1.25, last * 1.08 + 5))

    figure = Figure(figsize=CHART_SIZE_INCHES, dpi=CHART_DPI)
    FigureCanvasAgg(figure)
    figure.subplots_adjust(left=0.2, right=0.98, top=0.9, bottom=0.17)
    axes = figure.add_subplot()
    rows = ["declared", *(f"role:{i}" for i in range(len(spans))), "approved", "posted", "level"]
    y_of = {row: len(rows) - 1 - i for i, row in enumerate(rows)}
    _draw_spans(axes, spans, [y_of[f"role:{i}"] for i in range(len(spans))], right, labels)
    _draw_markers(axes, [m for m in markers if m.minutes <= right], y_of, right)
    axes.axvline(target, color=TARGET_COLOR, linestyle="--", linewidth=1.5, zorder=2)
    if target < right:
        axes.axvspan(target, right, color=TARGET_COLOR, alpha=0.05, zorder=0)
    axes.annotate(
        f"{labels['target']}: {round(target)} min",
        (target, len(rows) - 0.5),
        xytext=(4, 0),
        textcoords="offset points",
        color=TARGET_COLOR,
        ha="left",
        va="center",
        fontsize=9,
    )
    names = {
        "declared": labels["declared"],
        "approved": labels["approved"],
        "posted": labels["posted"],
        "level": labels["level"],
        **{f"role:{i}": span.label for i, span in enumerate(spans)},
    }
    axes.set_yticks([y_of[r] for r in rows], [names[r] for r in rows], fontsize=9)
    axes.set_ylim(-0.7, len(rows) - 0.1)
    axes.set_xlim(-right * 0.02, right)
    ticks = _ticks(right)
    axes.set_xticks(ticks, [_tick_label(m, incident, desk) for m in ticks], fontsize=8)
    axes.set_xlabel(labels["x_axis"], fontsize=9)
    axes.grid(axis="x", color="#dddddd", zorder=0)
    axes.set_title(
        f"{incident.code} · {rendered.context['incident']['scenario_name']} — {labels['title']}", fontsize=12
    )
    if any(m.minutes > right for m in markers) or any((s.end or 0) > right for s in spans):
        figure.text(0.98, 0.01, labels["later"], ha="right", fontsize=8, color="#777777")
    figure.savefig(path, format="png", dpi=CHART_DPI, metadata={"Software": None})


def _draw_spans(axes: Any, spans: list[_Span], ys: list[int], right: float, labels: dict[str, str]) -> None:
    """A bar from paging to acknowledging; a dotted red one to the edge for a role nobody took."""
    for span, y in zip(spans, ys, strict=True):
        if span.end is None:
            axes.plot([span.start, right], [y, y], color=MISSING_COLOR, linestyle=":", linewidth=2, zorder=2)
            axes.annotate(
                labels["not_acknowledged"],
                (right, y),
                xytext=(-4, 4),
                textcoords="offset points",
                ha="right",
                fontsize=8,
                color=MISSING_COLOR,
            )
        elif span.end <= right:
            axes.plot([span.start, span.end], [y, y], color=ACK_COLOR, linewidth=2.5, alpha=0.5, zorder=2)
            axes.scatter([span.end], [y], marker="o", s=45, color=ACK_COLOR, zorder=3)
        else:
            axes.plot([span.start, right], [y, y], color=ACK_COLOR, linewidth=2.5, alpha=0.5, zorder=2)


def _draw_markers(axes: Any, markers: list[_Marker], y_of: dict[str, int], right: float) -> None:
    """The milestone markers; labels of markers close together are joined, so they never overprint."""
    for marker in markers:
        row = "posted" if marker.row == "first_response" else marker.row
        shape, color = STYLES[marker.row]
        axes.scatter(
            [marker.minutes],
            [y_of[row]],
            marker=shape,
            s=170 if marker.row == "first_response" else 55,
            color=color,
            zorder=3,
        )
    for row in ("declared", "approved", "posted", "level"):
        in_row = sorted(
            (m for m in markers if m.row == row or (row == "posted" and m.row == "first_response")),
            key=lambda m: m.minutes,
        )
        for group in _close_together(in_row, right * 0.04):
            text = ", ".join(dict.fromkeys(m.label for m in group if m.label))
            x = (group[0].minutes + group[-1].minutes) / 2
            axes.annotate(
                text,
                (x, y_of[row]),
                xytext=(0, 7),
                textcoords="offset points",
                ha="center",
                fontsize=8,
                color="#333333",
            )


def _close_together(markers: list[_Marker], gap: float) -> list[list[_Marker]]:
    groups: list[list[_Marker]] = []
    for marker in markers:
        if groups and marker.minutes - groups[-1][-1].minutes <= gap:
            groups[-1].append(marker)
        else:
            groups.append([marker])
    return groups


def _ticks(right: float) -> list[float]:
    step = 10 if right <= 90 else 15 if right <= 150 else 30 if right <= 240 else 60
    return [float(m) for m in range(0, int(right) + 1, step)]


def _tick_label(minutes: float, incident: Incident, desk: Desk) -> str:
    clock = local_time(incident.detected_at + timedelta(minutes=minutes), "en", desk.settings.tz)
    return f"{round(minutes)}\n{clock}"
