"""The one step runner: platform calls that must not repeat (declare's set-up, resolve's closing steps, outbox
messages), done at most once each across retries, restarts and crashes.

A step is recorded in the store's `deliveries` once the platform accepted it, together with its bookkeeping, so
a run that failed midway is completed by running it again, and nothing is done twice. Before its call goes out a
step that is not safe to repeat is noted as *tried*; every message it sends carries a tag (`Tag`: the incident's
code and the step's key) the platform keeps with it. A later run that finds a try but no record asks the platform
(`Step.look`) whether the call landed before doing it again: only a resumed run pays for those look-ups, a first
run has nothing tried. What identifies a step there is the platform's own data (the tag, a file's name, a room no
other incident has), never a time: the bot's clock may disagree with the platform's.

Two ways to run steps:

- `Runner.round(steps)`: independent steps at once, on the shared pool: the read-backs a dead run calls for
  (steps that share a `place` are looked up with one call), one note of every try, the calls in parallel, one
  transaction recording all that worked with their `then`s. A refused step is reported in `Round.failed`, never
  raised. Declare's set-up is three such rounds (bot/chat/setup.py).
- `Runner.once(step)`: one step, now: raises what the platform raised (`Refused`, `OSError`), and `LookUpFailed`
  when the read-back itself was refused (the step may be there: it must not be redone blindly). The closing
  steps and outbox messages run this way, one after the other, in the order people read them.

Keys are typed (`StepKey`); the store keeps them as they always were, so no migration was needed:
`<incident>:<step>` when done, `<incident>:try:<step>` while tried, and an outbox message under its own
`outbox:<row>:<n>` (tried as `<incident>:try:outbox:<row>:<n>`). `StepKey.parse` is the one place that reads
a stored key back.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal, get_args

from bot.chat.port import Refused

if TYPE_CHECKING:
    from bot.store import Store

log = logging.getLogger("crisisbot.chat")
# A round's calls at once. A Teams declare's second round is eleven steps and the "declared" answer (pin and topic
# are no-ops there, but each holds a thread for a moment): with fewer threads its last calls wait, a round of their own.
PARALLEL_CALLS = 16
TRY = "try"

Kind = Literal[
    "channel",  # the incident's room (kept as "channel" in the store: the key of every incident so far)
    "header",
    "topic",  # arg: the level
    "invite",  # arg: the level
    "dm",  # arg: the person
    "mention",  # arg: the level
    "uninvited",  # arg: the level
    "pin",
    "draft",  # arg: the draft's id
    "ready",  # an older set-up-done mark (now the incident's setup_done_at): read, never written
    "redraw",  # arg: "header" or "draft:<id>"
    "closing",
    "provision",  # the closing drafts (and anything declare left undone): the set-up plan's own steps
    "report",
    "survey",  # arg: the person
    "outbox",  # arg: "<row>:<n>", the n-th message of an outbox row
]
KINDS: frozenset[str] = frozenset(get_args(Kind))


@dataclass(frozen=True, order=True)
class StepKey:
    """What a step is: its kind and what it is about (`dm` to whom, `draft` which one, `topic` at which level)."""

    kind: Kind
    arg: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.arg}" if self.arg else self.kind

    @classmethod
    def parse(cls, text: str) -> StepKey:
        """The key a `str()` made (`dm:U123`, `redraw:draft:4`); raises ValueError for anything else."""
        kind, _, arg = text.partition(":")
        if kind not in KINDS:
            raise ValueError(f"not a step key: {text!r}")
        return cls(kind, arg)  # type: ignore[arg-type]  # checked against KINDS just above

    @classmethod
    def of_stored(cls, key: str) -> StepKey | None:
        """The step a stored done-key names (`14:dm:U1`, `outbox:7:0`); None for a try or someone else's key."""
        if key.startswith("outbox:"):
            return cls.parse(key)
        _, _, step = key.partition(":")
        if not step or step.startswith(f"{TRY}:"):
            return None
        try:
            return cls.parse(step)
        except ValueError:
            return None

    @property
    def own_row(self) -> bool:
        """Recorded under a key of its own rather than under the incident (an outbox message, `outbox:<row>:<n>`)."""
        return self.kind == "outbox"

    def stored(self, incident_id: int) -> str:
        """The key the store records it under once done."""
        return str(self) if self.own_row else f"{incident_id}:{self}"

    def tried_key(self, incident_id: int) -> str:
        return f"{incident_id}:{TRY}:{self}"


def tried(name: str = "") -> str:
    """What a try notes: what a later run needs to find it besides its step (the name a room was asked for)."""
    return json.dumps({"name": name} if name else {})


def tried_name(note: str) -> str:
    return str(json.loads(note).get("name", ""))


# A look-up: the refs of those of `keys` that a dead run left on the platform (keys missing: not there).
Finder = Callable[[set[StepKey]], dict[StepKey, str]]


@dataclass(frozen=True)
class Step:
    """One call that must not repeat.

    `call` does it on the platform and returns the ref to note (a message ref, a room ref, "ok"). `look` finds
    where a run that died may have left it; steps of one round with the same `place` are looked up with one call
    (one history read for a room's messages). A step without `look` is safe to repeat and is simply done again.
    `then` is bookkeeping noted with it, in the same transaction. `refused`, asked after a round's calls are all
    in, may give a refused step a ref anyway: done as far as anyone can make it (a DM to an account the platform
    does not know)."""

    key: StepKey
    call: Callable[[], str]
    look: Finder | None = None
    place: str = ""
    then: Callable[[str], None] | None = None
    refused: Callable[[], str | None] | None = None


class LookUpFailed(Exception):
    """The platform refused the look-up of a step a dead run tried: it may be there, so it must not be redone."""

    def __init__(self, cause: Refused | OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass
class Round:
    """What one round did: the refs it recorded (found or done), the steps refused, what ran alongside said."""

    refs: dict[StepKey, str] = field(default_factory=dict)
    found: dict[StepKey, str] = field(default_factory=dict)
    failed: list[StepKey] = field(default_factory=list)
    alongside: bool = False


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def pool() -> ThreadPoolExecutor:
    """One shared pool for the parallel platform calls: its threads (and their SQLite connections) are reused."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=PARALLEL_CALLS, thread_name_prefix="crisisbot-slack")
        return _POOL


_RUNNING: dict[int, threading.RLock] = {}
_RUNNING_LOCK = threading.Lock()


def one_run_at_a_time(incident_id: int) -> threading.RLock:
    """One lock per incident for every run that talks to the platform about it (declare's set-up, resolve's
    closing steps): two runs (the same declare typed twice at once, a double click on Retry) take turns, and the
    second finds done what the first did. Re-entrant: the closing steps run the set-up plan while holding it."""
    with _RUNNING_LOCK:
        return _RUNNING.setdefault(incident_id, threading.RLock())


def why(exc: Refused | OSError) -> str:
    """The platform's reason, or the kind of network failure (a timeout once the retry handlers gave up)."""
    return exc.reason if isinstance(exc, Refused) else type(exc).__name__


class Runner:
    """Runs an incident's steps against the store's record of what is done; `label` names the run in the log
    (`declare CR-2026-014`)."""

    def __init__(self, store: Store, incident_id: int, now: Callable[[], datetime], label: str) -> None:
        self.store, self.incident_id, self.now, self.label = store, incident_id, now, label

    # ---- what is done ---------------------------------------------------------------------------------
    def done(self) -> dict[StepKey, str]:
        """Every step recorded for the incident, with its ref (outbox messages too)."""
        refs: dict[StepKey, str] = {}
        for stored, ref in self.store.deliveries(self.incident_id).items():
            key = StepKey.of_stored(stored)
            if key is not None:
                refs[key] = ref
        return refs

    def ref(self, key: StepKey) -> str | None:
        return self.store.delivery(key.stored(self.incident_id))

    def is_tried(self, key: StepKey) -> str | None:
        """What the try of a step not yet recorded noted, or None when no run tried it."""
        return self.store.delivery(key.tried_key(self.incident_id))

    def note_tried(self, keys: Iterable[StepKey], note: str = "") -> None:
        self.store.note_tries(self.incident_id, {str(key): tried(note) for key in keys}, self.now())

    def record(self, refs: dict[StepKey, str]) -> None:
        """Note steps as done and forget that they were tried, in one transaction (the caller's, if open)."""
        at = self.now()
        with self.store.transaction():
            self.store.record_deliveries(self.incident_id, {str(k): r for k, r in refs.items() if not k.own_row}, at)
            own = {k: r for k, r in refs.items() if k.own_row}
            for key, ref in own.items():
                self.store.record_delivery(key.stored(self.incident_id), self.incident_id, ref, at)
            self.store.forget_tries(self.incident_id, [str(k) for k in own])

    # ---- one step, now --------------------------------------------------------------------------------
    def once(self, step: Step) -> str:
        """Do `step` unless done: look it up first if a run that died had tried it; otherwise note it as tried, do
        it, and record its ref with its `then`. Raises what the platform raised, and LookUpFailed when the
        look-up itself was refused."""
        done = self.ref(step.key)
        if done is not None:
            return done
        if step.look is not None:
            if self.is_tried(step.key) is not None:
                try:
                    ref = step.look({step.key}).get(step.key)
                except (Refused, OSError) as exc:
                    raise LookUpFailed(exc) from exc
                if ref:
                    log.info("%s: %s found on the platform, done before a restart", self.label, step.key)
                    self._record_with_then([step], {step.key: ref})
                    return ref
            self.note_tried([step.key])
        ref = step.call()
        self._record_with_then([step], {step.key: ref})
        return ref

    # ---- a round of independent steps -----------------------------------------------------------------
    def round(self, steps: list[Step], alongside: Callable[[], bool] | None = None) -> Round:
        """Find what a dead run left, note the rest as tried, do it in parallel, record all that worked at once.

        `alongside` (not a step: nothing to record or read back) runs in parallel with the steps; its answer is
        `Round.alongside`.
        """
        result = Round()
        found, unknown = self._read_back(steps)
        todo = [s for s in steps if s.key not in found and s.key not in unknown]
        self.note_tried(s.key for s in todo)
        extra = pool().submit(alongside) if alongside else None  # first, so it never queues behind the steps
        outcomes = list(pool().map(self._ask, todo))
        refs = {**found, **{s.key: ref for s, ref in zip(todo, outcomes, strict=True) if ref is not None}}
        for step in todo:
            if step.key not in refs and step.refused is not None:
                ref = step.refused()
                if ref is not None:
                    refs[step.key] = ref
        self._record_with_then(steps, refs)
        result.refs, result.found = refs, found
        result.failed = [s.key for s in steps if s.key not in refs]
        result.alongside = bool(extra and extra.result())
        return result

    def _record_with_then(self, steps: list[Step], refs: dict[StepKey, str]) -> None:
        with self.store.transaction():
            self.record(refs)
            for step in steps:
                if step.key in refs and step.then:
                    step.then(refs[step.key])

    def _read_back(self, steps: list[Step]) -> tuple[dict[StepKey, str], set[StepKey]]:
        """Steps a dead run tried: those the platform has (key → ref), and those we could not check (not redone)."""
        done = self.store.deliveries(self.incident_id)
        tried_steps = [s for s in steps if s.look and s.key.tried_key(self.incident_id) in done]
        if not tried_steps:
            return {}, set()
        places: dict[str, tuple[Finder, set[StepKey]]] = {}
        for step in tried_steps:
            assert step.look is not None
            places.setdefault(step.place or str(step.key), (step.look, set()))[1].add(step.key)
        lookups = list(places.values())
        answers = pool().map(lambda lookup: self._ask_look(*lookup), lookups)
        found: dict[StepKey, str] = {}
        unknown: set[StepKey] = set()
        for (_, keys), answer in zip(lookups, answers, strict=True):
            if answer is None:
                unknown |= keys
            else:
                found.update({k: v for k, v in answer.items() if k in keys})
        if found:
            log.info(
                "%s: found on the platform, done before a restart: %s", self.label, ", ".join(sorted(map(str, found)))
            )
        return found, unknown

    def _ask(self, step: Step) -> str | None:
        """The call's ref, or None when the platform refused or could not be reached after the retries gave up."""
        try:
            return str(step.call())
        except (Refused, OSError) as exc:
            log.warning("%s: step %s failed: %s", self.label, step.key, why(exc))
            return None

    def _ask_look(self, look: Finder, keys: set[StepKey]) -> dict[StepKey, str] | None:
        try:
            return look(keys)
        except (Refused, OSError) as exc:
            log.warning("%s: step read back failed: %s", self.label, why(exc))
            return None
