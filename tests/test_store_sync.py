"""While serving, commits do not wait for the disk (synchronous=NORMAL) and a thread of the store syncs the WAL
instead: every connection, the start-up one and each request thread's, is switched, and the syncer stops with the
store."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import bot.store
from bot.store import Store

AT = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
NORMAL, FULL = 1, 2  # PRAGMA synchronous's answers


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "crisisbot.db")
    yield opened
    opened.close_all()


def synchronous(store: Store) -> int:
    return int(store.db.execute("PRAGMA synchronous").fetchone()[0])


def in_a_thread(what: object) -> object:
    found: list[object] = []
    thread = threading.Thread(target=lambda: found.append(what()))  # type: ignore[operator]
    thread.start()
    thread.join(5)
    return found[0]


def test_a_store_waits_for_the_disk_until_it_is_told_otherwise(store: Store) -> None:
    assert synchronous(store) == FULL
    assert in_a_thread(lambda: synchronous(store)) == FULL


def autocheckpoint(store: Store) -> int:
    return int(store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0])


def test_serving_switches_the_open_connection_and_every_later_one(store: Store) -> None:
    store.sync_in_background(every=0.01)
    assert synchronous(store) == NORMAL
    assert in_a_thread(lambda: synchronous(store)) == NORMAL
    assert autocheckpoint(store) == 0  # the syncer checkpoints instead, holding no request's write lock
    assert in_a_thread(lambda: autocheckpoint(store)) == 0


def test_the_syncer_checkpoints_the_wal_into_the_database(store: Store, tmp_path: Path) -> None:
    """In WAL mode only a checkpoint writes the database file itself; no request connection checkpoints now."""
    database = tmp_path / "crisisbot.db"
    store.sync_in_background(every=0.01)
    time.sleep(0.05)  # whatever start-up left in the WAL is checkpointed first
    before = database.read_bytes()
    for n in range(50):
        assert store.claim_request(f"teams:{n}", AT)
    deadline = time.monotonic() + 5
    while database.read_bytes() == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert database.read_bytes() != before, "nothing was checkpointed into the database file"


def test_the_syncer_fsyncs_the_wal_after_a_commit_and_stops_with_the_store(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []  # the files fsynced (other stores' syncers may run in this process too)
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(bot.store.os, "fsync", fsync)
    wal = str(tmp_path / "crisisbot.db-wal")
    store.sync_in_background(every=0.01)
    assert store.claim_request("teams:one", AT)
    deadline = time.monotonic() + 5
    while wal not in synced and time.monotonic() < deadline:
        time.sleep(0.01)
    assert wal in synced, "the WAL was never synced"
    store.close_all()
    time.sleep(0.05)  # a round the syncer may have begun before the stop
    after = synced.count(wal)
    writer = sqlite3.connect(tmp_path / "crisisbot.db")
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE later (x)")
    writer.commit()
    time.sleep(0.1)
    writer.close()
    assert synced.count(wal) == after, "the syncer went on after close_all"
