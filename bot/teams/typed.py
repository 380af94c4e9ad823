"""A command typed to the bot in Teams (`@Crisis Desk crisis status`) as bot/chat/subcommands.py's `Typed`.

Teams has no ephemeral messages and no acknowledgement to make (the activity's HTTP answer left before the work
started): every answer is a reply in the conversation where the command was typed (the incident's thread, a
channel, the 1:1 chat), as Teams users expect. The first answer plays the part of Slack's ack: it goes out beside
the work, never before it; every later one waits for it, so they arrive in order, and the command is done when it
is (use a `TeamsTyped` as a context manager). A progress note ("Declaring…") waits: Teams needs no ack, so a
declare that is set up within PROGRESS_AFTER seconds has one reply, "✅ declared", and only a slower one says
first that it has begun (the note would otherwise take a Connector call from the declare's first round). Teams opens a dialog only from a card's button, so a form (the
declare form, the resolve form) is answered with a card whose button opens it (bot/teams/dialogs.py).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

from bot.chat.drillmark import answer_in
from bot.chat.flow import Flow
from bot.chat.message import Message
from bot.chat.port import Refused
from bot.chat.wording import Wording
from bot.incidents.declare import DeclareRequest
from bot.incidents.desk import Desk
from bot.models import Incident
from bot.teams import dialogs, render
from bot.teams.port import TeamsPort

log = logging.getLogger("crisisbot.teams")
PROGRESS_AFTER = 1.5  # seconds of work before a progress note goes out; a declare usually answers well before
FIRST_ANSWERS = 8  # first answers in flight at once (each a reply of a command being worked on)
_FIRST = ThreadPoolExecutor(max_workers=FIRST_ANSWERS, thread_name_prefix="crisisbot-teams-answer")


class TeamsTyped:
    """One typed command (or a submitted dialog acting like one): who, where, and how to answer them."""

    def __init__(self, desk: Desk, port: TeamsPort, flow: Flow, activity: dict[str, Any], user: str, say: Wording):
        self.desk, self.port, self.flow, self.activity, self._user, self._say = desk, port, flow, activity, user, say
        self._first: Future[None] | None = None  # the first answer, going out beside the work
        self._progress: str | None = None  # a progress note not yet due (see progress)
        self._lock = threading.Lock()

    def __enter__(self) -> TeamsTyped:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._after_first()

    def _after_first(self) -> None:
        """Wait for the first answer (an answer after it must not overtake it; the command ends after it); a
        progress note not yet due is not needed any more."""
        with self._lock:
            self._progress = None  # not needed any more: when it comes due, it finds nothing to say
            first = self._first
        if first is not None:
            first.result()

    @property
    def say(self) -> Wording:
        return self._say

    @property
    def user(self) -> str:
        return self._user

    @property
    def conversation(self) -> str:
        return str((self.activity.get("conversation") or {}).get("id") or "")

    @property
    def room(self) -> str | None:
        """The conversation typed in, unless it is the 1:1 chat (no incident lives there)."""
        conversation = self.activity.get("conversation") or {}
        return None if conversation.get("conversationType") == "personal" else self.conversation or None

    def _reply_to(self) -> str | None:
        ident = self.activity.get("id")
        return ident if isinstance(ident, str) and ident and self.activity.get("type") == "message" else None

    def answer(self, text: str) -> None:
        """A reply (the first beside the work); one Teams refuses is logged, and the work it announces goes on."""
        text = answer_in(self.desk, self.room, text, self.say)
        with self._lock:
            if self._first is None and self._progress is None:
                self._first = _FIRST.submit(self._answer_now, text)
                return
        self._after_first()
        self._answer_now(text)

    def progress(self, text: str) -> None:
        """Said only if the work is still going after PROGRESS_AFTER s; any answer before then cancels it."""
        text = answer_in(self.desk, self.room, text, self.say)
        with self._lock:
            if self._first is not None or self._progress is not None:
                return
            self._progress = text
        self.port.connector.later(PROGRESS_AFTER, self._progress_due)

    def _progress_due(self) -> None:
        """On the connector's loop: hand the note to a thread, unless an answer came first."""
        with self._lock:
            text, self._progress = self._progress, None
            if text is not None:
                self._first = _FIRST.submit(self._answer_now, text)

    def _answer_now(self, text: str) -> None:
        try:
            self._send(Message(text))
        except (Refused, OSError) as exc:
            log.warning(
                "could not answer %s: %s", self.user, exc.reason if isinstance(exc, Refused) else type(exc).__name__
            )

    def show(self, message: Message) -> None:
        self._after_first()
        self._send(message)

    def _send(self, message: Message) -> None:
        self.port.reply(self.conversation, message, reply_to=self._reply_to())

    def quiet(self) -> None:
        """Nothing to acknowledge: Teams had its HTTP answer before the work began."""

    def open_declare_form(self) -> None:
        self._reply_card(dialogs.opener("declare", self.say))

    def open_resolve_form(self, incident: Incident, ask_authority: bool) -> None:
        self._reply_card(dialogs.opener("resolve", self.say, incident=incident, ask_authority=ask_authority))

    def _reply_card(self, card: dict[str, Any]) -> None:
        """A card of the bot's own (a dialog's opener: its button is an Action.Submit, no neutral Button is)."""
        activity = {"type": "message", "attachments": [{"contentType": render.CARD_TYPE, "content": card}]}
        self._after_first()
        reply_to = self._reply_to()
        if reply_to:
            self.port.connector.reply(self.conversation, reply_to, activity)
        else:
            self.port.connector.send(self.conversation, activity)

    def declare(self, request: DeclareRequest) -> None:
        """Declare and set up; a "declared" Teams refused is told again after the set-up (bot/chat/flow.py)."""
        teams = request.model_copy(update={"platform": "teams"})  # the incident lives where it was declared
        self.flow.declare(teams, self.answer, self._told)

    def _told(self, text: str) -> bool:
        try:
            self.show(Message(text))
        except (Refused, OSError) as exc:
            log.warning(
                "could not answer the declarer: %s", exc.reason if isinstance(exc, Refused) else type(exc).__name__
            )
            return False
        return True
