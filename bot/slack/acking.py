"""Acknowledgements that leave the moment a listener calls ack().

Bolt's threaded runner starts each listener on a worker thread and has the request's thread check
`ack.response` every 10 ms until the listener acks, so every ack waited up to 10 ms for nothing: the
`/crisis help` ack took 11–13 ms on this stack, of which about 2 ms was work. PromptAck keeps Bolt's runner
and its loop, but reading `response` before the ack blocks on an event (for at most one of Bolt's polling
intervals) that ack() sets: the waiting thread wakes when the answer exists, not at the next tick.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, BoltResponse
from slack_bolt.request import BoltRequest

from bot.faults import crash_point

POLL_SECONDS = 0.01  # Bolt's own polling interval (slack_bolt/listener/thread_runner.py)


class PromptAck(Ack):
    """Bolt's Ack, whose `response` a waiting reader sees the moment it is set."""

    def __init__(self) -> None:
        self._answered = threading.Event()
        self._response: BoltResponse | None = None
        super().__init__()  # type: ignore[no-untyped-call]  # Bolt's Ack.__init__ carries no annotations

    def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        response = super().__call__(*args, **kwargs)
        crash_point("acked")  # restart tests: a kill -9 once Slack has its 200
        return response

    @property
    def response(self) -> BoltResponse | None:
        if self._response is None:
            self._answered.wait(POLL_SECONDS)
        return self._response

    @response.setter
    def response(self, value: BoltResponse | None) -> None:
        self._response = value
        if value is not None:
            self._answered.set()


def prompt_ack(req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
    """Global middleware: give the request a PromptAck before any listener runs.

    (Bolt has made a plain Ack already, building this very function's arguments; nothing has acked yet.)
    """
    if not isinstance(req.context.ack, PromptAck) and req.context.ack.response is None:
        req.context["ack"] = PromptAck()
    return next()
