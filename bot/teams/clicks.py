"""A card action (Universal Actions: `adaptiveCard/action`, verb = the neutral button's id) as bot/chat/buttons.py's
`Clicked`, answered in the invoke's HTTP response.

Teams waits for that answer and shows it to the clicker alone: a card replaces the clicked card in their view, a
text is shown as a notice. So the answer is the first of: the clicked message redrawn by the verb (its update
through `ClickPort`, drawn for the clicker, e.g. their role DM with Acknowledge done or the draft with their
approval), a refusal or notice (`answer`), the opener of a form. The turn sends it as soon as it exists, while the
verb's worker goes on with the real update (for everyone else) and the other redraws and notices.

Verb `refresh` (user-specific views) answers the viewer's own drawing of a draft card: what everyone sees has no
decision buttons; those who may decide get them this way (bot/chat/audience.py says who, the core's rules).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, cast

from bot.chat import buttons
from bot.chat.buttons import FormKind
from bot.chat.cards import draft_card
from bot.chat.drillmark import answer_in
from bot.chat.explain import explain
from bot.chat.flow import Flow
from bot.chat.message import Message
from bot.chat.port import Port, Refused
from bot.chat.wording import Wording
from bot.errors import CrisisError, UsageError
from bot.faults import crash_point
from bot.incidents.desk import Desk
from bot.teams import dialogs, render
from bot.teams.port import TeamsPort

if TYPE_CHECKING:
    from bot.teams.agent import Bot

log = logging.getLogger("crisisbot.teams")
CARD = "application/vnd.microsoft.card.adaptive"
NOTICE = "application/vnd.microsoft.activity.message"
REFRESH = "refresh"

Answer = dict[str, Any]  # an adaptiveCard/action invoke response body


def card_answer(card: dict[str, Any]) -> Answer:
    return {"statusCode": 200, "type": CARD, "value": card}


def notice_answer(text: str) -> Answer:
    return {"statusCode": 200, "type": NOTICE, "value": text}


class Reply:
    """An invoke's one answer: the first offer wins; the turn waits on `future`."""

    def __init__(self) -> None:
        self.future: Future[Any] = Future()
        self._lock = threading.Lock()

    def offer(self, body: Any) -> bool:
        with self._lock:
            if self.future.done():
                return False
            self.future.set_result(body)
        crash_point("invoke_answered")  # restart tests: a kill -9 once Teams has the invoke's answer
        return True

    @property
    def answered(self) -> bool:
        return self.future.done()


class ClickPort:
    """The request's port: an update of the clicked message is also the clicker's answer, drawn for them, and
    sent before the update itself goes to Teams. Everything else is the process's TeamsPort."""

    def __init__(self, port: TeamsPort, clicked: str | None, viewer: str, reply: Reply) -> None:
        self._port, self.clicked, self.viewer, self.reply = port, clicked, viewer, reply

    def update(self, room: str, ref: str, message: Message) -> None:
        if self.clicked and ref == self.clicked:
            self.reply.offer(card_answer(self._port.card_for(message, self.viewer)))
        self._port.update(room, ref, message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._port, name)


class TeamsClick:
    """bot/chat/buttons.py's `Clicked` for one adaptiveCard/action invoke."""

    def __init__(
        self, desk: Desk, port: TeamsPort, flow: Flow, activity: dict[str, Any], user: str, say: Wording, reply: Reply
    ) -> None:
        self.desk, self.port, self.flow, self.activity, self.user, self.say = desk, port, flow, activity, user, say
        self.reply = reply
        value = activity.get("value")
        action = value.get("action") if isinstance(value, dict) else None
        action = action if isinstance(action, dict) else {}
        data = action.get("data")
        pressed = data.get("value") if isinstance(data, dict) else None
        self.verb: str = str(action.get("verb") or "")
        self.value: str | None = pressed if isinstance(pressed, str) else None

    @property
    def conversation(self) -> str:
        return str((self.activity.get("conversation") or {}).get("id") or "")

    @property
    def clicked(self) -> str | None:
        ref = self.activity.get("replyToId")
        return ref if isinstance(ref, str) and ref else None

    def answer(self, text: str) -> None:
        """In the invoke's answer while Teams waits; after it, in the clicker's 1:1 chat (no ephemeral messages)."""
        text = answer_in(self.desk, self.conversation, text, self.say)
        if not self.reply.offer(notice_answer(text)):
            self.flow.tell(self.user, None, Message(text))

    def show(self, message: Message) -> None:
        """A message with buttons goes to the clicker's 1:1 chat; its text is the invoke's answer meanwhile."""
        self.flow.tell(self.user, None, message)
        self.reply.offer(notice_answer(render.plain(message.text, self.port.display_name)))

    def open_form(self, kind: FormKind, **what: Any) -> None:
        """Teams opens a dialog only from an Action.Submit (task/fetch): the clicker's card becomes the form's opener."""
        opener = dialogs.opener(kind, self.say, **what)
        if not self.reply.offer(card_answer(opener)):
            self.port.tell(self.user, None, Message(self.say("teams.form_elsewhere")))

    def replace_notice(self, message: Message) -> None:
        """The clicked notice becomes `message`: for the clicker at once, and the message itself for later views."""
        self.reply.offer(card_answer(self.port.card_for(message, self.user)))
        if self.clicked:
            try:
                self.port.update(self.conversation, self.clicked, message)
            except (Refused, OSError) as exc:
                log.warning("could not replace a notice for %s: %s", self.user, type(exc).__name__)


def refreshed(desk: Desk, port: TeamsPort, key: str | None, viewer: str, wording: Callable[[str], Wording]) -> Answer:
    """Verb `refresh`: the viewer's own view of the card `key` names (`draft:<id>`); nothing is refused, the
    buttons are simply the ones they may press."""
    kind, _, ident = (key or "").partition(":")
    if kind != "draft":
        raise UsageError("error.bad_button")
    draft = dialogs.draft_of(desk, ident)
    incident = desk.store.incident(draft.incident_id)
    message = draft_card(desk, incident, draft, wording(incident.language))
    return card_answer(port.card_for(message, viewer))


def clicked(bot: Bot, activity: dict[str, Any], reply: Reply, user: str) -> None:
    """Run the button (bot/chat/buttons.py) or the refresh the invoke asks for; its answer goes in `reply`."""
    say = bot.wording_for(user)
    port = ClickPort(bot.port, activity.get("replyToId"), user, reply)
    click = TeamsClick(bot.desk, bot.port, bot.flow(cast(Port, port)), activity, user, say, reply)
    if click.verb == REFRESH:
        try:
            reply.offer(refreshed(bot.desk, bot.port, click.value, user, bot.languages.wording))
        except CrisisError as exc:
            reply.offer(notice_answer(explain(exc, say)))
        return
    verb = buttons.BUTTONS.get(click.verb)
    if verb is None:
        click.answer(say("error.bad_button"))
        return
    try:
        buttons.press(verb, click)
    except (Refused, OSError) as exc:  # Teams refused, or no answer in time
        log.warning(
            "action %s: Teams refused %s",
            click.verb,
            exc.reason if isinstance(exc, Refused) else type(exc).__name__,
        )
        click.answer(say("teams.teams_failed"))
