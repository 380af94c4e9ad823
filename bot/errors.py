"""Typed errors of the domain core; adapters decide how a user is told.

CrisisError                 base: carries a UI message key and its variables
├── ConfigError             a config, playbook or template file is wrong (CLI: exit 2)
├── SchemaError             the database file is newer than this code
├── UsageError              a command was typed wrongly: answer with what to type instead
│   ├── UnknownScenario
│   ├── UnknownRole
│   └── BadLevel
├── NotAuthorized           the user may not do this (recorded on the timeline)
├── StaleDraft              the draft changed since the button was drawn
├── WrongState              the incident or draft is not in a state that allows this
│   └── AlreadyDone         someone else did just this a moment before: nothing to correct, nothing changed
├── PromiseLapsing          the text promises an update so soon that posting it now would break the promise
└── NotFound                no such incident / draft
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class CrisisError(Exception):
    """A failure a person can act on: `key` names the UI string in messages/<lang>/ui.yaml."""

    key = "error.generic"

    def __init__(self, key: str | None = None, **params: Any) -> None:
        self.key = key or type(self).key
        self.params = params
        super().__init__(f"{self.key} {params}" if params else self.key)


class ConfigError(CrisisError):
    key = "error.config"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(problems="\n".join(problems))

    def __str__(self) -> str:
        return "\n".join(self.problems)


def not_utf8(path: Path, exc: UnicodeDecodeError) -> str:
    """The problem line for a file saved in another encoding (Windows-1252 from an old editor, say)."""
    line = path.read_bytes()[: exc.start].count(b"\n") + 1
    return f"{path}:{line}: not UTF-8 text (byte {exc.object[exc.start]:#04x}) — save the file as UTF-8"


class SchemaError(CrisisError):
    key = "error.schema"

    def __str__(self) -> str:
        return str(self.params.get("message", self.key))


class UsageError(CrisisError):
    key = "error.usage"


class UnknownScenario(UsageError):
    key = "error.unknown_scenario"


class UnknownRole(UsageError):
    key = "error.unknown_role"


class BadLevel(UsageError):
    key = "error.bad_level"


class SlackLookupFailed(CrisisError):
    """The chat platform did not answer a look-up the verb needs; nothing was changed."""

    key = "error.generic"


class NotAuthorized(CrisisError):
    key = "error.not_authorized"
    # The timeline event of the refusal (incident id, actor, data): Desk.deciding records it again when the
    # transaction it was written in rolls back because of this very refusal.
    refusal: tuple[int, str, dict[str, Any]] | None = None
    # True while that event is not on the timeline: the refusal was decided in Desk.checking (before an ack,
    # where nothing is written), and the caller records it once it has answered (Desk.record_refusal).
    unrecorded: bool = False


class StaleDraft(CrisisError):
    key = "error.stale_draft"


class WrongState(CrisisError):
    key = "error.wrong_state"


class AlreadyDone(WrongState):
    key = "error.wrong_state"


class NotFound(CrisisError):
    key = "error.not_found"


class PromiseLapsing(CrisisError):
    """Marking as posted a text whose promised update time is (nearly) past: redraft with a new time, or insist."""

    key = "promise.lapsing"
