"""Start-up work done before anybody's first request needs it: compiling the wording, on a background thread.

`crisisbot serve` starts it for each platform it serves (bot/slack/server.py, bot/teams/server.py's `build`); the
tests do not (each would compile everything for nothing).
"""

from __future__ import annotations

import gc
import logging
import threading

from bot.chat.port import Dialect
from bot.chat.wording import Wording
from bot.incidents.desk import Desk

log = logging.getLogger("crisisbot.chat")


def compile_wording(desk: Desk, dialect: Dialect) -> threading.Thread:
    """Compile every UI string (as the platform of `dialect` gets them, escaped, and plain) and draft template on a
    background thread, then freeze what start-up made out of the garbage collector's full passes."""

    def compile_all() -> None:
        try:
            desk.messages.compile_all()
            Wording(desk.messages, desk.language, dialect).messages.compile_all(drafts=False)
        except Exception:  # a broken template is `crisisbot check`'s to report; requests compile lazily again
            log.warning("compiling the messages at start-up failed", exc_info=True)
        # What start-up made (modules, playbooks, compiled templates) lives as long as the process: out of the
        # collector's full passes, which otherwise walked it all (~50 ms holding the GIL, every request waiting).
        gc.freeze()

    thread = threading.Thread(target=compile_all, name="crisisbot-compile", daemon=True)
    thread.start()
    return thread
