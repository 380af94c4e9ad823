"""`crisisbot init`: write a company's config and editable copies of the default playbooks and messages."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from bot.config import Company, default_dir
from bot.errors import ConfigError


def write_project(
    directory: Path,
    company: Company,
    scenarios: list[str],
    force: bool = False,
    role_owners: dict[str, list[str]] | None = None,
    admins: list[str] | None = None,
) -> list[Path]:
    """Write crisisbot.yaml, playbooks/ (only the chosen scenarios, with their drill scripts) and messages/ into
    `directory`."""
    directory = directory.resolve()
    config = directory / "crisisbot.yaml"
    targets = [config, directory / "playbooks", directory / "messages"]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        raise ConfigError([f"{existing[0]}:1: already exists — pass --force to overwrite, or use --dir"])
    directory.mkdir(parents=True, exist_ok=True)
    playbooks = directory / "playbooks"
    if playbooks.exists():
        shutil.rmtree(playbooks)
    playbooks.mkdir()
    for scenario in scenarios:
        shutil.copy2(default_dir("playbooks") / f"{scenario}.yaml", playbooks / f"{scenario}.yaml")
        script = default_dir("playbooks") / "drills" / f"{scenario}.yaml"  # the scenario's drill, when it has one
        if script.is_file():
            (playbooks / "drills").mkdir(exist_ok=True)
            shutil.copy2(script, playbooks / "drills" / f"{scenario}.yaml")
    messages = directory / "messages"
    if messages.exists():
        shutil.rmtree(messages)
    shutil.copytree(default_dir("messages"), messages)
    body = {
        "company": company.model_dump(),
        "scenarios": scenarios,
        "playbooks": "playbooks",
        "messages": "messages",
        "database": "crisisbot.db",
        "announcements_channel": None,
        "role_owners": role_owners or {},
        "admins": admins or [],
    }
    header = (
        "# Crisis Desk configuration, written by `crisisbot init`. Environment variables override it.\n"
        "# role_owners: the first owner and backups of each role by Slack member id, e.g. legal: [U0CHEN, U0BRAM];\n"
        "#   seeded into the database once, `/crisis roles set` changes them afterwards.\n"
        "# admins: Slack member ids who may always change role owners, like the crisis lead and the workspace's\n"
        "#   own admins and owners.\n"
    )
    config.write_text(header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return [config, playbooks, messages]
