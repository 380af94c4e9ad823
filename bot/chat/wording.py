"""The one wording class: UI strings in one language, user values escaped for one platform's markup."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, Template
from markupsafe import Markup

from bot.chat.port import Dialect
from bot.config import default_dir
from bot.ids import LANGUAGES
from bot.messages import Messages, load_ui_file


class Wording:
    """`wording("key", **params)` is the string `key` of messages/<language>/ui.yaml, rendered in Jinja2's sandbox
    with every plain `str` parameter escaped by the platform's dialect (Markup ones pass as they are);
    `wording.home("key", …)` the same for the home screen's strings (messages/<language>/home.yaml)."""

    def __init__(self, messages: Messages, language: str, dialect: Dialect) -> None:
        self._unescaped = messages
        self.messages = messages.with_escape(dialect.escape)
        self.language = language
        self.dialect = dialect

    def __call__(self, key: str, /, **params: Any) -> str:
        return self.messages.ui(self.language, key, **self._platform(params))

    def _platform(self, params: dict[str, Any]) -> dict[str, Any]:
        """Every string may name the platform, its command and what an incident is; the dialect says what they are
        here."""
        params.setdefault("platform", Markup(self.dialect.platform))
        params.setdefault("cmd", Markup(self.dialect.command))
        params.setdefault("space", Markup(self.dialect.space(None)))  # "channel" or "thread": a string may say which
        return params

    def home(self, key: str, /, **params: Any) -> str:
        """The Home tab's string `key` (messages/<language>/home.yaml), escaped like every other UI string."""
        path = home_file(self._unescaped.root, self.language)
        template = _home_templates(self.messages.env, path).get(key)
        if template is None:
            raise KeyError(f"Home string {key!r} missing in {path}")
        return template.render(**self._platform(params)).strip()

    def role(self, role: str) -> str:
        return self(f"role.{role}")

    def network(self, network: str) -> str:
        return self(f"network.{network}")

    def mention(self, person: str | None) -> Markup:
        return self.dialect.mention(person)

    def room(self, room: str | None) -> Markup:
        return self.dialect.room_link(room)

    def in_language(self, language: str) -> Wording:
        return Wording(self._unescaped, language, self.dialect)


def home_file(root: Path, language: str) -> Path:
    """`<root>/<language>/home.yaml`, or the shipped one when a company's copied folder predates it."""
    language = language if language in LANGUAGES else "en"
    for base in (root, default_dir("messages")):
        path = base / language / "home.yaml"
        if path.is_file():
            return path
    return root / language / "home.yaml"  # load_ui_file reports it as a ConfigError with the path


@lru_cache(maxsize=16)
def _home_templates(env: Environment, path: Path) -> dict[str, Template]:
    """home.yaml compiled once per file, in the same (escaping) environment as the UI strings."""
    return {key: env.from_string(source) for key, source in load_ui_file(path).items()}
