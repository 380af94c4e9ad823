"""Serving WSGI apps on waitress: what the Slack app and the intake share (neither imports the other)."""

from __future__ import annotations

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

    server.trigger.pull_trigger(close_everything)
    thread.join(timeout)
