"""The login side (`login_url`): the client-credentials token endpoint, the JWKS and OpenID metadata."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from bot.sandbox.teams.keys import TOKEN_SECONDS, SigningKeys
from bot.sandbox.teams.model import CONNECTOR_AUDIENCE


def token_answer(keys: SigningKeys, app_secret: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """Answer `POST <login_url>/oauth2/v2.0/token` (client credentials) as Entra does, errors in its OAuth shape."""
    form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    if form.get("grant_type") != "client_credentials":
        return 400, _oauth_error("unsupported_grant_type", "AADSTS70003: The grant type is not supported.")
    if form.get("client_id") != keys.app_id:
        return 400, _oauth_error("unauthorized_client", "AADSTS700016: Application not found in the directory.")
    if form.get("client_secret") != app_secret:
        return 401, _oauth_error("invalid_client", "AADSTS7000215: Invalid client secret provided.")
    return 200, {
        "token_type": "Bearer",
        "expires_in": TOKEN_SECONDS,
        "ext_expires_in": TOKEN_SECONDS,
        "access_token": keys.issue_access_token(audience=_audience(form.get("scope", ""))),
    }


def _audience(scope: str) -> str:
    """The resource a client-credentials scope names (`https://graph.microsoft.com/.default` → Graph's)."""
    resource = scope.split()[0].removesuffix("/.default") if scope.strip() else CONNECTOR_AUDIENCE
    return resource or CONNECTOR_AUDIENCE


def _oauth_error(code: str, description: str) -> dict[str, Any]:
    number = description.removeprefix("AADSTS").split(":", 1)[0]
    return {"error": code, "error_description": description, "error_codes": [int(number)]}


def openid_configuration(login_url: str, issuer: str) -> dict[str, Any]:
    """Return an OpenID metadata document pointing at the emulator's token endpoint and keys."""
    return {
        "issuer": issuer,
        "token_endpoint": f"{login_url}/oauth2/v2.0/token",
        "authorization_endpoint": f"{login_url}/oauth2/v2.0/authorize",
        "jwks_uri": f"{login_url}/discovery/keys",
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
    }
