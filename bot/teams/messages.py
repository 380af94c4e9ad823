"""A message to the bot as a command: `@Crisis Desk crisis declare …` in a channel or thread, or just `status` in
the 1:1 chat, parsed by bot/chat/commands.py and run by bot/chat/subcommands.py through a `TeamsTyped`.

Teams puts mentions in the text as `<at>Name</at>` with an entity saying whom each names. The bot's own is dropped;
a person's becomes `<@entra-object-id>`, the mention syntax commands.py reads for Teams, so `roles set` gets ids
and a title gets no markup. What a person typed arrives HTML-escaped (`&lt;at&gt;`): it is unescaped into text,
which the Teams dialect keeps inert in every card.
"""

from __future__ import annotations

import contextlib
import html
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.chat import commands, subcommands
from bot.chat.explain import explain
from bot.chat.port import Refused
from bot.chat.wording import Wording
from bot.config import ENTRA_OBJECT
from bot.errors import CrisisError
from bot.teams.typed import TeamsTyped

if TYPE_CHECKING:
    from bot.teams.agent import Bot

log = logging.getLogger("crisisbot.teams")
COMMAND_WORD = re.compile(r"(?i)^\s*/?crisis\b")
TAG = re.compile(r"<(?!@)[^<>]*>")  # a tag, but not the `<@entra-id>` mention tokens put in
PERSON_REFS = "person:"  # bot/teams/refs.py's keys of what is known of a person


def typed(bot: Bot, activity: dict[str, Any], user: str) -> None:
    """Parse the message's command and run it; a refusal or a typo is answered where it was typed."""
    text = command_text(activity, lambda mentioned: mentioned_person(bot, mentioned))
    if activity.get("value") and not text:
        return  # an old-style card submit: every button the bot draws is an Action.Execute or opens a dialog
    if text.lower() == "declare":  # Teams users type the verb they see on the help card: the form, as `crisis`
        text = ""
    say = bot.wording_for(user)
    with TeamsTyped(bot.desk, bot.port, bot.flow(), activity, user, say) as run:
        _run(bot, run, text, say)


def _run(bot: Bot, run: TeamsTyped, text: str, say: Wording) -> None:
    try:
        cmd = commands.parse(text, commands.TEAMS_MENTIONS)
        subcommands.HANDLERS[cmd.name](run, cmd)
    except CrisisError as exc:
        try:
            run.answer(explain(exc, say))
        finally:
            bot.desk.record_refusal(exc)
    except (Refused, OSError) as exc:
        log.warning("a Teams command failed: %s", exc.reason if isinstance(exc, Refused) else type(exc).__name__)
        with contextlib.suppress(Refused, OSError):  # Teams may refuse this too; the log line stays
            run.answer(say("teams.command_failed"))


def mentioned_person(bot: Bot, mentioned: dict[str, Any]) -> str | None:
    """A mentioned person's Entra object id: Teams' mention entities name them by their 29: id, which the refs
    know from their own activities, else the team's member list does (remembered then)."""
    for key in ("aadObjectId", "id"):
        value = mentioned.get(key)
        if isinstance(value, str) and ENTRA_OBJECT.fullmatch(value.lower()):
            return value.lower()
    mri = mentioned.get("id")
    if not isinstance(mri, str) or not mri:
        return None
    for key, known in bot.desk.store.platform_refs("teams", PERSON_REFS).items():
        if isinstance(known, dict) and known.get("id") == mri:
            return key.removeprefix(PERSON_REFS)
    if not bot.port.team_id:
        return None
    try:
        member = bot.port.connector.member(bot.port.team_id, mri)
    except (Refused, OSError) as exc:
        log.warning("mention look-up: %s", exc.reason if isinstance(exc, Refused) else type(exc).__name__)
        return None
    aad = str(member.get("aadObjectId") or "").lower()
    if not ENTRA_OBJECT.fullmatch(aad):
        return None
    bot.port.refs.note_person(aad, id=mri, name=member.get("name"), in_team=True)
    return aad


def command_text(activity: dict[str, Any], aad_of: Callable[[dict[str, Any]], str | None]) -> str:
    """The command in a message: the bot's @mention dropped, each person's replaced by `<@entra-id>` (the
    mention syntax bot/chat/commands.py reads for Teams), HTML entities undone, a leading `crisis` dropped."""
    text = str(activity.get("text") or "")
    bot_id = (activity.get("recipient") or {}).get("id")
    for entity in activity.get("entities") or []:
        if not isinstance(entity, dict) or entity.get("type") != "mention" or not isinstance(entity.get("text"), str):
            continue
        mentioned = entity.get("mentioned")
        if not isinstance(mentioned, dict):
            continue
        if mentioned.get("id") == bot_id:
            text = text.replace(entity["text"], " ", 1)
            continue
        aad = aad_of(mentioned)
        if aad:
            text = text.replace(entity["text"], f" <@{aad}> ", 1)
    text = html.unescape(TAG.sub(" ", text))  # what is left of markup; a mention not resolved stays its name
    return COMMAND_WORD.sub("", text, count=1).strip()
