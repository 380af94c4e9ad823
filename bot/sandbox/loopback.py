"""What both emulators (Slack, Teams) share: the loopback HTTP server, the fault book and call log, the lifecycle."""

from __future__ import annotations

import abc
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, Self, TypeVar

from bot.sandbox.model import Call, Fault

T = TypeVar("T")
_pace = threading.local()  # per request thread: when its answer is due (see arrived)


# How long a paced call's own work waits after its arrival (at most a quarter of the latency; none without one).
WORK_AFTER = 0.025


def arrived(latency: float) -> None:
    """A call came in: its answer leaves `latency` seconds from now, whatever the emulator does meanwhile.

    The latency stands for the service's whole time per call as the client sees it. The emulator's own work
    (parsing, validating a card against the schema, JSON) happens inside it, as the service's does, instead of
    being added on top: a benchmark's floor of n rounds × latency is then what the bot could reach.

    That work starts a moment after the arrival (WORK_AFTER), still well inside the latency. The emulator is one
    interpreter: a call whose card is being checked (0.5–5 ms of Python holding the GIL) would hold up the next
    call's arrival, which would then get its latency counted from later. A service's servers check requests side
    by side; so calls that come in together are all stamped as they arrive and do their work after, and a burst
    is timed as Slack or Teams would time it. Unpaced calls (the tests, the demo: latency 0) do not wait.
    """
    _pace.due = time.time() + latency
    if latency > 0:
        time.sleep(min(WORK_AFTER, latency / 4))


def due() -> float:
    """When the answer to this thread's current call may leave (0: now)."""
    return float(getattr(_pace, "due", 0.0))


def wait_until_due() -> None:
    """Hold the answer until its latency has passed (see arrived)."""
    remaining = due() - time.time()
    if remaining > 0:
        time.sleep(remaining)


class App(Protocol):
    """Anything that answers one HTTP request."""

    def handle(self, req: BaseHTTPRequestHandler) -> None: ...


class FaultBook:
    """Scheduled failures and the record of every call, under one lock (the emulators' fail() and calls)."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def add_fault(self, fault: Fault) -> None:
        """Schedule a failure."""
        with self._lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        """Drop all scheduled failures."""
        with self._lock:
            self.faults.clear()

    def _take_fault(self, method: str) -> Fault | None:
        """Count this call against every matching fault; return the one that fires, if any."""
        with self._lock:
            fired: Fault | None = None
            for fault in self.faults:
                if not fault.matches(method):
                    continue
                if fault.after > 0:
                    fault.after -= 1
                elif fired is None and fault.times > 0:
                    fault.times -= 1
                    fired = fault
            self.faults = [f for f in self.faults if f.times > 0]
            return fired

    def record(self, method: str, args: dict[str, Any], status: int, response: Any) -> None:
        """Append a Call record, stamped when its answer leaves (see arrived)."""
        with self._lock:
            self.calls.append(Call(method, args, status, response, max(time.time(), due())))


def write(req: BaseHTTPRequestHandler, status: int, data: bytes, ctype: str, headers: dict[str, str] | None) -> None:
    """Send one complete answer once it is due; a client that already hung up is no error."""
    wait_until_due()
    try:
        req.send_response(status)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            req.send_header(key, value)
        req.end_headers()
        req.wfile.write(data)
        req.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (e.g. after a timeout fault); nothing left to tell it


class Handler(BaseHTTPRequestHandler):
    """Hands every request to the server's app."""

    server: LoopbackServer
    wbufsize = 1 << 16  # headers and body leave in one send instead of two

    def do_GET(self) -> None:
        self.server.app.handle(self)

    do_POST = do_GET
    do_PUT = do_GET
    do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests and the demo print their own transcript."""


class LoopbackServer(ThreadingHTTPServer):
    """A threading server on an ephemeral 127.0.0.1 port."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # benchmarks fire many concurrent calls; the default backlog is 5

    def __init__(self, app: App, handler: type[Handler] = Handler) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.app = app

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hung up (timeouts are part of the game); report anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def serve(app: App, name: str, handler: type[Handler] = Handler) -> tuple[LoopbackServer, threading.Thread]:
    """Start serving `app` on an ephemeral loopback port in a daemon thread."""
    httpd = LoopbackServer(app, handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, name=name, daemon=True)
    thread.start()
    return httpd, thread


class Recorded:
    """clear_faults() and the call log of an emulator, read from its `_book`."""

    _book: FaultBook

    def clear_faults(self) -> None:
        """Cancel all scheduled failures."""
        self._book.clear_faults()

    @property
    def calls(self) -> list[Call]:
        """Return every call so far, failed and fault-injected ones too."""
        with self._book._lock:
            return list(self._book.calls)

    def calls_to(self, method: str) -> list[Call]:
        """Return the calls of one method (Slack) or endpoint (Teams)."""
        return [c for c in self.calls if c.method == method]

    def reset_calls(self) -> None:
        """Forget recorded calls."""
        with self._book._lock:
            self._book.calls.clear()


class Served(abc.ABC):
    """start()/stop()/with and wait_for() of an emulator whose `_serve()` starts its server."""

    _httpd: LoopbackServer | None = None
    _thread: threading.Thread | None = None

    @abc.abstractmethod
    def _serve(self) -> tuple[LoopbackServer, threading.Thread]:
        """Start the emulator's server on its own thread (each emulator serves its own API)."""

    def start(self) -> Self:
        """Serve on 127.0.0.1 with an ephemeral port (daemon thread); returns self."""
        if self._httpd is None:
            self._httpd, self._thread = self._serve()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(self, condition: Callable[[], T], timeout: float = 5.0, interval: float = 0.01) -> T:
        """Poll `condition` until it returns something truthy (the bot may act after answering)."""
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            time.sleep(interval)
