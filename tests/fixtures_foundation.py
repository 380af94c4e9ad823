"""Helpers for the foundation tests (CLI, check, store, playbooks, messages, config).

Imported explicitly by those test files; plain functions, so nothing here depends on a conftest.
Every test runs on real files below pytest's `tmp_path`, with the environment variables of the README's configuration table
removed and the working directory moved into `tmp_path`, so the developer's own setup cannot leak in.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from bot.cli import app

# Every variable of the README's configuration table: unset for each test unless the test sets it itself.
ENV_VARS = (
    "CRISISBOT_CONFIG",
    "CRISISBOT_DB",
    "CRISISBOT_PLAYBOOKS",
    "CRISISBOT_MESSAGES",
    "CRISISBOT_LANGUAGE",
    "CRISISBOT_CLOCK_SPEED",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "PORT",
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID",
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET",
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID",
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED",
    "TEAMS_CRISIS_CHANNEL",
    "TEAMS_TEAM_ID",
    "TEAMS_SERVICE_URL",
    "TEAMS_PORT",
    "TEAMS_PUBLIC_URL",
    "TEAMS_LOGIN_URL",
)

INIT_ARGS = ("--company", "Acme", "--industry", "logistics", "--channels", "x,linkedin", "--language", "nl", "--yes")


def isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Clear the bot's environment variables and work from an empty folder; returns that folder."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def cli(*args: str | Path, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """Run `crisisbot <args>` in-process, the way a person would type it."""
    return CliRunner().invoke(app, [str(a) for a in args], input=input, env=env, prog_name="crisisbot")


def crisisbot_executable() -> Path:
    """The installed console script of this venv."""
    found = shutil.which("crisisbot", path=str(Path(sys.executable).parent)) or shutil.which("crisisbot")
    return Path(found) if found else Path(sys.executable).parent / "crisisbot"


def make_project(tmp_path: Path, name: str = "project", *extra: str) -> Path:
    """`crisisbot init` into tmp_path/name: a company's own editable copy of config, playbooks and messages."""
    directory = tmp_path / name
    result = cli("init", *INIT_ARGS, *extra, "--dir", directory)
    assert result.exit_code == 0, result.output
    return directory


def tree_hash(root: Path) -> str:
    """One hash over every file's path and bytes below `root`: any write, new file or deletion changes it."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    """Replace `old` by `new` in a file, failing loudly when the default file no longer contains `old`."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}; the defaults changed, update the test"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def assert_refused(result: Result, *expected: str) -> None:
    """Exit code 2, each expected fragment in the message, and no Python traceback."""
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.output}"
    assert isinstance(result.exception, SystemExit), f"crashed with {result.exception!r}"
    assert "Traceback" not in result.output
    for fragment in expected:
        assert fragment in result.output, f"{fragment!r} not in:\n{result.output}"


__all__ = [
    "INIT_ARGS",
    "assert_refused",
    "cli",
    "crisisbot_executable",
    "edit",
    "isolate",
    "make_project",
    "tree_hash",
]
