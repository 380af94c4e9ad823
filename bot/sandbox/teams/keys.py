"""The emulator's signing key and tokens: what Entra and the Bot Connector service do for a bot's authentication.

Two directions (Bot Framework authentication): the bot asks a token for its outbound calls with client credentials
(the emulator checks it on every Connector call); the channel signs each activity it sends the bot with an RS256
JWT (`iss` the Bot Framework issuer, `aud` the bot's app id, `serviceurl`), whose key the bot reads from the JWKS.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from bot.sandbox.teams.model import CHANNEL_ISSUER, CONNECTOR_AUDIENCE

TOKEN_SECONDS = 3600


class SigningKeys:
    """One RSA key pair (made per emulator, 2048 bits), its JWKS, issued access tokens and channel tokens."""

    def __init__(self, app_id: str, tenant_id: str) -> None:
        self.app_id = app_id
        self.tenant_id = tenant_id
        self.kid = secrets.token_hex(8)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._retired: list[tuple[str, rsa.RSAPrivateKey]] = []  # still published after a rotation, as Microsoft does
        self._issued: dict[str, tuple[float, str]] = {}  # access token -> (expiry in epoch seconds, audience)
        self._lock = threading.Lock()

    def jwks(self) -> dict[str, Any]:
        """Return the JWKS document (`/discovery/keys`): the signing key, then any it replaced."""
        return {"keys": [_jwk(kid, key) for kid, key in [(self.kid, self._key), *self._retired]]}

    def rotate(self) -> None:
        """Sign with a new key from now on (a new `kid`), publishing the old one beside it: Microsoft rolls its
        channel signing keys this way, and a bot must take the new one without a restart."""
        self._retired.insert(0, (self.kid, self._key))
        self.kid = secrets.token_hex(8)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})

    # ----- outbound (bot -> Connector) ---------------------------------------------------
    def issue_access_token(self, seconds: int = TOKEN_SECONDS, audience: str = CONNECTOR_AUDIENCE) -> str:
        """Return a new bearer token for the bot's Connector (or Graph) calls (what the token endpoint hands out)."""
        now = int(time.time())
        token = self._sign(
            {
                "aud": audience,
                "iss": f"https://sts.windows.net/{self.tenant_id}/",
                "appid": self.app_id,
                "tid": self.tenant_id,
                "iat": now,
                "nbf": now,
                "exp": now + seconds,
                "jti": secrets.token_hex(8),
            }
        )
        with self._lock:
            self._issued[token] = (now + seconds, audience)
        return token

    def accepts(self, token: str | None, audience: str = CONNECTOR_AUDIENCE) -> bool:
        """Return whether `token` is one this emulator issued for `audience` and it has not expired."""
        if not token:
            return False
        with self._lock:
            issued = self._issued.get(token)
        return issued is not None and issued[0] > time.time() and issued[1] == audience

    def revoke_all(self) -> None:
        """Forget every issued token (the bot must ask again: tests of token refresh)."""
        with self._lock:
            self._issued.clear()

    # ----- inbound (channel -> bot) ------------------------------------------------------
    def channel_token(self, service_url: str, *, audience: str | None = None, expires_in: int = 3600) -> str:
        """Return the JWT the channel puts in `Authorization: Bearer` of an activity it sends the bot."""
        now = int(time.time())
        return self._sign(
            {
                "serviceurl": service_url,
                "nbf": now - 5,
                "iat": now - 5,
                "exp": now + expires_in,
                "iss": CHANNEL_ISSUER,
                "aud": audience or self.app_id,
            }
        )


def _jwk(kid: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    jwk: dict[str, Any] = dict(RSAAlgorithm.to_jwk(key.public_key(), as_dict=True))
    jwk.update({"kid": kid, "use": "sig", "alg": "RS256", "endorsements": ["msteams"]})
    return jwk
