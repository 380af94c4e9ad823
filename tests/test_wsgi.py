"""Stopping a waitress server (the Slack app's and the intake's): its loop ends, its port closes, even when the
trigger that wakes the loop is already gone (once seen in CI as an EBADF at a test's teardown)."""

from __future__ import annotations

import os
import socket
import threading
import urllib.request

import pytest
from waitress.server import create_server

from bot.wsgi import stop_http_server


def _app(environ: dict[str, object], start_response: object) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])  # type: ignore[operator]
    return [b"ok"]


def _running() -> tuple[object, threading.Thread, int]:
    server = create_server(_app, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    port = int(server.effective_port)  # type: ignore[union-attr]
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read() == b"ok"
    return server, thread, port


def _refused(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("trigger", ["working", "gone"])
def test_a_stopped_server_has_ended_its_loop_and_closed_its_port(trigger: str) -> None:
    server, thread, port = _running()
    if trigger == "gone":
        os.close(server.trigger.trigger)  # type: ignore[attr-defined]  # the write end the stop would pull
    stop_http_server(server, thread, timeout=5)
    assert not thread.is_alive()
    assert _refused(port)
