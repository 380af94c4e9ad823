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
from bot.config import default_dir, load_settings
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
