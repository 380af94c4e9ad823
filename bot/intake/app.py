"""`POST /intake/<source>` as a WSGI app: check the request, map the payload, call the core, answer in JSON.

Every refusal changes nothing: an unknown source, a missing, stale or wrong signature and a replayed request get
401; a body that is not a valid alert gets 400 (which fields, and why); a body over `MAX_BODY` gets 413. The
answers are for the sending tool's operator: what is wrong and what to send instead, never a traceback.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from bot.clock import wall_seconds
from bot.config import IntakeSource
from bot.faults import crash_point
from bot.incidents.desk import Desk
from bot.incidents.detection import Accepted, Alert, Limits, accept_alert
from bot.intake import mapping
from bot.intake.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, WINDOW, BadSignature, verify

log = logging.getLogger("crisisbot.intake")
MAX_BODY = 64 * 1024
PATH = re.compile(r"^/intake/([a-z][a-z0-9_-]{0,39})$")
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class Answer:
    status: str
    body: dict[str, Any]


class Refused(Exception):
    def __init__(self, status: str, error: str) -> None:
        super().__init__(error)
        self.status, self.error = status, error


class Intake:
    """The intake's request handling over one desk; `accepted` is told after each accepted alert (the outbox)."""

    def __init__(
        self,
        desk: Desk,
        accepted: Callable[[Accepted], None] | None = None,
        wall: Callable[[], float] = wall_seconds,
    ) -> None:
        self.desk, self.accepted, self.wall = desk, accepted, wall

    def limits(self, source: str) -> Limits:
        intake = self.desk.settings.intake
        config = intake.sources.get(source)
        return Limits(
            group_window=timedelta(minutes=intake.group_minutes),
            rate_window=timedelta(minutes=intake.rate_window_minutes),
            cards_per_window=config.cards_per_window if config else Limits().cards_per_window,
        )

    def handle(self, source: str, timestamp: str | None, signed: str | None, body: bytes) -> Answer:
        try:
            outcomes = self._accept(source, timestamp, signed, body)
        except Refused as exc:
            log.info("intake %s refused (%s): %s", source, exc.status, exc.error)
            return Answer(exc.status, {"ok": False, "error": exc.error})
        crash_point("alert_accepted")  # committed, not yet answered: the source retries, the card still comes once
        for outcome in outcomes:
            log.info("intake %s: alert %s (triage %s)", source, outcome.outcome, outcome.triage.id)
        queued = [o for o in outcomes if o.queued]  # a row already waiting has its wake-up armed: no tick per alert
        if self.accepted is not None and queued:
            self.accepted(queued[-1])
        answers = [{"outcome": o.outcome, "triage": o.triage.id} for o in outcomes]
        if len(answers) == 1:  # the generic alert: one answer
            return Answer("202 Accepted", {"ok": True, **answers[0]})
        return Answer("202 Accepted", {"ok": True, "alerts": answers})

    def _accept(self, source: str, timestamp: str | None, signed: str | None, body: bytes) -> list[Accepted]:
        secret = self.desk.settings.intake_secrets.get(source)
        if secret is None:
            raise Refused("401 Unauthorized", "unknown source, or no secret configured for it")
        now = self.wall()
        try:
            signature = verify(secret.get_secret_value(), timestamp, signed, body, now)
        except BadSignature as exc:
            raise Refused("401 Unauthorized", str(exc)) from None
        alerts = parse_alerts(body, self.desk.settings.intake.sources[source])
        seen_at = datetime.fromtimestamp(now, UTC)
        forget = datetime.fromtimestamp(now - 2 * WINDOW, UTC)
        self.desk.store.prompt_commits()  # the source has the alert until our 202; a crash after it keeps it
        with self.desk.deciding():  # the replay record and the alert commit together: a refusal leaves neither
            if not self.desk.store.claim_signature(signature, seen_at, forget):
                raise Refused("401 Unauthorized", "replayed: this signed request was already accepted")
            limits = self.limits(source)
            return [accept_alert(self.desk, source, alert, limits) for alert in alerts]


def parse_alerts(body: bytes, source: IntakeSource) -> list[Alert]:
    """The alerts in `body` (one for the generic alert, a batch from a streaming webhook), mapped onto the generic
    alert; or Refused(400) naming each wrong field (of which document): then none of them is taken."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused("400 Bad Request", "the body is not JSON: send one alert as a JSON object") from None
    if not isinstance(data, dict):
        raise Refused("400 Bad Request", "send one alert as a JSON object (README: Monitoring alerts)")
    try:
        items = mapping.documents(source, data)
    except mapping.NotMapped as exc:
        raise Refused("400 Bad Request", str(exc)) from None
    alerts, problems = [], []
    for n, item in enumerate(items):
        try:
            alerts.append(Alert.model_validate(item))
        except ValidationError as exc:
            where = f"document {n + 1}: " if len(items) > 1 else ""
            problems += [
                f"{where}{'.'.join(map(str, e['loc'])) or 'alert'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()[:5]
            ]
    if problems:
        raise Refused("400 Bad Request", "; ".join(problems[:10]))
    return alerts


def wsgi_app(intake: Intake) -> WSGIApp:
    """The intake at POST /intake/<source>, a liveness answer at GET /healthz."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/healthz":
            return _json(start_response, Answer("200 OK", {"ok": True}))
        found = PATH.match(path)
        if not found:
            return _json(start_response, Answer("404 Not Found", {"ok": False, "error": "POST /intake/<source>"}))
        if method != "POST":
            return _json(start_response, Answer("405 Method Not Allowed", {"ok": False, "error": "use POST"}))
        try:
            size = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            size = -1
        if size < 0 or size > MAX_BODY:
            error = f"send at most {MAX_BODY // 1024} KiB, one alert per request"
            return _json(start_response, Answer("413 Content Too Large", {"ok": False, "error": error}))
        body = environ["wsgi.input"].read(size) if size else b""
        timestamp = environ.get("HTTP_" + TIMESTAMP_HEADER.upper().replace("-", "_"))
        signed = environ.get("HTTP_" + SIGNATURE_HEADER.upper().replace("-", "_"))
        return _json(start_response, intake.handle(found.group(1), timestamp, signed, body))

    return application


def _json(start_response: Callable[..., Any], answer: Answer) -> Iterable[bytes]:
    body = json.dumps(answer.body).encode()
    start_response(answer.status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
