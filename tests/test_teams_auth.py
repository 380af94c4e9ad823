"""Who may post to the Teams listener: the SDK's JWT check on real HTTP, anonymous only when switched on, our
tenant's people only; health and report files beside it."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any, ClassVar

import jwt
import pytest
from microsoft_agents.hosting.core.authorization.jwt import JwtTokenValidator

from bot.config import load_settings
from bot.demo import demo_config
from bot.sandbox.teams.keys import SigningKeys
from bot.teams.auth import KeptSigningKeys, LocalSigningKeys, keys_url, use_signing_keys
from tests.teams_harness import TeamsDesk, start_teams


@pytest.fixture
def teams() -> Iterator[TeamsDesk]:
    with start_teams() as local:
        yield local


def _post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, str]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read(), answer.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), ""


def _a_message(teams: TeamsDesk, text: str = "crisis help") -> dict[str, Any]:
    """A message activity as Teams sent one a moment ago (`crisis help`), with a new id and `text` (to send)."""
    teams.say("anna", "crisis help", teams.emulator.crisis_channel)
    activity = copy.deepcopy(teams.emulator.delivered[-1])
    activity["id"] = f"{activity['id']}9"
    activity["text"] = activity["text"].replace("crisis help", text)
    return activity


def _bot_posts(teams: TeamsDesk) -> int:
    return sum(1 for e in teams.emulator.events if e.kind in ("message_posted", "thread_started", "dm"))


def test_a_request_without_a_token_is_refused_with_401(teams: TeamsDesk) -> None:
    activity = _a_message(teams)
    before = _bot_posts(teams)
    status, body = _post(teams.serving.url, activity)
    teams.settle()
    assert status == 401
    assert "Traceback" not in body and "jwt" not in body.lower()
    assert _bot_posts(teams) == before


def test_a_token_for_another_audience_is_refused(teams: TeamsDesk) -> None:
    activity = _a_message(teams)
    before = _bot_posts(teams)
    response = teams.emulator.deliver(activity, token=teams.emulator.channel_token(audience="someone-elses-bot"))
    teams.settle()
    assert response.status == 401
    assert _bot_posts(teams) == before


def test_a_token_signed_by_another_key_is_refused(teams: TeamsDesk) -> None:
    """The seam: tokens are checked against the emulator's JWKS, so another emulator's key does not pass."""
    activity = _a_message(teams)
    impostor = SigningKeys(teams.emulator.app_id, teams.emulator.tenant_id)  # right claims, a key nobody published
    forged = impostor.channel_token(teams.emulator.service_url)
    before = _bot_posts(teams)
    assert teams.emulator.deliver(activity, token=forged).status == 401
    teams.settle()
    assert _bot_posts(teams) == before


def test_signed_activities_are_checked_against_the_local_keys_through_the_sdks_own_manager(teams: TeamsDesk) -> None:
    """Fails when the pinned SDK moves the JWKS seam bot/teams/auth.py uses: the validator's manager must be ours,
    and the SDK's get_signing_key must ask our _get_jwk_client (a Microsoft URL would be unreachable here)."""
    manager = JwtTokenValidator._jwk_client_manager
    assert isinstance(manager, LocalSigningKeys)
    assert manager.keys_url == keys_url(teams.desk.settings.teams_login_url or "")
    token = teams.emulator.channel_token()
    microsofts = "https://login.botframework.com/v1/.well-known/keys"  # what the SDK computes for this issuer
    key = asyncio.run(manager.get_signing_key(microsofts, jwt.get_unverified_header(token)))
    assert (
        jwt.decode(token, key=key, algorithms=["RS256"], audience=teams.emulator.app_id)["aud"] == teams.emulator.app_id
    )
    assert teams.say("anna", "crisis help", teams.emulator.crisis_channel).status == 202


def test_a_key_already_fetched_is_answered_without_a_thread_and_a_rolled_key_is_taken(
    teams: TeamsDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK hands every key look-up to a thread; ours answers a cached key on the loop (bot/teams/auth.py's
    KeptSigningKeys). When Microsoft rolls its keys, an activity signed with the new one is still accepted once
    the cached set is stale (the SDK's own fetch, as before)."""
    assert teams.say("anna", "crisis help", teams.emulator.crisis_channel).status == 202  # the set is fetched
    manager = JwtTokenValidator._jwk_client_manager
    assert isinstance(manager, LocalSigningKeys)
    header = jwt.get_unverified_header(teams.emulator.channel_token())
    microsofts = "https://login.botframework.com/v1/.well-known/keys"

    async def no_thread(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a cached key went to a thread")

    with monkeypatch.context() as patched:
        patched.setattr(asyncio, "to_thread", no_thread)
        assert asyncio.run(manager.get_signing_key(microsofts, header)).key_id == header["kid"]
    assert manager.cached_key(microsofts, {**header, "kid": "not-in-the-set"}) is None  # the SDK's way, refetching

    teams.emulator.keys.rotate()
    manager._get_jwk_client(microsofts).jwk_client.jwk_set_cache.put(None)  # its five minutes over
    before = _bot_posts(teams)
    assert teams.say("anna", "crisis help", teams.emulator.crisis_channel).status == 202
    assert _bot_posts(teams) == before + 1
    rolled = jwt.get_unverified_header(teams.emulator.channel_token())["kid"]
    assert rolled != header["kid"] and manager.cached_key(microsofts, {"kid": rolled}) is not None


def test_without_a_local_login_url_microsofts_keys_go_through_the_kept_manager(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Production: no TEAMS_LOGIN_URL, so the SDK computes Microsoft's JWKS URL itself; a process that had local keys
    (the tests start many bots) gets the kept manager for Microsoft's, never the emulator's URL."""
    monkeypatch.setattr(JwtTokenValidator, "_jwk_client_manager", LocalSigningKeys("http://127.0.0.1:9/keys"))
    use_signing_keys(load_settings(environ={"CRISISBOT_CONFIG": str(demo_config("en", "teams"))}))
    manager = JwtTokenValidator._jwk_client_manager
    assert isinstance(manager, KeptSigningKeys) and not isinstance(manager, LocalSigningKeys)
    microsofts = "https://login.botframework.com/v1/.well-known/keys"
    assert manager._get_jwk_client(microsofts).jwk_client.uri == microsofts
    assert manager.cached_key(microsofts, {"kid": "any"}) is None  # nothing fetched yet: the SDK's way


def test_anonymous_mode_only_when_the_sdk_variable_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="crisisbot.teams"), start_teams(anonymous=True) as local:
        before = _bot_posts(local)
        assert local.say("anna", "crisis help", local.emulator.crisis_channel).status == 202
        assert _bot_posts(local) == before + 1
    assert any("ANONYMOUS MODE" in r.getMessage() for r in caplog.records)


def test_signed_mode_says_nothing_of_anonymous_but_warns_of_the_local_login_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="crisisbot.teams"), start_teams(install=False) as local:
        assert local.emulator.deliver(_unsigned_copy(local)).status == 401
    said = [r.getMessage() for r in caplog.records]
    assert not any("ANONYMOUS" in line for line in said) and any("TEAMS_LOGIN_URL is set" in line for line in said)


def _unsigned_copy(teams: TeamsDesk) -> dict[str, Any]:
    activity = _a_message(teams)
    teams.emulator.anonymous = True
    return activity


def test_someone_from_another_tenant_is_refused_and_nothing_changes(teams: TeamsDesk) -> None:
    activity = _a_message(teams, "crisis declare data-breach 2 From outside")
    activity["channelData"]["tenant"]["id"] = "00000000-0000-4000-8000-000000000000"
    activity["conversation"]["tenantId"] = "00000000-0000-4000-8000-000000000000"
    before = _bot_posts(teams)
    assert teams.emulator.deliver(activity).status == 202
    teams.settle()
    assert teams.store.incidents() == [] and _bot_posts(teams) == before


def test_an_activity_without_the_senders_entra_id_is_refused(teams: TeamsDesk) -> None:
    activity = _a_message(teams, "crisis declare data-breach 2 Nobody")
    del activity["from"]["aadObjectId"]
    assert teams.emulator.deliver(activity).status == 202
    teams.settle()
    assert teams.store.incidents() == []


def test_health_and_report_files(teams: TeamsDesk) -> None:
    base = teams.serving.url.removesuffix("/api/messages")
    status, body, _ = _get(f"{base}/healthz")
    assert status == 200 and json.loads(body) == {"ok": True}
    assert _get(f"{base}/api/files/{'x' * 32}")[0] == 404
    assert _get(f"{base}/api/files/..%2F..%2Fetc%2Fpasswd")[0] == 404
    token = teams.serving.port.refs.keep_file(teams.desk.settings.db_path, "chart.png", "image/png")
    status, served, kind = _get(f"{base}/api/files/{token}")
    assert status == 200 and kind == "image/png" and served == teams.desk.settings.db_path.read_bytes()


def test_an_activity_pointing_the_bot_at_another_service_url_than_its_token_names_is_refused(teams: TeamsDesk) -> None:
    """A signed activity replayed with another serviceUrl would have the bot send its own token there."""
    activity = _a_message(teams, "crisis declare data-breach 2 Redirected")
    activity["serviceUrl"] = "http://127.0.0.1:9/teams/"
    assert teams.emulator.deliver(activity).status == 202
    teams.settle()
    assert teams.store.incidents() == []
    assert teams.serving.port.refs.service_url() == teams.emulator.service_url


@pytest.mark.parametrize(
    "spoil",
    [
        {"channelData": "not an object"},
        {"from": "not an account"},
        {"entities": [{"type": "mention", "text": "<at>x</at>", "mentioned": "nobody"}]},
        {"type": "invoke", "name": "adaptiveCard/action", "value": "junk"},
        {"type": "invoke", "name": "adaptiveCard/action", "value": {"action": {"verb": "draft_approve", "data": [1]}}},
        {"type": "invoke", "name": "task/submit", "value": {"data": {"dialog": "resolve", "incident": "1; DROP"}}},
        {"type": "invoke", "name": "task/fetch", "value": {"data": {"dialog": "../../etc"}}},
    ],
)
def test_activities_shaped_unlike_teams_sends_are_answered_plainly_and_change_nothing(
    teams: TeamsDesk, spoil: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    activity = {**_a_message(teams, "crisis declare data-breach 2 Spoiled"), **spoil}
    if "channelData" in spoil:  # and no tenant elsewhere: the tenant is unknown
        activity["conversation"] = {k: v for k, v in activity["conversation"].items() if k != "tenantId"}
    response = teams.emulator.deliver(activity)
    teams.settle()
    assert response.status in (200, 202, 400), response.body
    assert "Traceback" not in response.body and "Error" not in response.body
    assert teams.store.incidents() == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("crisisbot")]


def test_a_refresh_or_dialog_for_a_draft_that_does_not_exist_is_answered_plainly(teams: TeamsDesk) -> None:
    incident = teams.declare()
    ref = teams.drafts(incident)["x"].message_ref or ""
    gone = teams.click("anna", ref, "refresh", data={"value": "draft:999999"})
    assert gone.json and gone.json["type"] == "application/vnd.microsoft.activity.message"
    fetched = teams.people["anna"].fetch_task(
        {"dialog": "edit", "draft": 999999, "version": 1}, where=incident.room_ref
    )
    assert fetched.json and fetched.json["task"]["type"] == "message"


# ---- the production login: the SDK's MSAL client credentials -----------------------------------------------------
class _FakeConfidentialClient:
    """MSAL's ConfidentialClientApplication as far as the SDK uses it, recording what it was made with (MSAL
    itself would ask login.microsoftonline.com, which no test reaches)."""

    made: ClassVar[list[dict[str, Any]]] = []
    asked: ClassVar[list[list[str]]] = []

    def __init__(self, client_id: str, authority: str, client_credential: Any, azure_region: Any = None) -> None:
        self.made.append({"client_id": client_id, "authority": authority, "secret": client_credential})

    def acquire_token_for_client(self, scopes: list[str], **kwargs: Any) -> dict[str, Any]:
        self.asked.append(list(scopes))
        return {"access_token": f"token-{len(self.asked)}", "expires_in": 3600, "token_type": "Bearer"}


def test_without_a_local_login_url_the_connector_logs_in_with_msal_for_the_bot_framework(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Production settings (an app id, a secret, a tenant, no TEAMS_LOGIN_URL) use the SDK's MSAL client
    credentials: the tenant's authority, our app id and secret, the Bot Framework's scope."""
    import microsoft_agents.authentication.msal.msal_auth as msal_auth

    from bot.config import load_settings
    from bot.teams.connector import BOT_SCOPE, MsalTokens, tokens_for

    monkeypatch.setattr(msal_auth, "ConfidentialClientApplication", _FakeConfidentialClient)
    _FakeConfidentialClient.made, _FakeConfidentialClient.asked = [], []
    tenant = "0f0e0d0c-0b0a-4000-8000-000000000001"
    settings = load_settings(
        environ={
            "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": "11111111-2222-4333-8444-555555555555",
            "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": "s3cret-value",
            "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": tenant,
        }
    )
    tokens = tokens_for(settings)
    assert isinstance(tokens, MsalTokens)
    assert asyncio.run(tokens.token()).startswith("token-")
    assert _FakeConfidentialClient.made == [
        {
            "client_id": "11111111-2222-4333-8444-555555555555",
            "authority": f"https://login.microsoftonline.com/{tenant}",
            "secret": "s3cret-value",
        }
    ]
    assert _FakeConfidentialClient.asked == [[BOT_SCOPE]]
