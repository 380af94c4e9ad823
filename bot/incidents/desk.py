"""The Desk: everything a domain verb needs (settings, store, playbooks, wording, clock) in one place."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.clock import Clock, SystemClock, parse_iso
from bot.config import Settings
from bot.errors import UnknownScenario
from bot.messages import Messages
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
    # Called after a change to the timers table, so a running scheduler re-arms for the earliest one.
    timer_listeners: list[Callable[[], None]] = field(default_factory=list)

    def timers_changed(self) -> None:
        for listener in self.timer_listeners:
            listener()

    def now(self) -> datetime:
        return self.clock.now()

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
