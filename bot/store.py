"""SQLite via sqlite-utils: the single source of truth, and the only module that writes SQL.

One connection per thread (sqlite3 connections are not shared across threads), WAL mode so readers
never block the writer, and a busy timeout. Write transactions start with BEGIN IMMEDIATE instead of
sqlite-utils' `atomic()`: a deferred BEGIN that later upgrades to a write lock fails at once with
SQLITE_BUSY under a concurrent writer instead of waiting, and Bolt runs listeners in parallel threads.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils

from bot.clock import parse_iso
from bot.errors import NotFound, SchemaError
from bot.models import (
    Ack,
    Approval,
    ChecklistMark,
    Draft,
    DrillSchedule,
    Event,
    EventKind,
    Incident,
    NoticeKind,
    OutboxMessage,
    StoredAlert,
    Timer,
    Triage,
)

BUSY_TIMEOUT_MS = 10_000
WAL_SYNC_SECONDS = 0.2  # while serving, a commit reaches the disk within this long (Store.sync_in_background)


def disk_full(exc: BaseException) -> bool:
    """Whether SQLite refused a write because the disk (or the file's size limit) is full."""
    return isinstance(exc, sqlite3.OperationalError) and (
        getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "database or disk is full" in str(exc)
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _migration_1(db: sqlite_utils.Database) -> None:
    """The first tables: incidents, their timeline, drafts, approvals, roles, timers, requests, outbox."""
    db.table("incidents").create(
        {
            "id": int,
            "code": str,
            "scenario": str,
            "level": int,
            "title": str,
            "description": str,
            "status": str,
            "drill": int,
            "private": int,
            "language": str,
            "channel_id": str,
            "channel_name": str,
            "declared_by": str,
            "declared_at": str,
            "detected_at": str,
            "first_response_due": str,
            "first_response_at": str,
            "resolved_at": str,
        },
        pk="id",
        not_null={"code", "scenario", "level", "title", "status", "declared_by", "declared_at"},
    )
    db.table("incidents").create_index(["code"], unique=True)
    db.table("incidents").create_index(["channel_id"])
    db.table("events").create(
        {"id": int, "incident_id": int, "at": str, "actor": str, "kind": str, "data": str},
        pk="id",
        foreign_keys=[("incident_id", "incidents", "id")],
    )
    db.table("events").create_index(["incident_id", "at"])
    db.table("drafts").create(
        {
            "id": int,
            "incident_id": int,
            "network": str,
            "language": str,
            "kind": str,
            "text": str,
            "version": int,
            "status": str,
            "message_ts": str,
            "created_at": str,
            "updated_at": str,
            "posted_at": str,
            "posted_by": str,
            "reject_reason": str,
        },
        pk="id",
        foreign_keys=[("incident_id", "incidents", "id")],
    )
    db.table("drafts").create_index(["incident_id"])
    db.table("approvals").create(
        {
            "id": int,
            "draft_id": int,
            "version": int,
            "approver": str,
            "role": str,
            "decision": str,
            "at": str,
            "reason": str,
        },
        pk="id",
        foreign_keys=[("draft_id", "drafts", "id")],
    )
    db.table("approvals").create_index(["draft_id", "version", "role"], unique=True)
    db.table("role_owners").create({"role": str, "user": str, "rank": int}, pk=("role", "rank"))
    db.table("acks").create({"incident_id": int, "role": str, "user": str, "at": str}, pk=("incident_id", "role"))
    db.table("timers").create(
        {"id": int, "incident_id": int, "kind": str, "due_at": str, "fired_at": str, "data": str},
        pk="id",
    )
    db.table("timers").create_index(["fired_at", "due_at"])
    db.table("handled_requests").create({"key": str, "at": str}, pk="key")
    db.table("outbox").create(
        {
            "id": int,
            "incident_id": int,
            "role": str,
            "kind": str,
            "data": str,
            "created_at": str,
            "sent_at": str,
            "attempts": int,
        },
        pk="id",
    )
    db.table("checklist").create(
        {"incident_id": int, "item_id": str, "done_by": str, "done_at": str}, pk=("incident_id", "item_id")
    )
    # What the chat adapter already did for an incident (channel made, header posted, DM sent, …), so a
    # re-run after a failure completes the missing steps and repeats none.
    db.table("deliveries").create({"key": str, "incident_id": int, "ref": str, "at": str}, pk="key")


def _migration_2(db: sqlite_utils.Database) -> None:
    """Timers that can be cancelled, outbox retries, and the lease that keeps a second bot off the file."""
    db.table("timers").add_column("cancelled_at", str)
    db.table("timers").create_index(["incident_id", "kind"])
    db.table("outbox").add_column("next_attempt_at", str)
    db.table("outbox").add_column("failed_at", str)
    db.table("outbox").add_column("last_error", str)
    db.table("outbox").create_index(["sent_at", "failed_at", "next_attempt_at"])
    db.table("leases").create({"name": str, "holder": str, "expires_at": float}, pk="name")


def _migration_3(db: sqlite_utils.Database) -> None:
    """Small facts about the file itself, such as a sped-up clock's anchor."""
    db.table("meta").create({"key": str, "value": str}, pk="key")


def _migration_4(db: sqlite_utils.Database) -> None:
    """The next-update time a draft version promises in public, so the bot holds the team to that moment."""
    db.table("drafts").add_column("promised_at", str)  # the moment, as the timer uses it
    db.table("drafts").add_column("promise_text", str)  # the words the text says it in ("22:00 CET"), to find it again


def _migration_5(db: sqlite_utils.Database) -> None:
    """What each request asked for, kept until its listener finished: a kill -9 after the ack loses nothing."""
    db.table("handled_requests").add_column("body", str)
    db.table("handled_requests").add_column("finished_at", str)
    db.table("handled_requests").create_index(["finished_at"])


def _migration_6(db: sqlite_utils.Database) -> None:
    """Indexes for a workspace with years of history: every per-request query reads a few rows, not a table.

    Without them a declare, `/crisis list`, App Home and a report each scanned the deliveries (about 15 rows
    per incident), the outbox, every cancelled timer, or all incidents ever declared.
    """
    db.table("deliveries").create_index(["incident_id"])
    db.table("outbox").create_index(["incident_id"])
    # Pending timers only: every resolved incident leaves cancelled timers (fired_at NULL too), which the old
    # (fired_at, due_at) index made every due-timer check and every countdown walk through.
    db.execute("DROP INDEX IF EXISTS idx_timers_fired_at_due_at")
    db.execute("CREATE INDEX idx_timers_pending ON timers (due_at) WHERE fired_at IS NULL AND cancelled_at IS NULL")
    db.table("incidents").create_index(["status", "resolved_at"])
    db.table("incidents").create_index(["channel_name"])
    # Deliberately no index on declared_by: one person may have declared most of the history, and the
    # repeat check (recent_declare) must walk the few active incidents, not all of theirs.


def _migration_7(db: sqlite_utils.Database) -> None:
    """When an incident's set-up was complete, on the incident: the core's duplicate-declare rule reads it.

    Before, the rule joined on the chat adapter's own bookkeeping (its `<id>:ready` delivery key), so the core
    depended on how one adapter named its steps. Backfilled from those keys; the old rows stay (nothing reads
    them any more).
    """
    db.table("incidents").add_column("setup_done_at", str)
    db.execute(
        "UPDATE incidents SET setup_done_at = (SELECT d.at FROM deliveries d WHERE d.key = incidents.id || ':ready')"
    )


def _migration_8(db: sqlite_utils.Database) -> None:
    """Platform-neutral names for what an incident is on its chat platform: `room_ref`/`room_name` (a Slack
    channel's id and name today, a Teams thread or channel next) and a draft's `message_ref` (Slack's ts).

    SQLite (3.25+) renames the columns in place, indexes included; no row is rewritten.
    """
    db.execute("ALTER TABLE incidents RENAME COLUMN channel_id TO room_ref")
    db.execute("ALTER TABLE incidents RENAME COLUMN channel_name TO room_name")
    db.execute("ALTER TABLE drafts RENAME COLUMN message_ts TO message_ref")


def _migration_9(db: sqlite_utils.Database) -> None:
    """Which chat platform an incident lives on (`slack`, `teams`): the scheduler and outbox deliver through that
    platform's port. And `platform_refs`, what a platform adapter must remember that the platform will not tell it
    again (Teams: conversation references for proactive messages, the crisis channel's service URL, a person's
    1:1 conversation, a report file's download token). Keyed by platform and the adapter's own key; `value` is
    the adapter's JSON."""
    db.table("incidents").add_column("platform", str, not_null_default="slack")
    db.table("platform_refs").create(
        {"platform": str, "key": str, "value": str, "at": str}, pk=("platform", "key"), not_null={"value"}
    )


# drills: schedules
def _migration_drill_schedules(db: sqlite_utils.Database) -> None:
    """Scheduled drills (`/crisis drill schedule …`): one row per schedule; its next start and the heads-up the
    day before are timers of no incident (`incident_id` 0, the schedule's id in their data)."""
    db.table("drill_schedules").create(
        {
            "id": int,
            "scenario": str,
            "level": int,
            "every_weeks": int,
            "weekday": int,
            "at_time": str,
            "unannounced": int,
            "platform": str,
            "created_by": str,
            "created_at": str,
            "next_start_at": str,
            "cancelled_at": str,
            "cancelled_by": str,
            "last_incident_id": int,
        },
        pk="id",
        not_null={"scenario", "level", "every_weeks", "weekday", "at_time", "created_by", "created_at"},
    )
    db.table("events").create_index(["kind"])  # readiness reads every drill's score: `drill_scored` events


def _migration_detection(db: sqlite_utils.Database) -> None:
    """Monitoring alerts and their triage (bot/incidents/detection.py): `alerts` (one row per (source, alert key):
    a source's retry is recognised), `triages` (related alerts grouped into one card, and what became of it), the
    signatures of accepted intake requests (a replayed request is refused), and outbox rows addressed by triage:
    a triage card is said on the bot's own initiative before any incident exists, so `outbox.triage_id` is set
    in place of `incident_id`."""
    db.table("triages").create(
        {
            "id": int,
            "source": str,
            "group_key": str,
            "scenario": str,
            "rule": str,
            "level": int,
            "status": str,
            "platform": str,
            "title": str,
            "url": str,
            "alerts": int,
            "held_back": int,
            "reach": int,
            "sentiment": float,
            "detected_at": str,
            "last_alert_at": str,
            "created_at": str,
            "card_ref": str,
            "card_tried_at": str,
            "watch_alerts": int,
            "realerts": int,
            "decided_by": str,
            "decided_at": str,
            "reason": str,
            "incident_id": int,
        },
        pk="id",
        not_null={"source", "group_key", "status", "alerts", "held_back", "detected_at", "last_alert_at"},
    )
    db.table("triages").create_index(["group_key", "last_alert_at"])
    db.table("triages").create_index(["source", "created_at"])
    db.table("alerts").create(
        {
            "id": int,
            "source": str,
            "alert_key": str,
            "triage_id": int,
            "held": int,
            "received_at": str,
            "detected_at": str,
            "data": str,
        },
        pk="id",
        not_null={"source", "alert_key", "triage_id", "received_at", "detected_at", "data"},
        foreign_keys=[("triage_id", "triages", "id")],
    )
    db.table("alerts").create_index(["source", "alert_key"], unique=True)
    db.table("alerts").create_index(["triage_id"])
    db.table("intake_signatures").create({"signature": str, "at": str}, pk="signature")
    db.table("intake_signatures").create_index(["at"])
    db.table("outbox").add_column("triage_id", int)
    db.table("outbox").create_index(["triage_id"])


class _Known(sqlite_utils.Database):
    """A connection's Database once the migrations ran: the tables are known, so a read is one query.

    sqlite-utils asks SQLite on every call whether a name is a view, whether the table exists and (for a key or an
    insert) its columns: three extra queries per read, about a third of the store's time in a Teams declare. The
    schema only changes in `migrate()`, before any of these exist; every Table is made once per connection.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(conn)
        self._tables: dict[str, sqlite_utils.db.Table] = {}

    def table(self, table_name: str, **kwargs: Any) -> sqlite_utils.db.Table:
        if kwargs:
            return super().table(table_name, **kwargs)
        known = self._tables.get(table_name)
        if known is None:
            known = self._tables[table_name] = _KnownTable(self, table_name, strict=self.strict)
        return known


class _KnownTable(sqlite_utils.db.Table):
    """A table the migrations made: it exists, and its columns are what they were at the first look.

    Its plain inserts and reads by key are one statement each. sqlite-utils builds an insert's SQL in Python for
    every row (checking each value for JSON, each column against the table) and reads a row through its general
    query builder: 0.1–0.2 ms a row more (measured), about a millisecond of a declare's own steps before its first
    platform call (an incident, its timers, its three drafts, each read back). Anything with options, or a value SQLite does not
    take as it is (a dict to store as JSON), still goes through sqlite-utils, and so does a write outside a
    transaction (sqlite-utils makes it one; the hot paths are all inside Store.transaction).
    """

    def exists(self) -> bool:
        return True

    @functools.cached_property
    def columns(self) -> list[sqlite_utils.db.Column]:  # the base class's property, cached
        return super().columns

    @functools.cached_property
    def pks(self) -> list[str]:  # the base class's property (a PRAGMA query), cached
        return super().pks

    def insert(self, record: dict[str, Any], **options: Any) -> sqlite_utils.db.Table:  # type: ignore[override]
        if options or not _plain(record) or not self.db.conn.in_transaction:
            return super().insert(record, **options)
        cursor = self.db.execute(_insert_sql(self.name, tuple(record)), list(record.values()))
        pks = self.pks
        self.last_rowid = cursor.lastrowid
        self.last_pk = record[pks[0]] if len(pks) == 1 and pks[0] in record else cursor.lastrowid
        return self

    def insert_all(self, records: Any, **options: Any) -> sqlite_utils.db.Table:  # type: ignore[override]
        rows = records if isinstance(records, list) else None
        if options or not rows or not self.db.conn.in_transaction or any(_unlike(r, rows[0]) for r in rows):
            return super().insert_all(records, **options)
        with self.db.atomic():  # a savepoint: all the rows or none, as sqlite-utils' own
            self.db.conn.executemany(_insert_sql(self.name, tuple(rows[0])), [list(r.values()) for r in rows])
        return self

    def get(self, pk_values: Any) -> dict[str, Any]:
        pks = self.pks
        if isinstance(pk_values, list | tuple) or len(pks) != 1:
            return super().get(pk_values)
        cursor = self.db.execute(f"SELECT * FROM [{self.name}] WHERE [{pks[0]}] = ?", [pk_values])
        row = cursor.fetchone()
        if row is None:
            raise sqlite_utils.db.NotFoundError
        self.last_pk = pk_values
        return dict(zip([d[0] for d in cursor.description], row, strict=True))


_PLAIN = (str, int, float, bytes, type(None))  # what SQLite stores as it is (a bool is an int)


def _plain(record: Any) -> bool:
    return isinstance(record, dict) and bool(record) and all(isinstance(v, _PLAIN) for v in record.values())


def _unlike(record: Any, first: dict[str, Any]) -> bool:
    """Not a row executemany can take beside the first: another shape, or a value sqlite-utils would convert."""
    return not _plain(record) or record.keys() != first.keys()


@functools.lru_cache(maxsize=256)
def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    names = ", ".join(f"[{c}]" for c in columns)
    return f"INSERT INTO [{table}] ({names}) VALUES ({', '.join('?' * len(columns))})"


MIGRATIONS = [
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
    _migration_5,
    _migration_6,
    _migration_7,
    _migration_8,
    _migration_9,
    _migration_drill_schedules,
    _migration_detection,
]
SCHEMA_VERSION = len(MIGRATIONS)


class TimerStore:
    """Timers, the outbox and the single-process lease (mixed into Store: same connection, same file)."""

    if TYPE_CHECKING:  # Store provides them

        @property
        def db(self) -> sqlite_utils.Database: ...

        def transaction(self) -> AbstractContextManager[sqlite_utils.Database]: ...

    def add_timers(self, rows: list[dict[str, Any]]) -> None:
        encoded = [_encode({**r, "data": json.dumps(r.get("data") or {}, default=str)}) for r in rows]
        with self.transaction() as db:
            db.table("timers").insert_all(encoded)

    def due_timers(self, now: datetime, limit: int = 500) -> list[Timer]:
        rows = self.db.table("timers").rows_where(
            "fired_at IS NULL AND cancelled_at IS NULL AND due_at <= ?",
            [now.isoformat()],
            order_by="due_at, id",
            limit=limit,
        )
        return [_timer(r) for r in rows]

    def pending_timers(self, incident_id: int | None = None) -> list[Timer]:
        where = "fired_at IS NULL AND cancelled_at IS NULL" + (" AND incident_id = ?" if incident_id else "")
        rows = self.db.table("timers").rows_where(where, [incident_id] if incident_id else [], order_by="due_at, id")
        return [_timer(r) for r in rows]

    def timers(self, incident_id: int) -> list[Timer]:
        return [_timer(r) for r in self.db.table("timers").rows_where("incident_id = ?", [incident_id], order_by="id")]

    def next_due(self) -> datetime | None:
        row = self.db.execute(
            "SELECT MIN(due_at) FROM timers WHERE fired_at IS NULL AND cancelled_at IS NULL"
        ).fetchone()
        return parse_iso(row[0]) if row and row[0] else None

    def claim_timer(self, timer_id: int, now: datetime) -> bool:
        """Mark a timer fired; False when it already was (or was cancelled). Call inside the effect's transaction."""
        cursor = self.db.execute(
            "UPDATE timers SET fired_at = ? WHERE id = ? AND fired_at IS NULL AND cancelled_at IS NULL",
            [now.isoformat(), timer_id],
        )
        return cursor.rowcount == 1

    def cancel_timers(self, incident_id: int, now: datetime, kinds: tuple[str, ...] | None = None) -> int:
        where = "incident_id = ? AND fired_at IS NULL AND cancelled_at IS NULL"
        args: list[Any] = [now.isoformat(), incident_id]
        if kinds:
            where += f" AND kind IN ({','.join('?' * len(kinds))})"
            args += list(kinds)
        with self.transaction() as db:
            return int(db.execute(f"UPDATE timers SET cancelled_at = ? WHERE {where}", args).rowcount)

    # ---- outbox --------------------------------------------------------------------------------
    def add_outbox(self, incident_id: int, kind: NoticeKind, now: datetime, **data: Any) -> int:
        row = {
            "incident_id": incident_id,
            "kind": kind,
            "data": json.dumps(data, default=str),
            "created_at": now.isoformat(),
            "attempts": 0,
            "next_attempt_at": now.isoformat(),
        }
        with self.transaction() as db:
            return _pk(db.table("outbox").insert(row).last_pk)

    def add_outbox_once(self, incident_id: int, kind: NoticeKind, now: datetime, **data: Any) -> int | None:
        """Like add_outbox, unless the same kind is already waiting for that incident (e.g. header redraws)."""
        with self.transaction() as db:
            waiting = db.execute(
                "SELECT 1 FROM outbox WHERE incident_id = ? AND kind = ? AND sent_at IS NULL AND failed_at IS NULL",
                [incident_id, kind],
            ).fetchone()
            return None if waiting else self.add_outbox(incident_id, kind, now, **data)

    def pending_outbox(self, now: datetime, limit: int = 200) -> list[OutboxMessage]:
        rows = self.db.table("outbox").rows_where(
            "sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?",
            [now.isoformat()],
            order_by="id",
            limit=limit,
        )
        return [_outbox(r) for r in rows]

    def outbox(self, incident_id: int | None = None) -> list[OutboxMessage]:
        where, args = ("incident_id = ?", [incident_id]) if incident_id else (None, [])
        return [_outbox(r) for r in self.db.table("outbox").rows_where(where, args, order_by="id")]

    def next_outbox_attempt(self) -> datetime | None:
        row = self.db.execute(
            "SELECT MIN(next_attempt_at) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL"
        ).fetchone()
        return parse_iso(row[0]) if row and row[0] else None

    def drop_pending_outbox(
        self, incident_id: int, now: datetime, keep: tuple[NoticeKind, ...] = ()
    ) -> list[NoticeKind]:
        """Give up on an incident's undelivered rows (except the kinds in `keep`); returns the kinds dropped.

        Marked failed rather than deleted, so the row still says what was never sent and why."""
        where = "incident_id = ? AND sent_at IS NULL AND failed_at IS NULL"
        args: list[Any] = [incident_id]
        if keep:
            where += f" AND kind NOT IN ({','.join('?' * len(keep))})"
            args += list(keep)
        with self.transaction() as db:
            kinds = [row[0] for row in db.execute(f"SELECT kind FROM outbox WHERE {where} ORDER BY id", args)]
            db.execute(
                f"UPDATE outbox SET failed_at = ?, next_attempt_at = NULL, last_error = 'dropped: resolved' "
                f"WHERE {where}",
                [now.isoformat(), *args],
            )
            return kinds

    def mark_sent(self, message_id: int, now: datetime) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET sent_at = ?, attempts = attempts + 1 WHERE id = ?", [now.isoformat(), message_id]
            )

    def mark_attempt(self, message_id: int, now: datetime, retry_at: datetime | None, error: str) -> None:
        """One failed delivery: try again at `retry_at`, or give up for good when it is None."""
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, failed_at = ? "
                "WHERE id = ?",
                [error, retry_at.isoformat() if retry_at else None, None if retry_at else now.isoformat(), message_id],
            )

    # ---- lease -----------------------------------------------------------------------------------
    def take_lease(self, name: str, holder: str, now: float, ttl: float, steal_from: str | None = None) -> str | None:
        """Hold `name` for `ttl` real seconds; returns None, or the other live holder that has it.

        `steal_from` names a holder known to be dead (a crashed process on this machine): its lease is taken over.
        """
        with self.transaction() as db:
            row = db.execute("SELECT holder, expires_at FROM leases WHERE name = ?", [name]).fetchone()
            if row and row[0] not in (holder, steal_from) and row[1] > now:
                return str(row[0])
            db.table("leases").upsert({"name": name, "holder": holder, "expires_at": now + ttl}, pk="name")
            return None

    def release_lease(self, name: str, holder: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", [name, holder])


# drills: schedules
class DrillStore:
    """Drill schedules and the drills' scores (mixed into Store: same connection, same file)."""

    if TYPE_CHECKING:  # Store provides them

        @property
        def db(self) -> sqlite_utils.Database: ...

        def transaction(self) -> AbstractContextManager[sqlite_utils.Database]: ...

    def insert_schedule(self, **fields: Any) -> DrillSchedule:
        with self.transaction() as db:
            return self.schedule_of(_pk(db.table("drill_schedules").insert(_encode(fields)).last_pk))

    def schedule_of(self, schedule_id: int) -> DrillSchedule:
        row = self.db.execute("SELECT 1 FROM drill_schedules WHERE id = ?", [schedule_id]).fetchone()
        if row is None:
            raise NotFound("error.not_found")
        return DrillSchedule.model_validate(_decode(self.db.table("drill_schedules").get(schedule_id)))

    def find_schedule(self, schedule_id: int) -> DrillSchedule | None:
        try:
            return self.schedule_of(schedule_id)
        except NotFound:
            return None

    def schedules(self, active: bool = True) -> list[DrillSchedule]:
        where = "cancelled_at IS NULL" if active else None
        rows = self.db.table("drill_schedules").rows_where(where, order_by="next_start_at, id")
        return [DrillSchedule.model_validate(_decode(r)) for r in rows]

    def update_schedule(self, schedule_id: int, **fields: Any) -> DrillSchedule:
        with self.transaction() as db:
            db.table("drill_schedules").update(schedule_id, _encode(fields))
        return self.schedule_of(schedule_id)

    def cancel_schedule_timers(self, schedule_id: int, now: datetime) -> int:
        """Cancel the pending timers of a schedule (they belong to no incident: the schedule is in their data)."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE timers SET cancelled_at = ? WHERE incident_id = 0 AND fired_at IS NULL AND cancelled_at IS NULL"
                " AND json_extract(data, '$.schedule_id') = ?",
                [now.isoformat(), schedule_id],
            )
            return int(cursor.rowcount)

    def schedule_timers(self, schedule_id: int) -> list[Timer]:
        rows = self.db.table("timers").rows_where(
            "incident_id = 0 AND json_extract(data, '$.schedule_id') = ?", [schedule_id], order_by="id"
        )
        return [_timer(r) for r in rows]

    def events_of_kind(self, kind: EventKind) -> list[Event]:
        """Every incident's events of one kind, oldest first (readiness reads the drills' `drill_scored`)."""
        return [_event(r) for r in self.db.table("events").rows_where("kind = ?", [kind], order_by="at, id")]


class DetectionStore:
    """Alerts, triages and the intake's replay record (mixed into Store: same connection, same file)."""

    if TYPE_CHECKING:  # Store provides them

        @property
        def db(self) -> sqlite_utils.Database: ...

        def transaction(self) -> AbstractContextManager[sqlite_utils.Database]: ...

    def claim_signature(self, signature: str, at: datetime, forget_before: datetime) -> bool:
        """True the first time an intake request's signature is seen; forgets those too old to be replayed."""
        with self.transaction() as db:
            db.execute("DELETE FROM intake_signatures WHERE at < ?", [forget_before.isoformat()])
            insert = "INSERT OR IGNORE INTO intake_signatures (signature, at) VALUES (?, ?)"
            return db.execute(insert, [signature, at.isoformat()]).rowcount == 1

    def alert_triage(self, source: str, alert_key: str) -> int | None:
        """The triage an alert already joined (a source's retry), or None for a new alert."""
        row = self.db.execute(
            "SELECT triage_id FROM alerts WHERE source = ? AND alert_key = ?", [source, alert_key]
        ).fetchone()
        return int(row[0]) if row else None

    def grouping_triage(self, group_key: str, since: datetime) -> Triage | None:
        """The triage of `group_key` with an alert since `since` that more alerts join: undecided, or declared (its
        incident is running); not a dismissed one (what comes after a dismissal is new). The newest, should there
        be two."""
        rows = self.db.table("triages").rows_where(
            "group_key = ? AND last_alert_at >= ? AND status IN ('open', 'watching', 'declared')",
            [group_key, since.isoformat()],
            order_by="id DESC",
            limit=1,
        )
        return next((_triage(r) for r in rows), None)

    def source_cards(self, source: str, since: datetime) -> list[Triage]:
        """The triages `source` opened since `since`, oldest first (the rate limit counts them)."""
        rows = self.db.table("triages").rows_where(
            "source = ? AND created_at >= ?", [source, since.isoformat()], order_by="id"
        )
        return [_triage(r) for r in rows]

    def insert_triage(self, **fields: Any) -> Triage:
        with self.transaction() as db:
            pk = _pk(db.table("triages").insert(_encode(fields)).last_pk)
            return self.triage(pk)

    def update_triage(self, triage_id: int, **fields: Any) -> Triage:
        with self.transaction() as db:
            db.table("triages").update(triage_id, _encode(fields))
            return self.triage(triage_id)

    def triage(self, triage_id: int) -> Triage:
        try:
            return _triage(self.db.table("triages").get(triage_id))
        except sqlite_utils.db.NotFoundError:
            raise NotFound("error.not_found") from None

    def triages(self, status: str | None = None) -> list[Triage]:
        where, args = ("status = ?", [status]) if status else (None, [])
        return [_triage(r) for r in self.db.table("triages").rows_where(where, args, order_by="id")]

    def triage_of_incident(self, incident_id: int) -> Triage | None:
        rows = self.db.table("triages").rows_where("incident_id = ?", [incident_id], order_by="id", limit=1)
        return next((_triage(r) for r in rows), None)

    def triage_figures(self, triage_id: int) -> tuple[int, int, float | None]:
        """(alerts, summed reach, average sentiment) of a triage's alerts that were not held back."""
        row = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(json_extract(data, '$.reach')), 0), AVG(json_extract(data, '$.sentiment')) "
            "FROM alerts WHERE triage_id = ? AND held = 0",
            [triage_id],
        ).fetchone()
        return int(row[0]), int(row[1]), None if row[2] is None else round(float(row[2]), 3)

    def insert_alert(self, **fields: Any) -> int:
        fields["data"] = json.dumps(fields.get("data") or {}, default=str)
        with self.transaction() as db:
            return _pk(db.table("alerts").insert(_encode(fields)).last_pk)

    def alerts(self, triage_id: int | None = None) -> list[StoredAlert]:
        where, args = ("triage_id = ?", [triage_id]) if triage_id is not None else (None, [])
        rows = self.db.table("alerts").rows_where(where, args, order_by="id")
        return [StoredAlert.model_validate({**_decode(r), "data": json.loads(r["data"])}) for r in rows]

    def signal_counts(self) -> list[tuple[str, int, int, int, int]]:
        """Per source: (source, alerts, triage cards, declared, dismissed), over the whole file: signal quality."""
        rows = self.db.execute(
            "SELECT t.source, (SELECT COUNT(*) FROM alerts a WHERE a.source = t.source), COUNT(*), "
            "SUM(t.status = 'declared'), SUM(t.status = 'dismissed') FROM triages t GROUP BY t.source ORDER BY t.source"
        )
        return [(r[0], int(r[1]), int(r[2]), int(r[3] or 0), int(r[4] or 0)) for r in rows.fetchall()]

    def first_alert(self, triage_id: int) -> StoredAlert | None:
        rows = self.db.table("alerts").rows_where("triage_id = ?", [triage_id], order_by="id", limit=1)
        return next((StoredAlert.model_validate({**_decode(r), "data": json.loads(r["data"])}) for r in rows), None)

    def add_triage_outbox(
        self, triage_id: int, kind: NoticeKind, now: datetime, due: datetime | None = None, **data: Any
    ) -> int | None:
        """A row addressed by triage, due at `due` (default now), unless one of that kind already waits for it (a
        burst redraws the card once): that one is then brought forward to `due` if it was due later."""
        when = (due or now).isoformat()
        with self.transaction() as db:
            waiting = db.execute(
                "SELECT id FROM outbox WHERE triage_id = ? AND kind = ? AND sent_at IS NULL AND failed_at IS NULL",
                [triage_id, kind],
            ).fetchone()
            if waiting:
                db.execute(
                    "UPDATE outbox SET next_attempt_at = ? WHERE id = ? AND attempts = 0 AND next_attempt_at > ?",
                    [when, waiting[0], when],
                )
                return None
            row = {
                "triage_id": triage_id,
                "kind": kind,
                "data": json.dumps(data, default=str),
                "created_at": now.isoformat(),
                "attempts": 0,
                "next_attempt_at": when,
            }
            return _pk(db.table("outbox").insert(row).last_pk)

    def triage_outbox(self, triage_id: int) -> list[OutboxMessage]:
        return [_outbox(r) for r in self.db.table("outbox").rows_where("triage_id = ?", [triage_id], order_by="id")]


class Store(TimerStore, DrillStore, DetectionStore):
    """Typed reads and writes of every table."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        # Every thread's connection, so close() releases them all: short-lived worker threads (parallel
        # Slack calls) would otherwise leave file descriptors open until the garbage collector runs.
        self._connections: list[sqlite3.Connection] = []
        self._syncing: threading.Event | None = None  # set to stop the WAL syncer (sync_in_background)
        self._max_pages: int | None = None
        self._migrated = False  # from then on every connection knows the schema (_Known)
        _check_path(self.path)
        try:
            self.migrate()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise SchemaError(message=_unusable(self.path, exc)) from None
        except BaseException:
            self.close()
            raise

    # ---- connection and transactions -----------------------------------------------------------
    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys=ON")
            if self._syncing is not None:
                _without_waiting(conn)
            if self._max_pages is not None:
                conn.execute(f"PRAGMA max_page_count={self._max_pages}")
            db = _Known(conn) if self._migrated else sqlite_utils.Database(conn)
            self._local.db = db
            with self._write_lock:
                self._connections.append(conn)
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """One write transaction; nested calls join the outer one."""
        with self._write_lock:
            db = self.db
            if db.conn.in_transaction:
                yield db
                return
            db.conn.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.conn.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (SQLITE_FULL does): a second ROLLBACK would fail and
                # hide the real error.
                if db.conn.in_transaction:
                    db.conn.execute("ROLLBACK")
                raise

    def prompt_commits(self) -> None:
        """This thread's commits skip the fsync (WAL with synchronous=NORMAL: a commit survives a crash of the
        process, not a power cut; the next ordinary commit's fsync covers it), as a request key's claim does. For
        the alert intake: its commits then hold the write lock for microseconds, not a disk flush, so a burst of
        alerts never keeps a `/crisis` acknowledgement's claim waiting."""
        db = self.db
        if not db.conn.in_transaction:
            db.conn.execute("PRAGMA synchronous=NORMAL")

    def limit_size(self, pages: int | None) -> None:
        """Let the file grow to `pages` pages at most (None: no limit), on every connection: a write past it fails
        with SQLITE_FULL exactly as on a full disk. For rehearsing a full disk (the tests); SQLite keeps the limit
        at least the file's current size."""
        with self._write_lock:
            self._max_pages = pages
            connections = list(self._connections)
        for conn in connections:
            conn.execute(f"PRAGMA max_page_count={pages if pages is not None else 0xFFFFFFFE}")

    def close(self) -> None:
        """Close this thread's connections."""
        db = getattr(self._local, "db", None)
        keys = getattr(self._local, "keys", None)
        with self._write_lock:
            for conn in (db.conn if db is not None else None, keys):
                if conn is not None and conn in self._connections:
                    self._connections.remove(conn)
        if keys is not None:
            keys.close()
            self._local.keys = None
        if db is not None:
            db.close()
            self._local.db = None

    def sync_in_background(self, every: float = WAL_SYNC_SECONDS) -> None:
        """While serving: commits stop waiting for the disk, and a thread of its own syncs the WAL every `every` s.

        A commit that waits for its fsync holds the write lock, and so every request behind it, for as long as the
        disk takes: a millisecond on a quiet disk, hundreds when other work shares it (Teams' invoke answers under
        the load benchmark: p99 ~300 ms with, ~40 ms without). With synchronous=NORMAL a committed transaction still
        survives a crash of the process (WAL guarantees it; the kill -9 suites check it); the syncer bounds what a
        power cut or an OS crash can lose to the last `every` seconds. It also checkpoints the WAL into the database
        (a committing request would otherwise do that every thousand pages, its two fsyncs under the write lock).
        close_all() stops it.
        """
        with self._write_lock:
            if self._syncing is not None:
                return
            self._syncing = threading.Event()
            for conn in self._connections:  # start-up's own connection; request threads open theirs later
                _without_waiting(conn)
        threading.Thread(
            target=_sync_wal, args=(self.path, every, self._syncing), name="crisisbot-walsync", daemon=True
        ).start()

    def close_all(self) -> None:
        """Close the connections of every thread: only once no other thread uses this store any more."""
        if self._syncing is not None:
            self._syncing.set()
        with self._write_lock:
            connections, self._connections = self._connections, []
            self._local = threading.local()
        for conn in connections:
            conn.close()

    def check_writable(self) -> None:
        """For the bot (a report reads a read-only copy fine): write once (the schema version, unchanged), so a
        read-only file is found at start, not at the first command."""
        try:
            with self.transaction() as db:
                db.conn.execute(f"PRAGMA user_version={self.schema_version()}")
        except sqlite3.DatabaseError as exc:
            raise SchemaError(message=_unusable(self.path, exc)) from None

    # ---- schema --------------------------------------------------------------------------------
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> int:
        """Upgrade the file in place to SCHEMA_VERSION; refuse a file written by newer code."""
        if self.path.exists() and self.path.stat().st_size and not _is_sqlite(self.path):
            raise SchemaError(message=f"{self.path}: not a SQLite database — point CRISISBOT_DB at a new file")
        current = self.schema_version()
        if current > SCHEMA_VERSION:  # checked before anything is written: a newer file stays untouched
            raise SchemaError(
                message=f"{self.path}: database schema version {current} is newer than this crisisbot "
                f"understands ({SCHEMA_VERSION}) — upgrade crisisbot, or use another CRISISBOT_DB"
            )
        self.db.conn.execute("PRAGMA journal_mode=WAL")
        for number in range(current + 1, SCHEMA_VERSION + 1):
            with self.transaction() as db:
                MIGRATIONS[number - 1](db)
                db.conn.execute(f"PRAGMA user_version={number}")
        self._migrated = True
        self._local.db = _Known(self.db.conn)  # this thread's connection, now with the schema known
        return SCHEMA_VERSION

    def bulk_insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Many rows of one table (all with the same columns) in one transaction: an import of history.

        The history benchmark builds years of incidents this way in seconds instead of declaring each one.
        """
        if not rows:
            return
        columns = tuple(rows[0])
        with self.transaction() as db:
            db.conn.executemany(_insert_sql(table, columns), ([row[c] for c in columns] for row in rows))

    # ---- meta ----------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.table("meta").upsert({"key": key, "value": value}, pk="key")

    # ---- incidents -----------------------------------------------------------------------------
    def next_code(self, year: int, prefix: str = "CR") -> str:
        # A range on the unique code index (LIKE is case-insensitive, so it could not use it: a scan).
        start = f"{prefix}-{year}-"
        row = self.db.execute(
            "SELECT COUNT(*) FROM incidents WHERE code >= ? AND code < ?", [start, start[:-1] + "."]
        ).fetchone()
        return f"{prefix}-{year}-{row[0] + 1:03d}"

    def insert_incident(self, **fields: Any) -> Incident:
        return self.incident(_pk(self.db.table("incidents").insert(_encode(fields)).last_pk))

    def incident(self, incident_id: int) -> Incident:
        try:
            row = self.db.table("incidents").get(incident_id)
        except sqlite_utils.db.NotFoundError as exc:  # e.g. a button of a database since replaced
            raise NotFound("error.not_found") from exc
        return Incident.model_validate(_decode(row))

    def find_incident(self, incident_id: int) -> Incident | None:
        row = self.db.execute("SELECT 1 FROM incidents WHERE id = ?", [incident_id]).fetchone()
        return self.incident(incident_id) if row else None

    def incident_by_code(self, code: str) -> Incident | None:
        rows = list(self.db.table("incidents").rows_where("code = ?", [code.upper()], limit=1))
        return Incident.model_validate(_decode(rows[0])) if rows else None

    # ---- what a platform adapter remembers (migration 9) ----------------------------------------------------
    def platform_ref(self, platform: str, key: str) -> Any | None:
        """The JSON value an adapter stored under `key`, None when it has none."""
        row = self.db.execute(
            "SELECT value FROM platform_refs WHERE platform = ? AND key = ?", [platform, key]
        ).fetchone()
        return json.loads(row[0]) if row else None

    def put_platform_ref(self, platform: str, key: str, value: Any, at: datetime) -> None:
        with self.transaction() as db:
            _upsert(db, "platform_refs", ("platform", "key"), [[platform, key, json.dumps(value), at.isoformat()]])

    def platform_refs(self, platform: str, prefix: str = "") -> dict[str, Any]:
        """Every value an adapter stored under a key starting with `prefix`."""
        rows = self.db.execute(
            "SELECT key, value FROM platform_refs WHERE platform = ? AND substr(key, 1, ?) = ?",
            [platform, len(prefix), prefix],
        ).fetchall()
        return {key: json.loads(value) for key, value in rows}

    def incident_by_room(self, room_ref: str) -> Incident | None:
        rows = list(self.db.table("incidents").rows_where("room_ref = ?", [room_ref], order_by="id desc", limit=1))
        return Incident.model_validate(_decode(rows[0])) if rows else None

    def incidents(self, status: str | None = None, *, drill: bool | None = None) -> list[Incident]:
        """Every incident (of `status`; only drills or only real ones with `drill`), oldest first."""
        clauses: list[str] = []
        args: list[Any] = []
        if status:
            clauses.append("status = ?")
            args.append(status)
        if drill is not None:
            clauses.append("drill = ?")
            args.append(int(drill))
        rows = self.db.table("incidents").rows_where(" AND ".join(clauses) or None, args, order_by="id")
        return [Incident.model_validate(_decode(r)) for r in rows]

    def room_name_used(self, name: str) -> bool:
        """Whether one of our incidents already has a Slack channel of this name (Slack would say name_taken)."""
        return self.db.execute("SELECT 1 FROM incidents WHERE room_name = ? LIMIT 1", [name]).fetchone() is not None

    def recently_resolved(self, batch: int = 50) -> Iterator[Incident]:
        """Resolved incidents, most recently resolved first, read a batch at a time (the caller stops early)."""
        offset = 0
        while True:
            rows = list(
                self.db.table("incidents").rows_where(
                    "status = 'resolved'", order_by="resolved_at DESC, id", limit=batch, offset=offset
                )
            )
            yield from (Incident.model_validate(_decode(r)) for r in rows)
            if len(rows) < batch:
                return
            offset += batch

    def recent_declare(self, user: str, title: str, since: datetime) -> Incident | None:
        """The same person's incident with this title: declared since `since`, or never fully set up."""
        rows = list(
            self.db.table("incidents").rows_where(
                "declared_by = ? AND lower(title) = lower(?) AND status = 'active' "
                "AND (declared_at >= ? OR setup_done_at IS NULL)",
                [user, title, since.isoformat()],
                order_by="id desc",
                limit=1,
            )
        )
        return Incident.model_validate(_decode(rows[0])) if rows else None

    def update_incident(self, incident_id: int, **fields: Any) -> Incident:
        self.db.table("incidents").update(incident_id, _encode(fields))
        return self.incident(incident_id)

    # ---- timeline ------------------------------------------------------------------------------
    def add_event(self, incident_id: int, at: datetime, actor: str, kind: EventKind, /, **data: Any) -> Event:
        fields = {
            "incident_id": incident_id,
            "at": at.isoformat(),
            "actor": actor,
            "kind": kind,
            "data": json.dumps(data, default=str, ensure_ascii=False),
        }
        names = ", ".join(fields)
        cursor = self.db.execute(
            f"INSERT INTO events ({names}) VALUES ({', '.join('?' * len(fields))})", [*fields.values()]
        )
        event_id = _pk(cursor.lastrowid)
        return Event(id=event_id, incident_id=incident_id, at=at, actor=actor, kind=kind, data=data)

    def events(self, incident_id: int, kind: EventKind | None = None) -> list[Event]:
        where = "incident_id = ?" + (" AND kind = ?" if kind else "")
        args = [incident_id, kind] if kind else [incident_id]
        return [_event(r) for r in self.db.table("events").rows_where(where, args, order_by="id")]

    # ---- drafts and approvals ------------------------------------------------------------------
    def insert_draft(self, **fields: Any) -> Draft:
        return self.draft(_pk(self.db.table("drafts").insert(_encode(fields)).last_pk))

    def draft(self, draft_id: int) -> Draft:
        return Draft.model_validate(_decode(self.db.table("drafts").get(draft_id)))

    def drafts(self, incident_id: int, kind: str | None = None) -> list[Draft]:
        where = "incident_id = ?" + (" AND kind = ?" if kind else "")
        args = [incident_id, kind] if kind else [incident_id]
        return [
            Draft.model_validate(_decode(r)) for r in self.db.table("drafts").rows_where(where, args, order_by="id")
        ]

    def update_draft(self, draft_id: int, **fields: Any) -> Draft:
        self.db.table("drafts").update(draft_id, _encode(fields))
        return self.draft(draft_id)

    def add_approval(self, approval: Approval) -> bool:
        """Record a decision; False when that role already decided on that version."""
        before = self.db.conn.total_changes
        self.db.table("approvals").insert(_encode(approval.model_dump()), ignore=True)
        return self.db.conn.total_changes > before

    def approvals(self, draft_id: int, version: int | None = None) -> list[Approval]:
        where = "draft_id = ?" + (" AND version = ?" if version is not None else "")
        args = [draft_id, version] if version is not None else [draft_id]
        rows = self.db.table("approvals").rows_where(where, args, order_by="id")
        return [Approval.model_validate(_decode(r)) for r in rows]

    # ---- roles and acknowledgements ------------------------------------------------------------
    def set_role_owners(self, role: str, users: list[str]) -> None:
        with self.transaction() as db:
            db.table("role_owners").delete_where("role = ?", [role])
            db.table("role_owners").insert_all([{"role": role, "user": u, "rank": i} for i, u in enumerate(users)])

    def role_owners(self) -> dict[str, list[str]]:
        owners: dict[str, list[str]] = {}
        for row in self.db.table("role_owners").rows_where(order_by="role, rank"):
            owners.setdefault(row["role"], []).append(row["user"])
        return owners

    def add_ack(self, ack: Ack) -> bool:
        """Record who took a role; False when the role was already taken for that incident."""
        before = self.db.conn.total_changes
        self.db.table("acks").insert(_encode(ack.model_dump()), ignore=True)
        return self.db.conn.total_changes > before

    def drop_ack(self, incident_id: int, role: str) -> None:
        """Free a role that was taken (a drill made its holder unavailable: the backups must take it)."""
        self.db.execute("DELETE FROM acks WHERE incident_id = ? AND role = ?", [incident_id, role])

    def acks(self, incident_id: int) -> dict[str, Ack]:
        rows = self.db.table("acks").rows_where("incident_id = ?", [incident_id])
        return {r["role"]: Ack.model_validate(_decode(r)) for r in rows}

    # ---- checklist -----------------------------------------------------------------------------
    def mark_checklist(self, mark: ChecklistMark) -> bool:
        before = self.db.conn.total_changes
        self.db.table("checklist").insert(_encode(mark.model_dump()), ignore=True)
        return self.db.conn.total_changes > before

    def checklist(self, incident_id: int) -> dict[str, ChecklistMark]:
        rows = self.db.table("checklist").rows_where("incident_id = ?", [incident_id])
        return {r["item_id"]: ChecklistMark.model_validate(_decode(r)) for r in rows}

    # ---- idempotency -----------------------------------------------------------------------------
    def claim_request(self, key: str, at: datetime, body: str | None = None) -> bool:
        """True the first time `key` is seen: a Slack retry or a replayed request gets False.

        `body` (JSON, no tokens) is what the request asks for, kept until `finish_request`: a process that dies
        after the ack leaves it for the next start to finish (`unfinished_requests`).

        This is the one write before a request is acknowledged, so its commit does not wait for the disk
        (synchronous=NORMAL for it alone): the key must outlive Slack's retries of the next seconds and a
        crash of the process, which WAL with NORMAL guarantees, not a power cut; the next ordinary commit's
        fsync covers it anyway. A stalled disk then delays the work behind the ack, not the ack.
        """
        insert = "INSERT OR IGNORE INTO handled_requests (key, at, body) VALUES (?, ?, ?)"
        values = [key, at.isoformat(), body]
        if self.db.conn.in_transaction:  # inside a caller's transaction it commits with the caller's
            return self.db.conn.execute(insert, values).rowcount == 1
        # One statement on a connection of its own (autocommit, NORMAL, no checkpointing: the next ordinary
        # commit checkpoints): every concurrent request queues on this lock, so it is held for one SQLite call.
        with self._write_lock:
            return self._keys_connection().execute(insert, values).rowcount == 1

    def _keys_connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "keys", None)
        if conn is None:
            conn = sqlite3.connect(
                str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None
            )
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint=0")
            if self._max_pages is not None:  # a rehearsed full disk holds for this connection too
                conn.execute(f"PRAGMA max_page_count={self._max_pages}")
            self._local.keys = conn
            with self._write_lock:
                self._connections.append(conn)
        return conn

    def finish_request(self, key: str, at: datetime) -> None:
        """The request's listener is done: forget its body (it may hold people's text), keep the key."""
        with self.transaction() as db:
            db.execute(
                "UPDATE handled_requests SET finished_at = ?, body = NULL WHERE key = ? AND finished_at IS NULL",
                [at.isoformat(), key],
            )

    def unfinished_requests(self) -> list[tuple[str, str]]:
        """(key, body) of each recorded request whose listener never finished, oldest first."""
        rows = self.db.execute(
            "SELECT key, body FROM handled_requests WHERE finished_at IS NULL AND body IS NOT NULL ORDER BY at, rowid"
        )
        return [(row[0], row[1]) for row in rows.fetchall()]

    def delivery(self, key: str) -> str | None:
        row = self.db.execute("SELECT ref FROM deliveries WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def deliveries(self, incident_id: int) -> dict[str, str]:
        rows = self.db.execute("SELECT key, ref FROM deliveries WHERE incident_id = ?", [incident_id])
        return dict(rows.fetchall())

    def record_delivery(self, key: str, incident_id: int, ref: str, at: datetime) -> None:
        with self.transaction() as db:
            _upsert(db, "deliveries", ("key",), [[key, incident_id, ref, at.isoformat()]])

    def note_tries(self, incident_id: int, tries: dict[str, str], at: datetime) -> None:
        """Note steps as tried (`<id>:try:<step>` → what a later run needs to find them) before they go out."""
        rows = [[f"{incident_id}:try:{step}", incident_id, ref, at.isoformat()] for step, ref in tries.items()]
        if rows:
            with self.transaction() as db:
                _upsert(db, "deliveries", ("key",), rows)

    def forget_tries(self, incident_id: int, steps: list[str]) -> None:
        """Drop the try notes of steps recorded under keys of their own (the outbox's `outbox:<row>:<n>`)."""
        tries = [f"{incident_id}:try:{step}" for step in steps]
        if tries:
            with self.transaction() as db:
                db.execute(f"DELETE FROM deliveries WHERE key IN ({', '.join('?' * len(tries))})", tries)

    def record_deliveries(self, incident_id: int, refs: dict[str, str], at: datetime) -> None:
        """Note steps as done (`<id>:<step>` → ref) and forget that they were tried, in one transaction."""
        if not refs:
            return
        with self.transaction() as db:
            rows = [[f"{incident_id}:{step}", incident_id, ref, at.isoformat()] for step, ref in refs.items()]
            _upsert(db, "deliveries", ("key",), rows)
            tries = [f"{incident_id}:try:{step}" for step in refs]
            db.execute(f"DELETE FROM deliveries WHERE key IN ({', '.join('?' * len(tries))})", tries)


COLUMNS = {  # the columns of the tables the set-up writes on every step, in the order _upsert's rows give them
    "deliveries": ("key", "incident_id", "ref", "at"),
    "platform_refs": ("platform", "key", "value", "at"),
}


def _upsert(db: sqlite_utils.Database, table: str, pk: tuple[str, ...], rows: list[list[Any]]) -> None:
    """Insert the rows, replacing the values of a row with the same key: sqlite-utils' upsert in one statement
    (its own builds each row's SQL in Python, a millisecond per step of a declare)."""
    columns = COLUMNS[table]
    update = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in pk)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT({', '.join(pk)}) DO UPDATE SET {update}"
    )
    db.conn.executemany(sql, rows)


def _pk(value: object) -> int:
    """The rowid sqlite-utils reports after an insert (typed loosely there; always set for our tables)."""
    assert isinstance(value, int), value
    return value


def _event(r: dict[str, Any]) -> Event:
    return Event(
        id=r["id"],
        incident_id=r["incident_id"],
        at=parse_iso(r["at"]),
        actor=r["actor"],
        kind=r["kind"],
        data=json.loads(r["data"] or "{}"),
    )


def _timer(row: dict[str, Any]) -> Timer:
    return Timer.model_validate({**_decode(row), "data": json.loads(row.get("data") or "{}")})


def _triage(row: dict[str, Any]) -> Triage:
    return Triage.model_validate(_decode(row))


def _outbox(row: dict[str, Any]) -> OutboxMessage:
    return OutboxMessage.model_validate({**_decode(row), "data": json.loads(row.get("data") or "{}")})


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, datetime):
            value = _iso(value)
        elif isinstance(value, bool):
            value = int(value)
        out[key] = value
    return out


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}


def _check_path(path: Path) -> None:
    """A path SQLite cannot open, said in one line: what is wrong and what to do."""
    if path.is_dir():
        raise SchemaError(
            message=f"{path}: is a folder, not a database file — set CRISISBOT_DB to a file in it, "
            f"e.g. {path / 'crisisbot.db'}"
        )
    if not path.parent.is_dir():
        raise SchemaError(
            message=f"{path}: the folder {path.parent} does not exist — create it, or set "
            "CRISISBOT_DB to a file in a folder that exists"
        )


def _unusable(path: Path, exc: sqlite3.DatabaseError) -> str:
    """SQLite's refusal to open or write the file, as one line saying what to do."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_READONLY or "readonly" in str(exc):
        return (
            f"{path}: the database is read-only for this user — let crisisbot write the file and its folder "
            "(it keeps -wal and -shm files next to it), or set CRISISBOT_DB to another file"
        )
    if code == sqlite3.SQLITE_CANTOPEN or "unable to open" in str(exc):
        return f"{path}: cannot open the database file — check that crisisbot may read and write it and its folder"
    if disk_full(exc):
        return f"{path}: the disk is full — free up space, then start crisisbot again"
    return f"{path}: the database file is damaged ({exc}) — restore it from a backup, or set CRISISBOT_DB to a new file"


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(16) == b"SQLite format 3\x00"


def _without_waiting(conn: sqlite3.Connection) -> None:
    """A request thread's connection while serving: its commits wait for no fsync, and it never checkpoints."""
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")


def _sync_wal(path: Path, every: float, stop: threading.Event) -> None:
    """Every `every` s, when the WAL changed: checkpoint what no reader needs into the database (PASSIVE: it waits
    for no writer and none waits for it; SQLite syncs the WAL before and the database after), then fsync the WAL,
    so what was committed is on disk. The syncer's own connection keeps the WAL file in place (SQLite removes it
    when the last connection closes), so one descriptor of it serves throughout."""
    wal = path.with_name(path.name + "-wal")
    synced: tuple[int, int] | None = None
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    fd: int | None = None
    try:
        conn.execute("PRAGMA journal_mode").fetchone()  # opens the database, and with it the WAL
        while not stop.wait(every):
            try:
                if fd is None:
                    fd = os.open(wal, os.O_RDONLY)
                stat = os.fstat(fd)
                if (stat.st_size, stat.st_mtime_ns) == synced:
                    continue
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                os.fsync(fd)
                synced = (stat.st_size, stat.st_mtime_ns)
            except (OSError, sqlite3.Error):  # no WAL yet, or the disk said no: next time
                continue
    finally:
        if fd is not None:
            os.close(fd)
        conn.close()
