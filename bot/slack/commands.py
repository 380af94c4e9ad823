"""`/crisis …`: the slash command's listener, and the Slack side of a typed command (`Invocation`).

The grammar is bot/chat/commands.py and what each subcommand does is bot/chat/subcommands.py; here is only
how Slack is answered (the ack while Slack waits, the response_url after it), how its forms are opened, and
the Slack work a handler asks for (Requests's set-up and redraws, until they move to bot/chat/).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.chat import commands, subcommands
from bot.chat.drillmark import answer_in
from bot.chat.flow import Flow
from bot.chat.message import Message
from bot.chat.wording import Wording
from bot.errors import CrisisError
from bot.incidents.declare import DeclareRequest
from bot.incidents.desk import Desk
from bot.models import Incident
from bot.slack import views
from bot.slack.port import drawn
from bot.slack.render import MESSAGE_LIMIT
from bot.slack.requests import Requests, why
from bot.slack.text import fit

log = logging.getLogger("crisisbot.slack")


def crisis(slack: Requests) -> Callable[..., None]:
    """The Bolt listener for `/crisis`: parse, hand over to the subcommand, say what went wrong."""

    def listener(ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        run = Invocation(slack, client, ack, respond, command, slack.wording_for(client, command["user_id"]))
        try:
            cmd = commands.parse(command.get("text") or "")
            subcommands.HANDLERS[cmd.name](run, cmd)
        except CrisisError as exc:
            try:
                run.answer(slack.explain(exc, run.say))
            finally:  # a refusal a check decided before the ack goes on the timeline now, answered or not
                slack.desk.record_refusal(exc)
        except (SlackApiError, OSError) as exc:  # e.g. a form whose trigger expired (a request finished at start-up)
            log.warning("/crisis %s: Slack refused %s", (command.get("text") or "").split(" ")[0], why(exc))
            with contextlib.suppress(SlackApiError, OSError):  # Slack may refuse this too; the log line stays
                run.answer(run.say("error.command_failed"))

    listener.__name__ = "crisis"
    return listener


@dataclass
class Invocation:
    """One `/crisis` request in Slack (bot/chat/subcommands.py's Typed): who, where, and how to answer them."""

    slack: Requests
    client: WebClient
    ack: Ack
    respond: Respond
    command: dict[str, Any]
    say: Wording
    acked: bool = field(default=False)

    @property
    def desk(self) -> Desk:
        return self.slack.desk

    @property
    def user(self) -> str:
        return str(self.command["user_id"])

    @property
    def room(self) -> str | None:
        return self.command.get("channel_id")

    def answer(self, text: str = "", blocks: list[dict[str, Any]] | None = None) -> None:
        """Ephemeral answer: in the ack while Slack waits, by response_url after that."""
        text = fit(answer_in(self.desk, self.room, text, self.say), MESSAGE_LIMIT)
        if self.acked:
            self.respond(response_type="ephemeral", replace_original=False, text=text, blocks=blocks)
        else:
            self.ack(response_type="ephemeral", text=text, blocks=blocks)
            self.acked = True

    def progress(self, text: str) -> None:
        """Slack waits for the ack: the progress note is it (bot/chat/subcommands.py's Typed)."""
        self.answer(text)

    def quiet(self) -> None:
        if not self.acked:
            self.ack()
            self.acked = True

    def open_declare_form(self) -> None:
        view = views.declare_modal(self.desk, self.say, self.room)
        self.client.views_open(trigger_id=self.command["trigger_id"], view=view)

    def open_resolve_form(self, incident: Incident, ask_authority: bool) -> None:
        view = views.resolve_modal(incident.id, incident.code, self.say, ask_authority)
        self.client.views_open(trigger_id=self.command["trigger_id"], view=view)

    def show(self, message: Message) -> None:
        self.answer(message.text, drawn(message))

    @property
    def flow(self) -> Flow:
        return self.slack.flow(self.client)

    def declare(self, request: DeclareRequest) -> None:
        self.slack.declare(self.client, request, self.answer)
