"""The Slack app manifest, with the request URLs filled in for a given host."""

from __future__ import annotations

import yaml

from bot.config import PACKAGE_DIR
from bot.errors import ConfigError

PLACEHOLDER = "https://YOUR-HOST"


def manifest_text() -> str:
    for path in (PACKAGE_DIR / "defaults" / "manifest.yml", PACKAGE_DIR.parent / "manifest.yml"):
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise ConfigError(["manifest.yml:1: not found in the installed package — reinstall crisisbot"])


def manifest_scopes() -> list[str]:
    """The bot token scopes the manifest asks for: all the bot may use (the sandbox grants exactly these)."""
    return list(yaml.safe_load(manifest_text())["oauth_config"]["scopes"]["bot"])


def render_manifest(url: str | None) -> str:
    """The manifest text (comments kept), with every request URL pointing at `url`."""
    text = manifest_text()
    if not url:
        return text
    url = url.rstrip("/")
    if not url.startswith(("https://", "http://")):
        raise ConfigError([f"--url: {url!r} is not a URL — give the public base URL, e.g. https://crisis.example.com"])
    return text.replace(PLACEHOLDER, url)
