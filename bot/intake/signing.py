"""The intake's request signature: HMAC-SHA256 over `v0:<timestamp>:<body>` with the source's shared secret.

Headers (README, "Monitoring alerts"):
    X-Crisis-Timestamp: <Unix seconds>
    X-Crisis-Signature: v0=<hex digest>

A request older or newer than `WINDOW` is refused (a captured request cannot be sent again later), and the
signature of every accepted request is remembered for that long (the same request twice inside it is refused).
"""

from __future__ import annotations

import hashlib
import hmac
import re

TIMESTAMP_HEADER = "X-Crisis-Timestamp"
SIGNATURE_HEADER = "X-Crisis-Signature"
VERSION = "v0"
WINDOW = 300  # seconds either side of our clock


class BadSignature(Exception):
    """Why a request is refused with 401: said to the sender (never which secret was expected)."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The header value a sender computes: `v0=` and the hex HMAC-SHA256 of `v0:<timestamp>:<body>`."""
    base = f"{VERSION}:{timestamp}:".encode() + body
    return f"{VERSION}=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str | None, given: str | None, body: bytes, now: float) -> str:
    """The verified signature (the replay record's key); raises BadSignature saying what is wrong."""
    if not timestamp or not given:
        raise BadSignature(f"unsigned: send {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} (see the README)")
    if not re.fullmatch(r"[0-9]{1,12}", timestamp):
        raise BadSignature(f"{TIMESTAMP_HEADER} must be Unix seconds")
    if abs(now - int(timestamp)) > WINDOW:
        raise BadSignature(f"stale: {TIMESTAMP_HEADER} is more than {WINDOW // 60} minutes from our clock")
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), given.strip().encode()):
        raise BadSignature(f"bad signature: {SIGNATURE_HEADER} must be v0=HMAC-SHA256(secret, v0:<timestamp>:<body>)")
    return expected
