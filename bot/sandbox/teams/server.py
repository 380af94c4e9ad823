"""The emulator's HTTP side: the Connector at `<service_url>v3/…`, the login side at `<login_url>/…`.

Auth, fault injection, latency and the call log live here, around the handlers of connector_api.py and
login_api.py; the shape follows the Slack emulator's server (bot/sandbox/server.py).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from bot.sandbox.loopback import FaultBook, Handler, LoopbackServer, arrived, wait_until_due, write
from bot.sandbox.loopback import serve as serve_on_loopback
from bot.sandbox.model import Fault
from bot.sandbox.teams import errors
from bot.sandbox.teams.connector_api import ConnectorApi, Request
from bot.sandbox.teams.graph_api import GRAPH_AUDIENCE, GraphApi, GraphError
from bot.sandbox.teams.keys import SigningKeys
from bot.sandbox.teams.login_api import openid_configuration, token_answer
from bot.sandbox.teams.model import CHANNEL_ISSUER

SERVICE_PREFIX = "/teams/"  # like https://smba.trafficmanager.net/teams/: the bot must join paths to it
LOGIN_PREFIX = "/login"
GRAPH_PREFIX = "/graph/v1.0/"  # like https://graph.microsoft.com/v1.0/
# Fault kinds that do the call and then spoil its answer (see TeamsEmulator.fail).
AFTER_WORK = ("lost_response", "cut_connection")


def route(method: str, path: str) -> Request | None:
    """Map a Connector path (after `v3/`) to its endpoint; None when it is not one."""
    parts = [unquote(p) for p in path.split("/")]
    if parts[0] == "teams" and len(parts) in (2, 3) and method == "GET":
        team_endpoint = "get_team_details" if len(parts) == 2 else "get_team_channels"
        return Request(team_endpoint, conversation_id=parts[1]) if parts[2:] in ([], ["conversations"]) else None
    if parts[0] != "conversations":
        return None
    if len(parts) == 1:
        return Request("create_conversation") if method == "POST" else None
    cid, rest = parts[1], parts[2:]
    table: dict[tuple[str, int, str], str] = {
        ("POST", 1, "activities"): "send_to_conversation",
        ("POST", 2, "activities"): "reply_to_activity",
        ("PUT", 2, "activities"): "update_activity",
        ("DELETE", 2, "activities"): "delete_activity",
        ("GET", 1, "members"): "get_conversation_members",
        ("GET", 2, "members"): "get_conversation_member",
        ("GET", 1, "pagedmembers"): "get_conversation_paged_members",
    }
    endpoint = table.get((method, len(rest), rest[0].lower() if rest else ""))  # Teams' paths ignore case
    if endpoint is None:
        return None
    req = Request(endpoint, conversation_id=cid)
    if len(rest) == 2:
        if rest[0] == "activities":
            req.activity_id = rest[1]
        else:
            req.member_id = rest[1]
    return req


class ConnectorServer(FaultBook):
    """Routes requests, checks tokens, injects faults, records calls."""

    def __init__(
        self, api: ConnectorApi, keys: SigningKeys, app_secret: str, *, latency: float = 0.0, graph: GraphApi
    ) -> None:
        super().__init__()
        self.api = api
        self.graph = graph
        self.keys = keys
        self.app_secret = app_secret
        self.latency = latency
        self.base_url = ""
        self.fault_status: dict[int, int] = {}  # id(fault) -> HTTP status for custom error codes
        # Local anonymous mode (the SDK's ANONYMOUS_ALLOWED): its replies carry no Authorization at all, as with the
        # Agents Playground; a token that is sent must still be one the emulator issued.
        self.anonymous = False

    def add_fault(self, fault: Fault, status: int = 400) -> None:
        """Schedule a failure; `status` is the HTTP status of a custom error code."""
        super().add_fault(fault)
        with self._lock:
            self.fault_status[id(fault)] = status

    # ----- request handling ---------------------------------------------------------------
    def handle(self, req: BaseHTTPRequestHandler) -> None:
        """Dispatch one HTTP request by path."""
        url = urlsplit(req.path)
        keys = url.path.startswith(LOGIN_PREFIX + "/") and req.command == "GET"  # key and metadata reads: not paced
        arrived(0.0 if keys else self.latency)
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        if url.path.startswith(SERVICE_PREFIX + "v3/"):
            routed = route(req.command, url.path[len(SERVICE_PREFIX + "v3/") :])
            if routed is not None:
                routed.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                self._connector(req, routed, body)
                return
        elif url.path.startswith(LOGIN_PREFIX + "/"):
            self._login(req, url.path[len(LOGIN_PREFIX) :], body)
            return
        elif url.path.startswith(GRAPH_PREFIX):
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            self._graph(req, unquote(url.path[len(GRAPH_PREFIX) :]), query, body)
            return
        _send(req, 404, {"error": {"code": "NotFound", "message": "No such endpoint."}})

    def _login(self, req: BaseHTTPRequestHandler, path: str, body: bytes) -> None:
        login_url = self.base_url + LOGIN_PREFIX.lstrip("/")
        if req.command == "POST" and path.endswith("/oauth2/v2.0/token"):
            fault = self._take_fault("token")
            if fault is not None:
                self._fail(req, "token", {}, fault)
                return
            status, answer = token_answer(self.keys, self.app_secret, body)
            self.record("token", {}, status, {k: v for k, v in answer.items() if k != "access_token"})
            _send(req, status, answer)
        elif req.command == "GET" and path.rstrip("/").endswith(("/discovery/keys", "/discovery/v2.0/keys")):
            _send(req, 200, self.keys.jwks())
        elif req.command == "GET" and path.endswith("/.well-known/openid-configuration"):
            _send(req, 200, openid_configuration(login_url, CHANNEL_ISSUER))
        else:
            _send(req, 404, {"error": "not_found", "error_description": "No such login endpoint."})

    def _connector(self, req: BaseHTTPRequestHandler, call: Request, body: bytes) -> None:
        args = {"conversation_id": call.conversation_id, "activity_id": call.activity_id, "member_id": call.member_id}
        try:
            call.body = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError):
            call.body = None
            if req.command in ("POST", "PUT"):
                self._answer(req, call.endpoint, args, errors.bad_syntax("The request body is not valid JSON."))
                return
        args["body"] = call.body
        token = _bearer(req)
        if not (
            self.keys.accepts(token) or (self.anonymous and token is None and not req.headers.get("Authorization"))
        ):
            self._answer(req, call.endpoint, args, errors.unauthorized())
            return
        fault = self._take_fault(call.endpoint)
        if fault is not None and fault.error in AFTER_WORK:
            self._spoil(req, call, args, fault)
        elif fault is not None:
            self._fail(req, call.endpoint, args, fault)
        else:
            headers: dict[str, str] = {}
            status, answer = self._dispatch(call, headers)
            self.record(call.endpoint, args, status, answer)
            _send(req, status, answer, headers)

    def _graph(self, req: BaseHTTPRequestHandler, path: str, query: dict[str, str], body: bytes) -> None:
        """One Graph call: an app-only token for Graph, the fault book, then graph_api.py's handler."""
        endpoint = self.graph.endpoint(req.command)
        args: dict[str, Any] = {"path": path, "query": query}
        try:
            args["body"] = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError):
            args["body"] = None
        if not self.keys.accepts(_bearer(req), GRAPH_AUDIENCE):
            error = GraphError(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
            self.record(endpoint, args, 401, error.body())
            _send(req, 401, error.body())
            return
        fault = self._take_fault(endpoint)
        if fault is not None and fault.error not in AFTER_WORK:
            self._fail(req, endpoint, args, fault)
            return
        try:
            endpoint, status, answer = self.graph.handle(req.command, path, query, args["body"])
        except GraphError as exc:
            status, answer = exc.status, exc.body()
        except Exception:
            self.api.t.problems.append(f"emulator crashed in {endpoint}: {traceback.format_exc()}")
            status, answer = 500, GraphError(500, "InternalServerError", "Emulator failure.").body()
        if fault is not None:  # done, then the answer lost: Graph made the channel, the bot cannot know
            self.record(endpoint, args, status, {"answer": answer, fault.error: True})
            time.sleep(fault.hang_seconds)
            with contextlib.suppress(OSError):
                _send(req, status, answer)
            return
        self.record(endpoint, args, status, answer)
        _send(req, status, answer)

    def _dispatch(self, call: Request, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        try:
            return self.api.handle(call)
        except errors.ConnectorError as exc:
            if exc.retry_after is not None and headers is not None:
                headers["Retry-After"] = str(exc.retry_after)
            return exc.status, exc.body()
        except Exception:
            # An emulator bug must be loud, not look like an answer the bot should handle.
            self.api.t.problems.append(f"emulator crashed in {call.endpoint}: {traceback.format_exc()}")
            return 500, {"error": {"code": "ServiceError", "message": "Emulator failure."}}

    def _answer(
        self, req: BaseHTTPRequestHandler, endpoint: str, args: dict[str, Any], exc: errors.ConnectorError
    ) -> None:
        self.record(endpoint, args, exc.status, exc.body())
        _send(req, exc.status, exc.body())

    def _fail(self, req: BaseHTTPRequestHandler, endpoint: str, args: dict[str, Any], fault: Fault) -> None:
        headers: dict[str, str] = {}
        if fault.error == "ratelimited":
            status, code = 429, "TooManyRequests"
            headers["Retry-After"] = str(fault.retry_after)
        elif fault.error == "internal_error":
            status, code = 500, "ServiceError"
        elif fault.error == "service_unavailable":
            status, code = 503, "ServiceUnavailable"
        elif fault.error == "timeout":
            time.sleep(fault.hang_seconds)  # past the client's timeout; the state stays untouched either way
            status, code = 504, "GatewayTimeout"
        else:
            status, code = self.fault_status.get(id(fault), 400), fault.error
        answer = {"error": {"code": code, "message": f"Injected fault: {fault.error}."}}
        self.record(endpoint, args, status, answer)
        _send(req, status, answer, headers)

    def _spoil(self, req: BaseHTTPRequestHandler, call: Request, args: dict[str, Any], fault: Fault) -> None:
        """Do the call, then lose its answer: Teams did it, the bot cannot know."""
        status, answer = self._dispatch(call)
        self.record(call.endpoint, args, status, {"answer": answer, fault.error: True})
        if fault.error == "lost_response":
            time.sleep(fault.hang_seconds)
            with contextlib.suppress(OSError):  # the client has long hung up
                _send(req, status, answer)
            return
        data = json.dumps(answer).encode("utf-8")
        wait_until_due()
        with contextlib.suppress(OSError):  # cut_connection: half the promised body, then the connection drops
            req.send_response(status)
            req.send_header("Content-Type", "application/json; charset=utf-8")
            req.send_header("Content-Length", str(len(data)))
            req.end_headers()
            req.wfile.write(data[: len(data) // 2])
            req.wfile.flush()
            req.connection.shutdown(socket.SHUT_RDWR)
        req.close_connection = True


def _bearer(req: BaseHTTPRequestHandler) -> str | None:
    auth = req.headers.get("Authorization") or ""
    return auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else None


def _send(req: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    data = b"" if body is None else json.dumps(body).encode("utf-8")
    write(req, status, data, "application/json; charset=utf-8", headers)


class _KeepAlive(Handler):
    protocol_version = "HTTP/1.1"  # the SDK's aiohttp session reuses connections, as with the real service


def serve(app: ConnectorServer) -> tuple[LoopbackServer, threading.Thread]:
    """Start serving `app` on an ephemeral loopback port in a daemon thread."""
    served = serve_on_loopback(app, "teams-emulator", _KeepAlive)
    app.base_url = f"http://127.0.0.1:{served[0].server_address[1]}/"
    return served
