"""`/crisis …`: the slash command's listener. The grammar is bot/chat/commands.py; each subcommand's handler
answers in the ack what it can decide without writing, and does the rest after it (bot/slack/subcommands.py)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.chat import commands
from bot.errors import CrisisError
from bot.slack import subcommands
from bot.slack.flows import SlackDesk, why
from bot.slack.subcommands import Invocation

log = logging.getLogger("crisisbot.slack")


def crisis(slack: SlackDesk) -> Callable[..., None]:
    """The Bolt listener for `/crisis`: parse, hand over to the subcommand, say what went wrong."""

    def listener(ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        run = Invocation(slack, client, ack, respond, command, slack.say_to(client, command["user_id"]))
        try:
            cmd = commands.parse(command.get("text") or "")
            subcommands.HANDLERS[cmd.name](run, cmd)
        except CrisisError as exc:
            run.answer(slack.explain(exc, run.say))
            slack.desk.record_refusal(exc)  # a refusal a check decided before the ack goes on the timeline now
        except (SlackApiError, OSError) as exc:  # e.g. a form whose trigger expired (a request finished at start-up)
            log.warning("/crisis %s: Slack refused %s", (command.get("text") or "").split(" ")[0], why(exc))
            with contextlib.suppress(SlackApiError, OSError):  # Slack may refuse this too; the log line stays
                run.answer(run.say("error.command_failed"))

    listener.__name__ = "crisis"
    return listener
