"""A step that must not repeat: bot/slack/readback.py's `once`, moved onto the port (until bot/chat/steps.py's
step runner replaces it for declare, closing and outbox steps alike).

Every step is noted as *tried* before its call goes out. A step tried but not noted as done may or may not
have reached the platform; its look-up answers which, so a restarted bot finishes without repeating it. Only
a resumed run pays for the look-up: a first run has nothing tried.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from bot.chat.port import Refused

if TYPE_CHECKING:
    from bot.store import Store

log = logging.getLogger("crisisbot.chat")


class LookUpFailed(Exception):
    """The platform refused the look-up of a step a dead run tried: it may be there, so it must not be redone
    blindly."""

    def __init__(self, cause: Refused | OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def once(
    store: Store,
    incident_id: int,
    step: str,
    call: Callable[[], str],
    record: Callable[[str], None],
    now: datetime,
    look: Callable[[], str | None] | None = None,
) -> str:
    """One step that must not repeat: if a run that died had tried it, look it up first (`look`: its ref on the
    platform, or None); otherwise note it as tried, do it, and `record` its ref (recording should also forget
    the try). A step without `look` is safe to repeat and is simply done.
    Raises what the platform raised, and LookUpFailed when the look-up itself was refused."""
    if look is not None:
        if store.delivery(f"{incident_id}:try:{step}"):
            try:
                ref = look()
            except (Refused, OSError) as exc:
                raise LookUpFailed(exc) from exc
            if ref:
                log.info("incident %s: %s found on the platform, done before a restart", incident_id, step)
                record(ref)
                return ref
        store.note_tries(incident_id, {step: "{}"}, now)
    ref = call()
    record(ref)
    return ref


_RUNNING: dict[int, threading.RLock] = {}
_RUNNING_LOCK = threading.Lock()


def one_run_at_a_time(incident_id: int) -> threading.RLock:
    """One lock per incident for every run that talks to the platform about it (declare's set-up, resolve's
    closing steps): two runs (the same declare typed twice at once, a double click on Retry) take turns, and the
    second finds done what the first did. Re-entrant: the closing steps run the set-up while holding it."""
    with _RUNNING_LOCK:
        return _RUNNING.setdefault(incident_id, threading.RLock())
