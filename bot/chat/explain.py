"""A domain error as the sentence a person reads: the error's UI key, its parameters put into words.

The core raises `CrisisError`s that carry a key and ids (roles, networks, people); which words those become is
the application's business, the same on every platform: only mentions and inline code come from the dialect.
"""

from __future__ import annotations

import logging
from typing import Any

from markupsafe import Markup

from bot.chat.wording import Wording
from bot.errors import ConfigError, CrisisError, NotAuthorized, SchemaError
from bot.ids import NETWORKS, ROLES

log = logging.getLogger("crisisbot.chat")


def explain(exc: CrisisError, say: Wording) -> str:
    """The user-facing sentence for a domain error, with role ids turned into role names."""
    if isinstance(exc, ConfigError | SchemaError):  # file names and paths are for the log, not for people
        log.error("%s", exc)
        return say(exc.key)
    params = _worded(exc, say)
    try:
        return say(exc.key, **params)
    except Exception:  # a missing variable in a translated string must not hide the real error
        log.exception("UI string %s failed to render", exc.key)
        return say("error.generic")


def _worded(exc: CrisisError, say: Wording) -> dict[str, Any]:
    """The error's parameters as a person reads them: role and network names, mentions, typeable ids."""
    params: dict[str, Any] = dict(exc.params)
    if "allowed" in params:
        params["allowed"] = ", ".join(say.role(r) for r in params["allowed"])
    if "valid" in params:  # our own ids, as code so they stay typeable (escaping turns `_` into `ˍ`)
        params["valid"] = Markup(", ").join(say.dialect.code(v) for v in str(params["valid"]).split(", "))
    if params.get("network") in NETWORKS:
        params["network"] = say.network(params["network"])
    if params.get("role") in ROLES:
        params["role"] = say.role(params["role"])
    if "user" in params:  # a core error names a person by id: mentioned, so the platform shows their name
        params["user"] = say.mention(params["user"])
    if isinstance(params.get("person"), str):  # a member id: shown as a mention, and typed out as it is
        params["person_id"] = params["person"]
        params["person"] = say.mention(params["person"])
    if isinstance(exc, NotAuthorized) and exc.key == "error.not_authorized":
        params.setdefault("action", "")
        params["action"] = say(f"action.{params['action']}") if params["action"] else ""
    return params
