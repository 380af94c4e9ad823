"""The SQLite store: a versioned schema that upgrades in place and refuses what it does not understand,
all-or-nothing transactions, idempotency keys, and concurrent writers that wait instead of failing."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.errors import SchemaError
from bot.store import SCHEMA_VERSION, Store

DESIGN_TABLES = {
    "incidents",
    "events",
    "drafts",
    "approvals",
    "role_owners",
    "acks",
    "timers",
    "handled_requests",
    "outbox",
}
AT = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "crisisbot.db")
    yield opened
    opened.close()


def raw(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection, to look at the file without the store's help."""
    return sqlite3.connect(str(path))


def inspect(path: Path, sql: str) -> list[tuple]:
    conn = raw(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def tables(path: Path) -> set[str]:
    return {name for (name,) in inspect(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}


def files_of(path: Path) -> dict[str, str]:
    """The database file and any -wal/-shm/-journal companions, by name and content hash."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.parent.glob(path.name + "*"))}


def incident_fields(code: str) -> dict:
    return {
        "code": code,
        "scenario": "data-breach",
        "level": 2,
        "title": "Customer data on a forum",
        "status": "active",
        "declared_by": "U1",
        "declared_at": AT,
        "detected_at": AT,
        "first_response_due": AT + timedelta(hours=1),
    }


def count(store: Store, table: str) -> int:
    return store.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


# ---- schema ----------------------------------------------------------------------------------------
def test_fresh_file_gets_the_current_schema_with_every_design_table(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    Store(path).close()
    assert inspect(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert tables(path) >= DESIGN_TABLES


def test_fresh_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    Store(path).close()
    assert inspect(path, "PRAGMA journal_mode") == [("wal",)]


def test_store_reports_its_schema_version(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION


def test_older_file_is_upgraded_in_place_keeping_what_it_held(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = raw(path)
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.execute("INSERT INTO notes VALUES ('written before the bot existed')")
    conn.commit()
    conn.close()
    assert inspect(path, "PRAGMA user_version") == [(0,)]

    upgraded = Store(path)
    upgraded.close()

    assert inspect(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert tables(path) >= DESIGN_TABLES | {"notes"}
    assert inspect(path, "SELECT text FROM notes") == [("written before the bot existed",)]
    assert inspect(path, "PRAGMA journal_mode") == [("wal",)]


def test_reopening_a_current_file_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "crisisbot.db"
    first = Store(path)
    first.insert_incident(**incident_fields("CR-2026-001"))
    first.close()
    second = Store(path)
    try:
        assert second.schema_version() == SCHEMA_VERSION
        assert [i.code for i in second.incidents()] == ["CR-2026-001"]
    finally:
        second.close()


def test_newer_file_is_refused_with_a_clear_message_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = raw(path)
    conn.execute("CREATE TABLE from_the_future (x)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = files_of(path)

    with pytest.raises(SchemaError) as caught:
        Store(path)

    message = str(caught.value)
    assert str(path) in message
    assert f"version {SCHEMA_VERSION + 1} is newer" in message
    assert "upgrade crisisbot" in message
    assert files_of(path) == before
    assert inspect(path, "PRAGMA journal_mode") == [("delete",)]


def test_non_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "crisisbot.yaml"
    path.write_text("company:\n  name: Acme\n", encoding="utf-8")
    before = files_of(path)
    with pytest.raises(SchemaError, match="not a SQLite database"):
        Store(path)
    assert files_of(path) == before


def test_tiny_non_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "short.db"
    path.write_bytes(b"SQLite")
    with pytest.raises(SchemaError, match="CRISISBOT_DB"):
        Store(path)
    assert path.read_bytes() == b"SQLite"


# ---- transactions ----------------------------------------------------------------------------------
def test_failing_transaction_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(RuntimeError, match="Slack went away"), store.transaction():
        incident = store.insert_incident(**incident_fields("CR-2026-001"))
        store.add_event(incident.id, AT, "U1", "declared", level=2)
        store.set_role_owners("legal", ["U2", "U3"])
        raise RuntimeError("Slack went away")
    assert count(store, "incidents") == 0
    assert count(store, "events") == 0
    assert count(store, "role_owners") == 0


def test_constraint_violation_midway_rolls_back_the_earlier_rows(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError), store.transaction():
        store.insert_incident(**incident_fields("CR-2026-001"))
        store.insert_incident(**incident_fields("CR-2026-002"))
        store.insert_incident(**incident_fields("CR-2026-001"))  # the code is unique
    assert store.incidents() == []


def test_committed_transaction_keeps_every_row(store: Store) -> None:
    with store.transaction():
        incident = store.insert_incident(**incident_fields("CR-2026-001"))
        store.add_event(incident.id, AT, "U1", "declared")
        store.add_event(incident.id, AT + timedelta(minutes=1), "U2", "acknowledged", role="legal")
    assert [e.kind for e in store.events(incident.id)] == ["declared", "acknowledged"]
    assert store.events(incident.id)[1].data == {"role": "legal"}


def test_nested_transaction_joins_the_outer_one(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        with store.transaction():
            store.insert_incident(**incident_fields("CR-2026-001"))
        raise RuntimeError("after the inner block")
    assert count(store, "incidents") == 0


def test_store_is_usable_after_a_failed_transaction(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.insert_incident(**incident_fields("CR-2026-001"))
        raise RuntimeError("boom")
    store.insert_incident(**incident_fields("CR-2026-001"))
    assert [i.code for i in store.incidents()] == ["CR-2026-001"]


# ---- idempotency -----------------------------------------------------------------------------------
def test_claim_request_is_true_once_per_key(store: Store) -> None:
    assert store.claim_request("slack-retry-1", AT) is True
    assert store.claim_request("slack-retry-1", AT + timedelta(seconds=3)) is False
    assert store.claim_request("slack-retry-2", AT) is True


def test_only_the_claim_skips_the_fsync_every_other_commit_waits_for_the_disk(store: Store) -> None:
    synchronous = lambda: store.db.execute("PRAGMA synchronous").fetchone()[0]  # noqa: E731
    assert synchronous() == 2  # FULL
    assert store.claim_request("slash-1", AT) is True
    assert synchronous() == 2
    store.insert_incident(**incident_fields("CR-2026-001"))
    assert synchronous() == 2


def test_claimed_request_stays_claimed_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "crisisbot.db"
    before = Store(path)
    assert before.claim_request("button-click-42", AT)
    before.close()
    after = Store(path)
    try:
        assert after.claim_request("button-click-42", AT) is False
    finally:
        after.close()


def test_claim_request_inside_a_failed_transaction_is_released(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        assert store.claim_request("click-1", AT)
        raise RuntimeError("the work failed")
    assert store.claim_request("click-1", AT) is True


# ---- concurrency -----------------------------------------------------------------------------------
def run_threads(work: Callable[[int], None], threads: int) -> list[BaseException]:
    """Start `threads` threads at once; return whatever they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def target(number: int) -> None:
        try:
            start.wait()
            work(number)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=target, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    return errors


def test_concurrent_writers_in_threads_never_see_database_is_locked(store: Store) -> None:
    incident = store.insert_incident(**incident_fields("CR-2026-001"))

    def work(number: int) -> None:
        try:
            for i in range(20):
                with store.transaction():
                    store.add_event(incident.id, AT, f"U{number}", "note", i=i)
                    store.claim_request(f"t{number}-{i}", AT)
        finally:
            store.close()  # this thread's connection

    assert run_threads(work, threads=8) == []
    assert count(store, "events") == 8 * 20
    assert count(store, "handled_requests") == 8 * 20


def test_separate_stores_on_one_file_write_concurrently_without_locking_errors(tmp_path: Path) -> None:
    # One Store per thread shares no Python lock: only SQLite's own locking (WAL + busy timeout) keeps order,
    # as between two `crisisbot` processes on one file.
    path = tmp_path / "crisisbot.db"
    Store(path).close()

    def work(number: int) -> None:
        own = Store(path)
        try:
            for i in range(15):
                with own.transaction():
                    own.claim_request(f"s{number}-{i}", AT)
                    own.set_role_owners(f"role{number}", [f"U{i}", f"U{i + 1}"])
                own.claim_request(f"s{number}-{i}-outside", AT)
        finally:
            own.close()

    assert run_threads(work, threads=6) == []
    assert inspect(path, "SELECT COUNT(*) FROM handled_requests") == [(6 * 15 * 2,)]
    assert inspect(path, "SELECT COUNT(*) FROM role_owners") == [(6 * 2,)]


def test_only_one_of_many_simultaneous_claims_of_one_key_wins(tmp_path: Path) -> None:
    path = tmp_path / "crisisbot.db"
    Store(path).close()
    wins: list[bool] = []

    def work(number: int) -> None:
        own = Store(path)
        try:
            wins.append(own.claim_request("the-same-double-click", AT))
        finally:
            own.close()

    assert run_threads(work, threads=8) == []
    assert sorted(wins) == [False] * 7 + [True]


def test_single_writes_outside_a_transaction_from_separate_stores_do_not_lock(tmp_path: Path) -> None:
    path = tmp_path / "crisisbot.db"
    first = Store(path)
    incident = first.insert_incident(**incident_fields("CR-2026-001"))
    first.close()

    def work(number: int) -> None:
        own = Store(path)
        try:
            for i in range(20):
                own.add_event(incident.id, AT, f"U{number}", "note", i=i)
                own.update_incident(incident.id, title=f"update {number}.{i}")
        finally:
            own.close()

    assert run_threads(work, threads=6) == []
    assert inspect(path, "SELECT COUNT(*) FROM events") == [(6 * 20,)]


# ---- years of history: the per-request queries use indexes (issue 11 §6) ------------------------------------------
HISTORY_QUERIES = {
    "deliveries of one incident": "SELECT key, ref FROM deliveries WHERE incident_id = 1",
    "outbox of one incident": "SELECT * FROM outbox WHERE incident_id = 1",
    "active incidents": "SELECT * FROM incidents WHERE status = 'active' ORDER BY id",
    "recently resolved": "SELECT * FROM incidents WHERE status = 'resolved' ORDER BY resolved_at DESC, id LIMIT 50",
    "a channel name of ours": "SELECT 1 FROM incidents WHERE room_name = 'crisis-20260314-data-breach' LIMIT 1",
    "codes of a year": "SELECT COUNT(*) FROM incidents WHERE code >= 'CR-2026-' AND code < 'CR-2026.'",
    "due timers": "SELECT * FROM timers WHERE fired_at IS NULL AND cancelled_at IS NULL AND due_at <= '2026' "
    "ORDER BY due_at, id LIMIT 500",
    "pending timers of one incident": "SELECT * FROM timers WHERE fired_at IS NULL AND cancelled_at IS NULL "
    "AND incident_id = 1 ORDER BY due_at, id",
    "a person's repeated declare": "SELECT * FROM incidents WHERE declared_by = 'U1' AND lower(title) = lower('x') "
    "AND status = 'active' ORDER BY id DESC LIMIT 1",
}


def plan(path: Path, sql: str) -> str:
    return " / ".join(row[-1] for row in inspect(path, f"EXPLAIN QUERY PLAN {sql}"))


def test_a_version_5_database_upgrades_to_indexes_for_every_per_request_query(tmp_path: Path) -> None:
    import sqlite_utils

    from bot.store import MIGRATIONS

    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    for migration in MIGRATIONS[:5]:  # the file as the bot before this change left it
        migration(old)
    old.execute("PRAGMA user_version = 5")
    old["incidents"].insert({**incident_fields("CR-2026-001"), "declared_at": AT.isoformat()})
    old["deliveries"].insert({"key": "1:ready", "incident_id": 1, "ref": "ok", "at": AT.isoformat()})
    old.conn.commit()
    old.close()
    for name, sql in HISTORY_QUERIES.items():
        if name in ("codes of a year", "due timers", "pending timers of one incident"):
            continue  # a range on the code index; the timers' old index, which walks every cancelled timer
        before = sql.replace("room_name", "channel_name")  # the column's name before migration 8
        assert "SCAN" in plan(path, before), name  # before: each read its whole table

    upgraded = Store(path)
    try:
        assert upgraded.schema_version() == SCHEMA_VERSION >= 6
        assert upgraded.delivery("1:ready") == "ok" and upgraded.incident_by_code("CR-2026-001") is not None
        assert upgraded.next_code(2026) == "CR-2026-002"
    finally:
        upgraded.close()
    for name, sql in HISTORY_QUERIES.items():
        found = plan(path, sql)
        assert "USING" in found and not re.search(r"SCAN (incidents|deliveries|timers)\b", found), (name, found)
        assert "idx_timers_fired_at_due_at" not in found, (name, found)  # every cancelled timer ever is NULL there
    # the active few, not every incident its declarer ever declared
    assert "idx_incidents_status_resolved_at" in plan(path, HISTORY_QUERIES["a person's repeated declare"])


def test_a_version_6_database_keeps_which_incidents_were_fully_set_up(tmp_path: Path) -> None:
    """Migration 7 moves the set-up-done fact from the adapter's `<id>:ready` delivery key onto the incident."""
    import sqlite_utils

    from bot.store import MIGRATIONS

    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    for migration in MIGRATIONS[:6]:
        migration(old)
    old.execute("PRAGMA user_version = 6")
    old["incidents"].insert({**incident_fields("CR-2026-001"), "declared_at": AT.isoformat()})
    old["incidents"].insert({**incident_fields("CR-2026-002"), "declared_at": AT.isoformat()})
    set_up = AT + timedelta(seconds=3)
    old["deliveries"].insert({"key": "1:ready", "incident_id": 1, "ref": "ok", "at": set_up.isoformat()})
    old.conn.commit()
    old.close()

    upgraded = Store(path)
    try:
        assert upgraded.incident(1).setup_done_at == set_up
        assert upgraded.incident(2).setup_done_at is None
        later = AT + timedelta(hours=1)  # past the duplicate window: only the never-set-up one is found again
        assert upgraded.recent_declare("U1", "customer data on a forum", later).code == "CR-2026-002"
    finally:
        upgraded.close()


def test_migration_8_gives_the_platform_references_neutral_names_and_keeps_their_values(tmp_path: Path) -> None:
    """A file from before keeps its incidents' rooms and drafts' messages, under the names the layer uses."""
    import sqlite_utils

    from bot.store import MIGRATIONS

    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    for migration in MIGRATIONS[:7]:
        migration(old)
    old.execute("PRAGMA user_version = 7")
    old["incidents"].insert({**incident_fields("CR-2026-001"), "channel_id": "C0123", "channel_name": "crisis-x"})
    old.conn.commit()
    old.close()
    upgraded = Store(path)
    try:
        incident = upgraded.incident_by_room("C0123")
        assert incident is not None and (incident.room_ref, incident.room_name) == ("C0123", "crisis-x")
        assert upgraded.room_name_used("crisis-x")
        assert "message_ref" in {c for (_, c, *_) in inspect(path, "PRAGMA table_info(drafts)")}
    finally:
        upgraded.close()
