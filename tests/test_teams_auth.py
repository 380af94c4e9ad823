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
from typing import Any

import jwt
import pytest
from microsoft_agents.hosting.core.authorization.jwt import JwtTokenValidator

from bot.sandbox.teams.keys import SigningKeys
from bot.teams.auth import LocalSigningKeys, keys_url
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


def test_anonymous_mode_only_when_the_sdk_variable_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="crisisbot.teams"), start_teams(anonymous=True) as local:
        before = _bot_posts(local)
        assert local.say("anna", "crisis help", local.emulator.crisis_channel).status == 202
        assert _bot_posts(local) == before + 1
    assert any("ANONYMOUS MODE" in r.getMessage() for r in caplog.records)


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
