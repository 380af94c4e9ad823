"""Sending signed Slack requests to a bot the way Slack does, over one keep-alive HTTP connection."""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from slack_sdk.signature import SignatureVerifier

FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Reply:
    status: int  # 0: no answer (refused, reset, timed out)
    seconds: float
    body: bytes = b""


class SignedClient:
    """POSTs form bodies with Slack's v0 signature to one URL; reconnects after a dropped connection."""

    def __init__(self, url: str, signing_secret: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
        self.verifier = SignatureVerifier(signing_secret)
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def headers(self, body: str) -> dict[str, str]:
        stamp = str(int(time.time()))
        return {
            "Content-Type": FORM,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=stamp, body=body),
        }

    def post(self, body: str, started: float | None = None) -> Reply:
        """Sign and send `body`; the time counts from `started` (perf_counter) when given, else from now."""
        headers = self.headers(body)
        begin = time.perf_counter() if started is None else started
        try:
            conn = self._connection()
            conn.request("POST", self.path, body=body.encode("utf-8"), headers=headers)
            response = conn.getresponse()
            data = response.read()
            status = response.status
            if response.will_close:
                self.close()
        except (OSError, http.client.HTTPException):
            self.close()
            return Reply(0, time.perf_counter() - begin)
        return Reply(status, time.perf_counter() - begin, data)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
