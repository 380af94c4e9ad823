"""Teams activities → the application layer: the agent the SDK's CloudAdapter runs for every activity.

Every activity is checked first: it must come from our tenant and carry its sender's Entra object id
(`from.aadObjectId`, the person id everywhere in the core); anything else is refused and changes nothing. Its
work then runs on a worker thread, never on the event loop: a message is answered (HTTP 202) at once and worked
on after; an invoke waits for its answer (the first thing its work offers, bot/teams/clicks.py) and the work goes
on after the answer has left. An activity id seen before (Teams redelivers when an answer was lost) is done once:
its key is claimed in the store's `handled_requests` (the Slack adapter's mechanism), a repeat still in flight
gets the same answer, a later one a short notice.

Routing: a message is a command (`crisis declare …`, or the subcommand alone); `adaptiveCard/action` a button
(bot/chat/buttons.py) or a `refresh` (user-specific views); `task/fetch`/`task/submit` a dialog; an install or
the bot added to a team is remembered, and the crisis channel greeted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

from microsoft_agents.activity import Activity, ActivityTypes, InvokeResponse
from microsoft_agents.hosting.core import Agent, TurnContext

from bot.chat import buttons, commands, subcommands
from bot.chat.after import Outbox
from bot.chat.explain import explain
from bot.chat.flow import Flow
from bot.chat.message import Message
from bot.chat.people import Languages
from bot.chat.port import Port, Refused
from bot.chat.wording import Wording
from bot.config import ENTRA_OBJECT
from bot.errors import CrisisError
from bot.incidents.desk import Desk
from bot.store import disk_full
from bot.teams import clicks, submitted
from bot.teams.clicks import ClickPort, Reply, TeamsClick, notice_answer
from bot.teams.port import TeamsPort
from bot.teams.text import TEAMS
from bot.teams.typed import TeamsTyped

log = logging.getLogger("crisisbot.teams")
WORKER_THREADS = 32
INVOKE_WAIT = 10.0  # seconds an invoke waits for its answer: Teams gives up after 15
KEY_PREFIX = "teams:"  # request keys in handled_requests, apart from Slack's trigger and event ids
COMMAND_WORD = re.compile(r"(?i)^\s*/?crisis\b")
TAG = re.compile(r"<(?!@)[^<>]*>")  # a tag, but not the `<@entra-id>` mention tokens put in


class Workers:
    """The activities' worker threads, and what a local run waits for to know the bot is idle."""

    def __init__(self, threads: int = WORKER_THREADS) -> None:
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="crisisbot-teams")
        self._pending: set[Future[Any]] = set()
        self._lock = threading.Lock()

    def submit(self, work: Callable[[], Any]) -> Future[Any]:
        with self._lock:
            future = self.pool.submit(work)
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no activity is being worked on (work may start more work); False after `timeout` s."""
        end = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return True
            left = end - time.monotonic()
            if left <= 0:
                return False
            wait(pending, timeout=left)

    def stop(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=False)


@dataclass
class Bot:
    """What every activity's work uses, living as long as the process."""

    desk: Desk
    port: TeamsPort
    outbox: Outbox
    workers: Workers = field(default_factory=Workers)
    languages: Languages = field(init=False)

    def __post_init__(self) -> None:
        self.languages = Languages(self.desk, TEAMS)

    def flow(self, port: Port | None = None) -> Flow:
        return Flow(self.desk, port or cast(Port, self.port), self.languages, self.outbox)

    def wording_for(self, person: str) -> Wording:
        """In the person's Teams language: their activities tell it (TeamsPort.remember), no look-up waits."""
        return self.languages.wording_for(cast(Port, self.port), person, wait=True)


def person_of(activity: dict[str, Any]) -> str | None:
    """The sender's Entra object id (lower-case, as the core keeps it), None when the activity has none."""
    aad = (activity.get("from") or {}).get("aadObjectId")
    return aad.lower() if isinstance(aad, str) and ENTRA_OBJECT.fullmatch(aad.lower()) else None


def tenant_of(activity: dict[str, Any]) -> str | None:
    """The tenant an activity says it comes from; None when it says nothing usable (channelData is free-form)."""
    data = activity.get("channelData")
    tenant = data.get("tenant") if isinstance(data, dict) else None
    found = tenant.get("id") if isinstance(tenant, dict) else None
    found = found or (activity.get("conversation") or {}).get("tenantId")
    return found if isinstance(found, str) else None


class TeamsAgent(Agent):
    """The SDK's agent for Crisis Desk: checks, de-duplicates and routes each activity (see the module doc)."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._in_flight: dict[str, asyncio.Future[Any]] = {}  # invoke id → its answer, for a repeat meanwhile

    async def on_turn(self, context: TurnContext) -> None:
        activity = context.activity.model_dump(mode="json", by_alias=True, exclude_none=True)
        kind, name = activity.get("type"), activity.get("name")
        refusal = self.refusal(activity, context.identity.get_claim_value("serviceurl") if context.identity else None)
        if refusal is not None:
            log.warning("refused a Teams %s activity: %s", kind, refusal)
            if kind == ActivityTypes.invoke:
                await self._answer(context, notice_answer(self.bot.languages.wording()("teams.refused")))
            return
        if kind == ActivityTypes.invoke:
            await self._answer(context, await self._invoke(activity, str(name or "")))
        elif kind in (ActivityTypes.message, ActivityTypes.conversation_update, ActivityTypes.installation_update):
            self.bot.workers.submit(lambda: self._work(activity, self._routed(activity)))

    def refusal(self, activity: dict[str, Any], signed_url: Any = None) -> str | None:
        """Why an activity is refused: a service URL its token was not signed for (the bot would send its own
        token there), another tenant, or (a person's activity) no Entra object id."""
        if isinstance(signed_url, str) and _host(signed_url) != _host(str(activity.get("serviceUrl") or "")):
            return "a service URL its token was not issued for"
        tenant = self.bot.desk.settings.teams_tenant_id
        if tenant and (tenant_of(activity) or "").lower() != tenant.lower():
            return "from another tenant"
        if activity.get("type") in (ActivityTypes.message, ActivityTypes.invoke) and person_of(activity) is None:
            return "without the sender's Entra object id"
        return None

    async def _answer(self, context: TurnContext, body: Any) -> None:
        response = InvokeResponse(status=200, body=body)
        await context.send_activity(Activity(type=ActivityTypes.invoke_response, value=response))

    async def _invoke(self, activity: dict[str, Any], name: str) -> Any:
        """The invoke's answer: a repeat in flight shares the first one's; the work goes on after it."""
        ident = str(activity.get("id") or "")
        if ident and ident in self._in_flight:
            return await asyncio.shield(self._in_flight[ident])
        reply = Reply()
        self.bot.workers.submit(lambda: self._work(activity, self._invoked(activity, name, reply), reply))
        answer = asyncio.wrap_future(reply.future)
        if ident:
            self._in_flight[ident] = answer
        try:
            return await asyncio.wait_for(asyncio.shield(answer), INVOKE_WAIT)
        except TimeoutError:
            log.warning("a Teams %s took over %s s: answered before its work was done", name, INVOKE_WAIT)
            return notice_answer(self.bot.wording_for(person_of(activity) or "")("teams.still_working"))
        finally:
            if ident:
                asyncio.get_running_loop().call_later(60, self._in_flight.pop, ident, None)

    # ---- on a worker thread ---------------------------------------------------------------------------------
    def _work(self, activity: dict[str, Any], work: Callable[[], None], reply: Reply | None = None) -> None:
        """Claim the activity's key, remember what it tells of its sender, do the work; never let it escape."""
        person = person_of(activity)
        try:
            if not self._claim(activity):
                log.info("dropped a repeated Teams activity (%s)", activity.get("type"))
                if reply is not None:
                    reply.offer(notice_answer(self.bot.wording_for(person or "")("teams.already_handled")))
                return
            self.bot.port.remember(activity)
            work()
        except Exception as exc:  # a bug or a full disk: the log has the details, the person plain words
            log.error("a Teams %s failed", activity.get("type"), exc_info=exc)
            text = self.bot.wording_for(person or "")("error.cannot_save" if disk_full(exc) else "error.unexpected")
            if reply is None or not reply.offer(notice_answer(text)):
                self._tell_failure(activity, text)
        finally:
            if reply is not None:
                reply.offer(notice_answer(self.bot.wording_for(person or "")("teams.done")))

    def _claim(self, activity: dict[str, Any]) -> bool:
        ident = activity.get("id")
        if not ident:
            return True
        try:
            return self.bot.desk.store.claim_request(f"{KEY_PREFIX}{ident}", self.bot.desk.now())
        except sqlite3.OperationalError as exc:
            if not disk_full(exc):
                raise
            log.error("the disk is full: a Teams activity is handled without its idempotency key")
            return True

    def _tell_failure(self, activity: dict[str, Any], text: str) -> None:
        conversation = (activity.get("conversation") or {}).get("id")
        if activity.get("type") == ActivityTypes.message and conversation:
            try:
                self.bot.port.reply(conversation, Message(text), reply_to=activity.get("id"))
            except (Refused, OSError) as exc:
                log.warning("could not tell the user about the failure: %s", type(exc).__name__)

    def _routed(self, activity: dict[str, Any]) -> Callable[[], None]:
        if activity.get("type") == ActivityTypes.message:
            return lambda: self.message(activity)
        return lambda: submitted.installed(self.bot, activity)

    def _invoked(self, activity: dict[str, Any], name: str, reply: Reply) -> Callable[[], None]:
        if name == "adaptiveCard/action":
            return lambda: self.click(activity, reply)
        if name in ("task/fetch", "task/submit"):
            return lambda: submitted.dialog(self.bot, activity, name, reply, cast(str, person_of(activity)))
        return lambda: None  # an invoke we do not use: answered empty (the turn's default)

    # ---- messages: commands ---------------------------------------------------------------------------------
    def message(self, activity: dict[str, Any]) -> None:
        user = cast(str, person_of(activity))
        say = self.bot.wording_for(user)
        run = TeamsTyped(self.bot.desk, self.bot.port, self.bot.flow(), activity, user, say)
        text = command_text(activity, self.aad_of)
        if activity.get("value") and not text:
            return  # an old-style card submit: every button the bot draws is an Action.Execute or a dialog
        try:
            cmd = commands.parse(text, commands.TEAMS_MENTIONS)
            subcommands.HANDLERS[cmd.name](run, cmd)
        except CrisisError as exc:
            try:
                run.answer(explain(exc, say))
            finally:
                self.bot.desk.record_refusal(exc)
        except (Refused, OSError) as exc:
            log.warning("a Teams command failed: %s", exc.reason if isinstance(exc, Refused) else type(exc).__name__)
            with contextlib.suppress(Refused, OSError):  # Teams may refuse this too; the log line stays
                run.answer(say("teams.command_failed"))

    def aad_of(self, mentioned: dict[str, Any]) -> str | None:
        """A mentioned person's Entra object id: Teams' mention entities name them by their 29: id, which the
        refs know from their own activities, else the team's member list does (remembered then)."""
        for key in ("aadObjectId", "id"):
            value = mentioned.get(key)
            if isinstance(value, str) and ENTRA_OBJECT.fullmatch(value.lower()):
                return value.lower()
        mri = mentioned.get("id")
        if not isinstance(mri, str) or not mri:
            return None
        for key, known in self.bot.desk.store.platform_refs("teams", "person:").items():
            if isinstance(known, dict) and known.get("id") == mri:
                return key.removeprefix("person:")
        if not self.bot.port.team_id:
            return None
        try:
            member = self.bot.port.connector.member(self.bot.port.team_id, mri)
        except (Refused, OSError) as exc:
            log.warning("mention look-up: %s", exc.reason if isinstance(exc, Refused) else type(exc).__name__)
            return None
        aad = str(member.get("aadObjectId") or "").lower()
        if not ENTRA_OBJECT.fullmatch(aad):
            return None
        self.bot.port.refs.note_person(aad, id=mri, name=member.get("name"), in_team=True)
        return aad

    # ---- card actions -------------------------------------------------------------------------------------------
    def click(self, activity: dict[str, Any], reply: Reply) -> None:
        user = cast(str, person_of(activity))
        say = self.bot.wording_for(user)
        port = ClickPort(self.bot.port, activity.get("replyToId"), user, reply)
        clicked = TeamsClick(self.bot.desk, self.bot.port, self.bot.flow(cast(Port, port)), activity, user, say, reply)
        if clicked.verb == clicks.REFRESH:
            try:
                reply.offer(
                    clicks.refreshed(self.bot.desk, self.bot.port, clicked.value, user, self.bot.languages.wording)
                )
            except CrisisError as exc:
                reply.offer(notice_answer(explain(exc, say)))
            return
        verb = buttons.BUTTONS.get(clicked.verb)
        if verb is None:
            clicked.answer(say("error.bad_button"))
            return
        try:
            buttons.press(verb, clicked)
        except (Refused, OSError) as exc:  # Teams refused, or no answer in time
            log.warning(
                "action %s: Teams refused %s",
                clicked.verb,
                exc.reason if isinstance(exc, Refused) else type(exc).__name__,
            )
            clicked.answer(say("teams.teams_failed"))


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower() + f":{urlsplit(url).port or ''}"


def command_text(activity: dict[str, Any], aad_of: Callable[[dict[str, Any]], str | None]) -> str:
    """The command in a message: the bot's @mention dropped, each person's replaced by `<@entra-id>` (the
    mention syntax bot/chat/commands.py reads for Teams), HTML entities undone, a leading `crisis` dropped."""
    text = str(activity.get("text") or "")
    bot_id = (activity.get("recipient") or {}).get("id")
    for entity in activity.get("entities") or []:
        if not isinstance(entity, dict) or entity.get("type") != "mention" or not isinstance(entity.get("text"), str):
            continue
        mentioned = entity.get("mentioned") or {}
        if mentioned.get("id") == bot_id:
            text = text.replace(entity["text"], " ", 1)
            continue
        aad = aad_of(mentioned)
        if aad:
            text = text.replace(entity["text"], f" <@{aad}> ", 1)
    text = html.unescape(TAG.sub(" ", text))  # what is left of markup; a mention not resolved stays its name
    return COMMAND_WORD.sub("", text, count=1).strip()
