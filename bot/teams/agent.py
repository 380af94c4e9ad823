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
import functools
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

from microsoft_agents.activity import Activity, ActivityTypes, InvokeResponse
from microsoft_agents.hosting.core import Agent, TurnContext

from bot.chat.after import Outbox
from bot.chat.flow import Flow
from bot.chat.message import Message
from bot.chat.people import Languages
from bot.chat.port import Port, Refused
from bot.chat.wording import Wording
from bot.config import ENTRA_OBJECT
from bot.incidents.desk import Desk
from bot.store import disk_full
from bot.teams import clicks, messages, replay, submitted
from bot.teams.clicks import Reply, notice_answer
from bot.teams.port import TeamsPort
from bot.teams.workers import Workers

log = logging.getLogger("crisisbot.teams")
INVOKE_WAIT = 10.0  # seconds an invoke waits for its answer: Teams gives up after 15
KEY_PREFIX = "teams:"  # request keys in handled_requests, apart from Slack's trigger and event ids


@dataclass
class Bot:
    """What every activity's work uses, living as long as the process."""

    desk: Desk
    port: TeamsPort
    outbox: Outbox
    workers: Workers = field(default_factory=Workers)
    languages: Languages = field(init=False)

    def __post_init__(self) -> None:
        self.languages = Languages(self.desk, self.port.dialect)  # its tenant, crisis channel and incident space

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
        self.bot.workers.submit(lambda: self._work(activity, self._invoked(activity, name, reply), reply), invoke=True)
        answer = asyncio.wrap_future(reply.future)
        if ident:
            self._in_flight[ident] = answer
        try:
            return await asyncio.wait_for(asyncio.shield(answer), INVOKE_WAIT)
        except TimeoutError:
            log.warning("a Teams %s took over %s s: answered before its work was done", name, INVOKE_WAIT)
            return notice_answer(self.bot.languages.wording()("teams.still_working"))  # on the loop: no look-up
        finally:
            if ident:
                asyncio.get_running_loop().call_later(60, self._in_flight.pop, ident, None)

    # ---- on a worker thread ---------------------------------------------------------------------------------
    def _work(
        self, activity: dict[str, Any], work: Callable[[], None], reply: Reply | None = None, replayed: bool = False
    ) -> None:
        """Claim the activity's key, remember what it tells of its sender, do the work (noted until it ends, for
        a restart to finish: bot/teams/replay.py); never let a failure escape."""
        person = person_of(activity)
        noted = False
        try:
            if not replayed and not self._claim(activity):
                log.info("dropped a repeated Teams activity (%s)", activity.get("type"))
                if reply is not None:
                    reply.offer(notice_answer(self.bot.wording_for(person or "")("teams.already_handled")))
                return
            self.bot.port.remember(activity)
            if replay.replayable(activity) and activity.get("id"):
                replay.note(self.bot.desk, activity)
                noted = True
            work()
        except Exception as exc:  # a bug or a full disk: the log has the details, the person plain words
            log.error("a Teams %s failed", activity.get("type"), exc_info=exc)
            text = self.bot.wording_for(person or "")("error.cannot_save" if disk_full(exc) else "error.unexpected")
            if reply is None or not reply.offer(notice_answer(text)):
                self._tell_failure(activity, text)
        finally:
            if noted:
                with contextlib.suppress(sqlite3.Error):  # a full disk: the work is done, the note stays
                    replay.done(self.bot.desk, activity)
            if reply is not None:
                reply.offer(notice_answer(self.bot.wording_for(person or "")("teams.done")))

    def finish_unfinished(self) -> int:
        """At start-up: work again on what a process that died had answered but not finished; returns how many."""
        pending = replay.unfinished(self.bot.desk)
        for activity in pending:
            log.info("finishing a Teams %s answered before a restart", activity.get("type"))
            name = str(activity.get("name") or "")
            work = self._routed(activity) if activity.get("type") != "invoke" else None
            reply = Reply()
            if work is None:
                work = self._invoked(activity, name, reply)
            invoke = activity.get("type") == "invoke"
            self.bot.workers.submit(functools.partial(self._work, activity, work, reply, replayed=True), invoke=invoke)
        return len(pending)

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
            return lambda: messages.typed(self.bot, activity, cast(str, person_of(activity)))
        return lambda: submitted.installed(self.bot, activity)

    def _invoked(self, activity: dict[str, Any], name: str, reply: Reply) -> Callable[[], None]:
        if name == "adaptiveCard/action":
            return lambda: clicks.clicked(self.bot, activity, reply, cast(str, person_of(activity)))
        if name in ("task/fetch", "task/submit"):
            return lambda: submitted.dialog(self.bot, activity, name, reply, cast(str, person_of(activity)))
        return lambda: None  # an invoke we do not use: answered empty (the turn's default)


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower() + f":{urlsplit(url).port or ''}"
