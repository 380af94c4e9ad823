"""Serving WSGI apps on waitress: what the Slack app and the intake share (neither imports the other)."""

from __future__ import annotations

import contextlib
import threading
from typing import Any


def stop_http_server(server: Any, thread: threading.Thread, timeout: float = 5.0) -> None:
    """Close a running waitress server and its connections from inside its own loop, then wait for the loop.

    Closing the listening socket from another thread while the loop sits in select() on it makes select fail
    with EBADF, an unhandled exception in the loop thread; a trigger thunk runs in the loop, between selects,
    and wakes it at once instead of after the loop's one-second timeout. The requests already on worker threads
    finish first (no worker takes a new one): a worker that answers wakes the loop through the trigger, and a
    trigger closed under it fails with EBADF in that worker.
    """
    if not thread.is_alive():
        server.close()
        return
    server.task_dispatcher.shutdown(cancel_pending=False, timeout=timeout)

    def close_everything() -> None:
        for channel in list(server._map.values()):  # the listening socket, the trigger, open connections
            channel.close()

    try:
        server.trigger.pull_trigger(close_everything)
    except OSError:  # the trigger's pipe is gone (seen once in CI, cause unknown): the loop cannot be woken
        _close_without_trigger(server, thread, timeout)
        return
    thread.join(timeout)


def _close_without_trigger(server: Any, thread: threading.Thread, timeout: float) -> None:
    """Empty the loop's map, so the loop ends after its current select (at most its one-second timeout) without
    a descriptor closed under it, then close the channels once the loop thread is gone.

    The trigger may have left the map already: a pipe whose write end is closed reads as end-of-file, and the
    loop's close of the trigger stops at the closed write end before the trigger's own copy of the read end."""
    channels = list(server._map.values())
    server._map.clear()
    thread.join(timeout)
    for channel in channels:
        with contextlib.suppress(OSError):  # the trigger, stopped at its closed write end
            channel.close()
    wrapper = getattr(server.trigger, "socket", None)  # the trigger's copy of its read end
    if wrapper is not None:
        wrapper.close()
