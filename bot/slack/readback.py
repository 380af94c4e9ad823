"""What bot/slack/closing.py and deliver.py still use of the read-back, until they move onto the step runner
(bot/chat/steps.py) and the port: then delete this module.

The look-ups themselves are SlackPort's (bot/slack/port.py: history by message metadata, the channel list by
creator, the report by its file name; never bounded by the bot's clock); this module hands them on with Slack's
own error, which those callers catch. `once` is the runner's `Runner.once` in its older shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.metadata import Metadata

from bot.chat.port import Refused, Tag
from bot.chat.steps import tried, tried_name
from bot.slack import port

if TYPE_CHECKING:
    from bot.store import Store

log = logging.getLogger("crisisbot.slack")
__all__ = ["LookUpFailed", "channel_id", "find_dm", "find_file", "find_messages", "once", "tag", "tried", "tried_name"]


class LookUpFailed(Exception):
    """Slack refused the look-up of a step a dead run tried: it may be there, so it must not be redone blindly."""

    def __init__(self, cause: SlackApiError | OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def once(
    store: Store,
    incident_id: int,
    step: str,
    call: Callable[[], str],
    record: Callable[[str], None],
    now: datetime,
    look: Callable[[], str | None] | None = None,
) -> str:
    """One step that must not repeat: if a run that died had tried it, look it up first (`look`: its ref in
    Slack, or None); otherwise note it as tried, do it, and `record` its ref
    (recording should also forget the try). A step without `look` is safe to repeat and is simply done.
    Raises what Slack raised, and LookUpFailed when the look-up itself was refused."""
    if look is not None:
        if store.delivery(f"{incident_id}:try:{step}"):
            try:
                ref = look()
            except (SlackApiError, OSError) as exc:
                raise LookUpFailed(exc) from exc
            if ref:
                log.info("incident %s: %s found in Slack, done before a restart", incident_id, step)
                record(ref)
                return ref
        store.note_tries(incident_id, {step: tried()}, now)
    ref = call()
    record(ref)
    return ref


def tag(code: str, step: str) -> Metadata:
    """The metadata that lets a later run recognise this step's message."""
    return port.tag(Tag(code, step))


T = TypeVar("T")


def _as_slack(call: Callable[[], T]) -> T:
    """SlackPort's answer, with Slack's own error for what it refused (what closing and deliver still catch)."""
    try:
        return call()
    except Refused as exc:
        if isinstance(exc.__cause__, SlackApiError):
            raise exc.__cause__ from None
        raise


def find_messages(client: WebClient, channel: str, code: str, steps: set[str]) -> dict[str, str]:
    """The ts of each of `steps` posted in `channel` for incident `code` (SlackPort.find_posts)."""
    return _as_slack(lambda: port.SlackPort(client).find_posts(channel, code, steps))


def find_dm(client: WebClient, user: str, code: str, step: str) -> str | None:
    """`<dm channel>:<ts>` of the step's DM to `user`, as the set-up notes a DM, or None."""
    return _as_slack(lambda: port.SlackPort(client).find_dm(user, code, step))


def find_file(client: WebClient, channel: str, filename: str) -> str | None:
    """The ids of the files of this bot's first share in `channel` holding `filename` (SlackPort.find_upload)."""
    return _as_slack(lambda: port.SlackPort(client).find_upload(channel, filename))


def channel_id(client: WebClient, name: str) -> str | None:
    """The id of the channel called `name` (a leading "#" ignored) among those the bot can see."""
    return _as_slack(lambda: port.SlackPort(client).room_by_name(name))
