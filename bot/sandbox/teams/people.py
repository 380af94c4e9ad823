"""TeamsUser: a person in the emulated team, acting towards the bot as the Teams client does for them."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from bot.sandbox.teams import inbound
from bot.sandbox.teams.cards import MAX_REFRESH_USERS, card_problems
from bot.sandbox.teams.model import CARD_TYPE, Conversation, Event, Member, Refusal, thread_conversation
from bot.sandbox.transport import BotResponse

if TYPE_CHECKING:
    from bot.sandbox.teams.emulator import TeamsEmulator


def execute_actions(node: Any) -> Iterator[dict[str, Any]]:
    """Yield every Action.Execute in a card (actions, action sets, show-cards, select actions, refresh)."""
    if isinstance(node, dict):
        if node.get("type") == "Action.Execute":
            yield node
        for value in node.values():
            yield from execute_actions(value)
    elif isinstance(node, list):
        for item in node:
            yield from execute_actions(item)


def submit_actions(node: Any) -> Iterator[dict[str, Any]]:
    """Yield every Action.Submit in a card."""
    if isinstance(node, dict):
        if node.get("type") == "Action.Submit":
            yield node
        for value in node.values():
            yield from submit_actions(value)
    elif isinstance(node, list):
        for item in node:
            yield from submit_actions(item)


def response_card(body: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return the card of an adaptiveCard/action invoke response, if it carries one."""
    if body and body.get("statusCode") == 200 and body.get("type") == CARD_TYPE and isinstance(body.get("value"), dict):
        card: dict[str, Any] = body["value"]
        return card
    return None


def task_card(body: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return the dialog card of a task/fetch or task/submit response ({"task": {"type": "continue", …}})."""
    task = (body or {}).get("task") or {}
    value = task.get("value") if task.get("type") == "continue" else None
    card = (value or {}).get("card") if isinstance(value, dict) else None
    content = card.get("content") if isinstance(card, dict) else None
    return content if isinstance(content, dict) else None


class TeamsUser:
    """A person: posts in channels and threads, chats 1:1, presses card buttons, opens and submits dialogs."""

    def __init__(self, emulator: TeamsEmulator, member: Member) -> None:
        self._emu = emulator
        self.member = member
        self.open_dialog: dict[str, Any] | None = None  # the dialog card this person has open, if any

    @property
    def id(self) -> str:
        """Return the Bot Framework id (29:…)."""
        return self.member.id

    @property
    def aad_id(self) -> str:
        """Return the Entra object id."""
        return self.member.aad_id

    @property
    def name(self) -> str:
        """Return the display name."""
        return self.member.name

    @property
    def locale(self) -> str:
        """Return the Teams client's locale."""
        return self.member.locale

    @property
    def chat_id(self) -> str:
        """Return this person's 1:1 conversation id with the bot (opened on first use)."""
        return self._emu.tenant.personal_chat(self.member).id

    # ----- messages ---------------------------------------------------------------------------
    def say(
        self, text: str, where: str | None = None, *, mention: bool | None = None, mentions: tuple[TeamsUser, ...] = ()
    ) -> BotResponse:
        """Post `text`: None = the 1:1 chat; a channel id = a new post; a thread id or root id = a reply there.

        In a channel or thread the bot only hears a message that @mentions it: `mention` defaults to True there,
        and the text becomes `<at>Crisis Desk</at> <text>` with its mention entity. `mentions`: people the text
        mentions as `<at>Name</at>` (e.g. "crisis owner legal <at>Chen Wu</at>"), each with its mention entity.
        """
        t = self._emu.tenant
        with t.lock:
            conv = self._target(where)
            activity_id = t.ids.next()
            if conv.kind == "channel":
                conv = t.new_thread(conv.id, activity_id)
            wants_mention = conv.kind != "personal" if mention is None else mention
            people = tuple(user.member for user in mentions)
            activity = inbound.message(t, conv, self.member, text, activity_id, wants_mention, people)
            t.store(conv, copy.deepcopy(activity), from_bot=False, sender=self.id)
            t.inbound[activity_id] = conv.id
        t.emit(Event("user_message", conv.id, t.label(conv.id), self.name, activity["text"], activity_id=activity_id))
        return self._emu.deliver(activity)

    def install_personal(self) -> BotResponse:
        """Add the app for oneself (personal scope): conversationUpdate with the bot added, in the 1:1 chat."""
        t = self._emu.tenant
        with t.lock:
            conv = t.personal_chat(self.member)
            activity = inbound.bot_added(t, conv, self.member.account(), t.ids.next())
            activity["channelData"].pop("eventType", None)
        return self._emu.deliver(activity)

    def _target(self, where: str | None) -> Conversation:
        t = self._emu.tenant
        if where is None:
            return t.personal_chat(self.member)
        conv = t.conversations.get(where)
        if conv is None:  # a root activity id: its thread
            stored = t.activities.get(where)
            conv = t.conversations.get(stored.conversation_id) if stored else None
        if conv is None:
            raise LookupError(f"{self.name} cannot post in {where!r}: no such channel, thread or post")
        if conv.kind == "personal" and conv.user_id != self.id:
            raise LookupError(f"{self.name} cannot post in someone else's 1:1 chat")
        if conv.kind != "personal" and not self.member.in_team:
            raise LookupError(f"{self.name} is not a member of the team")
        return conv

    # ----- cards ---------------------------------------------------------------------------------
    def view(self, activity_id: str) -> dict[str, Any] | None:
        """Return the card of an activity as this person sees it (None: deleted or no card).

        A card with a refresh Action.Execute is refreshed automatically (the client sends adaptiveCard/action with
        trigger "automatic" and shows the card the bot answers) for the people in refresh.userIds (user MRIs) and,
        in a conversation of fewer than 60 members, for everyone (Microsoft's RefreshDefinition docs): so the bot
        must decide per requester who gets buttons. Others see the base card, or the card the bot answered their
        own last click with, until the message changes.
        """
        card = self._emu.card_of(activity_id)
        if card is None:
            return None
        self._target(activity_id)  # raises LookupError for a thread or chat this person is not in
        refresh = card.get("refresh") if isinstance(card.get("refresh"), dict) else None
        if refresh and isinstance(refresh.get("action"), dict) and self._auto_refreshed(activity_id, refresh):
            action = refresh["action"]
            resp = self._invoke_card(activity_id, action, dict(action.get("data") or {}), "automatic")
            return response_card(resp.json) or card
        return self._emu.user_view(self.id, activity_id) or card

    def _auto_refreshed(self, activity_id: str, refresh: dict[str, Any]) -> bool:
        if self.id in (refresh.get("userIds") or []):
            return True
        t = self._emu.tenant
        with t.lock:
            stored = t.activities.get(activity_id)
            conv = t.conversations.get(stored.conversation_id) if stored else None
            return conv is not None and len(t.conversation_members(conv)) < MAX_REFRESH_USERS

    def invoke_action(
        self,
        activity_id: str,
        verb: str,
        data: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        *,
        stale: bool = False,
    ) -> BotResponse:
        """Press the Action.Execute with `verb` on an activity's card; returns the bot's invoke response.

        `data` defaults to the button's own data; `inputs` (the card's input values) are merged into it, as Teams
        does. The button must be on the card this person sees unless `stale` (a card they saw before it changed).
        """
        activity, version = self.action_invoke(activity_id, verb, data, inputs, stale)
        return self.answered_invoke(activity_id, self._emu.deliver(activity), version)

    def action_invoke(
        self, activity_id: str, verb: str, data: dict[str, Any] | None, inputs: dict[str, Any] | None, stale: bool
    ) -> tuple[dict[str, Any], int]:
        """The `adaptiveCard/action` invoke `invoke_action` sends, made now and sent by the caller (the load
        benchmark sends them from a process of its own), and the version of the card it was pressed on; the answer
        goes to `answered_invoke`."""
        card = self.view(activity_id) if not stale else self._emu.card_of(activity_id)
        action = next((a for a in execute_actions(card) if a.get("verb") == verb), None)
        if action is None and not stale:
            raise LookupError(f"{self.name} sees no button {verb!r} on activity {activity_id}")
        merged = dict((action or {}).get("data") or {}) if data is None else dict(data)
        merged.update(inputs or {})
        return self._card_invoke(activity_id, action or {"type": "Action.Execute", "verb": verb}, merged, "manual")

    def answered_invoke(self, activity_id: str, resp: BotResponse, version: int) -> BotResponse:
        """The bot's answer to an invoke on version `version` of `activity_id`'s card: a card in it is checked
        against the schema and becomes what this person sees there."""
        card = response_card(resp.json)
        if card is not None and self._emu.check_card("invoke_response", card):
            self._emu.remember_view(self.id, activity_id, version, card)
        return resp

    def _invoke_card(self, activity_id: str, action: dict[str, Any], data: dict[str, Any], trigger: str) -> BotResponse:
        activity, version = self._card_invoke(activity_id, action, data, trigger)
        return self.answered_invoke(activity_id, self._emu.deliver(activity), version)

    def _card_invoke(
        self, activity_id: str, action: dict[str, Any], data: dict[str, Any], trigger: str
    ) -> tuple[dict[str, Any], int]:
        t = self._emu.tenant
        with t.lock:
            stored = t.activities.get(activity_id)
            if stored is None:
                raise LookupError(f"no activity {activity_id}")
            conv = t.conversations[stored.conversation_id]
            pressed = {"type": "Action.Execute", "id": action.get("id"), "verb": action.get("verb"), "data": data}
            value = {"action": {k: v for k, v in pressed.items() if v is not None}, "trigger": trigger}
            activity = inbound.invoke(t, conv, self.member, "adaptiveCard/action", value, t.ids.next(), activity_id)
            t.inbound[activity["id"]] = conv.id
            version = len(stored.history)
        if trigger == "manual":
            label = t.label(conv.id)
            title = str(action.get("title") or action.get("verb"))
            t.emit(Event("card_action", conv.id, label, self.name, title, activity_id=activity_id, data={"data": data}))
        return activity, version

    def press_submit(self, activity_id: str, title: str, inputs: dict[str, Any] | None = None) -> BotResponse:
        """Press an Action.Submit by its title: a dialog button (data.msteams.type "task/fetch") sends task/fetch;
        any other sends a message activity whose `value` is the button's data with the inputs merged in."""
        card = self.view(activity_id)
        action = next((a for a in submit_actions(card) if a.get("title") == title), None)
        if action is None:
            raise LookupError(f"{self.name} sees no button {title!r} on activity {activity_id}")
        data = dict(action.get("data") or {}) if isinstance(action.get("data"), dict) else {}
        data.update(inputs or {})
        if (data.get("msteams") or {}).get("type") == "task/fetch":
            return self._task("task/fetch", data, activity_id)
        t = self._emu.tenant
        with t.lock:
            conv = self._target(activity_id)
            activity = inbound.message(t, conv, self.member, "", t.ids.next(), False)
            activity.update({"value": data, "replyToId": activity_id})
            del activity["text"]
            t.inbound[activity["id"]] = conv.id
        return self._emu.deliver(activity)

    # ----- dialogs (task modules) -----------------------------------------------------------------
    def fetch_task(self, data: dict[str, Any] | None = None, where: str | None = None) -> BotResponse:
        """Open a dialog: task/fetch with `data` (from the button or command that opens it), in `where`."""
        return self._task("task/fetch", data or {}, where)

    def submit_task(self, data: dict[str, Any], where: str | None = None) -> BotResponse:
        """Submit the open dialog's form: task/submit with the input values in `data`."""
        return self._task("task/submit", data, where)

    def _task(self, name: str, data: dict[str, Any], where: str | None) -> BotResponse:
        t = self._emu.tenant
        with t.lock:
            conv = self._target(where)
            value = {"data": data, "context": {"theme": "default"}}
            activity = inbound.invoke(t, conv, self.member, name, value, t.ids.next(), None)
            t.inbound[activity["id"]] = conv.id
        resp = self._emu.deliver(activity)
        card = task_card(resp.json)
        if card is not None and self._emu.check_card(name, card):
            self.open_dialog = card
            t.emit(Event("task_opened", conv.id, t.label(conv.id), self.name, str(card.get("title") or ""), [card]))
        elif name == "task/submit":
            self.open_dialog = None
            t.emit(Event("task_submitted", conv.id, t.label(conv.id), self.name, data=dict(data)))
        return resp


def thread_of(channel: str, root_id: str) -> str:
    """Return a thread's conversation id (re-exported for callers that only hold a channel and a root id)."""
    return thread_conversation(channel, root_id)


def invalid_card(endpoint: str, card: dict[str, Any]) -> Refusal | None:
    """Return a Refusal when a card the bot answered an invoke with is not valid (None: valid)."""
    problems = card_problems(card)
    if not problems:
        return None
    return Refusal(endpoint, 0, "InvalidCard", "; ".join(problems), {"card": card})
