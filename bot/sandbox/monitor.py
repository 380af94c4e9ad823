"""A monitoring tool for the demo, the tests and the benchmarks: sends signed alerts to `POST /intake/<source>`
exactly as the README tells a real one to (bot/intake/signing.py's headers and HMAC)."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.intake.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature


@dataclass(frozen=True)
class Sent:
    status: int
    body: dict[str, Any]


@dataclass
class Monitor:
    """One source: its intake base URL (`http://host:port/intake/`), its name and shared secret."""

    base_url: str
    source: str
    secret: str

    def send(
        self,
        alert: dict[str, Any] | bytes,
        *,
        timestamp: int | None = None,
        signed: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Sent:
        """POST one alert, signed (or with the given `signed` header; `headers` replaces the signing headers)."""
        body = alert if isinstance(alert, bytes) else json.dumps(alert).encode()
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        if headers is None:
            headers = {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signed or signature(self.secret, stamp, body)}
        return post(self.base_url + self.source, body, headers)


def post(url: str, body: bytes, headers: dict[str, str]) -> Sent:
    """One HTTP POST (no proxy in between), its status and JSON answer."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=10)
    try:
        conn.request("POST", parts.path, body=body, headers={"Content-Type": "application/json", **headers})
        response = conn.getresponse()
        raw = response.read()
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = {"raw": raw.decode("utf-8", "replace")}
        return Sent(response.status, answer)
    finally:
        conn.close()
