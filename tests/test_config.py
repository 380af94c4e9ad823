"""Settings and time: the file, the environment over it, the shipped defaults from anywhere, secrets kept secret,
and a clock that can run faster for demos and drills."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.clock import ManualClock, SystemClock, parse_iso, utc
from bot.config import default_dir, describe_start, load_settings
from bot.errors import ConfigError
from bot.playbooks import load_playbooks
from tests.fixtures_foundation import isolate, make_project

TOKENS = {
    "SLACK_BOT_TOKEN": "xoxb-123-456-bot-secret",
    "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
    "SLACK_APP_TOKEN": "xapp-1-A111-222-app-secret",
}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate(monkeypatch, tmp_path)


def write_config(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


# ---- defaults --------------------------------------------------------------------------------------
def test_without_a_config_file_the_shipped_defaults_load(tmp_path: Path) -> None:
    settings = load_settings(environ={})
    assert settings.config_path is None
    assert settings.company.name == "Our company"
    assert settings.company.channels == ["x", "facebook", "linkedin"]
    assert settings.language == "en"
    assert settings.playbooks_dir == default_dir("playbooks")
    assert settings.messages_dir == default_dir("messages")
    assert settings.db_path == tmp_path / "cwd" / "crisisbot.db"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.clock_speed == 1.0
    assert settings.port == 3000
    assert settings.slack_bot_token is None


def test_defaults_load_from_any_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = tmp_path / "somewhere" / "else" / "entirely"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    settings = load_settings(environ={})
    assert settings.playbooks_dir.is_dir()
    assert (settings.messages_dir / "en" / "ui.yaml").is_file()
    assert {"data-breach", "service-outage"} <= set(load_playbooks(settings.playbooks_dir))


def test_crisisbot_yaml_in_the_working_directory_is_used(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cwd" / "crisisbot.yaml", "company:\n  name: Local BV\n")
    settings = load_settings(environ={})
    assert settings.config_path == config
    assert settings.company.name == "Local BV"


def test_relative_paths_in_the_file_resolve_next_to_the_file(tmp_path: Path) -> None:
    project = make_project(tmp_path)  # playbooks: playbooks, messages: messages, database: crisisbot.db
    settings = load_settings(project / "crisisbot.yaml", environ={})
    assert settings.playbooks_dir == project / "playbooks"
    assert settings.messages_dir == project / "messages"
    assert settings.db_path == project / "crisisbot.db"


# ---- environment over file -------------------------------------------------------------------------
def test_crisisbot_config_names_the_file(tmp_path: Path) -> None:
    config = write_config(tmp_path / "elsewhere" / "crisis.yaml", "company:\n  name: Env BV\n")
    settings = load_settings(environ={"CRISISBOT_CONFIG": str(config)})
    assert settings.config_path == config
    assert settings.company.name == "Env BV"


def test_explicit_config_wins_over_crisisbot_config(tmp_path: Path) -> None:
    chosen = write_config(tmp_path / "a.yaml", "company:\n  name: Chosen\n")
    other = write_config(tmp_path / "b.yaml", "company:\n  name: Other\n")
    settings = load_settings(chosen, environ={"CRISISBOT_CONFIG": str(other)})
    assert settings.company.name == "Chosen"


def test_crisisbot_language_overrides_the_file(tmp_path: Path) -> None:
    config = write_config(tmp_path / "crisisbot.yaml", "company:\n  name: Acme\n  language: nl\n")
    assert load_settings(config, environ={}).language == "nl"
    settings = load_settings(config, environ={"CRISISBOT_LANGUAGE": "en"})
    assert settings.language == "en"
    assert settings.company.name == "Acme"  # the rest of the file still counts


def test_crisisbot_db_overrides_the_file(tmp_path: Path) -> None:
    config = write_config(tmp_path / "crisisbot.yaml", "database: from-file.db\n")
    assert load_settings(config, environ={}).db_path == tmp_path / "from-file.db"
    elsewhere = tmp_path / "data" / "crisis.sqlite"
    assert load_settings(config, environ={"CRISISBOT_DB": str(elsewhere)}).db_path == elsewhere


def test_crisisbot_playbooks_and_messages_override_the_file(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    environ = {"CRISISBOT_PLAYBOOKS": str(tmp_path / "pb"), "CRISISBOT_MESSAGES": str(tmp_path / "msg")}
    settings = load_settings(project / "crisisbot.yaml", environ=environ)
    assert settings.playbooks_dir == tmp_path / "pb"
    assert settings.messages_dir == tmp_path / "msg"


def test_environment_is_read_from_the_process_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISISBOT_LANGUAGE", "nl")
    monkeypatch.setenv("CRISISBOT_DB", str(tmp_path / "env.db"))
    settings = load_settings()
    assert settings.language == "nl"
    assert settings.db_path == tmp_path / "env.db"


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("http://localhost:8089/api", "http://localhost:8089/api/"),
        ("http://localhost:8089/api/", "http://localhost:8089/api/"),
        ("https://slack.com/api", "https://slack.com/api/"),
    ],
)
def test_slack_api_url_always_ends_with_a_slash(given: str, used: str) -> None:
    assert load_settings(environ={"SLACK_API_URL": given}).slack_api_url == used


def test_clock_speed_and_port_come_from_the_environment() -> None:
    settings = load_settings(environ={"CRISISBOT_CLOCK_SPEED": "60", "PORT": "8080"})
    assert settings.clock_speed == 60.0
    assert settings.port == 8080


@pytest.mark.parametrize("speed", ["0", "-1", "nan", "inf", "fast"])
def test_invalid_clock_speed_is_refused_naming_the_variable(speed: str) -> None:
    with pytest.raises(ConfigError, match="CRISISBOT_CLOCK_SPEED"):
        load_settings(environ={"CRISISBOT_CLOCK_SPEED": speed})


@pytest.mark.parametrize(("name", "value"), [("CRISISBOT_LANGUAGE", "de"), ("PORT", "http"), ("PORT", "0")])
def test_invalid_environment_values_are_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={name: value})
    assert caught.value.problems[0].startswith(f"environment: {name}:")


# ---- secrets ---------------------------------------------------------------------------------------
def test_tokens_are_secret_and_never_appear_in_repr() -> None:
    settings = load_settings(environ=TOKENS)
    assert isinstance(settings.slack_bot_token, SecretStr)
    assert isinstance(settings.slack_signing_secret, SecretStr)
    assert isinstance(settings.slack_app_token, SecretStr)
    assert settings.slack_bot_token.get_secret_value() == TOKENS["SLACK_BOT_TOKEN"]
    shown = repr(settings) + str(settings) + settings.model_dump_json() + repr(settings.model_dump())
    for secret in TOKENS.values():
        assert secret not in shown


# ---- Microsoft Teams -------------------------------------------------------------------------------
TEAMS = {
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": "3f0e8d44-aaaa-4bbb-8ccc-0123456789ab",
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": "Qx8~teams-client-secret-value~Zz",
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "TEAMS_CRISIS_CHANNEL": "19:crisis@thread.tacv2",
    "TEAMS_TEAM_ID": "19:team@thread.tacv2",
    "TEAMS_SERVICE_URL": "http://127.0.0.1:9999/teams",
    "TEAMS_PORT": "3979",
    "TEAMS_PUBLIC_URL": "https://crisis.example.com",
    "TEAMS_LOGIN_URL": "http://127.0.0.1:9998",
}


def test_teams_settings_have_their_defaults_when_unset() -> None:
    settings = load_settings(environ={})
    assert settings.teams_app_id is None and settings.teams_app_password is None
    assert settings.teams_service_url == "https://smba.trafficmanager.net/teams/"
    assert settings.teams_port == 3978
    assert settings.teams_anonymous is False
    assert not settings.teams_configured and not settings.slack_configured


def test_teams_settings_come_from_the_sdk_and_teams_variables() -> None:
    settings = load_settings(environ=TEAMS)
    assert settings.teams_app_id == TEAMS["CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID"]
    assert settings.teams_tenant_id == TEAMS["CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID"]
    assert settings.teams_crisis_channel == "19:crisis@thread.tacv2"
    assert settings.teams_team_id == "19:team@thread.tacv2"
    assert settings.teams_service_url == "http://127.0.0.1:9999/teams/"  # the connector joins paths onto it
    assert (settings.teams_port, settings.teams_public_url) == (3979, "https://crisis.example.com")
    assert settings.teams_login_url == "http://127.0.0.1:9998"
    assert settings.teams_configured


def test_teams_secret_is_secret_and_never_in_repr_or_the_start_line() -> None:
    settings = load_settings(environ={**TOKENS, **TEAMS})
    secret = TEAMS["CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET"]
    assert isinstance(settings.teams_app_password, SecretStr)
    assert settings.teams_app_password.get_secret_value() == secret
    line = describe_start(settings)
    shown = repr(settings) + str(settings) + settings.model_dump_json() + line
    for value in [secret, *TOKENS.values()]:
        assert value not in shown
    assert "Teams: app 3f0e8d44-aaaa-4bbb-8ccc-0123456789ab, port 3979" in line


def test_anonymous_teams_is_configured_without_a_secret_and_says_so_at_start() -> None:
    settings = load_settings(
        environ={
            "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": "bot",
            "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED": "true",
        }
    )
    assert settings.teams_anonymous and settings.teams_configured
    assert "anonymous (local only)" in describe_start(settings)
    assert "Teams: not configured" in describe_start(load_settings(environ={}))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TEAMS_PORT", "teams"),
        ("TEAMS_PORT", "70000"),
        ("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED", "maybe"),
    ],
)
def test_invalid_teams_values_are_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={name: value})
    assert caught.value.problems[0].startswith(f"environment: {name}:")


def test_role_owners_and_admins_accept_slack_ids_and_entra_object_ids(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "crisisbot.yaml",
        "role_owners:\n  crisis_lead: [U0ANNA, 8C0F3A52-1D2E-4B7A-9C3D-5E6F7A8B9C0D]\n"
        "admins: [W0BOSS, 2b1d0e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f]\n",
    )
    settings = load_settings(config, environ={})
    assert settings.role_owners["crisis_lead"] == ["U0ANNA", "8c0f3a52-1d2e-4b7a-9c3d-5e6f7a8b9c0d"]  # lower-cased
    assert settings.admins == ["W0BOSS", "2b1d0e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"]


@pytest.mark.parametrize(
    "person", ["anna", "u0anna", "8c0f3a52-1d2e-4b7a-9c3d", "29:1abc", "8c0f3a521d2e4b7a9c3d5e6f7a8b9c0d"]
)
def test_a_person_that_is_neither_a_slack_nor_an_entra_id_is_refused_with_its_line(tmp_path: Path, person: str) -> None:
    config = write_config(tmp_path / "crisisbot.yaml", f"company:\n  name: Acme\nadmins: [U0ANNA, '{person}']\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{config}:3: admins.1: {person!r} is neither a Slack member id")
    assert "Entra object id" in problem


# ---- the config file -------------------------------------------------------------------------------
def test_missing_config_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings("nope.yaml", environ={})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{tmp_path / 'cwd' / 'nope.yaml'}:1: config file not found")
    assert "crisisbot init" in problem


def test_missing_file_named_by_crisisbot_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unset CRISISBOT_CONFIG"):
        load_settings(environ={"CRISISBOT_CONFIG": "nope.yaml"})


def test_config_problems_carry_file_and_line(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "crisisbot.yaml",
        "company:\n  name: Acme\n  channels: [x, myspace]\n  timezone: Atlantis/Capital\nfavourite_colour: red\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    problems = caught.value.problems
    assert f"{config}:3: company.channels.1: unknown value 'myspace' — valid: 'x', 'facebook' or 'linkedin'" in problems
    assert any(p.startswith(f"{config}:4: company.timezone: unknown timezone 'Atlantis/Capital'") for p in problems)
    assert any(p.startswith(f"{config}:5: favourite_colour:") for p in problems)


def test_config_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path / "crisisbot.yaml", "- company\n")
    with pytest.raises(ConfigError, match="start with `company:`"):
        load_settings(config, environ={})


def test_empty_config_file_means_the_defaults(tmp_path: Path) -> None:
    config = write_config(tmp_path / "crisisbot.yaml", "")
    settings = load_settings(config, environ={})
    assert settings.config_path == config
    assert settings.company.name == "Our company"


# ---- the clock -------------------------------------------------------------------------------------
def test_manual_clock_moves_only_when_advanced() -> None:
    start = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
    clock = ManualClock(start)
    assert clock.now() == start
    assert clock.now() == start
    assert clock.advance(minutes=45) == start + timedelta(minutes=45)
    assert clock.advance(seconds=30) == start + timedelta(minutes=45, seconds=30)
    assert clock.real_seconds_until(start + timedelta(hours=1)) == 14 * 60 + 30
    assert clock.real_seconds_until(start) == 0.0
    clock.set(start)
    assert clock.now() == start


def test_manual_clock_needs_an_aware_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 3, 14, 9, 0))


def test_system_clock_at_speed_60_passes_a_minute_per_real_second() -> None:
    clock = SystemClock(speed=60)
    real_start, crisis_start = time.monotonic(), clock.now()
    time.sleep(0.2)
    real = time.monotonic() - real_start
    crisis = (clock.now() - crisis_start).total_seconds()
    assert 11 <= crisis <= 60 * real + 1  # ~12 s of crisis time for 0.2 s of real time
    assert crisis == pytest.approx(60 * real, rel=0.1)


def test_system_clock_is_aware_utc_and_starts_at_the_real_time() -> None:
    clock = SystemClock(speed=60)
    now = clock.now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert abs((now - datetime.now(UTC)).total_seconds()) < 5


def test_system_clock_converts_crisis_time_back_to_real_waiting_time() -> None:
    clock = SystemClock(speed=60)
    wait = clock.real_seconds_until(clock.now() + timedelta(hours=1))
    assert wait == pytest.approx(60, abs=0.5)
    assert clock.real_seconds_until(clock.now() - timedelta(minutes=1)) == 0.0


@pytest.mark.parametrize("speed", [0, -1, -0.5, math.nan, math.inf])
def test_system_clock_refuses_a_speed_that_is_not_a_positive_number(speed: float) -> None:
    with pytest.raises(ValueError, match="clock speed"):
        SystemClock(speed=speed)


def test_utc_and_parse_iso_give_aware_utc() -> None:
    assert utc(datetime(2026, 3, 14, 9, 0)) == datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
    amsterdam = parse_iso("2026-03-14T10:00:00+01:00")
    assert amsterdam == datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
    assert amsterdam.utcoffset() == timedelta(0)
