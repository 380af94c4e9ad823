"""`history`: a workspace with years behind it answers as fast as a new one.

One real incident is played through the real bot first (declare, acknowledgements, checklist, approvals, the
first public post, notes and internal updates, an escalation, timers firing, resolve): about a hundred
timeline events and every table's rows a real incident leaves. That incident is the template: the history
database gets `history_incidents` copies of it (resolved, spread over five years, every id, code, channel,
time and reference shifted, one in ten private) by bulk inserts through bot/store.py, in seconds instead of
10,000 declares. The "empty" database gets one copy, the same code path. Then a bot on each declares the same
`history_active` live incidents for real, and the same requests go to both bots in turn (so machine noise hits
both alike): `/crisis list`, `/crisis status` outside and inside an incident channel, App Home opened, a
declare, and the `crisisbot report` of the most recent resolved incident (open the desk, find it, write the
Markdown and chart, as the command does, in this process: the interpreter's start-up is not the database's).
The figure is the median with history over the median without; the target is 1.2.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.config import Config
from bench.figures import Outcome, summary_ms
from bench.team import DECLARER, ID, latest, staff
from bot.clock import ManualClock, parse_iso
from bot.config import load_settings
from bot.incidents import open_desk
from bot.localdesk import BOT_TOKEN, SIGNING_SECRET, LocalCrisisDesk, start_local
from bot.report import write_report
from bot.store import Store

TARGET_RATIO = 1.2
SPAN = timedelta(days=5 * 365)
SCENARIO = "data-breach"
LEAD = "anna"  # crisis lead: part of every incident, so their Home shows the most
NOTES, UPDATES = 50, 10  # the template's timeline: with the bot's own events, about a hundred
TABLES = ("events", "drafts", "approvals", "acks", "timers", "outbox", "checklist", "deliveries")
TIME_FIELDS = {
    "incidents": ("declared_at", "detected_at", "first_response_due", "first_response_at", "resolved_at"),
    "events": ("at",),
    "drafts": ("created_at", "updated_at", "posted_at", "promised_at"),
    "approvals": ("at",),
    "acks": ("at",),
    "timers": ("due_at", "fired_at", "cancelled_at"),
    "outbox": ("created_at", "sent_at", "next_attempt_at", "failed_at"),
    "checklist": ("done_at",),
    "deliveries": ("at",),
}


# ---- the template: one incident played for real ----------------------------------------------------------------
def play_template(local: LocalCrisisDesk, clock: ManualClock) -> int:
    """A data-breach crisis from declare to resolve, through signed requests; returns its id."""
    emulator, store = local.emulator, local.desk.store

    def command(who: str, text: str, channel: str | None = None) -> None:
        emulator.slash_command(ID[who], text, channel_id=channel)
        local.settle(timeout=60)

    def click(who: str, action: str, channel: str, ts: str) -> None:
        emulator.click(ID[who], action, channel_id=channel, ts=ts)
        local.settle(timeout=60)

    def later(minutes: int) -> None:
        clock.advance(minutes=minutes)
        local.tick()  # reminders, redraws and escalation prompts fire as they would

    command(DECLARER, f"declare {SCENARIO} 2 Customer emails exposed on a partner portal")
    incident = latest(local)
    channel = str(incident.room_ref)
    for who in ("anna", "chen", "dewi"):
        later(2)
        dm = emulator.dm_channel_of(ID[who])
        click(who, "acknowledge", str(dm), emulator.dms(ID[who])[-1]["ts"])
    header = str(store.delivery(f"{incident.id}:header"))
    for _ in local.desk.playbook(SCENARIO).checklist.first_hour:
        later(1)
        click(DECLARER, "checklist_done", channel, header)
    for draft in store.drafts(incident.id):
        for who in ("anna", "chen"):
            later(1)
            click(who, "draft_approve", channel, str(draft.message_ref))
    x = next(d for d in store.drafts(incident.id) if d.network == "x")
    click(DECLARER, "draft_mark_posted", channel, str(x.message_ref))
    for n in range(NOTES):
        later(3)
        command("dewi", f"note Call {n} with the partner: logs checked, nothing new leaked", channel)
        if n % (NOTES // UPDATES) == 0:
            command(LEAD, f"update Update {n}: the portal stays closed while we check the logs", channel)
    command(LEAD, "escalate 3", channel)
    later(30)
    command(LEAD, "gdpr notified", channel)  # handled long ago: the GDPR clock outlives a resolve until then
    command(LEAD, "resolve", channel)
    view = emulator.open_view(ID[LEAD])
    assert view is not None, "the resolve form did not open"
    text = {"type": "plain_text_input"}
    emulator.submit_view(
        ID[LEAD],
        view["id"],
        {
            "summary": {"value": {**text, "value": "The partner portal is closed; no further data left it."}},
            "impact": {"value": {**text, "value": "About 1,200 customers' email addresses were visible."}},
            "lessons": {"value": {**text, "value": "Partner access needs a review every quarter."}},
        },
    )
    local.settle(timeout=60)
    return incident.id


@dataclass
class Template:
    incident: dict[str, Any]
    rows: dict[str, list[dict[str, Any]]]  # table → the incident's rows (ids dropped where the table makes them)


def read_template(store: Store, incident_id: int) -> Template:
    db = store.db
    incident = db["incidents"].get(incident_id)
    drafts = list(db["drafts"].rows_where("incident_id = ?", [incident_id], order_by="id"))
    rows: dict[str, list[dict[str, Any]]] = {"drafts": drafts}
    draft_ids = [d["id"] for d in drafts]
    marks = ", ".join("?" * len(draft_ids))
    rows["approvals"] = list(db["approvals"].rows_where(f"draft_id IN ({marks})", draft_ids, order_by="id"))
    for table in TABLES:
        if table not in rows:
            rows[table] = list(db[table].rows_where("incident_id = ?", [incident_id]))
    for table in ("events", "approvals", "timers", "outbox"):  # their ids are the table's to give
        for row in rows[table]:
            row.pop("id", None)
    return Template(incident, rows)


# ---- the copies ---------------------------------------------------------------------------------------------------
@dataclass
class Prepared:
    """A template row with its times as offsets from the template's declare, so a copy only adds a new start."""

    row: dict[str, Any]
    times: list[tuple[str, timedelta]]


def _prepare(row: dict[str, Any], fields: tuple[str, ...], base: datetime) -> Prepared:
    times = [(f, parse_iso(row[f]) - base) for f in fields if row.get(f)]
    return Prepared({k: v for k, v in row.items() if k not in dict(times)}, times)


def _at(start: datetime, prepared: Prepared) -> dict[str, Any]:
    copy = dict(prepared.row)
    for field, offset in prepared.times:
        copy[field] = (start + offset).isoformat() + "+00:00"  # naive UTC + suffix: as the store writes them
    return copy


def build_history(store: Store, template: Template, count: int, end: datetime) -> None:
    """`count` resolved copies of the template, the last one declared a day before `end`."""
    base = parse_iso(template.incident["declared_at"])
    first = (end - timedelta(days=1) - SPAN).replace(tzinfo=None)
    step = SPAN / max(count, 1)
    incident = _prepare(template.incident, TIME_FIELDS["incidents"], base)
    prepared = {t: [_prepare(r, TIME_FIELDS[t], base) for r in template.rows[t]] for t in TABLES}
    tables: dict[str, list[dict[str, Any]]] = {t: [] for t in ("incidents", *TABLES)}
    per_year: dict[int, int] = {}
    names: set[str] = set()
    old_id = template.incident["id"]
    for k in range(count):
        new_id, declared = k + 1, first + step * (k + 1)
        per_year[declared.year] = number = per_year.get(declared.year, 0) + 1
        name = f"crisis-{declared:%Y%m%d}-{SCENARIO}"
        name = name if name not in names else f"{name}-{number:03d}"
        names.add(name)
        row = _at(declared, incident)
        row.update(
            id=new_id,
            code=f"CR-{declared.year}-{number:03d}",
            room_ref=f"CH{new_id:08d}",
            room_name=name,
            private=int(k % 10 == 9),
        )
        tables["incidents"].append(row)
        draft_ids = {d.row["id"]: new_id * 100 + j for j, d in enumerate(prepared["drafts"])}
        for table in TABLES:
            for item in prepared[table]:
                copy = _at(declared, item)
                if "incident_id" in copy:
                    copy["incident_id"] = new_id
                if table == "drafts":
                    copy["id"] = draft_ids[copy["id"]]
                elif table == "approvals":
                    copy["draft_id"] = draft_ids[copy["draft_id"]]
                elif table == "events" and '"draft_id"' in (copy["data"] or ""):
                    data = json.loads(copy["data"])
                    data["draft_id"] = draft_ids.get(data["draft_id"], data["draft_id"])
                    copy["data"] = json.dumps(data)
                elif table == "deliveries":
                    head, _, rest = copy["key"].partition(":")
                    copy["key"] = f"{new_id}:{rest}" if head == str(old_id) else f"{new_id}/{copy['key']}"
                tables[table].append(copy)
    for table, rows in tables.items():
        store.bulk_insert(table, rows)


# ---- measuring ------------------------------------------------------------------------------------------------------
@dataclass
class Workspace:
    """One bot on its own database, with or without the history."""

    name: str
    local: LocalCrisisDesk
    db: Path
    report_code: str  # the most recent resolved incident
    active_channel: str  # one live incident's channel
    built_seconds: float  # to bulk-insert its history


def open_workspace(folder: Path, name: str, template: Template, count: int, active: int, now: datetime) -> Workspace:
    db = folder / f"{name}.db"
    began = time.perf_counter()
    store = Store(db)
    try:
        build_history(store, template, count, now)
        report_code = store.incidents("resolved")[-1].code
    finally:
        store.close_all()
    built = time.perf_counter() - began
    local = start_local(db_path=db, clock=ManualClock(now))
    staff(local)
    local.emulator.slash_command(ID[DECLARER], "help")  # the declarer's language is known, as in the other desk
    for n in range(active):
        local.emulator.slash_command(ID[DECLARER], f"declare {SCENARIO} 2 Live incident {n}")
        local.settle(timeout=60)
    return Workspace(name, local, db, report_code, str(latest(local).room_ref), built)


def _timed(action: Callable[[], Any]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def _requests(desk: Workspace) -> dict[str, Callable[[], Any]]:
    emulator, local = desk.local.emulator, desk.local

    def answered(response: Any) -> None:
        if response.status != 200:
            raise RuntimeError(f"{desk.name}: HTTP {response.status}")

    def home() -> None:
        emulator.open_home(ID[LEAD])
        local.settle(timeout=60)

    def declare() -> None:
        answered(emulator.slash_command(ID[DECLARER], f"declare {SCENARIO} 2 Bench {uuid.uuid4().hex[:8]}"))
        local.settle(timeout=60)

    def report() -> None:
        settings = load_settings(
            environ={"CRISISBOT_DB": str(desk.db), "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}
        )
        report_desk = open_desk(settings)
        try:
            incident = report_desk.store.incident_by_code(desk.report_code)
            assert incident is not None
            with tempfile.TemporaryDirectory() as out:
                write_report(report_desk, incident, incident.language, Path(out) / "report.md")
        finally:
            report_desk.store.close_all()

    return {
        "/crisis list": lambda: answered(emulator.slash_command(ID[LEAD], "list")),
        "/crisis status (chooser)": lambda: answered(emulator.slash_command(ID[LEAD], "status")),
        "/crisis status (in the channel)": lambda: answered(
            emulator.slash_command(ID[LEAD], "status", channel_id=desk.active_channel)
        ),
        "App Home": home,
        "declare → ready": declare,
        "crisisbot report": report,
    }


def run(config: Config) -> Outcome:
    outcome = Outcome()
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="crisisbot-history-") as tmp:
        folder = Path(tmp)
        clock = ManualClock(now - SPAN - timedelta(days=2))
        with start_local(db_path=folder / "template.db", clock=clock) as player:
            staff(player)
            template_id = play_template(player, clock)
            template = read_template(player.desk.store, template_id)
        desks = [
            open_workspace(folder, "empty", template, 1, config.history_active, now),
            open_workspace(folder, "history", template, config.history_incidents, config.history_active, now),
        ]
        try:
            times = _alternate(desks, config)
            sizes = {d.name: _size(d) for d in desks}
        finally:
            for desk in desks:
                desk.local.stop()
    _report(outcome, times, sizes, template, desks, config)
    return outcome


def _alternate(desks: list[Workspace], config: Config) -> dict[str, dict[str, list[float]]]:
    """Each request to one desk, then the other, `history_repeats` times (declares and reports fewer)."""
    requests = {d.name: _requests(d) for d in desks}
    times: dict[str, dict[str, list[float]]] = {d.name: {k: [] for k in requests[d.name]} for d in desks}
    for kind in requests[desks[0].name]:
        repeats = config.history_repeats if kind not in ("declare → ready", "crisisbot report") else 5
        for i in range(repeats + 1):
            for desk in desks if i % 2 else reversed(desks):
                seconds = _timed(requests[desk.name][kind])
                if i:  # the first of each kind warms caches
                    times[desk.name][kind].append(seconds)
    return times


def _size(desk: Workspace) -> dict[str, int]:
    db = desk.local.desk.store.db
    return {t: db.execute(f"SELECT COUNT(*) FROM [{t}]").fetchone()[0] for t in ("incidents", "events", "deliveries")}


def _report(
    outcome: Outcome,
    times: dict[str, dict[str, list[float]]],
    sizes: dict[str, dict[str, int]],
    template: Template,
    desks: list[Workspace],
    config: Config,
) -> None:
    history = sizes["history"]
    outcome.add(
        "history database: resolved incidents",
        config.history_incidents,
        "",
        note=f"{history['incidents']} incidents, {history['events']:,} events, {history['deliveries']:,} deliveries; "
        f"{len(template.rows['events'])} events per incident; built in {desks[1].built_seconds:.1f} s",
    )
    for kind in times["empty"]:
        empty, full = statistics.median(times["empty"][kind]), statistics.median(times["history"][kind])
        outcome.add(
            f"{kind}: with history / empty (median)",
            full / empty,
            "x",
            TARGET_RATIO,
            f"{full * 1000:.1f} vs {empty * 1000:.1f} ms over {len(times['empty'][kind])} each",
        )
    outcome.details = {
        "sizes": sizes,
        "events_per_incident": len(template.rows["events"]),
        "ms": {name: {k: summary_ms(v) for k, v in kinds.items()} for name, kinds in times.items()},
    }
