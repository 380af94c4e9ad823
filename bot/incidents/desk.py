"""The Desk: everything a domain verb needs (settings, store, playbooks, wording, clock) in one place."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from bot.clock import Clock, SystemClock, parse_iso
from bot.config import Settings
from bot.errors import NotAuthorized, UnknownScenario, WrongState
from bot.incidents.drills.script import DrillScript, load_scripts
from bot.messages import Messages
from bot.models import Incident
from bot.playbooks import Playbook, load_playbooks
from bot.store import Store

log = logging.getLogger("crisisbot")


@dataclass
class Desk:
    settings: Settings
    store: Store
    playbooks: dict[str, Playbook]
    messages: Messages
    clock: Clock = field(default_factory=SystemClock)
    drill_scripts: dict[str, DrillScript] = field(default_factory=dict)  # playbooks/drills/<scenario>.yaml
    # Called after a change to the timers table, so a running scheduler re-arms for the earliest one.
    timer_listeners: list[Callable[[], None]] = field(default_factory=list)

    def timers_changed(self) -> None:
        for listener in self.timer_listeners:
            listener()

    def now(self) -> datetime:
        return self.clock.now()

    @contextmanager
    def deciding(self) -> Iterator[None]:
        """The write transaction of a verb that decides inside it, on what it reads there.

        Every verb that changes an incident re-reads the incident (and draft) and re-checks its state and the
        actor's right in here, under the write lock, never on what it was handed: that was read before the lock,
        and a concurrent click, submission or timer may have changed it since. A refusal raised in here rolls
        back the transaction that recorded it, so it is recorded again afterwards: the attempt stays on the
        timeline, as a refusal checked outside a transaction does.
        """
        outermost = not self.store.db.conn.in_transaction
        try:
            with self.store.transaction():
                yield
        except NotAuthorized as exc:
            if outermost and exc.refusal is not None:
                exc.unrecorded = True
                self.record_refusal(exc)
            raise

    @contextmanager
    def checking(self) -> Iterator[None]:
        """Checks a request answers in its acknowledgement, run without writing anything.

        The only write before an ack is the request's own record (bot/slack/app.py), so what a form or a command
        refuses before its ack is decided in a transaction that is always rolled back: the incident, draft and
        roles are read consistently, and the refusal's timeline event is undone with it. The caller records that
        event once it has answered (`record_refusal`); the verb checks again under the write lock when it runs.
        Inside a verb's transaction a check simply joins it.
        """
        if self.store.db.conn.in_transaction:
            yield
            return
        try:
            with self.store.transaction():
                yield
                raise _Unwritten
        except _Unwritten:
            return
        except NotAuthorized as exc:
            exc.unrecorded = exc.refusal is not None
            raise

    def record_refusal(self, exc: Exception) -> None:
        """Put a refusal whose event was rolled back on the timeline (a no-op for any other error)."""
        if isinstance(exc, NotAuthorized) and exc.unrecorded and exc.refusal is not None:
            incident_id, actor, data = exc.refusal
            with self.store.transaction():
                self.store.add_event(incident_id, self.now(), actor, "refused", **data)
            exc.unrecorded = False

    def playbook(self, scenario: str) -> Playbook:
        book = self.playbooks.get(scenario)
        if book is None:
            # echo at most 40 characters of what was typed: a 40k-character word must not make the answer too long
            raise UnknownScenario(scenario=scenario[:40], valid=", ".join(self.scenarios()))
        return book

    def scenarios(self) -> list[str]:
        """Enabled scenario ids in a stable order."""
        return list(self.playbooks)

    @property
    def language(self) -> str:
        return self.settings.language


class _Unwritten(Exception):
    """Rolls a check's transaction back (Desk.checking)."""


def require_active(incident: Incident) -> Incident:
    """Refuse a change to a resolved incident (read it inside the verb's transaction first)."""
    if not incident.active:
        raise WrongState("error.incident_resolved", code=incident.code)
    return incident


def open_desk(settings: Settings, clock: Clock | None = None) -> Desk:
    """Load playbooks and messages, open (and migrate) the database."""
    books = load_playbooks(settings.playbooks_dir)
    if settings.scenarios:
        books = {k: v for k, v in books.items() if k in settings.scenarios}
    store = Store(settings.db_path)
    for role, users in settings.role_owners.items():
        if users and not store.role_owners().get(role):
            store.set_role_owners(role, users)  # config seeds owners; Slack edits win afterwards
    return Desk(
        settings=settings,
        store=store,
        playbooks=books,
        messages=Messages(settings.messages_dir),
        clock=clock or _clock(store, settings.clock_speed),
        drill_scripts={k: v for k, v in load_scripts(settings.playbooks_dir).items() if k in books},
    )


def _clock(store: Store, speed: float) -> SystemClock:
    """The machine's clock; a sped-up one continues from the crisis time it had reached before a restart."""
    if speed == 1:
        return SystemClock()
    saved = json.loads(store.meta("clock_anchor") or "{}")
    if saved.get("speed") == speed:
        return SystemClock(speed, anchor=(saved["wall"], parse_iso(saved["crisis"])))
    clock = SystemClock(speed)
    store.set_meta(
        "clock_anchor",
        json.dumps({"speed": speed, "wall": clock.anchor_wall, "crisis": clock.anchor_crisis.isoformat()}),
    )
    return clock
