"""The emulator's HTTP side: Web API at /api/<method>, response_url hooks and file uploads."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import traceback
from collections.abc import Iterable
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

# Importing the method modules registers their handlers in METHODS.
from bot.sandbox import api_conversations, api_messages, api_views, scopes  # noqa: F401
from bot.sandbox.api_base import METHODS, ApiError
from bot.sandbox.loopback import FaultBook, LoopbackServer, arrived, wait_until_due
from bot.sandbox.loopback import serve as serve_on_loopback
from bot.sandbox.loopback import write as _write
from bot.sandbox.model import Fault
from bot.sandbox.responses import deliver_response_url
from bot.sandbox.workspace import Workspace

# Fault kinds where Slack does the call but its answer cannot be used (see SlackEmulator.fail).
MALFORMED = ("truncated_json", "cut_connection", "missing_field")


class ApiServer(FaultBook):
    """Routes requests, checks auth, injects faults, records calls."""

    def __init__(self, ws: Workspace, *, token: str, latency: float = 0.0, scopes: Iterable[str] | None = None) -> None:
        super().__init__()
        self.ws = ws
        self.token = token
        self.scopes = set(scopes) if scopes is not None else None  # None: every scope granted
        self.latency = latency

    # ----- request handling ---------------------------------------------------------------
    def handle(self, req: BaseHTTPRequestHandler) -> None:
        """Dispatch one HTTP request by path."""
        url = urlsplit(req.path)
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        path = url.path
        arrived(self.latency if path.startswith(("/api/", "/response/")) else 0.0)  # a response_url is a round trip too
        if path.startswith("/api/"):
            self._api(req, path[len("/api/") :], url.query, body)
        elif path.startswith("/response/") and req.command == "POST":
            self._response_url(req, path[len("/response/") :], body)
        elif path.startswith("/upload/") and req.command in ("POST", "PUT"):
            self._upload(req, path[len("/upload/") :], body)
        else:
            _send(req, 404, {"ok": False, "error": "not_found"})

    def _api(self, req: BaseHTTPRequestHandler, method: str, query: str, body: bytes) -> None:
        args: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        ctype = (req.headers.get("Content-Type") or "").lower()
        try:
            if "application/json" in ctype and body:
                parsed = json.loads(body.decode("utf-8"))
                if not isinstance(parsed, dict):
                    raise ValueError("JSON body must be an object")
                args.update(parsed)
            elif body:
                form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
                args.update({k: v[-1] for k, v in form.items()})
        except (ValueError, UnicodeDecodeError):
            self.record(method, args, 200, {"ok": False, "error": "invalid_json"})
            _send(req, 200, {"ok": False, "error": "invalid_json"})
            return
        auth = req.headers.get("Authorization") or ""
        token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else args.get("token")
        args.pop("token", None)
        fault = self._take_fault(method)
        if fault is not None and fault.error == "lost_response":
            self._lose_response(req, method, args, token, fault)
            return
        if fault is not None and fault.error in MALFORMED:
            self._malformed(req, method, args, token, fault.error)
            return
        if fault is not None:
            self._fail(req, method, args, fault)
            return
        status, response = 200, self._dispatch(method, args, token)
        if response.pop("_status", None) == 500:
            status = 500
        self.record(method, args, status, response)
        _send(req, status, response)

    def _dispatch(self, method: str, args: dict[str, Any], token: Any) -> dict[str, Any]:
        if not token:
            return {"ok": False, "error": "not_authed"}
        if token != self.token:
            return {"ok": False, "error": "invalid_auth"}
        handler = METHODS.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method", "req_method": method}
        refused = scopes.missing(self.ws, method, args, self.scopes) if self.scopes is not None else None
        if refused:
            return refused
        try:
            return {"ok": True, **handler(self.ws, args)}
        except ApiError as exc:
            return exc.to_response()
        except Exception:
            # An emulator bug must be loud, not look like a Slack answer the bot should handle.
            self.ws.problems.append(f"sandbox crashed in {method}: {traceback.format_exc()}")
            return {"ok": False, "error": "fatal_error", "_status": 500}

    def _fail(self, req: BaseHTTPRequestHandler, method: str, args: dict[str, Any], fault: Fault) -> None:
        headers: dict[str, str] = {}
        if fault.error == "ratelimited":
            status, response = 429, {"ok": False, "error": "ratelimited"}
            headers["Retry-After"] = str(fault.retry_after)
        elif fault.error == "internal_error":
            status, response = 500, {"ok": False, "error": "internal_error"}
        elif fault.error == "timeout":
            # Hold the connection past the client's timeout; the state stays untouched either way.
            time.sleep(fault.hang_seconds)
            status, response = 500, {"ok": False, "error": "timeout"}
        else:
            status, response = 200, {"ok": False, "error": fault.error}
        self.record(method, args, status, response)
        _send(req, status, response, headers)

    def _lose_response(
        self, req: BaseHTTPRequestHandler, method: str, args: dict[str, Any], token: Any, fault: Fault
    ) -> None:
        """Do the call, then hold its answer past the client's timeout: Slack did it, the client cannot know."""
        response = self._dispatch(method, args, token)
        self.record(method, args, 200, {**response, "lost_response": True})
        time.sleep(fault.hang_seconds)
        with contextlib.suppress(OSError):  # the client has long hung up
            _send(req, 200, response)

    def _malformed(self, req: BaseHTTPRequestHandler, method: str, args: dict[str, Any], token: Any, kind: str) -> None:
        """Do the call, then answer unusably (MALFORMED): Slack did it, but the client cannot read that it did."""
        response = self._dispatch(method, args, token)
        self.record(method, args, 200, {**response, "malformed": kind})
        data = json.dumps(response).encode("utf-8")
        if kind == "missing_field":
            _send(req, 200, {"ok": True} if response.get("ok") else response)
        elif kind == "truncated_json":  # a complete HTTP answer whose JSON stops halfway
            _write(req, 200, data[: len(data) // 2], "application/json; charset=utf-8", None)
        else:  # cut_connection: the headers promise the whole body, half arrives, then the connection drops
            wait_until_due()
            with contextlib.suppress(OSError):
                req.send_response(200)
                req.send_header("Content-Type", "application/json; charset=utf-8")
                req.send_header("Content-Length", str(len(data)))
                req.end_headers()
                req.wfile.write(data[: len(data) // 2])
                req.wfile.flush()
                req.connection.shutdown(socket.SHUT_RDWR)
            req.close_connection = True

    def _response_url(self, req: BaseHTTPRequestHandler, hook_id: str, body: bytes) -> None:
        payload: Any
        try:
            text = body.decode("utf-8")
            if not text.lstrip().startswith("{"):
                # Legacy clients send a form with a JSON `payload` field.
                text = parse_qs(text).get("payload", ["{}"])[-1]
            payload = json.loads(text) if text.strip() else {}
        except (ValueError, UnicodeDecodeError):
            payload = None
        status, response = deliver_response_url(self.ws, hook_id, payload)
        self.record("response_url", payload if isinstance(payload, dict) else {}, status, response)
        _send(req, status, response)

    def _upload(self, req: BaseHTTPRequestHandler, file_id: str, body: bytes) -> None:
        ctype = req.headers.get("Content-Type") or ""
        if ctype.startswith("multipart/form-data"):
            # Clients other than slack_sdk send the bytes as a multipart "file" field.
            message = BytesParser().parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + body)
            parts = message.walk() if message.is_multipart() else iter(())  # walk(): the container, then its parts
            payloads = (p.get_payload(decode=True) for p in parts if isinstance(p.get_payload(), str))
            body = next((data for data in payloads if isinstance(data, bytes)), b"")
        with self.ws.lock:
            stored = self.ws.files.get(file_id)
            if stored is not None:
                stored.content = bytes(body)
        self.record("upload", {"file_id": file_id, "bytes": len(body)}, 200 if stored else 404, {})
        if stored is None:
            _send_text(req, 404, "file_not_found")
        else:
            _send_text(req, 200, f"OK - {len(body)}")


def _send(
    req: BaseHTTPRequestHandler, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    _write(req, status, json.dumps(body).encode("utf-8"), "application/json; charset=utf-8", headers)


def _send_text(req: BaseHTTPRequestHandler, status: int, text: str) -> None:
    _write(req, status, text.encode("utf-8"), "text/plain; charset=utf-8", None)


def serve(app: ApiServer) -> tuple[LoopbackServer, threading.Thread]:
    """Start serving `app` on an ephemeral loopback port in a daemon thread."""
    return serve_on_loopback(app, "slack-emulator")
