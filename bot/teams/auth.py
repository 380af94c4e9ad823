"""Who may post activities to the bot: the Agents SDK's JWT validation, configured from Settings.

The SDK (`jwt_authorization_decorator` → `JwtTokenValidator`) checks every request's bearer token: RS256 signed
by a key of the issuer's JWKS, audience = the bot's app id, the tenant bound to the issuer. Anonymous requests
pass only with `CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED=true` (local runs), said at start-up.

In production the SDK reads Microsoft's JWKS URLs. With `Settings.teams_login_url` (the emulator, tests, the
demo) the signing keys come from `<teams_login_url>/discovery/keys` instead. The seam is the validator's one
JWKS client manager (`JwtTokenValidator._jwk_client_manager`, 1.9.0): every validation asks it for the key of
the token's `kid` at a URL the SDK computed; ours answers from the local URL whatever the SDK computed, and
keeps the SDK's own caching and locking. The pinned SDK may move it: tests/test_teams_auth.py fails if it does.

Both managers (Microsoft's keys and the local ones) answer a key PyJWKClient's JWKS cache already holds on the
loop: the SDK hands every look-up to a thread (`asyncio.to_thread`), ~0.25 ms of every activity's answer traced
inside `crisisbot serve`, though a cached key needs no I/O. A miss (the first activity, a `kid` not in the cached
set after Microsoft rolled its keys, the cache's 5 minutes over) takes the SDK's own way, fetch and cooldown
included.
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient
from microsoft_agents.hosting.core.authorization import AgentAuthConfiguration
from microsoft_agents.hosting.core.authorization.jwt import JwtTokenValidator
from microsoft_agents.hosting.core.authorization.jwt.jwt_token_validator import (
    _JwkClientCacheEntry,
    _JwkClientManager,
)

from bot.config import Settings

log = logging.getLogger("crisisbot.teams")


def configuration(settings: Settings) -> AgentAuthConfiguration:
    """What the SDK's validator checks tokens against: our app id (the audience), tenant, anonymous or not."""
    return AgentAuthConfiguration(
        client_id=settings.teams_app_id,
        tenant_id=settings.teams_tenant_id,
        client_secret=settings.teams_app_password.get_secret_value() if settings.teams_app_password else None,
        anonymous_allowed=settings.teams_anonymous,
        validate_issuer=True,  # off by default in 1.9.0: a token of the right key and audience but any issuer passed
    )


class KeptSigningKeys(_JwkClientManager):
    """The SDK's JWKS client manager, answering a key its JWKS cache holds without a thread (module doc)."""

    async def get_signing_key(self, jwks_uri: str, header: dict[str, Any]) -> PyJWK:
        kept = self.cached_key(jwks_uri, header)
        return kept if kept is not None else await super().get_signing_key(jwks_uri, header)

    def cached_key(self, jwks_uri: str, header: dict[str, Any]) -> PyJWK | None:
        """The signing key of the header's `kid` in the fresh cached set, as PyJWKClient would pick it; else None.
        Reads the cache's one attribute (replaced whole by a fetch), so it needs none of the SDK's locks."""
        kid = header.get("kid")
        cache = self._get_jwk_client(jwks_uri).jwk_client.jwk_set_cache
        found = cache.get() if cache is not None and isinstance(kid, str) else None
        if found is None:
            return None
        signing = [k for k in found.keys if k.public_key_use in ("sig", None) and k.key_id]
        return PyJWKClient.match_kid(signing, str(kid))


class LocalSigningKeys(KeptSigningKeys):
    """The SDK's JWKS client manager, reading every key from one local JWKS URL (the emulator's)."""

    def __init__(self, keys_url: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # the SDK's __init__ has no annotations
        self.keys_url = keys_url

    def _get_jwk_client(self, jwks_uri: str) -> _JwkClientCacheEntry:
        return super()._get_jwk_client(self.keys_url)


SIGNED_WITH = "RS256"  # how the Bot Framework signs channel tokens (its OpenID metadata's only algorithm)


def unverifiable(authorization: str | None) -> bool:
    """Whether a bearer token names no key or algorithm we could check its signature with.

    Checked before the SDK's validation, which (1.9.0) fails with a KeyError on a token without `kid` (e.g.
    `alg: none`), answered 500: such a token is refused like every other bad token, with a 401."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return False  # no token, or not a bearer: the SDK's own answer (401, or anonymous in local mode)
    try:
        header = jwt.get_unverified_header(authorization.split(maxsplit=1)[1].strip())
    except (jwt.PyJWTError, IndexError):
        return True
    return not isinstance(header.get("kid"), str) or header.get("alg") != SIGNED_WITH


def keys_url(login_url: str) -> str:
    return f"{login_url.rstrip('/')}/discovery/keys"


def use_signing_keys(settings: Settings) -> None:
    """Point the SDK's validator at the local JWKS when `teams_login_url` is set; Microsoft's otherwise.

    Process-wide (the SDK keeps one manager for all validators): a process validates tokens of one channel."""
    manager = JwtTokenValidator._jwk_client_manager
    if settings.teams_login_url:
        JwtTokenValidator._jwk_client_manager = LocalSigningKeys(keys_url(settings.teams_login_url))
        log.info("Teams: activity tokens are checked against the local keys at %s", keys_url(settings.teams_login_url))
    elif not isinstance(manager, KeptSigningKeys) or isinstance(manager, LocalSigningKeys):
        JwtTokenValidator._jwk_client_manager = KeptSigningKeys()  # type: ignore[no-untyped-call]


def warn_if_local(settings: Settings) -> None:
    """Say at start-up when a local-only mode is on: anonymous activities, or keys from a local login URL."""
    if settings.teams_login_url:
        log.warning(
            "Teams: TEAMS_LOGIN_URL is set — tokens and activity signing keys come from %s (the emulator or a local "
            "run), not from Microsoft. Never set it in production.",
            settings.teams_login_url,
        )
    if settings.teams_anonymous:
        log.warning(
            "Teams: ANONYMOUS MODE — activities without a token are accepted "
            "(CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED=true). For local runs only, never in production."
        )
