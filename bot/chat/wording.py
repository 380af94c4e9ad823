"""The one wording class: UI strings in one language, user values escaped for one platform's markup."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from bot.chat.port import Dialect
from bot.messages import Messages


class Wording:
    """`wording("key", **params)` is the string `key` of messages/<language>/ui.yaml, rendered in Jinja2's sandbox
    with every plain `str` parameter escaped by the platform's dialect (Markup ones pass as they are)."""

    def __init__(self, messages: Messages, language: str, dialect: Dialect) -> None:
        self._unescaped = messages
        self.messages = messages.with_escape(dialect.escape)
        self.language = language
        self.dialect = dialect

    def __call__(self, key: str, /, **params: Any) -> str:
        return self.messages.ui(self.language, key, **params)

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
